"""The compact encoder file: a versioned header, then a payload whose sha256 the header holds.

Layout (all of it checked on read)::

    TOPOSCI-ENCODER\\n
    {"format":"toposci-molecule-encoder","format_version":1,"payload_sha256":"<64 hex>"}\\n
    <payload: torch.save of a dict of tensors and plain values>

Everything except the three header fields lives in the payload, so changing any single byte of
the file is detected: in the first line the magic does not match, in the second the JSON, the
format name, the version or the hash does not, and anywhere after it the payload's sha256 does
not. The payload is read with ``torch.load(weights_only=True)`` (tensors and plain containers
only; no code is unpickled).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["FILE_FORMAT", "FORMAT_VERSION", "read_encoder_file", "write_encoder_file"]

MAGIC = b"TOPOSCI-ENCODER\n"
FILE_FORMAT = "toposci-molecule-encoder"
FORMAT_VERSION = 1  # bump whenever the payload's keys or their meaning change
_HEADER_KEYS = ("format", "format_version", "payload_sha256")


def write_encoder_file(payload: dict[str, Any], path: str | Path) -> str:
    """Write ``payload`` with its header, atomically (a temporary file, then a rename).

    Args:
        payload: tensors and plain values (str, int, float, bool, None, lists, tuples, dicts).
        path: the file to write; its folder is created.

    Returns:
        The payload's sha256 (hex), as written in the header.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    header = {"format": FILE_FORMAT, "format_version": FORMAT_VERSION,
              "payload_sha256": hashlib.sha256(data).hexdigest()}
    line = json.dumps(header, separators=(",", ":")).encode("ascii") + b"\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + line + data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return header["payload_sha256"]


def read_encoder_file(path: str | Path) -> dict[str, Any]:
    """The payload of an encoder file, after checking its header and integrity.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an encoder file (e.g. a training checkpoint), a different format
            version, or a payload whose sha256 differs from the header's (corrupt or modified).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such encoder file: {path}")
    raw = path.read_bytes()
    if not raw.startswith(MAGIC):
        hint = (" It looks like a torch checkpoint: export a training run with "
                "`toposci export-encoder RUN_DIR -o FILE` (or MoleculeEncoder.from_run) first."
                if raw[:2] == b"PK" else "")
        raise ValueError(f"{path} is not a toposci encoder file (it does not start with "
                         f"{MAGIC.strip().decode()!r}).{hint}")
    line, sep, data = raw[len(MAGIC):].partition(b"\n")
    try:
        header = json.loads(line.decode("ascii")) if sep else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or sorted(header) != sorted(_HEADER_KEYS):
        raise ValueError(f"{path}: the encoder file's header is damaged (expected one JSON line "
                         f"with {', '.join(_HEADER_KEYS)}); the file is corrupt")
    if header["format"] != FILE_FORMAT:
        raise ValueError(f"{path} holds {header['format']!r}, not {FILE_FORMAT!r}")
    if header["format_version"] != FORMAT_VERSION:
        raise ValueError(
            f"{path} is in encoder format version {header['format_version']!r}; this toposci "
            f"reads version {FORMAT_VERSION}. Re-export the encoder from its training run with "
            "this toposci (`toposci export-encoder RUN_DIR -o FILE`), or install the toposci "
            "that wrote it")
    digest = hashlib.sha256(data).hexdigest()
    if digest != header["payload_sha256"]:
        raise ValueError(f"{path} failed its integrity check: the payload's sha256 is {digest}, "
                         f"the header says {header['payload_sha256']}; the file is corrupt or "
                         "was modified. Reinstall or re-export it")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # a payload that hashes right but does not unpickle: a bad writer
        raise ValueError(f"{path}: the payload cannot be read ({type(err).__name__}: {err})") \
            from err
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: the payload is a {type(payload).__name__}, not a dict")
    return payload
