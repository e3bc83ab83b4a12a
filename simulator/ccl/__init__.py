"""Collective communication: algorithms written in ``tl`` and their registry.

``ccl.yaml`` lists the algorithms (``registry``); ``ring``,
``bidir_ring`` and ``hierarchical`` hold the kernels. The host side (launching a
collective over the ranks' PEs and recording its trace row) is
``simulator.runtime.collectives``; the user-facing API is ``simulator.runtime.dist``.
"""
