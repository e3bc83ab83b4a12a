"""The interpreted source of a module that may run compiled (simulator.hw.native).

Compiled code checks argument types, so a unit test that hands a module duck-typed fakes
(a SimpleNamespace for a Program) tests the module's logic through its interpreted copy:
the same source, loaded apart from the module the simulator uses.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from simulator.hw.native import source_path


def interpreted(name: str) -> ModuleType:
    """Module ``name`` (``simulator.language.lowering``) executed from its ``.py`` source
    as ``<name>__interpreted``, once per process."""
    alias = f"{name}__interpreted"
    if alias not in sys.modules:
        spec = importlib.util.spec_from_file_location(alias, source_path(name))
        module = importlib.util.module_from_spec(spec)
        sys.modules[alias] = module  # dataclasses look their module up while it runs
        spec.loader.exec_module(module)
    return sys.modules[alias]
