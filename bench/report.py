"""The bench's table: the figures of every target, then each goal and its verdict, then
the profile of each missed goal."""

from __future__ import annotations

from collections.abc import Callable

from bench.goals import CHECKS, RATIOS
from bench.run import TARGETS, Results
from bench.service import BATCH_SIZE

# The table's rows: each target's figures, the storm's two callers apart.
ROWS = tuple(
    row for target in TARGETS for row in (target, *("storm_normal",) * (target == "storm"))
)


def report(results: Results, write: Callable[[str], None] = print) -> None:
    write(
        f"{'target':<14}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}"
        f"{'cpu us/req':>12}{'errors':>8}{'non-2xx':>9}"
    )
    for target in ROWS:
        figures = results.figures.get(target)
        if figures is None:
            reason = results.skipped.get(target, "not run")
            write(f"{target:<14}{'-':>9}  ({reason})")
            continue
        latency = figures["latency_ms"]
        write(
            f"{target:<14}{figures['rps']:>9.0f}{latency['p50']:>9.2f}{latency['p90']:>9.2f}"
            f"{latency['p99']:>9.2f}{latency['p999']:>10.2f}"
            f"{figures['server_cpu_us_per_request'] or 0:>12.1f}"
            f"{figures['errors']:>8}{figures['non_2xx']:>9}"
        )
    _report_extras(results, write)
    write("")
    write(f"{'goal':<17}{'measured':>10}{'target':>9}  result   (by server cpu)")
    ratios = results.ratios()
    for name, ratio in RATIOS.items():
        measured = ratios.get(name)
        if measured is None:
            write(f"{name:<17}{'-':>10}{'>=' + format(ratio.least, '.2f'):>9}  not measured")
            continue
        verdict = "met" if measured["met"] else "MISSED"
        by_cpu = "-" if measured["by_cpu"] is None else f"{measured['by_cpu']:.2f}"
        write(
            f"{name:<17}{measured['value']:>10.2f}{'>=' + format(ratio.least, '.2f'):>9}"
            f"  {verdict:<8} ({by_cpu})"
        )
    checks = results.checks()
    for name, check in CHECKS.items():
        measured = checks.get(name)
        if measured is None:
            write(f"{name:<17}{'-':>10}{'==' + str(check.expected):>9}  not measured")
            continue
        verdict = "met" if measured["met"] else "MISSED"
        write(f"{name:<17}{measured['value']:>10}{'==' + str(check.expected):>9}  {verdict}")
    for name, lines in results.notes.items():
        write("")
        write(f"{name} missed; {lines[0]}")
        for line in lines[1:]:
            write(line)


def _report_extras(results: Results, write: Callable[[str], None]) -> None:
    figures = results.figures
    if "batch" in figures:
        decisions = figures["batch"]["decisions_per_s"]
        write(f"batch: {decisions:.0f} decisions/s in batches of {BATCH_SIZE}")
    if "storm" in figures:
        write(f"storm: its caller sent {figures['storm']['times_its_limit']}x its limit")
    if "workers" in figures:
        workers = figures["workers"]
        write(
            f"workers: limit {workers['limit']}, {workers['allowed']} allowed in the ledger,"
            f" {workers['over_admitted']} over"
        )
    for target in ("consume", "bare"):
        rounds = figures.get(target, {}).get("rounds_rps")
        if rounds:
            write(f"{target} rounds (req/s): {', '.join(f'{rps:.0f}' for rps in rounds)}")
