"""Collective communication: algorithms written in ``tl`` and their registry.

``ccl.yaml`` lists the algorithms and the IPCQ inbox (``registry``); ``ring``,
``bidir_ring`` and ``hierarchical`` hold the kernels; ``dispatch`` launches a collective
over the ranks' PEs and records its trace row. The host API is ``simulator.runtime.dist``.
"""
