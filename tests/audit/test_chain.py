"""The audit trail's hash chains: exact under concurrent writes, and `billing audit verify`
finding a changed, removed or re-hashed record in the database."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit.verify import verify_trail
from app.core.audit import chain_key
from app.core.db import Database
from app.core.migrate import ROOT
from app.models import AuditChain, AuditEvent
from tests.support.api import Api, Team


@dataclass(frozen=True)
class Verified:
    exit_code: int
    output: str


async def billing_audit_verify(database_url: str, *args: str) -> Verified:
    """`billing audit verify` in a process of its own, on the test's database."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "audit",
        "verify",
        *args,
        cwd=ROOT,
        env={**os.environ, "BILLING_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return Verified(process.returncode, output.decode())


@asynccontextmanager
async def database(url: str) -> AsyncIterator[AsyncSession]:
    """A write transaction straight on the database, beside the service."""
    db = Database(url)
    try:
        async with db.transaction() as session:
            yield session
    finally:
        await db.dispose()


async def chain_of(url: str, customer_id: str) -> list[AuditEvent]:
    async with database(url) as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(col(AuditEvent.chain_key) == chain_key(uuid.UUID(customer_id)))
            .order_by(col(AuditEvent.seq))
        )
        return list(rows)


class TestConcurrentWrites:
    async def test_concurrent_changes_to_one_customer_make_one_unbroken_chain(
        self, api: Api, database_url: str
    ) -> None:
        team = await api.team(*["user"] * 10)
        newcomers = [api.user() for _ in range(10)]
        adds = [api.add(team.owner, user) for user in newcomers]
        changes = [
            api.call(
                "PUT", "/customer/member", team.owner, json={"userID": m.user_id, "role": "admin"}
            )
            for m in team.members
        ]
        results = await asyncio.gather(*adds, *changes)
        assert all(response and response.status_code == 200 for response in results[len(adds) :])

        records = await chain_of(database_url, team.customer_id)
        assert [r.seq for r in records] == list(range(1, len(records) + 1))
        assert sum(r.action == "member.added" for r in records) == 20
        assert sum(r.action == "member.role_changed" for r in records) == 10
        assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
        result = await verify_trail(api.container.db, customer_id=uuid.UUID(team.customer_id))
        assert result.intact and result.records == len(records)

    async def test_customers_written_at_once_keep_their_own_chains(
        self, api: Api, database_url: str
    ) -> None:
        owners = [api.user() for _ in range(8)]
        customers = await asyncio.gather(*(api.customer(owner) for owner in owners))
        await asyncio.gather(
            *(api.call("PATCH", "/customer", owner, json={"name": "Renamed"}) for owner in owners)
        )
        for customer in customers:
            records = await chain_of(database_url, customer["id"])
            assert [(r.seq, r.action) for r in records] == [
                (1, "customer.created"),
                (2, "customer.updated"),
            ]
        assert (await verify_trail(api.container.db)).intact


@pytest.fixture
async def team(api: Api) -> Team:
    """A customer of six records: created, tier changed, three members added, one role
    changed."""
    team = await api.team("admin", "user", "user")
    change = {"userID": team.members[1].user_id, "role": "admin"}
    assert (await api.call("PUT", "/customer/member", team.owner, json=change)).is_success
    return team


class TestVerify:
    async def test_an_untouched_trail_verifies(
        self, api: Api, team: Team, database_url: str
    ) -> None:
        await api.call("POST", "/apikeys", api.user(), json={"name": "platform"})
        verified = await billing_audit_verify(database_url)
        assert verified.exit_code == 0, verified.output
        assert "Audit trail intact: 2 chains, 7 records verified." in verified.output

    async def test_a_changed_record_is_named(self, api: Api, team: Team, database_url: str) -> None:
        third = (await chain_of(database_url, team.customer_id))[2]
        async with database(database_url) as session:
            await session.execute(
                update(AuditEvent)
                .where(col(AuditEvent.id) == third.id)
                .values(details={**third.details, "role": "owner"})
            )

        verified = await billing_audit_verify(database_url)

        assert verified.exit_code == 1, verified.output
        assert f"record {third.id} (seq 3, customer {team.customer_id})" in verified.output
        assert "hash does not match its contents" in verified.output

    @pytest.mark.parametrize(("seq", "named"), [(2, 3), (6, 5)])
    async def test_a_removed_record_is_found(
        self, api: Api, team: Team, database_url: str, seq: int, named: int
    ) -> None:
        """A record removed from the middle shows at the next one; from the end, at the
        head, which still names it."""
        records = await chain_of(database_url, team.customer_id)
        async with database(database_url) as session:
            removed = records[seq - 1].id
            await session.execute(delete(AuditEvent).where(col(AuditEvent.id) == removed))

        verified = await billing_audit_verify(database_url)

        assert verified.exit_code == 1, verified.output
        assert f"record {records[named - 1].id} (seq {named}," in verified.output
        problem = "seq 2 are missing" if seq == 2 else "the head says the chain ends at seq 6"
        assert problem in verified.output

    async def test_an_edited_hash_is_named(self, api: Api, team: Team, database_url: str) -> None:
        fourth = (await chain_of(database_url, team.customer_id))[3]
        async with database(database_url) as session:
            await session.execute(
                update(AuditEvent).where(col(AuditEvent.id) == fourth.id).values(hash="0" * 64)
            )

        verified = await billing_audit_verify(database_url)

        assert verified.exit_code == 1, verified.output
        assert f"record {fourth.id} (seq 4, customer {team.customer_id})" in verified.output

    async def test_a_chain_rewritten_after_a_record_still_disagrees_with_its_head(
        self, api: Api, team: Team, database_url: str
    ) -> None:
        records = await chain_of(database_url, team.customer_id)
        async with database(database_url) as session:
            await session.execute(
                update(AuditChain)
                .where(col(AuditChain.chain_key) == records[0].chain_key)
                .values(hash="f" * 64)
            )
        verified = await billing_audit_verify(database_url)
        assert verified.exit_code == 1
        assert f"record {records[-1].id}" in verified.output
        assert "the head's hash is not the last record's" in verified.output

    async def test_one_customers_chain(self, api: Api, team: Team, database_url: str) -> None:
        other = await api.team()
        first = (await chain_of(database_url, other.customer_id))[0]
        async with database(database_url) as session:
            await session.execute(
                update(AuditEvent).where(col(AuditEvent.id) == first.id).values(action="x")
            )

        mine = await billing_audit_verify(database_url, "--customer-id", team.customer_id)
        theirs = await billing_audit_verify(database_url, "--customer-id", other.customer_id)

        assert mine.exit_code == 0, mine.output
        assert "1 chains, 6 records" in mine.output
        assert theirs.exit_code == 1
        assert f"record {first.id} (seq 1," in theirs.output

    async def test_reads_in_pages(self, api: Api, team: Team, database_url: str) -> None:
        for page_size in (1, 2, 5, 6, 7):
            result = await verify_trail(api.container.db, page_size=page_size)
            assert (result.intact, result.chains, result.records) == (True, 1, 6)
        last = (await chain_of(database_url, team.customer_id))[-1]
        async with database(database_url) as session:
            await session.execute(delete(AuditEvent).where(col(AuditEvent.id) == last.id))
        for page_size in (1, 5, 6):
            result = await verify_trail(api.container.db, page_size=page_size)
            assert [broken.seq for broken in result.breaks] == [5]
