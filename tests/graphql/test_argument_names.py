"""The schema's one argument-naming rule (README, "GraphQL"): an argument or input field
that identifies something is named for it — `customerId`, `apiKeyId`, `tierName`,
`serviceName`, `featureKey` — never a bare `id`; renamed arguments stay, deprecated."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    GraphQLArgument,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLObjectType,
    get_named_type,
)

from app.graphql.schema import schema
from tests.graphql.conftest import GraphQL

CREATE_KEY = 'mutation { createApiKey(name: "ci") { apiKey { id } } }'


def identifying_arguments() -> Iterator[tuple[str, GraphQLArgument | GraphQLInputField]]:
    """Every argument and input field of type `ID`, by where it is."""
    for type_ in schema._schema.type_map.values():
        if type_.name.startswith("__"):
            continue
        if isinstance(type_, GraphQLObjectType):
            for field_name, field in type_.fields.items():
                for name, argument in field.args.items():
                    yield f"{type_.name}.{field_name}({name})", argument
        elif isinstance(type_, GraphQLInputObjectType):
            for name, input_field in type_.fields.items():
                yield f"{type_.name}.{name}", input_field


def test_every_id_argument_is_named_for_what_it_identifies() -> None:
    offenders = [
        where
        for where, argument in identifying_arguments()
        if get_named_type(argument.type).name == "ID"
        and argument.deprecation_reason is None
        and not where.rstrip(")").endswith("Id")
    ]
    assert not offenders, offenders
    assert len(list(identifying_arguments())) > 40  # the walk reached the whole schema


async def test_the_deprecated_spellings_still_work(gql: GraphQL) -> None:
    caller, admin = gql.user(), gql.admin()
    key_id = (await gql.data(CREATE_KEY, caller))["createApiKey"]["apiKey"]["id"]
    revoked = await gql.data(
        "mutation ($k: ID!) { revokeApiKey(id: $k) { revokedApiKeyId } }", caller, k=key_id
    )
    assert revoked == {"revokeApiKey": {"revokedApiKeyId": key_id}}
    pro_id = next(
        tier["id"]
        for tier in (await gql.data("{ tiers { id name } }", admin))["tiers"]
        if tier["name"] == "pro"
    )
    made = await gql.data(
        "mutation ($t: ID!) { setDefaultTier(tierId: $t) { name isDefault } }", admin, t=pro_id
    )
    assert made == {"setDefaultTier": {"name": "pro", "isDefault": True}}


async def test_a_renamed_argument_is_given_once(gql: GraphQL) -> None:
    caller = gql.user()
    key_id = (await gql.data(CREATE_KEY, caller))["createApiKey"]["apiKey"]["id"]
    both = await gql.error(
        "mutation ($k: ID!) { revokeApiKey(apiKeyId: $k, id: $k) { revokedApiKeyId } }",
        caller,
        k=key_id,
    )
    neither = await gql.error("mutation { revokeApiKey { revokedApiKeyId } }", caller)
    for error in (both, neither):
        assert error["extensions"]["code"] == "INVALID_INPUT"
        assert error["extensions"]["param"] == "apiKeyId"
        assert "apiKeyId" in error["message"]
    keys = (await gql.data("{ apiKeys { id } }", caller))["apiKeys"]
    assert keys == [{"id": key_id}]  # nothing was revoked
