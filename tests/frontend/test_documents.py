"""The dashboard's documents parse and validate against `schema.graphql`, as a client's
build would check them: each screen with the fragments it spreads, every operation as the
request it sends, and all of them together (no name twice, no fragment unused)."""

from __future__ import annotations

import re

import pytest
from graphql import DocumentNode, GraphQLSchema, parse, validate

from tests.frontend.documents import FRAGMENTS_FILE, SCHEMA_FILE, Documents, documents, schema

SCREENS = ("account", "admin", "billing", "home", "keys", "team", "usage")


def errors(target: GraphQLSchema, document: DocumentNode) -> list[str]:
    return [error.message for error in validate(target, document)]


def test_one_document_per_screen_and_the_shared_fragments() -> None:
    assert sorted(documents().files) == sorted([FRAGMENTS_FILE, *(f"{s}.graphql" for s in SCREENS)])
    fragments_file = documents().files[FRAGMENTS_FILE]
    assert all(d.kind == "fragment_definition" for d in fragments_file.definitions)


@pytest.mark.parametrize("screen", SCREENS)
def test_each_screen_validates_with_its_fragments(screen: str) -> None:
    bundle = documents().bundle(f"{screen}.graphql")
    assert errors(schema(), bundle) == []


@pytest.mark.parametrize("operation", sorted(documents().operations))
def test_each_request_validates_on_its_own(operation: str) -> None:
    """What the client sends for one operation: it and the fragments it spreads, no more."""
    assert errors(schema(), parse(documents().request(operation))) == []


def test_all_documents_validate_together() -> None:
    """One document of every definition: names are unique, every fragment is spread."""
    every = tuple(d for document in documents().files.values() for d in document.definitions)
    assert errors(schema(), DocumentNode(definitions=every)) == []


def test_the_home_is_one_request() -> None:
    assert [name for name, file in documents().screen_of.items() if file == "home.graphql"] == [
        "DashboardHome"
    ]


def test_the_screens_share_fragments_of_every_kind() -> None:
    """The fragments are used as a codegen user uses them: on the customer, its team and its
    pages, and on both members of the union, its `__typename` selected."""
    docs = documents()
    kinds = {fragment.type_condition.name.value for fragment in docs.fragments.values()}
    assert {"Customer", "Member", "Invitation", "MemberPage", "MemberOrInvitation"} <= kinds
    union = docs.request("AddMemberByUserId")
    assert "__typename" in union and "... on Member" in union and "... on Invitation" in union
    for name in ("CustomerFields", "MemberFields", "MemberPageFields"):
        users = [op for op in docs.operations if name in docs.needed([docs.operations[op]])]
        assert len(users) > 1, name


@pytest.mark.parametrize(
    ("field", "renamed"),
    [
        ("seatsUsed: Int!", "seatsTaken: Int!"),
        ("canManageMembers: Boolean!", "canManage: Boolean!"),
    ],
)
def test_a_field_renamed_in_the_schema_fails_validation(field: str, renamed: str) -> None:
    """The check above would catch a schema change that breaks the dashboard."""
    text = SCHEMA_FILE.read_text()
    assert text.count(field) == 1, field
    changed = schema(text.replace(field, renamed))
    name = field.split(":")[0]
    broken = [op for op in documents().operations if _fails(documents(), changed, op)]
    assert broken, name
    for operation in broken:
        message = " ".join(errors(changed, parse(documents().request(operation))))
        assert re.search(rf"'{name}'", message), message


def test_an_unknown_argument_fails_validation() -> None:
    text = SCHEMA_FILE.read_text().replace("revokeApiKey(apiKeyId: ID = null, ", "revokeApiKey(")
    assert errors(schema(text), parse(documents().request("RevokeApiKey")))


def _fails(docs: Documents, target: GraphQLSchema, operation: str) -> bool:
    return bool(errors(target, parse(docs.request(operation))))


README = SCHEMA_FILE.parent / "README.md"


@pytest.mark.parametrize("example", re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S))
def test_the_readmes_graphql_examples_validate(example: str) -> None:
    assert errors(schema(), parse(example)) == []
