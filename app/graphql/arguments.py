"""Input types and argument parsing.

Arguments become the domain's own input models through `parse_input`, under the same
camelCase names as the REST bodies, so validation is the same on both transports (an
error's `param` is the domain's name, which `app.graphql.errors` spells as this schema
does). Ids arrive as `ID` and are parsed here, so a malformed one is INVALID_INPUT as in
REST rather than a GraphQL coercion error.
"""

from __future__ import annotations

from typing import Any, TypeVar

from app.core.errors import InvalidInput
from app.customers.schemas import CustomerProfile, CustomerUpdate
from app.graphql.domain_types import input_of


@input_of(CustomerProfile)
class CustomerInput:
    pass


@input_of(
    CustomerUpdate,
    description="Any of the customer's fields; those left out or null keep their values.",
)
class UpdateCustomerInput:
    pass


T = TypeVar("T")


def renamed(param: str, value: T | None, deprecated: T | None) -> T:
    """An argument given under its name or under the deprecated one it replaced (never
    both); `param`: the domain's name of it, which errors carry."""
    if value is not None and deprecated is not None:
        raise InvalidInput(
            "Give {param} only; its deprecated spelling names the same.", param=param
        )
    chosen = value if value is not None else deprecated
    if chosen is None:
        raise InvalidInput("{param} is required.", param=param)
    return chosen


def present(**values: Any) -> dict[str, Any]:
    """The arguments the client gave; the rest take the domain model's defaults."""
    return {name: value for name, value in values.items() if value is not None}
