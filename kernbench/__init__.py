"""``import kernbench``: the API of scripts run with ``kernbench run script.py``.

``kernbench.param(name, default)`` reads a ``--set name=V`` value (converted to the type
of ``default``); ``kernbench.metric(name, value, unit, better="lower")`` records a result
in the run (``bound_ns`` and ``efficiency`` make report's physics-bound row), and
``kernbench.verified(ok)`` whether the results the script checked are right. They also
work inside ``with Runtime(..., store=..., name=...)``. The simulator, traces and
dashboard live in the packages ``simulator``, ``traces`` and ``dashboard``.
"""

from simulator.runtime.recording import Recording, RecordingError, metric, param, verified

__all__ = ["Recording", "RecordingError", "metric", "param", "verified"]
