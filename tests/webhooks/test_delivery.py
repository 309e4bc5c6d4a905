"""Events reach the endpoints that want them, signed, at least once, and the log says so."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api, Caller
from tests.support.clock import MovableClock
from tests.support.webhook_receiver import Receiver
from tests.webhooks.conftest import create_endpoint, run_worker

BASE = "/customer/webhooks"


async def _log(api: Api, caller: Caller, endpoint_id: str) -> list[dict[str, Any]]:
    response = await api.call("GET", f"{BASE}/{endpoint_id}/deliveries", caller)
    assert response.status_code == 200, response.text
    attempts: list[dict[str, Any]] = response.json()["attempts"]
    return attempts


async def test_adding_a_member_sends_one_signed_member_added(
    hooks: Api, receiver: Receiver
) -> None:
    team = await hooks.team()
    endpoint = await create_endpoint(hooks, team.owner, url=receiver.url())
    member = hooks.user()

    await hooks.add(team.owner, member, "admin")
    await run_worker(hooks)

    [request] = receiver.wait_for(1)
    payload = request.verified(endpoint["secret"])
    assert payload["type"] == "member.added"
    assert payload["timestamp"].endswith("Z")
    assert payload["data"] == {
        "customerId": team.customer_id,
        "userId": member.user_id,
        "role": "admin",
        "actorUserId": team.owner.user_id,
    }
    assert request.webhook_id.startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    [attempt] = await _log(hooks, team.owner, endpoint["id"])
    assert (attempt["status"], attempt["responseStatus"]) == ("succeeded", 204)
    assert (attempt["eventId"], attempt["eventType"]) == (request.webhook_id, "member.added")
    await run_worker(hooks)
    assert len(receiver.requests) == 1  # delivered once, not again


async def test_each_change_is_its_own_event(hooks: Api, receiver: Receiver) -> None:
    team = await hooks.team("admin")
    endpoint = await create_endpoint(hooks, team.owner, url=receiver.url())
    admin = team.members[0]
    role = await hooks.call(
        "PUT", "/customer/member", team.owner, json={"userID": admin.user_id, "role": "user"}
    )
    assert role.status_code == 200
    transfer = await hooks.call(
        "POST", "/customer/transfer-ownership", team.owner, json={"newOwnerUserID": admin.user_id}
    )
    assert transfer.status_code == 200
    left = await hooks.call("DELETE", "/customer/leave", team.owner)
    assert left.status_code == 204
    await hooks.set_tier(team.customer_id, "pro")
    await run_worker(hooks)

    received = receiver.wait_for(4)
    payloads = [request.verified(endpoint["secret"]) for request in received]
    assert sorted(p["type"] for p in payloads) == [
        "member.removed",
        "member.role_changed",
        "ownership.transferred",
        "tier.changed",
    ]
    by_type = {p["type"]: p["data"] for p in payloads}
    assert by_type["member.role_changed"]["previousRole"] == "admin"
    assert by_type["ownership.transferred"]["newOwnerUserId"] == admin.user_id
    assert by_type["member.removed"]["reason"] == "left"
    assert by_type["tier.changed"]["tierName"] == "pro"
    assert by_type["tier.changed"]["previousTierName"] == "enterprise"
    assert len({request.webhook_id for request in received}) == 4


async def test_failures_are_retried_until_the_receiver_takes_it(
    hooks: Api, receiver: Receiver, clock: MovableClock
) -> None:
    team = await hooks.team()
    endpoint = await create_endpoint(hooks, team.owner, url=receiver.url())
    receiver.fail_next(3)

    await hooks.add(team.owner, hooks.user())
    await run_worker(hooks)
    receiver.wait_for(1)
    for wait in ({"seconds": 6}, {"minutes": 6}, {"minutes": 34}):
        await run_worker(hooks)
        assert len(receiver.requests) < 4  # not before its back-off
        clock.advance(**wait)
        await run_worker(hooks)

    received = receiver.wait_for(4)
    assert len(received) == 4
    assert len({request.webhook_id for request in received}) == 1  # one event, four tries
    for request in received:
        request.verified(endpoint["secret"])
    log = await _log(hooks, team.owner, endpoint["id"])
    assert [a["status"] for a in log] == ["succeeded", "failed", "failed", "failed"]
    assert [a["responseStatus"] for a in log] == [204, 500, 500, 500]
    assert log[-1]["responseExcerpt"] == "not now"
    assert log[-1]["error"] == "answered 500"
    assert {a["deliveryId"] for a in log} == {log[0]["deliveryId"]}
    assert all(a["latencyMs"] >= 0 for a in log)


async def test_a_delivery_is_failed_once_its_retries_run_out(
    hooks: Api, receiver: Receiver, clock: MovableClock
) -> None:
    team = await hooks.team()
    endpoint = await create_endpoint(hooks, team.owner, url=receiver.url())
    receiver.fail_next(100)
    await hooks.add(team.owner, hooks.user())
    for _ in range(10):
        await run_worker(hooks)
        clock.advance(hours=11)
    assert len(receiver.requests) == 8  # the first attempt and seven retries
    log = await _log(hooks, team.owner, endpoint["id"])
    assert len(log) == 8
    assert {a["status"] for a in log} == {"failed"}


async def test_a_replay_sends_the_same_event_again(
    hooks: Api, receiver: Receiver, clock: MovableClock
) -> None:
    team = await hooks.team()
    endpoint = await create_endpoint(hooks, team.owner, url=receiver.url())
    await hooks.add(team.owner, hooks.user())
    await run_worker(hooks)
    [first] = receiver.wait_for(1)
    [attempt] = await _log(hooks, team.owner, endpoint["id"])
    clock.advance(seconds=1)

    replayed = await hooks.call(
        "POST",
        f"{BASE}/{endpoint['id']}/deliveries/{attempt['deliveryId']}/replay",
        team.owner,
    )
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["status"] == "pending"
    assert replayed.json()["eventId"] == first.webhook_id
    await run_worker(hooks)

    _, again = receiver.wait_for(2)
    assert again.webhook_id == first.webhook_id
    assert again.body == first.body
    again.verified(endpoint["secret"])
    log = await _log(hooks, team.owner, endpoint["id"])
    assert [(a["manual"], a["status"]) for a in log] == [(True, "succeeded"), (False, "succeeded")]


async def test_disabled_endpoints_and_other_types_get_nothing(
    hooks: Api, receiver: Receiver
) -> None:
    team = await hooks.team()
    wanted = await create_endpoint(
        hooks, team.owner, url=receiver.url("/wanted"), eventTypes=["member.added"]
    )
    await create_endpoint(
        hooks, team.owner, url=receiver.url("/tiers"), eventTypes=["tier.changed"]
    )
    await create_endpoint(hooks, team.owner, url=receiver.url("/disabled"), enabled=False)

    await hooks.add(team.owner, hooks.user())
    await run_worker(hooks)

    [request] = receiver.wait_for(1)
    assert request.path == "/wanted"
    request.verified(wanted["secret"])
    await run_worker(hooks)
    assert len(receiver.requests) == 1


async def test_deliveries_pending_when_disabled_are_not_sent(
    hooks: Api, receiver: Receiver, clock: MovableClock
) -> None:
    team = await hooks.team()
    endpoint = await create_endpoint(hooks, team.owner, url=receiver.url())
    receiver.fail_next(1)
    await hooks.add(team.owner, hooks.user())
    await run_worker(hooks)
    receiver.wait_for(1)
    await hooks.call("PATCH", f"{BASE}/{endpoint['id']}", team.owner, json={"enabled": False})
    clock.advance(minutes=1)
    await run_worker(hooks)
    assert len(receiver.requests) == 1
    [attempt] = await _log(hooks, team.owner, endpoint["id"])
    replay = await hooks.call(
        "POST",
        f"{BASE}/{endpoint['id']}/deliveries/{attempt['deliveryId']}/replay",
        team.owner,
    )
    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "WEBHOOK_ENDPOINT_DISABLED"


async def test_after_a_rotation_both_secrets_sign_for_a_day(
    hooks: Api, receiver: Receiver, clock: MovableClock
) -> None:
    team = await hooks.team()
    endpoint = await create_endpoint(hooks, team.owner, url=receiver.url())
    rotated = await hooks.call("POST", f"{BASE}/{endpoint['id']}/rotate-secret", team.owner)
    new_secret = rotated.json()["secret"]
    await hooks.add(team.owner, hooks.user())
    await run_worker(hooks)
    [request] = receiver.wait_for(1)
    request.verified(new_secret)
    request.verified(endpoint["secret"])
    clock.advance(hours=25)
    await hooks.add(team.owner, hooks.user())
    await run_worker(hooks)
    _, later = receiver.wait_for(2)
    later.verified(new_secret)
    assert len(later.headers["webhook-signature"].split(" ")) == 1


async def test_graphql_manages_endpoints_and_reads_the_log(hooks: Api, receiver: Receiver) -> None:
    team = await hooks.team("user")
    created = await hooks.graphql(
        "mutation($url: String!) { createWebhookEndpoint(url: $url, "
        'eventTypes: ["member.added"]) { secret webhookEndpoint { id url eventTypes } } }',
        team.owner,
        url=receiver.url(),
    )
    issued = created["data"]["createWebhookEndpoint"]
    endpoint_id = issued["webhookEndpoint"]["id"]
    await hooks.add(team.owner, hooks.user())
    await run_worker(hooks)
    receiver.wait_for(1)[0].verified(issued["secret"])

    query = (
        "{ customer { webhookEndpoints { totalCount items { id url "
        "deliveryAttempts { totalCount items { status eventType responseStatus deliveryId } } "
        "} } } }"
    )
    page = (await hooks.graphql(query, team.owner))["data"]["customer"]["webhookEndpoints"]
    [row] = page["items"]
    assert row["id"] == endpoint_id
    [attempt] = row["deliveryAttempts"]["items"]
    assert (attempt["status"], attempt["eventType"]) == ("SUCCEEDED", "member.added")
    as_user = await hooks.graphql(query, team.members[0])
    assert as_user["data"]["customer"]["webhookEndpoints"] is None
    for caller, may in ((team.owner, True), (team.members[0], False)):
        viewer = await hooks.graphql("{ viewer { canManageWebhooks } }", caller)
        assert viewer["data"]["viewer"]["canManageWebhooks"] is may

    replayed = await hooks.graphql(
        "mutation($d: ID!) { replayWebhookDelivery(webhookDeliveryId: $d) "
        "{ status eventType manual webhookEndpointId } }",
        team.owner,
        d=attempt["deliveryId"],
    )
    assert replayed["data"]["replayWebhookDelivery"] == {
        "status": "PENDING",
        "eventType": "member.added",
        "manual": True,
        "webhookEndpointId": endpoint_id,
    }
    updated = await hooks.graphql(
        "mutation($id: ID!) { updateWebhookEndpoint(webhookEndpointId: $id, enabled: false) "
        "{ id enabled } }",
        team.owner,
        id=endpoint_id,
    )
    assert updated["data"]["updateWebhookEndpoint"] == {"id": endpoint_id, "enabled": False}
    deleted = await hooks.graphql(
        "mutation($id: ID!) { deleteWebhookEndpoint(webhookEndpointId: $id) "
        "{ deletedWebhookEndpointId } }",
        team.owner,
        id=endpoint_id,
    )
    assert deleted["data"]["deleteWebhookEndpoint"] == {"deletedWebhookEndpointId": endpoint_id}


async def test_billing_admin_reads_any_customers_log_over_graphql(
    hooks: Api, receiver: Receiver
) -> None:
    team, admin = await hooks.team(), hooks.admin()
    created = await hooks.graphql(
        "mutation($c: ID!, $url: String!) { createWebhookEndpoint(customerId: $c, url: $url) "
        "{ webhookEndpoint { id customerId } } }",
        admin,
        c=team.customer_id,
        url=receiver.url(),
    )
    assert created["data"]["createWebhookEndpoint"]["webhookEndpoint"]["customerId"] == (
        team.customer_id
    )
    await hooks.add(team.owner, hooks.user())
    await run_worker(hooks)
    receiver.wait_for(1)
    read = await hooks.graphql(
        "query($c: ID!) { adminCustomer(customerId: $c) { webhookEndpoints { items "
        "{ deliveryAttempts { totalCount } } } } }",
        admin,
        c=team.customer_id,
    )
    [endpoint] = read["data"]["adminCustomer"]["webhookEndpoints"]["items"]
    assert endpoint["deliveryAttempts"]["totalCount"] == 1
    by_owner = await hooks.graphql(
        "query($c: ID!) { webhookEndpoints(customerId: $c) { totalCount } }",
        team.owner,
        c=team.customer_id,
    )
    assert by_owner["errors"][0]["extensions"]["code"] == "ADMIN_ROLE_REQUIRED"
