"""GraphQL types declared over the domain's own dataclasses.

A type takes every field of its domain dataclass, in order and with its type; its class
body says only what GraphQL shows differently: a description, another type, a hidden
field (`strawberry.Private`), or a field the dataclass does not have (placed before the
next field the body names). A resolver answers the domain value itself (`Type.of(value)`)
and each field is read off it, so a field added to the dataclass is on GraphQL too.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any, Self, TypeVar, Union, cast, get_args, get_origin, get_type_hints

import strawberry

V = TypeVar("V", bound="DomainType")
_TYPES: dict[type, type] = {}  # domain dataclass -> its GraphQL type, for nested fields


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
