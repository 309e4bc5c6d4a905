"""The one reader of the JSON clients send: REST bodies, GraphQL requests (and their
variables over GET) and Stripe's webhooks."""

from __future__ import annotations

import json
from typing import Any

import orjson

from app.core.errors import MalformedJson

# The deepest nesting a document may have. The deepest the service needs is 6 levels (a
# catalog registration in GraphQL variables), and Stripe's events reach about 10. 64
# leaves clients and Stripe ample room, and keeps everything that walks a document later
# (input validation, GraphQL's variable coercion) far below Python's recursion limit.
MAX_DEPTH = 64


def read_json(raw: bytes | str) -> Any:
    """The document in `raw`; `MalformedJson` if it is not JSON or nests deeper than
    `MAX_DEPTH`.

    orjson for speed; what it refuses (NaN, numbers past a double's range, UTF-16, lone
    surrogates) is read by the standard library's parser, so the accepted documents stay
    the same.
    """
    value = _parse(raw)
    # A document cannot nest deeper than it has opening brackets: the usual small body
    # is never measured.
    if _opening_brackets(raw) > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise _too_deep()
    return value


def _parse(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    if not raw.strip():
        raise MalformedJson("The request body is empty; a JSON object is expected.")
    try:
        return json.loads(raw)
    except RecursionError as exc:  # past Python's recursion limit, so far past ours
        raise _too_deep() from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJson() from exc


def _opening_brackets(raw: bytes | str) -> int:
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{")
    return raw.count(b"[") + raw.count(b"{")


def _depth(value: Any) -> int:
    """How deep `value` nests (a scalar 0, `[]` 1), walked a level at a time without
    recursion, and no further than one level past the limit. A parsed document holds
    only dicts and lists as containers, so their exact types are all that is tested,
    which keeps the walk of a large shallow document (a batch of a thousand consumes)
    short."""
    depth, level = 0, [value]
    while depth <= MAX_DEPTH:
        containers = [node for node in level if type(node) is dict or type(node) is list]
        if not containers:
            break
        depth += 1
        level = [
            child
            for node in containers
            for child in (node.values() if type(node) is dict else node)
        ]
    return depth


def _too_deep() -> MalformedJson:
    return MalformedJson(f"The JSON document nests deeper than {MAX_DEPTH} levels.")
