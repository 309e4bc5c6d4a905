"""Throughput and latency of the hot paths against baselines: `python -m bench` (`make bench`).

Each target is served by one uvicorn worker pinned to one core, and loaded by `wrk` (or a
small built-in load generator when `wrk` is missing) pinned to another. Figures go to a
table on stdout and to `bench-results.json`.
"""
