"""Downloads against a local HTTP server on 127.0.0.1 (no external network)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import toposci.download as dl

PAYLOAD_NAME = "t10k-labels-idx1-ubyte.gz"


class Server:
    """Serves ``files`` (URL path -> bytes); ``/broken`` announces more bytes than it sends."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path == "/broken":
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(b"x" * 1000)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def payload(shipped) -> bytes:
    return (shipped / "mnist" / PAYLOAD_NAME).read_bytes()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_download_verifies_and_places_file(server, payload, tmp_path):
    server.files["/data.gz"] = payload
    dest = tmp_path / "cache" / "sub" / "data.gz"
    digest = hashlib.sha256(payload).hexdigest()
    out = dl.download(f"{server.url}/data.gz", dest, sha256=digest, expected_size=len(payload))
    assert out == dest and dest.read_bytes() == payload
    assert leftovers(dest.parent) == ["data.gz"]  # no temporary file left behind


def test_checksum_mismatch_leaves_nothing(server, payload, tmp_path):
    server.files["/data.gz"] = payload
    dest = tmp_path / "data.gz"
    with pytest.raises(ValueError, match=r"sha256 mismatch.*deleted"):
        dl.download(f"{server.url}/data.gz", dest, sha256="0" * 64)
    assert leftovers(tmp_path) == []


def test_size_mismatch_leaves_nothing(server, payload, tmp_path):
    server.files["/data.gz"] = payload
    digest = hashlib.sha256(payload).hexdigest()
    with pytest.raises(ValueError, match="expected 5"):
        dl.download(f"{server.url}/data.gz", tmp_path / "d.gz", sha256=digest, expected_size=5)
    assert leftovers(tmp_path) == []


def test_interrupted_transfer_leaves_nothing(server, tmp_path):
    with pytest.raises(OSError, match="run the same call again"):
        dl.download(f"{server.url}/broken", tmp_path / "big.bin", sha256="a" * 64, timeout=10)
    assert leftovers(tmp_path) == []


def test_http_error_and_bad_arguments(server, tmp_path):
    with pytest.raises(OSError, match="404"):
        dl.download(f"{server.url}/missing", tmp_path / "m", sha256="a" * 64, timeout=10)
    assert leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="http"):
        dl.download("file:///etc/passwd", tmp_path / "p", sha256="a" * 64)
    with pytest.raises(ValueError, match="64 hex"):
        dl.download(f"{server.url}/x", tmp_path / "p", sha256="abc")


def test_cached_file_is_not_downloaded_again(server, payload, tmp_path):
    server.files["/data.gz"] = payload
    digest = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "data.gz"
    dl.download(f"{server.url}/data.gz", dest, sha256=digest)
    dl.download(f"{server.url}/data.gz", dest, sha256=digest)
    assert server.requests == ["/data.gz"]
    dest.write_bytes(b"corrupted")  # a bad cached copy is replaced
    dl.download(f"{server.url}/data.gz", dest, sha256=digest)
    assert server.requests == ["/data.gz", "/data.gz"] and dest.read_bytes() == payload


def test_fetch_uses_manifest_entry(server, payload, tmp_path, monkeypatch):
    server.files["/mnist/" + PAYLOAD_NAME] = payload
    entry = {"url": f"{server.url}/mnist/{PAYLOAD_NAME}", "path": f"mnist/{PAYLOAD_NAME}",
             "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    monkeypatch.setattr(dl, "load_manifest", lambda: {"mnist/t10k-labels": entry})
    monkeypatch.setenv("TOPOSCI_DATA", str(tmp_path / "root"))
    path = dl.fetch("mnist/t10k-labels")
    assert path == tmp_path / "root" / "mnist" / PAYLOAD_NAME and path.read_bytes() == payload
    assert dl.fetch("mnist/t10k-labels", root=tmp_path / "other").read_bytes() == payload
    with pytest.raises(ValueError, match="valid names: mnist/t10k-labels"):
        dl.fetch("mnist/nope")


def test_data_root_and_shipped_dir(monkeypatch, tmp_path, shipped):
    monkeypatch.setenv("TOPOSCI_DATA", str(tmp_path))
    assert dl.data_root() == tmp_path
    monkeypatch.delenv("TOPOSCI_DATA")
    assert dl.data_root() == Path.home() / ".cache" / "toposci"
    assert dl.shipped_dir() == shipped.resolve()


def test_extract_zip_refuses_escaping_members(tmp_path):
    import zipfile

    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("IMDB/IMDB_A.txt", "1, 2\n")
    out = dl.extract_zip(good, tmp_path / "out")
    assert (out / "IMDB" / "IMDB_A.txt").read_text() == "1, 2\n"
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        dl.extract_zip(bad, tmp_path / "out2")
    assert not (tmp_path / "evil.txt").exists()


# ---------------------------------------------------------------------------------- manifest
def test_manifest_is_well_formed(shipped):
    doc = json.loads((shipped / "manifest.json").read_text())
    entries = doc["datasets"]
    assert entries == dl.load_manifest()
    assert {"mnist/train-images", "qm9/smiles", "qm9/valid_idx", "social/IMDB-BINARY"} <= set(
        entries
    )
    assert sum(name.startswith("proteins/") for name in entries) == 77
    paths = set()
    for name, e in entries.items():
        assert e["url"].startswith("https://"), name
        assert re.fullmatch(r"[0-9a-f]{64}", e["sha256"]), name
        assert isinstance(e["size"], int) and e["size"] > 0, name
        assert e["source"] and e["license"], name
        assert not Path(e["path"]).is_absolute() and ".." not in Path(e["path"]).parts, name
        paths.add(e["path"])
    assert len(paths) == len(entries)
    # pinned to commits: every GitHub URL names a 40-hex commit
    for e in entries.values():
        if "githubusercontent" in e["url"]:
            assert re.search(r"/[0-9a-f]{40}/", e["url"]), e["url"]


@pytest.mark.realdata
def test_manifest_matches_shared_files(shared_data, shipped):
    """The checksums in the manifest are those of the developers' copies of the originals."""
    entries = json.loads((shipped / "manifest.json").read_text())["datasets"]
    for name in ("train-images", "train-labels", "t10k-images", "t10k-labels"):
        data = (shared_data / "images" / "mnist" / Path(entries[f"mnist/{name}"]["path"]).name)
        raw = data.read_bytes()
        assert hashlib.sha256(raw).hexdigest() == entries[f"mnist/{name}"]["sha256"]
        assert len(raw) == entries[f"mnist/{name}"]["size"]
    for gz in sorted((shared_data / "proteins").glob("*.pdb.gz")):
        e = entries[f"proteins/{gz.name.removesuffix('.pdb.gz')}"]
        raw = gzip.decompress(gz.read_bytes())
        assert hashlib.sha256(raw).hexdigest() == e["sha256"] and len(raw) == e["size"]
    raw = gzip.decompress((shared_data / "qm9" / "valid_idx_qm9.json.gz").read_bytes())
    assert hashlib.sha256(raw).hexdigest() == entries["qm9/valid_idx"]["sha256"]


def test_data_root_from_env_else_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(dl.ENV_VAR, str(tmp_path / "data"))
    assert dl.data_root() == tmp_path / "data"
    monkeypatch.delenv(dl.ENV_VAR)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert dl.data_root() == tmp_path / "home" / ".cache" / "toposci"


def test_sha256_of_known_bytes(tmp_path: Path) -> None:
    f = tmp_path / "abc.txt"
    f.write_bytes(b"abc")
    # FIPS 180-2 test vector for "abc".
    assert dl.sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
