"""Error params as a REST endpoint's clients name them.

An error's `param` is the domain's name of the input at fault (`app.core.params`). REST
shows it in the spelling the endpoint documents: its path parameters (`{customerID}` for
`customer_id`), its query parameters (`pageSize` for `page_size`), and its body model's
fields by the SPEC's alias (`AddMember.user_id` is `userID`, `ConsumeRequest.user_id`
`userId`); anything else camelCase. Each endpoint's `RestParams` is made once, when the
route table becomes routes (`app.rest.router`), and the router renders the endpoint's
errors with it; the hot paths, which render their own errors, make theirs from their
body models (`app.rest.handlers.usage`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic.alias_generators import to_snake
from pydantic.fields import FieldInfo

from app.core.params import spell_param
from app.rest.query import QueryParam

_PATH_PARAMETER = re.compile(r"\{(\w+)\}")


def path_param(name: str) -> str:
    """The domain's name of a path parameter: `customerID` is `customer_id`."""
    return to_snake(name)


def documented(name: str, field: FieldInfo) -> str:
    """A body field as the SPEC spells it: its (first) validation alias, or its alias."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        alias = alias.choices[0]
    if isinstance(alias, str):
        return alias
    return field.alias or name


@dataclass(frozen=True, slots=True)
class RestParams:
    """One endpoint's spelling of error params: a domain name to its client's."""

    parameters: Mapping[str, str]  # path and query parameters, by their domain names
    body: type[BaseModel] | None = None

    @classmethod
    def of(
        cls, path: str = "", body: object | None = None, query: Iterable[QueryParam[Any]] = ()
    ) -> RestParams:
        parameters: dict[str, str] = {}
        for name in _PATH_PARAMETER.findall(path):
            parameters.setdefault(path_param(name), name)
        for declared in query:
            parameters.setdefault(declared.param, declared.name)
        model = body if isinstance(body, type) and issubclass(body, BaseModel) else None
        return cls(parameters, model)

    def __call__(self, param: str) -> str:
        return self.parameters.get(param) or spell_param(param, self.body, documented)
