"""`python -m bench [--duration S] [--connections N] [--loader wrk|python|auto] ...`"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.report import report
from bench.run import TARGETS, Options, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per target")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--loader", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of consume and bare"
    )
    parser.add_argument(
        "--no-profile", action="store_true", help="no profile of the service on a miss"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    options = Options(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        loader=args.loader,
        targets=tuple(args.targets),
        out=args.out,
        rounds=args.rounds,
        profile=not args.no_profile,
    )
    results = run(options)
    report(results)
    print(f"\nwritten to {options.out}")
    return 1 if args.strict and results.missed() else 0


if __name__ == "__main__":
    sys.exit(main())
