"""An S3 prefix laid out as a run store: the AWS variables that reach it, where a run's
files go and how one is uploaded. Shared by the store (traces/objstore.py) and the run
writer (traces/objwriter.py), which the trace writer process runs without the store.
pyarrow loads when a filesystem is first needed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from traces.layout import PARTITION_PREFIX

if TYPE_CHECKING:
    import pyarrow.fs as pafs

ENDPOINT_ENV = "AWS_ENDPOINT_URL"
_REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")
_DEFAULT_REGION = "us-east-1"
_COPY_CHUNK_BYTES = 8 << 20
# The variables that name an S3 server and the keys to it; the AWS SDK reads the rest
# (profiles, instance credentials) from the environment of the process that uploads.
_KEY_ENVS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def aws_environment() -> dict[str, str]:
    """This process's ``AWS_*`` variables: what another process (the trace writer
    process, started earlier) needs to reach the same server with the same keys."""
    return {name: value for name, value in os.environ.items() if name.startswith("AWS_")}


def s3_filesystem(environ: Mapping[str, str] | None = None) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem from AWS variables (endpoint, region, credentials):
    ``environ``, or this process's environment when None. Keys given there are passed
    explicitly; without them the AWS SDK's default chain finds them."""
    import pyarrow.fs as pafs

    env = os.environ if environ is None else environ
    region = next((env[v] for v in _REGION_ENVS if env.get(v)), _DEFAULT_REGION)
    endpoint = env.get(ENDPOINT_ENV) or None
    access_key, secret_key, session_token = (env.get(name) for name in _KEY_ENVS)
    keys: dict[str, str] = {}
    if access_key and secret_key:
        keys = {"access_key": access_key, "secret_key": secret_key}
        if session_token:
            keys["session_token"] = session_token
    return pafs.S3FileSystem(endpoint_override=endpoint, region=region, **keys)


def split_url(url: str) -> str:
    """``s3://bucket/prefix/`` -> ``bucket/prefix`` (the path pyarrow's filesystem takes).

    Raises ValueError for a URL without a bucket.
    """
    path = url.split("://", 1)[1].strip("/")
    if not path:
        raise ValueError(f"object store URL {url!r} names no bucket (expected s3://BUCKET/PREFIX)")
    return path


class S3Prefix:
    """A prefix of an S3 bucket, ``s3://bucket/prefix``, laid out as a run store: where a
    run's files go and how one is uploaded."""

    def __init__(self, url: str, environ: Mapping[str, str] | None = None):
        """``environ``: the AWS variables to reach it with (see s3_filesystem); None:
        this process's environment when it is first used."""
        self.url = url.rstrip("/")
        self.base = split_url(self.url)
        self.environ = dict(environ) if environ is not None else None
        self._fs: pafs.S3FileSystem | None = None

    @property
    def fs(self) -> pafs.S3FileSystem:
        if self._fs is None:
            self._fs = s3_filesystem(self.environ)
        return self._fs

    def object_path(self, table: str, run_id: str, name: str) -> str:
        """Filesystem path of one published file."""
        return f"{self.base}/{table}/{PARTITION_PREFIX}{run_id}/{name}"

    def upload(self, local: Path, path: str) -> None:
        """Copy a local file to ``path`` in the bucket (one PUT)."""
        with open(local, "rb") as src, self.fs.open_output_stream(path) as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK_BYTES)
