"""Download the public CANDELS stamp set of candels-blender from Zenodo: resumable, checksummed, safe.

The data set (Zenodo record 2604740, ``candels-blender-data.tar.gz``) extracts to ``candels_img.npy``,
``candels_seg.npy`` and ``candels_cat.csv``. :func:`download_dataset` asks Zenodo's REST API for the
file list, downloads each file to ``<name>.part`` (resuming with an HTTP ``Range`` request), checks its
size and checksum before renaming it, and extracts archives into a temporary folder first, refusing any
member that would land outside the target folder. Only the standard library's ``urllib`` is used.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import Cancelled, DataError
from ..jobs import CancelToken, Job, Progress, check_cancel
from .archive import _reason, extract_archive, is_archive

__all__ = ["ZENODO_RECORD", "ZENODO_URL", "CHUNK_SIZE", "RemoteFile", "list_record_files",
           "download_file", "extract_archive", "is_archive", "download_dataset"]

#: Zenodo record of candels-blender's CANDELS stamps (``candels-blender-data.tar.gz``).
ZENODO_RECORD = 2604740
#: Default Zenodo server.
ZENODO_URL = "https://zenodo.org"
#: Bytes read per step; progress is reported and the cancel token checked between chunks.
CHUNK_SIZE = 1 << 20

_USER_AGENT = "candels-gui (+https://zenodo.org/records/2604740)"
_NETWORK_ERRORS = (urllib.error.URLError, OSError, http.client.HTTPException, ValueError)


@dataclass(frozen=True)
class RemoteFile:
    """One file of a Zenodo record: local ``name``, download ``url``, ``size`` in bytes (None when
    unknown) and ``checksum`` as ``"algorithm:hex"`` (Zenodo uses md5)."""

    name: str
    url: str
    size: Optional[int]
    checksum: str


class _RangeNotSatisfiable(Exception):
    """The server answered 416 to a ``Range`` request."""


# --------------------------------------------------------------------------------- HTTP helpers
def _open(opener: urllib.request.OpenerDirector, url: str, *, headers: dict[str, str] | None = None,
          timeout: float = 60) -> http.client.HTTPResponse:
    req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, **(headers or {})})
    try:
        return opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416:
            raise _RangeNotSatisfiable(url) from None
        raise DataError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
    except _NETWORK_ERRORS as exc:
        raise DataError(f"could not download {url}: {_reason(exc)}") from None


def _check_url(url: str, where: str) -> str:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DataError(f"{where}: refusing download URL {url!r} (only http and https are allowed)")
    return url


def _safe_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or name in ("", ".", "..") or any(c in name for c in "/\\\x00"):
        raise DataError(f"{where}: unsafe file name {name!r} (must be a plain file name)")
    return name


def _parse_checksum(checksum: Any, where: str) -> tuple[str, str]:
    """``"md5:<hex>"`` (or bare 32-digit hex, Zenodo's md5) -> ``("md5", "<hex>")``."""
    if not isinstance(checksum, str) or not checksum:
        raise DataError(f"{where}: no checksum given, refusing to download unverified data")
    algo, sep, digest = checksum.strip().partition(":")
    if not sep:
        algo, digest = "md5", algo
    algo, digest = algo.lower(), digest.lower()
    try:
        expected_len = hashlib.new(algo).digest_size * 2
    except ValueError:
        raise DataError(f"{where}: unknown checksum algorithm {algo!r} in {checksum!r}") from None
    if len(digest) != expected_len or not re.fullmatch(r"[0-9a-f]+", digest):
        raise DataError(f"{where}: malformed checksum {checksum!r}")
    return algo, digest


# ----------------------------------------------------------------------------- record metadata
def _record_entries(data: Any, api_url: str) -> tuple[list[dict], bool]:
    """The file entries of a record JSON and whether it is Zenodo's list shape (``links.self`` = content)."""
    files = data.get("files") if isinstance(data, dict) else None
    listed = isinstance(files, list)
    if isinstance(files, dict):          # InvenioRDM: {"enabled": ..., "entries": {key: {...}} or [...]}
        files = files.get("entries")
        if isinstance(files, dict):
            files = list(files.values())
    if not isinstance(files, list) or not all(isinstance(e, dict) for e in files):
        raise DataError(f"{api_url}: the record JSON has no usable 'files' list")
    return files, listed


def list_record_files(record: int | str = ZENODO_RECORD, *, base_url: str = ZENODO_URL,
                      timeout: float = 60,
                      opener: Optional[urllib.request.OpenerDirector] = None) -> list[RemoteFile]:
    """List the files of a Zenodo record through its REST API (``{base_url}/api/records/{record}``).

    Understands Zenodo's shape (``files: [{key, size, checksum, links: {self}}]``), InvenioRDM's
    (``files: {entries: ...}`` with ``links.content``) and the ``filename``/``filesize`` one of late 2023.

    Parameters
    ----------
    record : int or str
        Record number.
    base_url : str
        Server, e.g. ``"https://zenodo.org"``.
    timeout : float
        Seconds to wait for the server.
    opener : urllib.request.OpenerDirector, optional
        Default: ``urllib.request.build_opener()`` (honours proxy settings).

    Returns
    -------
    list of RemoteFile

    Raises
    ------
    DataError
        Network error, a JSON that is not a record, an entry with an unsafe name, URL or checksum.

    Examples
    --------
    >>> [f.name for f in list_record_files(2604740)]  # doctest: +SKIP
    ['candels-blender-data.tar.gz']
    """
    opener = opener or urllib.request.build_opener()
    base = base_url.rstrip("/")
    api_url = f"{base}/api/records/{record}"
    with _open(opener, api_url, headers={"Accept": "application/json"}, timeout=timeout) as resp:
        try:
            data = json.loads(resp.read().decode("utf-8"))
        except _NETWORK_ERRORS as exc:
            raise DataError(f"could not read the record JSON at {api_url}: {_reason(exc)}") from None
    entries, listed = _record_entries(data, api_url)
    out = []
    for entry in entries:
        name = _safe_name(entry.get("key", entry.get("filename")), api_url)
        where = f"{api_url} (file {name})"
        size = entry.get("size", entry.get("filesize"))
        if size is not None and (not isinstance(size, int) or size < 0):
            raise DataError(f"{where}: bad size {size!r}")
        checksum = "{}:{}".format(*_parse_checksum(entry.get("checksum"), where))
        links = entry.get("links") if isinstance(entry.get("links"), dict) else {}
        url = links.get("content") or links.get("download")
        if not url and listed and "key" in entry:
            url = links.get("self")
            if url and re.search(r"/api/records/[^/]+/files/[^/]+/?$", urllib.parse.urlsplit(url).path):
                url = url.rstrip("/") + "/content"      # an InvenioRDM metadata link, not the bytes
        if not url:    # late-2023 Zenodo: links.self was a broken id URL
            url = f"{base}/api/records/{record}/files/{urllib.parse.quote(name)}/content"
        out.append(RemoteFile(name, _check_url(urllib.parse.urljoin(api_url, url), where), size, checksum))
    return out


# ------------------------------------------------------------------------------------ download
def _digest_file(path: Path, algo: str, cancel: Optional[CancelToken], h=None):
    h = h or hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            check_cancel(cancel)
            h.update(chunk)
    return h


def _range_start(content_range: Optional[str]) -> Optional[int]:
    m = re.match(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*$", content_range or "")
    return int(m.group(1)) if m else None


def _open_at(opener, url: str, offset: int, timeout: float) -> tuple[http.client.HTTPResponse, int]:
    """Open ``url`` at byte ``offset`` if the server honours it, else from zero; return (response, start)."""
    if offset:
        try:
            resp = _open(opener, url, headers={"Range": f"bytes={offset}-"}, timeout=timeout)
        except _RangeNotSatisfiable:
            resp = None
        if resp is not None:
            if resp.status == 206 and _range_start(resp.headers.get("Content-Range")) == offset:
                return resp, offset
            if resp.status == 200:           # Range ignored: the body is the whole file
                return resp, 0
            resp.close()
    try:
        resp = _open(opener, url, timeout=timeout)
    except _RangeNotSatisfiable:
        raise DataError(f"could not download {url}: HTTP 416 without a Range request") from None
    if resp.status != 200:
        resp.close()
        raise DataError(f"could not download {url}: unexpected HTTP status {resp.status}")
    return resp, 0


def download_file(url: str, dest: str | os.PathLike, *, checksum: str, size: Optional[int] = None,
                  timeout: float = 60, cancel: Optional[CancelToken] = None,
                  opener: Optional[urllib.request.OpenerDirector] = None) -> Job:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming and verifying (a job generator).

    A ``dest`` already present with the right checksum is kept (no request). An existing ``dest.part``
    is resumed with ``Range: bytes=N-`` (a server answering 200 instead of 206 restarts from zero).
    Size and checksum are checked before ``dest.part`` is renamed to ``dest`` (``os.replace``).

    Parameters
    ----------
    url : str
        http(s) URL of the file.
    dest : path-like
        Final file name.
    checksum : str
        ``"md5:<hex>"`` (any hashlib algorithm; bare hex means md5).
    size : int, optional
        Expected size in bytes (progress total; more bytes than this abort the download).
    timeout : float
        Seconds to wait for the server on each request or read.
    cancel : CancelToken, optional
        Checked between chunks; a cancelled download keeps ``dest.part`` for a later resume.
    opener : urllib.request.OpenerDirector, optional
        Default: ``urllib.request.build_opener()``.

    Returns
    -------
    Path
        ``dest`` (the generator yields :class:`Progress` in bytes of this file).

    Raises
    ------
    DataError
        Network error (naming the URL), or size/checksum mismatch (the ``.part`` is deleted).
    Cancelled
        The token was set; ``dest.part`` holds what was downloaded.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    algo, expected = _parse_checksum(checksum, str(dest))
    total = size or 0
    message = f"downloading {dest.name}"
    if dest.is_file() and (size is None or dest.stat().st_size == size):
        yield Progress(0, total, f"verifying {dest.name}")
        if _digest_file(dest, algo, cancel).hexdigest() == expected:
            yield Progress(total, total, f"{dest.name} already downloaded")
            return dest
    opener = opener or urllib.request.build_opener()
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset > size:
        part.unlink()
        offset = 0
    h = hashlib.new(algo)
    if offset:
        yield Progress(0, total, f"checking partial {dest.name}")
        h = _digest_file(part, algo, cancel, h)
    written = offset
    if size is None or offset < size or offset == 0:
        resp, written = _open_at(opener, url, offset, timeout)
        if written == 0:
            h = hashlib.new(algo)
        with resp, open(part, "ab" if written else "wb") as f:
            yield Progress(written, total, message)
            while True:
                if cancel is not None and cancel.cancelled:
                    raise Cancelled(f"download of {dest.name} cancelled; {written} bytes kept in {part} "
                                    "for a later resume")
                try:
                    chunk = resp.read(CHUNK_SIZE)
                except _NETWORK_ERRORS as exc:
                    raise DataError(f"could not download {url}: {_reason(exc)} (after {written} bytes; "
                                    f"run again to resume from {part.name})") from None
                if not chunk:
                    break
                f.write(chunk)
                h.update(chunk)
                written += len(chunk)
                if size is not None and written > size:
                    f.close()
                    part.unlink()
                    raise DataError(f"{url} sent more than the {size} bytes the record lists for "
                                    f"{dest.name}; the partial file was deleted")
                yield Progress(written, total, message)
    if size is not None and written != size:
        raise DataError(f"download of {url} ended early: {written} of {size} bytes "
                        f"(run again to resume from {part.name})")
    actual = h.hexdigest()
    if actual != expected:
        part.unlink()
        raise DataError(f"checksum mismatch for {dest.name}: expected {algo}:{expected}, got "
                        f"{algo}:{actual}; the download was deleted")
    os.replace(part, dest)
    return dest


# ---------------------------------------------------------------------------------- extraction
def _marker(outdir: Path, name: str) -> Path:
    return outdir / f".{name}.extracted.json"


def _already_extracted(outdir: Path, rf: RemoteFile) -> bool:
    try:
        info = json.loads(_marker(outdir, rf.name).read_text(encoding="utf-8"))
        members = info["members"]
        return (info.get("checksum") == rf.checksum and isinstance(members, list) and bool(members)
                and all((outdir / m).is_file() for m in members))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _rebased(job: Job, base: int, total: int) -> Job:
    try:
        while True:
            try:
                p = next(job)
            except StopIteration as stop:
                return stop.value
            yield Progress(base + p.done, total, p.message)
    finally:
        job.close()


def download_dataset(outdir: str | os.PathLike, *, record: int | str = ZENODO_RECORD,
                     base_url: str = ZENODO_URL, files: Optional[Sequence[str]] = None,
                     extract: bool = True, keep_archive: bool = False, timeout: float = 60,
                     cancel: Optional[CancelToken] = None) -> Job:
    """Download and extract a Zenodo record, by default candels-blender's CANDELS stamps (a job generator).

    Files go through :func:`download_file` (``.part``, resume, checksum), archives through
    :func:`extract_archive`. A marker ``.<archive>.extracted.json`` (checksum + extracted files) lets a
    later call skip both while those files are present, even after the archive was deleted.

    Parameters
    ----------
    outdir : path-like
        Folder to fill (created if missing).
    record : int or str
        Zenodo record (default 2604740: ``candels-blender-data.tar.gz``, which extracts to
        ``candels_img.npy``, ``candels_seg.npy`` and ``candels_cat.csv``).
    base_url : str
        Zenodo server.
    files : sequence of str, optional
        Names of the record's files to fetch (default: all of them).
    extract : bool
        Extract ``.tar.gz`` / ``.zip`` archives after download.
    keep_archive : bool
        Keep an archive once extracted (default: delete it).
    timeout : float
        Seconds to wait for the server on each request or read.
    cancel : CancelToken, optional
        Checked between chunks and members; a cancelled download keeps its ``.part`` file.

    Returns
    -------
    Path
        ``outdir``. The generator yields :class:`Progress`: bytes downloaded of the selected files'
        total, then bytes extracted of each archive.

    Raises
    ------
    DataError
        Network error (naming the URL and the reason), checksum mismatch, unsafe archive, unknown name.
    Cancelled
        The token was set.

    Examples
    --------
    >>> from candels_gui.core.jobs import run_with_progress
    >>> run_with_progress(download_dataset("data"), unit="B")  # doctest: +SKIP
    PosixPath('data')
    """
    outdir = Path(outdir).expanduser()
    outdir.mkdir(parents=True, exist_ok=True)
    opener = urllib.request.build_opener()
    check_cancel(cancel)
    yield Progress(0, 0, f"asking {base_url.rstrip('/')}/api/records/{record}")
    remote = list_record_files(record, base_url=base_url, timeout=timeout, opener=opener)
    if files is not None:
        by_name = {rf.name: rf for rf in remote}
        missing = [f for f in files if f not in by_name]
        if missing:
            raise DataError(f"Zenodo record {record} has no file {', '.join(map(repr, missing))}; "
                            f"it has {', '.join(sorted(by_name)) or 'no files'}")
        remote = [by_name[f] for f in dict.fromkeys(files)]
    if not remote:
        raise DataError(f"Zenodo record {record} lists no files")
    total = sum(rf.size or 0 for rf in remote)
    done = 0
    for rf in remote:
        check_cancel(cancel)
        archive = extract and is_archive(rf.name)
        if archive and _already_extracted(outdir, rf):
            done += rf.size or 0
            yield Progress(done, total, f"{rf.name} already downloaded and extracted")
            continue
        path = yield from _rebased(download_file(rf.url, outdir / rf.name, checksum=rf.checksum,
                                                 size=rf.size, timeout=timeout, cancel=cancel,
                                                 opener=opener), done, total)
        done += rf.size or path.stat().st_size
        if archive:
            members = yield from extract_archive(path, outdir, cancel=cancel)
            marker = _marker(outdir, rf.name)
            tmp = marker.with_name(marker.name + ".tmp")
            tmp.write_text(json.dumps({"archive": rf.name, "checksum": rf.checksum, "members": members},
                                      indent=1), encoding="utf-8")
            os.replace(tmp, marker)
            if not keep_archive:
                path.unlink()
            yield Progress(done, total, f"{rf.name} extracted")
    return outdir
