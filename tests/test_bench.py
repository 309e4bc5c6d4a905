"""The benchmark harness runs end to end and writes well-formed figures (not a timed test:
no ratio is asserted; the over-admission count, which holds at any speed, is)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.goals import CHECKS, RATIOS
from bench.load import LoadResult, Request, run_load
from bench.profile import summary
from bench.run import TARGETS, Options, run
from bench.servers import serving

pytestmark = pytest.mark.slow
LATENCIES = ["p50", "p90", "p99", "p999", "max"]


# What each target may add to the load figures, and the targets whose answers are refusals.
EXTRAS = {
    "server_cpu_us_per_request",
    "rounds_rps",
    "decisions_per_request",
    "decisions_per_s",
    "times_its_limit",
    "limit",
    "allowed",
    "over_admitted",
}
REFUSED = {"refused", "storm", "workers"}


def assert_well_formed(figures: dict[str, object], refusals: bool = False) -> None:
    figures = dict(figures)
    per_request = figures.get("server_cpu_us_per_request", 1.0)
    assert isinstance(per_request, float) and per_request > 0
    result = LoadResult(**{k: v for k, v in figures.items() if k not in EXTRAS})  # type: ignore[arg-type]
    assert result.requests > 0 and result.rps > 0 and result.duration_s > 0
    assert result.errors == 0
    assert (result.non_2xx > 0) == refusals
    latencies = [result.latency_ms[name] for name in LATENCIES]
    assert latencies == sorted(latencies) and latencies[0] > 0
    assert result.latency_ms["mean"] > 0


def test_every_target_is_measured_and_written(tmp_path: Path) -> None:
    out = tmp_path / "bench-results.json"
    run(Options(duration=1, warmup=0.5, connections=4, out=out, rounds=2, profile=False))
    written = json.loads(out.read_text())
    measured = {*TARGETS, "storm_normal"}
    assert set(written["targets"]) == measured, written["skipped"]
    for name, figures in written["targets"].items():
        assert_well_formed(figures, refusals=name in REFUSED)
    targets = written["targets"]
    assert len(targets["consume"]["rounds_rps"]) == len(targets["bare"]["rounds_rps"]) == 2
    assert targets["batch"]["decisions_per_s"] == pytest.approx(targets["batch"]["rps"] * 100)
    workers = targets["workers"]
    assert workers["allowed"] == workers["limit"] and workers["over_admitted"] == 0
    assert set(written["ratios"]) == set(RATIOS)
    for name, ratio in written["ratios"].items():
        assert ratio["target"] == RATIOS[name].least
        assert ratio["value"] > 0 and ratio["met"] == (ratio["value"] >= ratio["target"])
    assert set(written["checks"]) == set(CHECKS)
    assert {"python", "server_cpu", "loader_cpu", "wrk"} <= set(written["machine"])


def test_a_missed_goal_is_explained_by_a_profile() -> None:
    """The notes of a missed goal: the hottest frames of py-spy's samples."""
    samples = "\n".join(
        [
            "run (uvicorn/main.py:643);consume (/work/app/usage/consume.py:10) 30",
            "run (uvicorn/main.py:643);consume (/work/app/usage/consume.py:10);"
            "dumps (/x/site-packages/orjson.py:1) 10",
        ]
    )
    lines = summary(samples)
    assert lines[0] == "40 samples holding the GIL; own time:"
    assert "75.0%  consume (app/usage/consume.py:10)" in lines[1]
    assert any("100.0%  consume (app/usage/consume.py:10)" in line for line in lines)


def test_the_built_in_load_generator() -> None:
    """The fallback when wrk is missing, on its own."""
    with serving("bench.baselines:bare", factory=True) as server:
        url = server.url
        body = b'{"serviceName": "ai-api", "featureKey": "x"}'
        request = Request(url + "/consume", "POST", body, {"Content-Type": "application/json"})
        result = run_load(request, duration=1, connections=2, loader="python")
        missing = run_load(Request(url + "/nowhere"), duration=0.3, connections=1, loader="python")
    assert_well_formed(result.as_json())
    assert missing.requests > 0 and missing.non_2xx == missing.requests
