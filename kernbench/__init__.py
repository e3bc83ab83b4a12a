"""``import kernbench``: the API of scripts run with ``kernbench run script.py``.

``kernbench.param(name, default)`` reads a ``--set name=V`` value (converted to the type
of ``default``); ``kernbench.metric(name, value, unit, better="lower")`` records a result
in the run. Both also work inside ``with Runtime(..., store=..., name=...)``. The
simulator, traces and dashboard live in the packages ``simulator``, ``traces`` and
``dashboard``.
"""

from simulator.runtime.recording import Recording, RecordingError, metric, param

__all__ = ["Recording", "RecordingError", "metric", "param"]
