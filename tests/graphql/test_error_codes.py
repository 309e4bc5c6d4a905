"""`ErrorCode`: the schema's enum of every error code, derived from the error classes."""

from __future__ import annotations

import ast
from pathlib import Path

from app.graphql.errors import PARSE_FAILED, VALIDATION_FAILED
from tests.graphql.conftest import GraphQL
from tests.support.api import ANONYMOUS

APP = Path(__file__).resolve().parents[2] / "app"


def codes_declared_in_app() -> set[str]:
    """Every `code = "..."` of a class anywhere under app/."""
    codes: set[str] = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if (
                        isinstance(statement, ast.Assign)
                        and [getattr(t, "id", None) for t in statement.targets] == ["code"]
                        and isinstance(statement.value, ast.Constant)
                    ):
                        codes.add(str(statement.value.value))
    return codes - {"APP_ERROR"}


async def test_every_code_raised_anywhere_is_in_the_enum(gql: GraphQL) -> None:
    listed = set((await gql.data("{ errorCodes }", ANONYMOUS))["errorCodes"])
    assert codes_declared_in_app() | {PARSE_FAILED, VALIDATION_FAILED} == listed
    assert {"MEMBER_LIMIT_REACHED", "QUERY_TOO_COSTLY", "STRIPE_NOT_CONFIGURED"} <= listed


async def test_a_batch_error_code_is_the_enum(gql: GraphQL) -> None:
    service = gql.api.service("ai-api")
    data = await gql.data(
        """mutation { consumeBatch(requests: [{serviceName: "ai-api", featureKey: "nope"}])
           { __typename ... on ConsumeError { code } } }""",
        service,
    )
    # No caller named: the request's own error, under its enum value.
    assert data["consumeBatch"] == [{"__typename": "ConsumeError", "code": "INVALID_INPUT"}]
