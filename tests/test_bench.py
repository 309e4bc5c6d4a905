"""The benchmark harness runs end to end and writes well-formed figures (not a timed test:
no ratio is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.load import LoadResult, Request, run_load
from bench.run import RATIOS, TARGETS, Options, run
from bench.servers import serving

pytestmark = pytest.mark.slow
LATENCIES = ["p50", "p90", "p99", "p999", "max"]


def assert_well_formed(figures: dict[str, object]) -> None:
    figures = dict(figures)
    per_request = figures.pop("server_cpu_us_per_request", 1.0)
    assert isinstance(per_request, float) and per_request > 0
    result = LoadResult(**figures)  # type: ignore[arg-type]
    assert result.requests > 0 and result.rps > 0 and result.duration_s > 0
    assert (result.errors, result.non_2xx) == (0, 0)
    latencies = [result.latency_ms[name] for name in LATENCIES]
    assert latencies == sorted(latencies) and latencies[0] > 0
    assert result.latency_ms["mean"] > 0


def test_every_target_is_measured_and_written(tmp_path: Path) -> None:
    out = tmp_path / "bench-results.json"
    run(Options(duration=1, warmup=0, connections=4, out=out))
    written = json.loads(out.read_text())
    assert set(written["targets"]) == set(TARGETS), written["skipped"]
    for figures in written["targets"].values():
        assert_well_formed(figures)
    assert set(written["ratios"]) == set(RATIOS)
    for name, ratio in written["ratios"].items():
        assert ratio["target"] == RATIOS[name][2]
        assert ratio["value"] > 0 and ratio["met"] == (ratio["value"] >= ratio["target"])
    assert {"python", "server_cpu", "loader_cpu", "wrk"} <= set(written["machine"])


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
