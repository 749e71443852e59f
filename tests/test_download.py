"""core.download against a real local HTTP server (127.0.0.1 only, never the internet)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from candels_gui.core.data.download import (CHUNK_SIZE, download_dataset, extract_archive, is_archive,
                                            list_record_files)
from candels_gui.core.errors import Cancelled, DataError
from candels_gui.core.jobs import CancelToken, Progress, run_job

RECORD = 2604740
ARCHIVE = "candels-blender-data.tar.gz"
DATA_NAMES = ("candels_img.npy", "candels_seg.npy", "candels_cat.csv")


# ------------------------------------------------------------------------------ fake Zenodo
class FakeZenodo:
    """State of the local server: files served, JSON shape, and a log of (path, Range) requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.checksums: dict[str, str] = {}
        self.shape = "list"
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []
        self.url = ""
        self.lock = threading.Lock()

    def add(self, name: str, data: bytes, *, checksum: str | None = None) -> None:
        self.files[name] = data
        self.checksums[name] = checksum or "md5:" + hashlib.md5(data).hexdigest()

    def content_url(self, name: str) -> str:
        return f"{self.url}/api/records/{RECORD}/files/{name}/content"

    def record_json(self) -> dict:
        if self.shape.startswith("list"):   # zenodo.org today (self = the bytes, or their metadata)
            meta = self.shape == "list-metadata-self"
            links = {n: self.content_url(n).removesuffix("/content" if meta else "") for n in self.files}
            files = [{"id": f"id-{n}", "key": n, "size": len(d), "checksum": self.checksums[n],
                      "links": {"self": links[n]}} for n, d in self.files.items()]
        elif self.shape == "entries":   # InvenioRDM: links.self is metadata, links.content the bytes
            files = {"enabled": True, "entries": {
                n: {"key": n, "size": len(d), "checksum": self.checksums[n],
                    "links": {"self": f"{self.url}/api/records/{RECORD}/files/{n}",
                              "content": self.content_url(n)}} for n, d in self.files.items()}}
        else:                           # late 2023: filename/filesize, bare md5, broken self link
            files = [{"id": "uuid", "filename": n, "filesize": len(d),
                      "checksum": self.checksums[n].split(":", 1)[1],
                      "links": {"self": f"{self.url}/api/records/{RECORD}/files/uuid"}}
                     for n, d in self.files.items()]
        return {"id": RECORD, "files": files}

    def data_gets(self) -> list[tuple[str, str | None]]:
        return [r for r in self.requests if r[0].endswith("/content")]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        state: FakeZenodo = self.server.state
        rng = self.headers.get("Range")
        with state.lock:
            state.requests.append((self.path, rng))
        if self.path == f"/api/records/{RECORD}":
            self._send(200, json.dumps(state.record_json()).encode(), {"Content-Type": "application/json"})
            return
        m = re.fullmatch(rf"/api/records/{RECORD}/files/([^/]+)/content", self.path)
        if not m or m.group(1) not in state.files:
            self._send(404, b'{"status": 404}', {"Content-Type": "application/json"})
            return
        data = state.files[m.group(1)]
        r = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if r and state.honour_range:
            start = int(r.group(1))
            if start >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            else:
                self._send(206, data[start:], {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
            return
        self._send(200, data, {"Content-Type": "application/octet-stream"})


@pytest.fixture
def zenodo(request, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.state = FakeZenodo()
    server.state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    request.addfinalizer(stop)
    return server.state


# ------------------------------------------------------------------------------------ helpers
def _payloads() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    out = {}
    for name, arr in (("candels_img.npy", rng.normal(size=(3, 8, 8)).astype(np.float32)),
                      ("candels_seg.npy", rng.integers(0, 400, (3, 8, 8)).astype(np.int32))):
        buf = io.BytesIO()
        np.save(buf, arr)
        out[name] = buf.getvalue()
    out["candels_cat.csv"] = (b"ID,RA,DEC,FIELD,mag,mag_err,radius,z,galtype,segval\n"
                              b"1,1.0,2.0,gds,22.1,0.01,4.0,0.5,disk,300\n")
    return out


def _tar_gz(members: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _run(outdir: Path, zenodo: FakeZenodo, **kw):
    seen: list[Progress] = []
    result = run_job(download_dataset(outdir, base_url=zenodo.url, **kw), seen.append)
    return result, seen


# -------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("shape", ["list", "list-metadata-self", "entries", "filename"])
def test_full_download_extracts_and_verifies(tmp_path, zenodo, shape):
    zenodo.shape = shape
    payloads = _payloads()
    zenodo.add(ARCHIVE, _tar_gz(payloads))
    out = tmp_path / "data"
    result, seen = _run(out, zenodo)
    assert result == out
    for name, data in payloads.items():
        assert (out / name).read_bytes() == data
    assert np.load(out / "candels_seg.npy").dtype == np.int32
    assert not (out / ARCHIVE).exists() and not (out / (ARCHIVE + ".part")).exists()
    assert not list(out.glob(".extract-*"))
    size = len(zenodo.files[ARCHIVE])
    assert any(p.done == size and p.total == size for p in seen)
    assert zenodo.data_gets() == [(f"/api/records/{RECORD}/files/{ARCHIVE}/content", None)]


def test_list_record_files_reads_checksum_and_url(zenodo):
    zenodo.add("a.bin", b"abc")
    (rf,) = list_record_files(RECORD, base_url=zenodo.url)
    assert rf.name == "a.bin" and rf.size == 3
    assert rf.checksum == "md5:" + hashlib.md5(b"abc").hexdigest()
    assert rf.url == zenodo.content_url("a.bin")


@pytest.mark.parametrize("honour_range", [True, False])
def test_resume_from_partial_file(tmp_path, zenodo, honour_range):
    zenodo.honour_range = honour_range
    payloads = _payloads()
    blob = _tar_gz(payloads)
    zenodo.add(ARCHIVE, blob)
    out = tmp_path / "data"
    out.mkdir()
    (out / (ARCHIVE + ".part")).write_bytes(blob[:100])
    _run(out, zenodo, keep_archive=True)
    assert zenodo.data_gets()[0][1] == "bytes=100-"
    assert (out / ARCHIVE).read_bytes() == blob
    assert (out / "candels_img.npy").read_bytes() == payloads["candels_img.npy"]
    assert not (out / (ARCHIVE + ".part")).exists()


def test_wrong_checksum_raises_and_leaves_no_file(tmp_path, zenodo):
    blob = _tar_gz(_payloads())
    zenodo.add(ARCHIVE, blob, checksum="md5:" + "0" * 32)
    out = tmp_path / "data"
    with pytest.raises(DataError) as err:
        _run(out, zenodo)
    msg = str(err.value)
    assert ARCHIVE in msg and "0" * 32 in msg and hashlib.md5(blob).hexdigest() in msg
    assert not (out / ARCHIVE).exists() and not (out / (ARCHIVE + ".part")).exists()
    assert not any((out / n).exists() for n in DATA_NAMES)


def test_corrupt_partial_file_is_caught_by_checksum(tmp_path, zenodo):
    blob = _tar_gz(_payloads())
    zenodo.add(ARCHIVE, blob)
    out = tmp_path / "data"
    out.mkdir()
    (out / (ARCHIVE + ".part")).write_bytes(b"\xff" * 50)
    with pytest.raises(DataError, match="checksum mismatch"):
        _run(out, zenodo)
    assert not (out / (ARCHIVE + ".part")).exists() and not (out / ARCHIVE).exists()
    _run(out, zenodo)                  # the next attempt starts clean and succeeds
    assert (out / "candels_cat.csv").exists()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "zip-dotdot"])
def test_unsafe_archives_are_refused(tmp_path, zenodo, kind):
    outside = tmp_path / "outside"
    good = {"candels_cat.csv": b"ID\n1\n"}
    if kind == "dotdot":
        name, blob = ARCHIVE, _tar_gz({**good, "../evil.txt": b"pwned"})
    elif kind == "absolute":
        name, blob = ARCHIVE, _tar_gz({**good, str(outside / "evil.txt"): b"pwned"})
    elif kind == "symlink":
        name, blob = ARCHIVE, _tar_gz(good, links={"link": "../outside"})
    else:
        name, blob = "candels-blender-data.zip", _zip({**good, "../evil.txt": b"pwned"})
    zenodo.add(name, blob)
    out = tmp_path / "data"
    with pytest.raises(DataError, match="refusing") as err:
        _run(out, zenodo)
    assert name in str(err.value)
    assert not (tmp_path / "evil.txt").exists() and not outside.exists()
    assert not (out / "candels_cat.csv").exists() and not (out / "link").exists()
    assert not list(out.glob(".extract-*")) and not list(out.glob(".*.extracted.json"))


def test_zip_archive_is_extracted(tmp_path, zenodo):
    payloads = _payloads()
    zenodo.add("stamps.zip", _zip({f"sub/{k}": v for k, v in payloads.items()}))
    out = tmp_path / "data"
    _run(out, zenodo)
    assert (out / "sub" / "candels_img.npy").read_bytes() == payloads["candels_img.npy"]
    assert not (out / "stamps.zip").exists()


def test_cancel_keeps_part_then_resumes(tmp_path, zenodo):
    blob = np.random.default_rng(0).bytes(3 * CHUNK_SIZE + 123)
    zenodo.add("big.bin", blob)
    out = tmp_path / "data"
    token = CancelToken()
    with pytest.raises(Cancelled, match="big.bin"):
        for p in download_dataset(out, base_url=zenodo.url, cancel=token):
            if p.done > 0 and "big.bin" in p.message:
                token.cancel()
    part = out / "big.bin.part"
    kept = part.stat().st_size
    assert 0 < kept < len(blob) and part.read_bytes() == blob[:kept]
    assert not (out / "big.bin").exists()
    zenodo.requests.clear()
    _run(out, zenodo)
    assert zenodo.data_gets() == [(f"/api/records/{RECORD}/files/big.bin/content", f"bytes={kept}-")]
    assert (out / "big.bin").read_bytes() == blob and not part.exists()


@pytest.mark.parametrize("keep_archive", [True, False])
def test_second_run_skips_download(tmp_path, zenodo, keep_archive):
    payloads = _payloads()
    zenodo.add(ARCHIVE, _tar_gz(payloads))
    out = tmp_path / "data"
    _run(out, zenodo, keep_archive=keep_archive)
    assert len(zenodo.data_gets()) == 1
    zenodo.requests.clear()
    _, seen = _run(out, zenodo, keep_archive=keep_archive)
    assert zenodo.requests == [(f"/api/records/{RECORD}", None)]   # only the API, no second data GET
    assert any("already" in p.message for p in seen)
    assert all((out / n).read_bytes() == payloads[n] for n in DATA_NAMES)
    (out / "candels_img.npy").unlink()          # a missing extracted file brings the download back
    _run(out, zenodo, keep_archive=keep_archive)
    assert (out / "candels_img.npy").read_bytes() == payloads["candels_img.npy"]
    assert len(zenodo.data_gets()) == (0 if keep_archive else 1)


def test_plain_file_already_present_is_not_fetched(tmp_path, zenodo):
    zenodo.add("readme.txt", b"hello")
    out = tmp_path / "data"
    out.mkdir()
    (out / "readme.txt").write_bytes(b"hello")
    _run(out, zenodo)
    assert zenodo.data_gets() == []
    (out / "readme.txt").write_bytes(b"HELLO")   # same size, wrong content: fetched again
    _run(out, zenodo)
    assert (out / "readme.txt").read_bytes() == b"hello" and len(zenodo.data_gets()) == 1


def test_file_selection_and_unknown_name(tmp_path, zenodo):
    zenodo.add("a.txt", b"a")
    zenodo.add("b.txt", b"bb")
    out = tmp_path / "data"
    _run(out, zenodo, files=["b.txt"])
    assert (out / "b.txt").read_bytes() == b"bb" and not (out / "a.txt").exists()
    with pytest.raises(DataError, match=r"no file 'nope'.*a\.txt, b\.txt"):
        _run(out, zenodo, files=["nope"])


def test_network_errors_name_the_url(tmp_path, zenodo):
    with pytest.raises(DataError, match=r"/api/records/1: HTTP 404"):
        _run(tmp_path, zenodo, record=1)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()                                  # nothing listens there now
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(DataError, match=re.escape(f"could not download {url}/api/records/{RECORD}")):
        run_job(download_dataset(tmp_path, base_url=url, timeout=5))


def test_unsafe_names_in_record_are_refused(tmp_path, zenodo):
    zenodo.add("../escape.txt", b"x")
    with pytest.raises(DataError, match="unsafe file name"):
        _run(tmp_path / "data", zenodo)
    assert not (tmp_path / "escape.txt").exists()


def test_extract_archive_direct_and_is_archive(tmp_path):
    arc = tmp_path / "x.tar.gz"
    arc.write_bytes(_tar_gz({"./d/a.txt": b"A", "b.txt": b"B"}))
    files = run_job(extract_archive(arc, tmp_path / "o"))
    assert files == ["b.txt", "d/a.txt"]
    assert (tmp_path / "o" / "d" / "a.txt").read_bytes() == b"A"
    assert is_archive("a.TGZ") and is_archive("b.zip") and not is_archive("c.npy")
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball at all")
    with pytest.raises(DataError, match="bad.tar.gz"):
        run_job(extract_archive(bad, tmp_path / "o2"))
