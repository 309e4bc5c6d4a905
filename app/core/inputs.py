"""Validated input models: both transports parse into these, so validation lives once."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from app.core.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


class InputModel(BaseModel):
    """camelCase on the wire (the product's JSON convention), snake_case in code."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
        frozen=True,
    )


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
