"""The accelerator simulator: hardware models, engine, kernel language, host runtime and
workloads.

Its numpy work is on small tiles, where OpenBLAS's worker threads gain nothing and spin,
burning a second core (~0.1 s of CPU per process) that a traced run's writer process
(traces/writer_process.py) needs. So BLAS gets one thread unless the environment says
otherwise; this takes effect only where numpy is not loaded yet.

The hot modules run compiled when a fresh build of them exists (simulator.hw.native).
"""

import os

from simulator.hw import native as _native

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
_native.install()
