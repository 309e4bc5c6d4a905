"""GraphQL types derived from the domain's own input models, so that a field declared
there appears here without being declared again.

Outputs use Strawberry's pydantic integration. Inputs are built here rather than by that
integration, to keep this schema's convention for arguments: a field with a default is
nullable, and null means "not given" (the model's default applies, or, on an update, the
stored value stays).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any, TypeVar, Union, get_args, get_origin

import strawberry
from pydantic import BaseModel, TypeAdapter
from pydantic.alias_generators import to_camel

T = TypeVar("T")
_inputs: dict[type[BaseModel], type] = {}
_JSON_TYPES: dict[Any, type] = {"string": str, "integer": int, "boolean": bool}


def input_of(
    model: type[BaseModel], *, description: str | None = None
) -> Callable[[type[T]], type[T]]:
    """Make the decorated class a Strawberry input with `model`'s fields."""

    def make(cls: type[T]) -> type[T]:
        return _input(model, cls, description)

    return make


def _input(model: type[BaseModel], cls: type[T], description: str | None) -> type[T]:
    """`cls` as a Strawberry input with `model`'s fields, required ones first."""
    annotations: dict[str, Any] = {}
    fields = sorted(model.model_fields.items(), key=lambda item: not item[1].is_required())
    for field_name, field in fields:
        kind = _input_kind(field.annotation)
        if field.is_required():
            annotations[field_name] = kind
            default = strawberry.field(description=field.description)
        else:
            annotations[field_name] = kind | None
            default = strawberry.field(default=None, description=field.description)
        setattr(cls, field_name, default)
    cls.__annotations__ = annotations
    made = strawberry.input(cls, description=description)
    _inputs[model] = made
    return made


def _input_kind(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        (kind,) = (arg for arg in get_args(annotation) if arg is not type(None))
        return _input_kind(kind)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        nested = _inputs.get(annotation)
        return nested or _input(annotation, type(f"{annotation.__name__}Input", (), {}), None)
    # E-mail addresses, tags and other validated texts are strings here: the model
    # validates them, as it does for REST.
    return _JSON_TYPES.get(TypeAdapter(annotation).json_schema().get("type"), annotation)


def given(value: Any) -> Any:
    """An input's fields as the domain model reads them, without those left out or null."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    return {
        to_camel(field.name): given(getattr(value, field.name))
        for field in dataclasses.fields(value)
        if getattr(value, field.name) is not None
    }


def fields_of(value: BaseModel) -> dict[str, Any]:
    """`value`'s fields for the output type derived from its model, nested models made
    into their own derived types."""
    return {name: _output(getattr(value, name)) for name in type(value).model_fields}


def _output(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return type(value)._strawberry_type.from_pydantic(value)  # type: ignore[attr-defined]
    return value
