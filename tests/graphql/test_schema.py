"""The exported schema and the schema the code builds, outside any HTTP request."""

from __future__ import annotations

from pathlib import Path

from app.graphql.schema import build_schema, schema
from app.settings import Settings

EXPORT = Path(__file__).resolve().parents[2] / "schema.graphql"
COMMAND = (
    'PYTHONPATH=. python -c "from app.graphql.schema import schema; '
    "open('schema.graphql','w').write(schema.as_str() + '\\n')\""
)


def test_schema_graphql_is_up_to_date() -> None:
    assert EXPORT.read_text() == schema.as_str() + "\n", f"re-export it: {COMMAND}"


def test_limits_do_not_change_the_schema() -> None:
    tight = Settings.model_construct(graphql_max_depth=1, graphql_max_aliases=0, graphql_max_cost=1)
    assert build_schema(tight).as_str() == schema.as_str()


async def test_the_error_extension_renders_parse_errors() -> None:
    result = await schema.execute("{ customer {")
    assert result.errors is not None
    assert result.errors[0].extensions is not None
    assert result.errors[0].extensions["code"] == "GRAPHQL_PARSE_FAILED"


async def test_the_error_extension_renders_validation_errors() -> None:
    result = await schema.execute("{ nothingHere }")
    assert result.errors is not None
    assert result.errors[0].extensions is not None
    assert result.errors[0].extensions["code"] == "GRAPHQL_VALIDATION_FAILED"
