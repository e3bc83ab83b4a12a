"""open_store: the store a path or URL names, a local folder or an object store.

Apart from traces.views (which loads DuckDB) so that writing a run needs neither DuckDB
nor, for a local folder, the object-store machinery.
"""

from __future__ import annotations

from pathlib import Path

from traces.layout import is_object_url
from traces.store import Store, store_spec


def open_store(path: str | Path | None = None) -> Store:
    """The store at `path` (see store_spec): an `s3://bucket/prefix` URL opens an
    ObjectStore (traces/objstore.py), anything else a local folder."""
    spec = store_spec(path)
    if is_object_url(spec):
        from traces.objstore import ObjectStore  # pyarrow.fs and DuckDB: only for S3

        return ObjectStore(spec)
    return Store(Path(spec))
