"""Validated input models: both transports parse into these, so validation lives once."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    ValidationError,
    create_model,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import CoreSchema, PydanticUndefined, core_schema

from app.core.errors import InvalidInput
from app.core.params import domain_param

M = TypeVar("M", bound=BaseModel)
# Core schema types validated strictly wherever they occur in an input model.
STRICT_SCALARS = frozenset({"int", "bool"})


def _with_input_rules(schema: CoreSchema) -> CoreSchema:
    """A copy of `schema` whose integers and booleans accept only their own JSON type, and
    whose texts refuse NUL characters (a copy, so that no schema pydantic keeps for
    another model is changed). Nested input models apply the rules to their own fields.

    The rules go into the schema, so pydantic-core applies them where the values are:
    no Python runs for a field that holds no text."""
    ruled = copy.deepcopy(schema)
    pending: list[Any] = [ruled]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            kind = node.get("type")
            if kind in STRICT_SCALARS:
                node["strict"] = True
            elif kind == "str":
                _refuse_nul(node)
                continue
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return ruled


def _refuse_nul(node: dict[str, Any]) -> None:
    """Turn a `str` schema node, in place, into that schema followed by the NUL check."""
    text = dict(node)
    node.clear()
    node.update(core_schema.no_info_after_validator_function(_without_nul, cast(CoreSchema, text)))


def _without_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


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
        return _with_input_rules(handler(source))


def _nothing() -> None:
    return None


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("must not be null")
    return value


def every_field_optional(model: type[M]) -> type[M]:
    """`model` with every field optional: those given are validated as its base would,
    and none may be null (left out is how a field keeps its value)."""
    fields: dict[str, Any] = {}
    for field_name, field in model.model_fields.items():
        optional = copy.copy(field)
        # A factory rather than a default: the JSON schema names no default of the wrong
        # type, and a value left out stays out of `model_fields_set` all the same.
        optional.default = PydanticUndefined
        optional.default_factory = _nothing
        fields[field_name] = (field.annotation, optional)
    validators = {"_not_null": field_validator(*fields, mode="before")(_not_null)}
    made = create_model(model.__name__, __base__=model, __validators__=validators, **fields)
    made.__doc__ = model.__doc__
    return made


def parse_input(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(model, exc) from exc


def invalid_input(model: type[BaseModel], exc: ValidationError) -> InvalidInput:
    """The first failing field, named by the domain (`param`) and, in the message, as the
    client sent it."""
    error = exc.errors(include_url=False)[0]
    sent = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return InvalidInput(
        f"{sent}: {message}" if sent else message,
        param=domain_param(model, error["loc"]),
        within=model,
    )


def parse_uuid(value: str, param: str) -> uuid.UUID:
    """An id from a path or an argument; a malformed one is INVALID_INPUT naming it (by
    the domain's name)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput("{param} must be a UUID.", param=param) from None


def parse_unix_seconds(seconds: int, param: str) -> datetime:
    """A moment given in unix seconds; one no date can hold is INVALID_INPUT naming it."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidInput("{param} is not a unix time in seconds.", param=param) from None
