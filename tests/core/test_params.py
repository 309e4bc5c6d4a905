"""Error params: the domain's names, spelled once by each transport."""

from __future__ import annotations

import uuid

import pytest
from pydantic import AliasChoices, Field

from app.core.errors import CustomerNotFound, InvalidInput
from app.core.inputs import InputModel, parse_input
from app.core.params import domain_param
from app.customers.schemas import AddMember
from app.graphql.errors import graphql_param
from app.rest.params import RestParams
from app.rest.query import FROM, PAGINATION


class Window(InputModel):
    window_seconds: int = Field(ge=1)


class Feature(InputModel):
    feature_key: str = Field(min_length=1)
    limits: list[Window] = Field(default_factory=list)
    values: dict[str, int] = Field(default_factory=dict)


class Registration(InputModel):
    owner_user_id: uuid.UUID | None = Field(
        default=None, validation_alias=AliasChoices("ownerUserID", "ownerUserId")
    )
    features: list[Feature] = Field(default_factory=list)


ADMIN_ADD_MEMBER = RestParams.of("/admin/customer/{customerID}/member", AddMember, PAGINATION)


@pytest.mark.parametrize(
    ("param", "rest"),
    [
        ("customer_id", "customerID"),  # a path parameter
        ("user_id", "userID"),  # the body's documented alias
        ("email", "email"),
        ("page_size", "pageSize"),  # a query parameter
        ("tier_name", "tierName"),  # declared nowhere: camelCase
    ],
)
def test_rest_names_a_param_as_the_endpoint_documents_it(param: str, rest: str) -> None:
    assert ADMIN_ADD_MEMBER(param) == rest


def test_rest_spells_nested_fields_and_keeps_indices_and_keys() -> None:
    params = RestParams.of("/services/{serviceName}", Registration, (FROM,))
    assert params("service_name") == "serviceName"
    assert params("since") == "from"  # a query parameter with a domain name of its own
    assert params("owner_user_id") == "ownerUserID"
    assert params("features.2.limits.0.window_seconds") == "features.2.limits.0.windowSeconds"
    assert params("features.0.values.pro_plus") == "features.0.values.pro_plus"


@pytest.mark.parametrize(
    ("param", "graphql"),
    [
        ("user_id", "userId"),
        ("new_owner_user_id", "newOwnerUserId"),
        ("billing_address.country", "billingAddress.country"),
        ("features.0.feature_key", "features.0.featureKey"),
    ],
)
def test_graphql_names_every_field_camel_case(param: str, graphql: str) -> None:
    assert graphql_param(InvalidInput(param=param)) == graphql


def test_graphql_keeps_the_keys_a_client_chose() -> None:
    error = InvalidInput(param="features.0.values.pro_plus", within=Registration)
    assert graphql_param(error) == "features.0.values.pro_plus"
    assert graphql_param(CustomerNotFound()) is None


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"ownerUserID": "nope"}, "owner_user_id"),
        ({"ownerUserId": "nope"}, "owner_user_id"),
        ({"features": [{"featureKey": ""}]}, "features.0.feature_key"),
        (
            {"features": [{"featureKey": "a", "limits": [{}, {"windowSeconds": 0}]}]},
            "features.0.limits.0.window_seconds",
        ),
        (
            {"features": [{"featureKey": "a", "values": {"proPlus": "1"}}]},
            "features.0.values.proPlus",
        ),
    ],
)
def test_validation_names_the_domain_field(data: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_input(Registration, data)
    assert (refused.value.param, refused.value.within) == (param, Registration)


def test_validation_locations_map_through_nested_models_and_lists() -> None:
    loc = ("features", 1, "limits", 0, "windowSeconds")
    assert domain_param(Registration, loc) == "features.1.limits.0.window_seconds"
    assert domain_param(Registration, ("features", 0, "values", "fooID")) == (
        "features.0.values.fooID"
    )
    assert domain_param(Registration, ()) is None
