"""``kernbench`` (and ``python -m simulator``): the command line of simulator/cli.py.

A traced ``run`` starts its trace writer process (traces/writer_process.py) and asks git
for the run's provenance (traces/gitinfo.py) before the CLI loads the simulator, so that
the writer's start-up (loading pyarrow, ~0.1 s) and git's processes overlap those
imports instead of the end of a short run. Peeking at the arguments is a hint
only: the CLI parses them, and a writer process started for nothing (an object store, a
bad argument) exits with this process.
"""

import os
import sys


def main() -> int:
    argv = sys.argv[1:]
    if _traced_run(argv):
        from simulator.hw.native import PACKAGE_ROOT  # the source tree runs record
        from traces.gitinfo import ask_git_early
        from traces.writer_process import start_writer_process

        start_writer_process()
        ask_git_early(PACKAGE_ROOT)  # git's processes overlap the imports too
    from simulator.cli import main as cli_main

    return cli_main(argv)


def _traced_run(argv: list[str]) -> bool:
    """Whether ``argv`` looks like a ``run`` traced into a local store."""
    if argv[:1] != ["run"] or {"--no-trace", "-h", "--help"} & set(argv):
        return False
    from traces.layout import STORE_ENV, is_object_url

    stores = [arg.removeprefix("--store=") for arg in argv] + [os.environ.get(STORE_ENV, "")]
    return not any(is_object_url(store) for store in stores)


if __name__ == "__main__":
    sys.exit(main())
