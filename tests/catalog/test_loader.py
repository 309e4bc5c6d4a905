"""The catalog file: the shipped default, and clear errors for a bad one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.catalog.loader import CatalogError, default_catalog, parse_catalog
from app.catalog.model import FeatureKind, Window
from tests.support.servers import ServerFailed, run_servers

HEADER = "kind,service,feature_key,window,description,public,free\n"


def test_the_default_catalog_is_the_shipped_one() -> None:
    features = default_catalog()
    rates = [f for f in features if f.kind is FeatureKind.RATE]
    quotas = [f for f in features if f.kind is FeatureKind.QUOTA]
    assert (len(rates), len(quotas)) == (30, 1)
    assert len({f.service_name for f in features}) == 5
    chat = next(f for f in features if f.feature_key == "chat_completions_per_month")
    assert (chat.window, chat.value_for("pro"), chat.value_for("enterprise_max")) == (
        Window.MONTH,
        5000,
        -1,
    )
    assert quotas[0].window is None and quotas[0].value_for("business") == 10


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (HEADER + "rate,ai,x,week,d,1,2\n", "line 2: a rate limit needs a window"),
        (HEADER + "rate,ai,x,minute,d,1,many\n", "line 2: the free value 'many' is not an integer"),
        (HEADER + "rate,ai,x,minute,d,1,-2\n", "line 2: the free value must be -1"),
        (HEADER + "quota,ai,x,minute,d,1,2\n", "line 2: a quota has no window"),
        (HEADER + "meter,ai,x,minute,d,1,2\n", "line 2: kind must be rate or quota"),
        (HEADER + "rate,AI API,x,minute,d,1,2\n", "line 2: service 'AI API'"),
        (HEADER + "rate,ai,x,minute,d,1\n", "line 2: expected 7 columns, found 6"),
        (HEADER + "rate,ai,x,minute,d,1,2\nrate,ai,x,hour,d,1,2\n", "line 3: ai/x appears twice"),
        ("service,kind\n", "line 1: the columns must start"),
        ("kind,service,feature_key,window,description,gold\n", "line 1: unknown tier 'gold'"),
    ],
)
def test_problems_are_reported_with_their_line(text: str, problem: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "bad.csv", tiers=["public", "free"])
    assert problem in str(caught.value)
    assert str(caught.value).startswith("bad.csv: ")


def test_every_problem_is_reported_at_once() -> None:
    text = HEADER + "rate,ai,x,week,d,1,2\nquota,ai,y,minute,d,z,2\n"
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "bad.csv")
    assert len(caught.value.problems) == 3


def test_the_cli_checks_a_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(HEADER + "rate,ai,x,minute,d,1,2\n")
    bad.write_text(HEADER + "rate,ai,x,fortnight,d,1,2\n")
    run = [sys.executable, "-m", "app.cli", "check-catalog"]
    ok = subprocess.run([*run, str(good)], capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stdout.strip()) == (0, f"{good}: 1 features of 1 services.")
    failed = subprocess.run([*run, str(bad)], capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert "line 2: a rate limit needs a window" in failed.stderr


def test_a_server_with_a_bad_catalog_file_does_not_start(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.csv"
    bad.write_text(HEADER + "rate,ai,x,fortnight,d,1,2\n")
    env = {
        "BILLING_DATA_DIR": str(tmp_path),
        "BILLING_CATALOG_FILE": str(bad),
        "BILLING_DATABASE_URL": "",
        "BILLING_JWT_SECRET": "",
    }
    with pytest.raises(ServerFailed) as caught, run_servers(1, env, timeout=20):
        pass
    assert "line 2: a rate limit needs a window of minute, hour, day or month" in str(caught.value)
