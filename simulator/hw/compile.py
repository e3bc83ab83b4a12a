"""``python -m simulator.hw.compile [--if-stale]``: compile the hot modules with mypyc
(simulator.hw.native). Exits 0 even when it cannot compile (pure Python works the same);
``--if-stale`` does nothing when the compiled modules match their sources."""

from __future__ import annotations

import sys

from simulator.hw.native import build


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(arg != "--if-stale" for arg in args):
        print("usage: python -m simulator.hw.compile [--if-stale]", file=sys.stderr)
        return 2
    build(if_stale="--if-stale" in args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
