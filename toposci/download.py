"""Where data lives, and verified downloads of the full data sets listed in the manifest.

* :func:`shipped_dir` — the small real samples in the repository's ``datasets/`` folder.
* :func:`data_root` — the cache for full data sets: ``$TOPOSCI_DATA``, else ``~/.cache/toposci``.
* :func:`fetch` — download one entry of ``datasets/manifest.json`` into the cache unless a
  verified copy is already there; :func:`download` does the work for any URL + sha256.

Every download goes to a temporary file in the destination folder, is checked against its
sha256 (and size), and only then renamed into place (atomic on one file system), so a file at
the destination is always a complete, verified one. A checksum mismatch or an interrupted
transfer deletes the temporary file and raises. Only ``urllib`` from the standard library is
used; nothing is downloaded at import time.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

__all__ = ["data_root", "download", "extract_zip", "fetch", "load_manifest", "sha256_file",
           "shipped_dir"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
#: Environment variable naming the data root.
ENV_VAR = "TOPOSCI_DATA"


def data_root() -> Path:
    """The folder full data sets are cached in: ``$TOPOSCI_DATA`` or ``~/.cache/toposci``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "toposci"


def shipped_dir() -> Path:
    """The repository's ``datasets/`` folder (small real samples and ``manifest.json``).

    Raises:
        FileNotFoundError: the package is installed without the repository around it.
    """
    path = Path(__file__).resolve().parents[1] / "datasets"
    if not path.is_dir():
        raise FileNotFoundError(
            f"the shipped data folder {path} does not exist: the samples come with a clone of "
            "the toposci repository, not with an installed wheel; clone the repository or use "
            "toposci.download.fetch(...) for the full data sets"
        )
    return path


def load_manifest() -> dict[str, dict[str, Any]]:
    """The ``datasets`` table of ``datasets/manifest.json``: entry name -> url, sha256, ..."""
    with open(shipped_dir() / "manifest.json", encoding="utf-8") as f:
        return json.load(f)["datasets"]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(name: str, *, root: str | Path | None = None, progress: bool = True) -> Path:
    """The verified local copy of manifest entry ``name``, downloaded if needed.

    Args:
        name: an entry of ``datasets/manifest.json`` (e.g. ``"mnist/train-images"``).
        root: cache folder; default :func:`data_root`.
        progress: show a progress bar (only on a terminal).

    Returns:
        Path of the file, ``root / entry["path"]``.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or checksum mismatch.
        OSError: the transfer failed.
    """
    manifest = load_manifest()
    if name not in manifest:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(sorted(manifest))}")
    entry = manifest[name]
    dest = Path(root if root is not None else data_root()) / entry["path"]
    return download(entry["url"], dest, sha256=entry["sha256"], expected_size=entry["size"],
                    progress=progress)


def download(
    url: str,
    dest: str | Path,
    *,
    sha256: str,
    expected_size: int | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` and verify it, unless a verified copy is already there.

    Args:
        url: ``http://`` or ``https://`` address.
        dest: destination file; its folder is created.
        sha256: expected hex digest of the file.
        expected_size: expected size in bytes (checked before the digest).
        progress: show a tqdm bar (off when stderr is not a terminal, e.g. under tests).
        timeout: seconds to wait on the connection.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        ValueError: bad URL scheme or digest, or the downloaded file fails verification (the
            partial file is deleted).
        OSError: the connection failed or the transfer stopped early (partial file deleted).
    """
    dest = Path(dest)
    sha256 = sha256.lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"only http(s) URLs can be downloaded, got {url!r}")
    if dest.is_file():
        if sha256_file(dest) == sha256:
            logger.debug("%s is cached and verified", dest)
            return dest
        logger.warning("%s does not match its sha256; downloading it again", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, n_bytes = _transfer(url, out, expected_size, progress, timeout)
        if expected_size is not None and n_bytes != expected_size:
            raise ValueError(
                f"downloaded {n_bytes} bytes from {url}, expected {expected_size}: the file was "
                "deleted; the source may have changed, check the manifest entry"
            )
        if digest != sha256:
            raise ValueError(
                f"sha256 mismatch for {url}: got {digest}, expected {sha256}; the file was "
                "deleted. Retry; if it persists the source changed and the manifest needs review"
            )
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    logger.info("downloaded %s to %s (%d bytes, sha256 verified)", url, dest, n_bytes)
    return dest


def _transfer(url: str, out: Any, expected_size: int | None, progress: bool,
              timeout: float) -> tuple[str, int]:
    """Stream ``url`` into ``out``; return the hex sha256 and the number of bytes."""
    digest = hashlib.sha256()
    n_bytes = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            announced = response.headers.get("Content-Length")
            total = int(announced) if announced is not None else expected_size
            with tqdm(total=total, unit="B", unit_scale=True, desc=Path(url).name,
                      disable=not (progress and sys.stderr.isatty())) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    n_bytes += len(chunk)
                    bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
        raise OSError(
            f"download of {url} failed after {n_bytes} bytes ({err}); the partial file was "
            "deleted, run the same call again to retry"
        ) from err
    if announced is not None and n_bytes != int(announced):
        raise OSError(
            f"download of {url} stopped after {n_bytes} of {announced} bytes; the partial file "
            "was deleted, run the same call again to retry"
        )
    return digest.hexdigest(), n_bytes


def extract_zip(archive: str | Path, dest: str | Path) -> Path:
    """Extract a (verified) zip archive into ``dest``, refusing members that leave ``dest``.

    For manifest entries marked ``"archive": "zip"`` (e.g. ``social/IMDB-BINARY``):
    ``extract_zip(fetch(name), folder)``.

    Returns:
        ``dest`` as a ``Path``.
    """
    dest = Path(dest).resolve()
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            target = (dest / member).resolve()
            if not target.is_relative_to(dest):
                raise ValueError(f"{archive}: member {member!r} would be written outside {dest}")
        zf.extractall(dest)
    return dest
