"""The REST query parameters, each declared once: its name, the domain's name of what it
gives (which errors name), its OpenAPI schema and how its value is read. The route table
lists them per endpoint; the OpenAPI document, the handlers and the spelling of error
params (`app.rest.params`) all read these declarations."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic.alias_generators import to_snake
from starlette.requests import Request

from app.admin.service import MAX_SEARCH, CustomerSort
from app.alerts.thresholds import AlertKind
from app.audit.service import MAX_ACTION
from app.core.errors import InvalidInput
from app.core.inputs import parse_uuid
from app.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, PageRequest
from app.models import SubscriptionStatus

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
# ASCII digits only: int() would also take other scripts' digits or "1_000".
_INTEGER = re.compile(r"[+-]?[0-9]{1,100}")


@dataclass(frozen=True, slots=True)
class QueryParam(Generic[T]):
    name: str
    parse: Callable[[str, QueryParam[T]], T]  # (value, itself) -> the value, or InvalidInput
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    param: str = ""  # the domain's name, when not the name in snake case

    def __post_init__(self) -> None:
        if not self.param:
            object.__setattr__(self, "param", to_snake(self.name))

    def of(self, request: Request) -> T | None:
        """The parameter's value in the request; None when absent."""
        value = request.query_params.get(self.name)
        return None if value is None else self.parse(value, self)


def _text(value: str, _query: QueryParam[str]) -> str:
    return value


def _integer(value: str, query: QueryParam[int]) -> int:
    if not _INTEGER.fullmatch(value):
        raise InvalidInput(f"{query.name} must be an integer.", param=query.param)
    return int(value)


def _boolean(value: str, query: QueryParam[bool]) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidInput(f"{query.name} must be true or false.", param=query.param)


def _one_of(kind: type[E], what: str) -> Callable[[str, QueryParam[E]], E]:
    def parse(value: str, query: QueryParam[E]) -> E:
        try:
            return kind(value.lower())
        except ValueError:
            raise InvalidInput(f"{query.name} is not {what}.", param=query.param) from None

    return parse


def _choices(kind: type[StrEnum]) -> dict[str, Any]:
    return {"type": "string", "enum": [member.value for member in kind]}


def _uuid(value: str, query: QueryParam[uuid.UUID]) -> uuid.UUID:
    return parse_uuid(value, query.param)


PAGE = QueryParam(
    "page", _integer, {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}
)
PAGE_SIZE = QueryParam(
    "pageSize",
    _integer,
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
)
LIMIT = QueryParam(
    "limit",
    _integer,
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "description": "alias of pageSize"},
)
PAGINATION: tuple[QueryParam[Any], ...] = (PAGE, PAGE_SIZE, LIMIT)

ACTIVE = QueryParam("active", _boolean, {"type": "boolean"})
TIER_NAME = QueryParam("tierName", _text)
STATUS = QueryParam(
    "status", _one_of(SubscriptionStatus, "a subscription status"), _choices(SubscriptionStatus)
)
SEARCH = QueryParam(
    "search",
    _text,
    {
        "type": "string",
        "maxLength": MAX_SEARCH,
        "description": "part of a name or e-mail, or an id",
    },
)
SORT = QueryParam("sort", _one_of(CustomerSort, "newest, oldest or name"), _choices(CustomerSort))
SERVICE_NAME = QueryParam("serviceName", _text)
CUSTOMER_ID = QueryParam("customerId", _uuid, {"type": "string", "format": "uuid"})
USER_ID = QueryParam("userId", _uuid, {"type": "string", "format": "uuid"})
UNIX_SECONDS = {"type": "integer", "description": "unix seconds, included"}
FROM = QueryParam("from", _integer, UNIX_SECONDS, param="since")
TO = QueryParam("to", _integer, UNIX_SECONDS, param="until")
EVENTS: tuple[QueryParam[Any], ...] = (CUSTOMER_ID, USER_ID, FROM, TO)
ACTION = QueryParam(
    "action",
    _text,
    {
        "type": "string",
        "maxLength": MAX_ACTION,
        "description": "an action (`member.added`), or a prefix ending in '.' (`member.`)",
    },
)
ACTOR_USER_ID = QueryParam("actorUserId", _uuid, {"type": "string", "format": "uuid"})
AUDIT: tuple[QueryParam[Any], ...] = (*PAGINATION, ACTION, ACTOR_USER_ID, FROM, TO)
ALERT_KIND = QueryParam("kind", _one_of(AlertKind, "usage or quota"), _choices(AlertKind))
FEATURE_KEY = QueryParam("featureKey", _text)
ALERTS: tuple[QueryParam[Any], ...] = (
    *PAGINATION,
    ALERT_KIND,
    SERVICE_NAME,
    FEATURE_KEY,
    FROM,
    TO,
)


def page_of(request: Request) -> PageRequest:
    page, page_size, limit = (param.of(request) for param in PAGINATION)
    if page_size is not None and limit is not None and page_size != limit:
        raise InvalidInput("limit is another name of pageSize: send one.", param=LIMIT.param)
    size = page_size if page_size is not None else limit
    return PageRequest(
        page=1 if page is None else page,
        page_size=DEFAULT_PAGE_SIZE if size is None else size,
    )
