"""Validated input models: both transports parse into these, so validation lives once."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from app.core.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


class InputModel(BaseModel):
    """camelCase on the wire (the product's JSON convention), snake_case in code.

    No text may hold a NUL character: PostgreSQL cannot store one, and no name, e-mail
    or key needs it.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
        frozen=True,
    )

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
