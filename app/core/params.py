"""Error params: named by the domain, spelled for its clients by each transport once.

An `AppError.param` names the input at fault with the domain's own field names: snake
case, dotted into nested models (`billing_address.country`), list items
(`features.0.window`) and dict entries (`features.0.values.pro`), whose keys are the
client's own data. The error may also name the input model the param is a path in
(`AppError.within`), which tells a field from a client's key.

- Validation errors get there from pydantic's `loc`, which spells each field as the
  client sent it (an alias): `domain_param` walks it through the model to field names.
- A transport spells a domain param with `spell_param`: walked through the input model,
  each field is named as the transport names it, and list indices and dict keys stay as
  they are; a name the model does not declare (or with no model at all) is camelCase,
  the product's JSON convention. GraphQL names every field camelCase, as its arguments
  and input types are (`app.graphql.errors`); REST names each as the endpoint documents
  it: a path or query parameter, or its body model's alias (`app.rest.params`).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AliasChoices, AliasPath, BaseModel
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

# How a transport names a model's field: (field name, field) -> its name on the wire.
FieldSpelling = Callable[[str, FieldInfo], str]
_LISTS = (list, tuple, set, frozenset, Sequence)
_DICTS = (dict, Mapping)


def domain_param(model: type[BaseModel], loc: Iterable[int | str]) -> str | None:
    """The domain's name of a validation error's location in `model`: each field given
    by an alias as its field name; indices, keys and anything unknown as they are."""
    parts: list[str] = []
    shape: Any = model
    for part in loc:
        fields = _model_of(shape)
        name = _accepted_names(fields).get(str(part)) if fields is not None else None
        if fields is not None and name is not None:
            parts.append(name)
            shape = _unwrapped(fields.model_fields[name].annotation)
        else:
            parts.append(str(part))
            shape = None if fields is not None else _inner(shape)
    return ".".join(parts) or None


def spell_param(param: str, model: type[BaseModel] | None, spell: FieldSpelling) -> str:
    """`param` as a transport shows it: each field of `model` it names spelled by
    `spell`, indices and keys as they are, other names camelCase."""
    parts: list[str] = []
    shape: Any = model
    for segment in param.split("."):
        fields = _model_of(shape)
        field = fields.model_fields.get(segment) if fields is not None else None
        if field is not None:
            parts.append(spell(segment, field))
            shape = _unwrapped(field.annotation)
        elif fields is not None or shape is None:  # a name nothing declares
            parts.append(segment if segment.isdigit() else to_camel(segment))
            shape = None
        else:  # an index or a key: the client's own data
            parts.append(segment)
            shape = _inner(shape)
    return ".".join(parts)


def camel_case(name: str, _field: FieldInfo) -> str:
    return to_camel(name)


@functools.cache
def _accepted_names(model: type[BaseModel]) -> Mapping[str, str]:
    """Every name a field of `model` is accepted under (its own, its aliases), to it."""
    names = {name: name for name in model.model_fields}
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        for choice in [field.alias, *choices]:
            if isinstance(choice, AliasPath):
                choice = choice.path[0]
            if isinstance(choice, str):
                names.setdefault(choice, name)
    return names


def _model_of(shape: Any) -> type[BaseModel] | None:
    return shape if isinstance(shape, type) and issubclass(shape, BaseModel) else None


def _unwrapped(annotation: Any) -> Any:
    """The annotation without `Annotated` and `None`; None (unknown) for a union."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or origin is types.UnionType:
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return None
            annotation = members[0]
        else:
            return annotation


def _inner(shape: Any) -> Any:
    """The shape of a list's items or a dict's values; `object` (data) inside anything
    else, None inside the unknown."""
    if shape is None:
        return None
    origin, args = get_origin(shape), get_args(shape)
    if origin in _LISTS and args:
        return _unwrapped(args[0])
    if origin in _DICTS and len(args) == 2:
        return _unwrapped(args[1])
    return object
