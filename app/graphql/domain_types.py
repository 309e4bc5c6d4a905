"""GraphQL types declared over the domain's own declarations, so that a field declared
there appears here without being declared again.

Results (dataclasses): a type takes every field of its domain dataclass, in order and
with its type; its class body says only what GraphQL shows differently: a description,
another type, a hidden field (`strawberry.Private`), or a field the dataclass does not have
(placed before the next field the body names). A resolver answers the domain value itself
(`Type.of(value)`) and each field is read off it, so a field added to the dataclass is on
GraphQL too.

Input models (pydantic): outputs use Strawberry's pydantic integration, and `fields_of`
fills them. Inputs are built here (`input_of`) rather than by that integration, to keep
this schema's convention for arguments: a field with a default is nullable, and null means
"not given" (the model's default applies, or, on an update, the stored value stays).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any, Self, TypeVar, Union, cast, get_args, get_origin, get_type_hints

import strawberry
from pydantic import BaseModel, TypeAdapter
from pydantic.alias_generators import to_camel

T = TypeVar("T")
V = TypeVar("V", bound="DomainType")
_TYPES: dict[type, type] = {}  # domain dataclass -> its GraphQL type, for nested fields
_INPUTS: dict[type[BaseModel], type] = {}  # input model -> its GraphQL input
_JSON_TYPES: dict[Any, type] = {"string": str, "integer": int, "boolean": bool}


class DomainType:
    @classmethod
    def of(cls, value: object) -> Self:
        """`value` answered as this type: its fields are read off the domain value."""
        return cast(Self, value)


def domain_type(source: type, *, description: str) -> Callable[[type[V]], type[V]]:
    def wrap(cls: type[V]) -> type[V]:
        hints = get_type_hints(source)
        fields = {field.name: _graphql(hints[field.name]) for field in dataclasses.fields(source)}
        cls.__annotations__ = _merged(fields, dict(cls.__annotations__))

        def is_type_of(value: object, _info: Any) -> bool:
            return isinstance(value, source)

        cls.is_type_of = staticmethod(is_type_of)  # type: ignore[attr-defined]
        graphql_type = strawberry.type(cls, description=description)
        _TYPES.setdefault(source, graphql_type)
        return graphql_type

    return wrap


def _merged(fields: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    """The dataclass's fields in order, as declared where the body declares them; a field
    of the body alone goes before the next dataclass field the body names, else last."""
    names = list(declared)
    merged: dict[str, Any] = {}
    for name, hint in fields.items():
        if name in declared:
            for earlier in names[: names.index(name)]:
                if earlier not in fields:
                    merged.setdefault(earlier, declared[earlier])
        merged[name] = declared.get(name, hint)
    for name in names:
        merged.setdefault(name, declared[name])
    return merged


def _graphql(hint: Any) -> Any:
    """A dataclass field's type with each domain dataclass replaced by its GraphQL type."""
    if isinstance(hint, type) and hint in _TYPES:
        return _TYPES[hint]
    origin, args = get_origin(hint), get_args(hint)
    if origin is list:
        return list[_graphql(args[0])]  # type: ignore[misc]
    if origin in (Union, types.UnionType):
        converted = [_graphql(arg) for arg in args]
        union = converted[0]
        for arg in converted[1:]:
            union = union | arg
        return union
    return hint


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
    _INPUTS[model] = made
    return made


def _input_kind(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        (kind,) = (arg for arg in get_args(annotation) if arg is not type(None))
        return _input_kind(kind)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        nested = _INPUTS.get(annotation)
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
