"""The GraphQL interface: a Strawberry schema over the same domain services as REST."""
