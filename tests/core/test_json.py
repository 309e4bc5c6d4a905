"""The one reader of clients' JSON: what it accepts, and how deep a document may nest."""

from __future__ import annotations

import math
from typing import Any

import pytest

from app.core.errors import MalformedJson
from app.core.json import MAX_DEPTH, read_json


def nested(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"amount": 1}', {"amount": 1}),
        ('{"amount": 1}', {"amount": 1}),
        (nested(MAX_DEPTH).encode(), read_json(nested(MAX_DEPTH))),
        # Brackets inside strings are text, not nesting.
        (('{"a": "' + "[" * 500 + '"}').encode(), {"a": "[" * 500}),
        ('["\\"[[[[", {"b": []}]', ['"[[[[', {"b": []}]),
        # What orjson refuses is read by the standard library, as before.
        (b'{"n": 1e400}', {"n": math.inf}),
        ('{"a": 1}'.encode("utf-16"), {"a": 1}),
        ('{"s": "\\ud800"}', {"s": "\ud800"}),
    ],
)
def test_documents_within_the_limit(raw: bytes | str, value: Any) -> None:
    assert read_json(raw) == value


def test_the_deepest_document_allowed_is_max_depth_levels() -> None:
    wide: list[list[int]] = [[] for _ in range(MAX_DEPTH * 2)]  # many brackets, little depth
    assert read_json(str(wide)) == wide
    assert read_json(nested(MAX_DEPTH - 1, "{}")) is not None
    with pytest.raises(MalformedJson, match="deeper than"):
        read_json(nested(MAX_DEPTH, "{}"))


@pytest.mark.parametrize(
    "raw",
    [
        nested(MAX_DEPTH + 1),
        '{"name": ' + nested(MAX_DEPTH) + "}",
        nested(2000),  # orjson refuses past 1,024 levels
        '{"name": ' + nested(2000) + "}",
        nested(2000, "NaN"),  # refused by orjson for two reasons
        nested(200_000),
    ],
)
@pytest.mark.parametrize("as_bytes", [True, False])
def test_deeper_documents_are_malformed(raw: str, as_bytes: bool) -> None:
    with pytest.raises(MalformedJson) as refused:
        read_json(raw.encode() if as_bytes else raw)
    assert refused.value.code == "MALFORMED_JSON"


def test_nan_is_still_read() -> None:
    assert math.isnan(read_json(b"[NaN]")[0])


@pytest.mark.parametrize("raw", [b"", b"  ", b"{", b"\xff\xfe", b'{"a": 1,}', "nul"])
def test_text_that_is_not_json_is_malformed(raw: bytes | str) -> None:
    with pytest.raises(MalformedJson):
        read_json(raw)
