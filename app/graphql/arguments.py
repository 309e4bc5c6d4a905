"""Input types and argument parsing.

Arguments become the domain's own input models through `parse_input`, under the same
camelCase names as the REST bodies, so validation is the same on both transports (an
error's `param` spells ids as this schema does: `userId` for REST's `userID`). Ids
arrive as `ID` and are parsed here, so a malformed one is INVALID_INPUT as in REST rather
than a GraphQL coercion error.
"""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.input
class BillingAddressInput:
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, upper case.")
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return present(
            country=self.country,
            street=self.street,
            city=self.city,
            state=self.state,
            postalCode=self.postal_code,
        )


@strawberry.input
class CustomerInput:
    name: str
    email: str
    billing_address: BillingAddressInput

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "email": self.email,
            "billingAddress": self.billing_address.to_wire(),
        }


def present(**values: Any) -> dict[str, Any]:
    """The arguments the client gave; the rest take the domain model's defaults."""
    return {name: value for name, value in values.items() if value is not None}
