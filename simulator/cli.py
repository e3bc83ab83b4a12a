"""The ``kernbench`` command line."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kernbench",
        description="Simulate kernels and collectives on a multi-die accelerator; trace and compare.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="run the demo suite and serve the dashboard")
    demo.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    demo.add_argument("--port", type=int, default=8501)
    demo.set_defaults(handler=_cmd_demo)
    return parser


def _cmd_demo(args: argparse.Namespace) -> int:
    print("kernbench demo: nothing to run yet")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
