"""Validated input models: both transports parse into these, so validation lives once."""

from __future__ import annotations

import copy
import uuid
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import CoreSchema

from app.core.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)
# Core schema types validated strictly wherever they occur in an input model.
STRICT_SCALARS = frozenset({"int", "bool"})


def _with_strict_scalars(schema: CoreSchema) -> CoreSchema:
    """A copy of `schema` whose integers and booleans accept only their own JSON type
    (a copy, so that no schema pydantic keeps for another model is changed). Nested
    input models apply the rule to their own fields."""
    strict = copy.deepcopy(schema)
    pending: list[Any] = [strict]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if node.get("type") in STRICT_SCALARS:
                node["strict"] = True
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return strict


class InputModel(BaseModel):
    """camelCase on the wire (the product's JSON convention), snake_case in code.

    No text may hold a NUL character: PostgreSQL cannot store one, and no name, e-mail
    or key needs it.

    Numbers and booleans are strict (SPEC §7), wherever they occur in the model: an
    integer is a JSON integer, not `"1"`, `true` or `1.0`, and a boolean is `true` or
    `false`. Pydantic's lax mode would read all of those, and a client that sends them
    has mixed up its fields. Only these types are strict: ids, instants and URLs arrive
    as JSON strings and are still parsed from them, on both transports.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
        frozen=True,
    )

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler, /
    ) -> CoreSchema:
        return _with_strict_scalars(handler(source))

    @field_validator("*")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        if _holds_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False  # nested models checked themselves


def parse_input(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(exc) from exc


def invalid_input(exc: ValidationError) -> InvalidInput:
    """The first failing field, named as the client sent it."""
    error = exc.errors(include_url=False)[0]
    location = [str(part) for part in error["loc"]]
    param = ".".join(location) or None
    message = error["msg"].removeprefix("Value error, ")
    return InvalidInput(f"{param}: {message}" if param else message, param=param)


def parse_uuid(value: str, param: str) -> uuid.UUID:
    """An id from a path or an argument; a malformed one is INVALID_INPUT naming it."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"{param} must be a UUID.", param=param) from None
