"""The plans on offer, for every signed-in user: `GET /tiers` and `plans` (SPEC §6)."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col

from app.models import Tier
from tests.rest.test_admin import TIER_NAMES
from tests.rest.test_errors import assert_error
from tests.support.api import ANONYMOUS, Api

PLANS = [name for name in TIER_NAMES if name != "public"]  # no customer is on it


async def test_any_signed_in_user_sees_the_plans_in_order(api: Api) -> None:
    response = await api.call("GET", "/tiers", api.user())
    assert response.status_code == 200, response.text
    tiers = response.json()["tiers"]
    assert [t["name"] for t in tiers] == PLANS  # the default one included, not `public`
    free = tiers[0]
    assert (free["isDefault"], free["price"], free["unlimitedMembers"]) == (True, 0, False)
    assert len(free["features"]) == 31
    assert [t["sortOrder"] for t in tiers] == sorted(t["sortOrder"] for t in tiers)
    assert (tiers[-1]["memberLimit"], tiers[-1]["unlimitedMembers"]) == (-1, True)
    expected = {
        "id", "name", "displayName", "description", "price", "memberLimit",
        "unlimitedMembers", "isDefault", "sortOrder", "features",
    }  # fmt: skip
    assert expected <= set(free)


async def test_inactive_tiers_are_not_offered(api: Api) -> None:
    async with api.container.db.transaction() as session:
        await session.execute(
            update(Tier).where(col(Tier.name) == "pro_plus").values(is_active=False)
        )
    rest = (await api.call("GET", "/tiers", api.user())).json()["tiers"]
    assert [t["name"] for t in rest] == [name for name in PLANS if name != "pro_plus"]
    body = await api.graphql("{ plans { name isDefault } }", api.user())
    assert [t["name"] for t in body["data"]["plans"]] == [t["name"] for t in rest]


async def test_anonymous_callers_must_sign_in(api: Api) -> None:
    assert_error(await api.call("GET", "/tiers", ANONYMOUS), 401, "AUTHENTICATION_REQUIRED")
    body = await api.graphql("{ plans { name } }")
    assert body["errors"][0]["extensions"]["status"] == 401
