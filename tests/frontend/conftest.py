"""The `gql` helper of the GraphQL tests, for the dashboard's documents."""

from __future__ import annotations

import pytest

from tests.graphql.conftest import GraphQL
from tests.support.api import Api


@pytest.fixture
def gql(api: Api) -> GraphQL:
    return GraphQL(api)
