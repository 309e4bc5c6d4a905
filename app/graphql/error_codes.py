"""`ErrorCode`: every code an error's `extensions.code` can hold, as a schema enum, so that
generated clients can switch on it. It is derived from the error classes, never listed by
hand: a new `AppError` is in the enum as soon as it exists."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

import strawberry

from app.core.errors import AppError
from app.graphql.errors import PARSE_FAILED, VALIDATION_FAILED
from app.graphql.limits import QueryTooCostly  # noqa: F401  (an AppError defined here)


def _codes(base: type[AppError]) -> set[str]:
    codes = {base.code}
    for subclass in base.__subclasses__():
        codes |= _codes(subclass)
    return codes


def error_codes() -> list[str]:
    """Every application error's code, and those of documents that fail to parse or
    validate, in alphabetical order."""
    return sorted((_codes(AppError) - {AppError.code}) | {PARSE_FAILED, VALIDATION_FAILED})


if TYPE_CHECKING:
    ErrorCode = Enum
else:
    ErrorCode = strawberry.enum(
        Enum("ErrorCode", {code: code for code in error_codes()}),
        description="What went wrong: the `code` of every error's extensions (and REST's body).",
    )


def error_code(code: str) -> ErrorCode:
    return ErrorCode(code)
