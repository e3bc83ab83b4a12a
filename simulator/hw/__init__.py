"""Hardware models: topology, links and memories, the flow-level network.

Its hot modules may run compiled (simulator.hw.native): when a fresh build exists, they
come first on this package's path.
"""

from simulator.hw.native import enable as _enable_native

_enable_native(__name__, __path__)
