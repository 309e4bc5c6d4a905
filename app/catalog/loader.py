"""Reading and validating a catalog file (the shipped default is `default_catalog.csv`).

Columns: kind, service, feature_key, window, description, then one column per tier.
Every problem is reported with its line, so a bad file fails the start with a clear error.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from importlib import resources

from app.catalog.model import FeatureKind, FeatureSpec, Window

FIXED_COLUMNS = ("kind", "service", "feature_key", "window", "description")
NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
MAX_VALUE = 2**31 - 1  # the values' column is a 32-bit integer
# Fixed paths under /limits and /quotas that a service of this name could never be reached
# beside (e.g. /limits/usage).
RESERVED_SERVICE_NAMES = frozenset({"ip", "usage", "consume", "check"})


class CatalogError(ValueError):
    """A catalog file that cannot be used, with every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def default_catalog() -> list[FeatureSpec]:
    text = resources.files("app.catalog").joinpath("default_catalog.csv").read_text("utf-8")
    return parse_catalog(text, "default_catalog.csv")


def parse_catalog(
    text: str, source: str = "catalog", tiers: Iterable[str] | None = None
) -> list[FeatureSpec]:
    reader = csv.reader(io.StringIO(text))
    header = [column.strip() for column in next(reader, [])]
    if tuple(header[: len(FIXED_COLUMNS)]) != FIXED_COLUMNS:
        raise CatalogError(source, [f"line 1: the columns must start {', '.join(FIXED_COLUMNS)}"])
    tier_columns = header[len(FIXED_COLUMNS) :]
    problems = _check_tiers(tier_columns, tiers)
    features: list[FeatureSpec] = []
    seen: set[tuple[str, str]] = set()
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        feature, row_problems = _feature(row, tier_columns)
        problems += [f"line {line}: {problem}" for problem in row_problems]
        if feature is not None:
            if feature.key in seen:
                problems.append(
                    f"line {line}: {feature.service_name}/{feature.feature_key} appears twice"
                )
            seen.add(feature.key)
            features.append(feature)
    if problems:
        raise CatalogError(source, problems)
    return features


def _check_tiers(columns: list[str], tiers: Iterable[str] | None) -> list[str]:
    if not columns:
        return ["line 1: no tier columns"]
    problems = [
        f"line 1: tier column {c!r} appears twice" for c in set(columns) if columns.count(c) > 1
    ]
    if tiers is not None:
        unknown = sorted(set(columns) - set(tiers))
        problems += [f"line 1: unknown tier {name!r}" for name in unknown]
    return problems


def _feature(row: list[str], tiers: list[str]) -> tuple[FeatureSpec | None, list[str]]:
    if len(row) != len(FIXED_COLUMNS) + len(tiers):
        return None, [f"expected {len(FIXED_COLUMNS) + len(tiers)} columns, found {len(row)}"]
    kind, service, key, window, description, *values = (cell.strip() for cell in row)
    problems = [message for _field, message in feature_problems(kind, service, key, window)]
    parsed: dict[str, int] = {}
    for tier, value in zip(tiers, values, strict=True):
        try:
            parsed[tier] = int(value)
        except ValueError:
            problems.append(f"the {tier} value {value!r} is not an integer")
            continue
        if (problem := value_problem(tier, parsed[tier])) is not None:
            problems.append(problem)
    if problems:
        return None, problems
    return FeatureSpec(
        service, key, FeatureKind(kind), Window(window) if window else None, description, parsed
    ), []


def feature_problems(kind: str, service: str, key: str, window: str) -> list[tuple[str, str]]:
    """The rules every feature follows, wherever it comes from: (field at fault, message)."""
    problems: list[tuple[str, str]] = []
    if kind not in FeatureKind.__members__.values():
        problems.append(("kind", f"kind must be rate or quota, not {kind!r}"))
    for label, name in (("service", service), ("feature_key", key)):
        if not NAME.fullmatch(name):
            problems.append((label, f"{label} {name!r} must be lower-case letters, digits, _ . -"))
    if service in RESERVED_SERVICE_NAMES:
        problems.append(("service", f"service {service!r} is a reserved name"))
    if kind == FeatureKind.RATE and window not in Window.__members__.values():
        problems.append(
            ("window", f"a rate limit needs a window of minute, hour, day or month, not {window!r}")
        )
    if kind == FeatureKind.QUOTA and window:
        problems.append(("window", "a quota has no window"))
    return problems


def value_problem(tier: str, value: int) -> str | None:
    if value < -1:
        return f"the {tier} value must be -1 (unlimited), 0 (disabled) or more"
    if value > MAX_VALUE:
        return f"the {tier} value must be at most {MAX_VALUE}"
    return None
