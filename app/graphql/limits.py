"""What an operation may ask for, measured before anything runs: depth, aliases and cost.

One walk of the operation measures all three. Every field costs 1; a field whose size is
an argument (`pageSize`) multiplies the cost of its selection by that size: the literal
given (within the allowed page sizes), the largest page for a variable (its value is not
known while validating), the field's default when the argument is left out. Depth counts
nested fields, introspection's excepted; aliases are counted wherever they are spread.

Fragments are followed, each measured once however often it is spread, so that a document
of nested spreads cannot make the measuring itself expensive (strawberry's own depth and
alias limiters walk every path, which doubles with every level of doubled spreads). The
measure is an upper bound: both sides of a union count, and fields graphql-core would
merge count each time (a fragment spread twice in one selection only once, as it runs once).

Only the operation the request names is measured, or each operation when it names none.
The rule classes are made once per (limits, operation name), so the validation cache,
keyed by the rules, keeps hitting.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    SKIP,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
    is_composite_type,
)
from strawberry.extensions import SchemaExtension

from app.core.errors import AppError
from app.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

SIZE_ARGUMENT = "pageSize"


class QueryTooCostly(AppError):
    code = "QUERY_TOO_COSTLY"
    default_message = "The operation asks for too much at once."


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_cost: int


@dataclass(frozen=True, slots=True)
class Measure:
    cost: int = 0
    depth: int = 0
    aliases: int = 0

    def __add__(self, other: Measure) -> Measure:
        """Two selections side by side."""
        return Measure(
            self.cost + other.cost, max(self.depth, other.depth), self.aliases + other.aliases
        )


class DocumentLimiter(SchemaExtension):
    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # Read before parsing, `operation_name` is the one the request gave, or None.
        rule = limits_rule(self.limits, context.operation_name)
        context.validation_rules = (*context.validation_rules, rule)
        yield


@lru_cache(maxsize=256)
def limits_rule(limits: Limits, operation_name: str | None) -> type[ValidationRule]:
    class LimitsRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.measurer = _Measurer(context.schema, context.document)

        # Per operation rather than on entering the document: graphql-core has refused by
        # then spreads nested deeper than a validation can recurse through.
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> Any:
            if operation_name is None or (node.name and node.name.value == operation_name):
                for error in _violations(self.measurer.operation(node), limits, node):
                    self.report_error(error)
            return SKIP

        def enter_fragment_definition(self, *_: Any) -> Any:
            return SKIP

    return LimitsRule


def _violations(
    measure: Measure, limits: Limits, node: OperationDefinitionNode
) -> Iterator[GraphQLError]:
    if measure.depth > limits.max_depth:
        name = node.name.value if node.name else "anonymous"
        yield GraphQLError(f"'{name}' exceeds maximum operation depth of {limits.max_depth}", node)
    if measure.aliases > limits.max_aliases:
        message = f"{measure.aliases} aliases found. Allowed: {limits.max_aliases}"
        yield GraphQLError(message, node)
    if measure.cost > limits.max_cost:
        message = f"The operation costs {measure.cost}, more than the limit of {limits.max_cost}."
        error = QueryTooCostly(message, cost=measure.cost, limit=limits.max_cost)
        yield GraphQLError(message, node, original_error=error)


class _Measurer:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.measured: dict[str, Measure] = {}
        # A cycle of spreads is refused by graphql-core's own rule; here it only ends.
        self.entered: set[str] = set()

    def operation(self, node: OperationDefinitionNode) -> Measure:
        return self.selections(node.selection_set, self.schema.get_root_type(node.operation))

    def selections(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType | None,
        spread: set[str] | None = None,
    ) -> Measure:
        """`spread`: the fragments already spread at this level, which graphql-core runs once."""
        measure = Measure()
        if selection_set is None:
            return measure
        spread = set() if spread is None else spread
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                measure += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                on = self.type(selection.type_condition) if selection.type_condition else parent
                measure += self.selections(selection.selection_set, on, spread)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
                spread.add(selection.name.value)
                measure += self.fragment(selection.name.value)
        return measure

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> Measure:
        name = node.name.value
        definition = self.schema.get_field(parent, name) if is_composite_type(parent) else None
        returns = get_named_type(definition.type) if definition else None
        inner = self.selections(node.selection_set, returns)
        nested = node.selection_set is not None and not name.startswith("__")
        return Measure(
            cost=1 + _size(node, definition) * inner.cost,
            depth=1 + inner.depth if nested else 0,
            aliases=inner.aliases + (node.alias is not None),
        )

    def fragment(self, name: str) -> Measure:
        if name in self.measured:
            return self.measured[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.entered:
            return Measure()
        self.entered.add(name)
        measure = self.selections(fragment.selection_set, self.type(fragment.type_condition))
        self.measured[name] = measure
        return measure

    def type(self, node: NamedTypeNode) -> GraphQLNamedType | None:
        return self.schema.get_type(node.name.value)


def _size(node: FieldNode, definition: GraphQLField | None) -> int:
    """How many times the field's selection is answered: 1 unless it has a size argument."""
    if definition is None or SIZE_ARGUMENT not in definition.args:
        return 1
    given = next((a.value for a in node.arguments or () if a.name.value == SIZE_ARGUMENT), None)
    if given is None:
        default = definition.args[SIZE_ARGUMENT].default_value
        return default if isinstance(default, int) else DEFAULT_PAGE_SIZE
    # A variable's value is unknown while validating. No page is larger than the largest
    # (a larger size is refused when the field runs); the length check spares `int` a
    # literal of thousands of digits.
    if isinstance(given, IntValueNode) and len(given.value) <= len(str(MAX_PAGE_SIZE)):
        return min(max(int(given.value), 1), MAX_PAGE_SIZE)
    return MAX_PAGE_SIZE
