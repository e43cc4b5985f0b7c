"""File reading shared by the domain readers."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

__all__ = ["read_bytes"]


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic bytes.

    Raises:
        ValueError: corrupt or truncated gzip data (the message names the file).
    """
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({err})") from err
    return raw
