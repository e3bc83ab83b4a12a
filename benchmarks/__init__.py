"""The asv suite of kernbench: simulator speed and memory, and simulated results.

Run it with `asv run --python=same --quick` (see asv.conf.json), or `make bench` over
recent commits. Plain measurement scripts live in `benchmarks/scripts/` (no
`__init__.py`, so asv's discovery never imports them).
"""
