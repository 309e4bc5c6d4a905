"""Every member of a union (and implementer of an interface) can be selected side by side
with the others: fields of the same name have the same type."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    get_named_type,
    is_composite_type,
    is_non_null_type,
    parse,
    validate,
)

EXPORT = Path(__file__).resolve().parents[2] / "schema.graphql"


def _abstract_types(schema: GraphQLSchema) -> list[GraphQLUnionType | GraphQLInterfaceType]:
    return [
        kind
        for name, kind in sorted(schema.type_map.items())
        if not name.startswith("__") and isinstance(kind, GraphQLUnionType | GraphQLInterfaceType)
    ]


def _members(schema: GraphQLSchema, abstract: GraphQLNamedType) -> list[GraphQLObjectType]:
    assert isinstance(abstract, GraphQLUnionType | GraphQLInterfaceType)
    return list(schema.get_possible_types(abstract))


def _every_field(kind: GraphQLObjectType) -> str:
    """Every field without required arguments: scalar leaves, nested objects by `__typename`."""
    selected = ["__typename"]
    for name, field in kind.fields.items():
        if any(is_non_null_type(arg.type) for arg in field.args.values()):
            continue
        selected.append(f"{name} {{ __typename }}" if _is_composite(field) else name)
    return " ".join(selected)


def _is_composite(field: GraphQLField) -> bool:
    return is_composite_type(get_named_type(field.type))


def _path_to(schema: GraphQLSchema, target: GraphQLNamedType) -> tuple[str, list[str], list[str]]:
    """The operation, the fields and the variable definitions that reach `target` from a root."""
    roots = [("query", schema.query_type), ("mutation", schema.mutation_type)]
    queue: deque[tuple[str, GraphQLObjectType, list[str], list[str]]] = deque(
        (operation, root, [], []) for operation, root in roots if root is not None
    )
    seen: set[str] = set()
    while queue:
        operation, parent, fields, variables = queue.popleft()
        for name, field in parent.fields.items():
            required = {
                arg: spec for arg, spec in field.args.items() if is_non_null_type(spec.type)
            }
            offset = len(variables)
            names = {arg: f"v{offset + index}" for index, arg in enumerate(required)}
            arguments = ", ".join(f"{arg}: ${names[arg]}" for arg in required)
            step = f"{name}({arguments})" if arguments else name
            more = [f"${names[arg]}: {spec.type}" for arg, spec in required.items()]
            kind = get_named_type(field.type)
            if kind is target:
                return operation, [*fields, step], [*variables, *more]
            if isinstance(kind, GraphQLObjectType) and kind.name not in seen:
                seen.add(kind.name)
                queue.append((operation, kind, [*fields, step], [*variables, *more]))
    raise AssertionError(f"{target.name} is not reachable from a root")


def side_by_side(schema: GraphQLSchema, abstract: GraphQLNamedType) -> list[str]:
    """Documents selecting every field of every member where the abstract type is a
    field's type; for an interface no field returns (one that fragments are written on,
    like `Paginated`), where each implementer is, beside the interface's own fields."""
    members = _members(schema, abstract)
    inner = " ".join(f"... on {member.name} {{ {_every_field(member)} }}" for member in members)
    if _reachable(schema, abstract):
        return [_document(*_path_to(schema, abstract), f"__typename {inner}")]
    assert isinstance(abstract, GraphQLInterfaceType), f"{abstract.name} is never returned"
    own = " ".join(abstract.fields)
    return [
        _document(
            *_path_to(schema, member),
            f"__typename ... on {abstract.name} {{ {own} }} "
            f"... on {member.name} {{ {_every_field(member)} }}",
        )
        for member in members
    ]


def _reachable(schema: GraphQLSchema, target: GraphQLNamedType) -> bool:
    try:
        _path_to(schema, target)
    except AssertionError:
        return False
    return True


def _document(operation: str, fields: list[str], variables: list[str], selection: str) -> str:
    document = selection
    for step in reversed(fields):
        document = f"{step} {{ {document} }}"
    definitions = f"({', '.join(variables)})" if variables else ""
    return f"{operation} SideBySide{definitions} {{ {document} }}"


def _errors(schema: GraphQLSchema, abstract: GraphQLNamedType) -> list[str]:
    return [
        error.message
        for document in side_by_side(schema, abstract)
        for error in validate(schema, parse(document))
    ]


SCHEMA = build_schema(EXPORT.read_text())


@pytest.mark.parametrize("abstract", _abstract_types(SCHEMA), ids=lambda kind: kind.name)
def test_members_can_be_selected_side_by_side(
    abstract: GraphQLUnionType | GraphQLInterfaceType,
) -> None:
    assert _errors(SCHEMA, abstract) == []


def test_a_field_of_different_types_is_caught() -> None:
    schema = build_schema(
        """
        type Query { either: Either }
        union Either = A | B
        type A { email: String }
        type B { email: String! }
        """
    )
    (union,) = _abstract_types(schema)
    (error,) = _errors(schema, union)
    assert "email" in error
