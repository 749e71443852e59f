"""Safe archive extraction: nothing lands outside the target folder, nothing is left half-written.

Members with absolute paths, ``..`` components, links pointing outside, or special files make the whole
archive refused before anything is extracted. Extraction goes to a temporary folder inside the target,
then is moved into place.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Iterable, Optional

from ..errors import DataError
from ..jobs import CancelToken, Job, Progress, check_cancel

__all__ = ["is_archive", "extract_archive"]


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc) or type(exc).__name__

_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_FILTER_ERROR = getattr(tarfile, "FilterError", tarfile.TarError)
CHUNK_SIZE = 1 << 20


def is_archive(name: str | os.PathLike) -> bool:
    """True for names :func:`extract_archive` handles (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``, ...)."""
    low = os.fspath(name).lower()
    return low.endswith(_TAR_SUFFIXES) or low.endswith(".zip")


def _clean_member(name: str, archive: Path) -> Optional[str]:
    """Relative, normalised member path; DataError when it is absolute or climbs out; None for the root."""
    n = name.replace("\\", "/")
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n) or "\x00" in n:
        raise DataError(f"{archive}: refusing member {name!r} (absolute path); nothing was extracted")
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DataError(f"{archive}: refusing member {name!r} (leaves the target folder); "
                        "nothing was extracted")
    return "/".join(parts) or None


def _check_tar(members: Iterable[tarfile.TarInfo], archive: Path) -> list[tuple[tarfile.TarInfo, str]]:
    links: set[str] = set()
    out = []
    for m in members:
        clean = _clean_member(m.name, archive)
        if clean is None:
            continue
        parts = clean.split("/")
        if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            raise DataError(f"{archive}: refusing member {m.name!r} (inside a link); nothing was extracted")
        if m.issym() or m.islnk():
            target = m.linkname.replace("\\", "/")
            base = os.path.dirname(clean) if m.issym() else ""
            resolved = os.path.normpath(os.path.join(base, target))
            if target.startswith("/") or re.match(r"^[A-Za-z]:", target) or resolved == ".." \
                    or resolved.startswith("../"):
                raise DataError(f"{archive}: refusing link {m.name!r} -> {m.linkname!r} (points outside "
                                "the target folder); nothing was extracted")
            links.add(clean)
        elif not (m.isfile() or m.isdir()):
            raise DataError(f"{archive}: refusing special file {m.name!r}; nothing was extracted")
        out.append((m, clean))
    return out


def _check_zip(infos: Iterable[zipfile.ZipInfo], archive: Path) -> list[tuple[zipfile.ZipInfo, str]]:
    out = []
    for info in infos:
        clean = _clean_member(info.filename, archive)
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise DataError(f"{archive}: refusing symbolic link {info.filename!r}; nothing was extracted")
        if clean is not None:
            out.append((info, clean))
    return out


def _move_into(src: Path, dst: Path) -> None:
    """Move the tree ``src`` into ``dst`` (merging folders); check for clashes before moving anything."""
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        for name in dirs + files:
            s, d = Path(root, name), dst / rel / name
            if s.is_dir() and not s.is_symlink():
                if d.exists() and not d.is_dir():
                    raise DataError(f"cannot extract folder {rel / name}: {d} exists and is not a folder")
            elif d.is_dir() and not d.is_symlink():
                raise DataError(f"cannot extract {rel / name}: {d} is a folder")
    for root, dirs, files in os.walk(src):
        rel = Path(root).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files + [d for d in dirs if Path(root, d).is_symlink()]:
            os.replace(Path(root, name), dst / rel / name)


def extract_archive(archive: str | os.PathLike, outdir: str | os.PathLike, *,
                    cancel: Optional[CancelToken] = None) -> Job:
    """Safely extract a ``.tar[.gz|.bz2|.xz]`` or ``.zip`` archive into ``outdir`` (a job generator).

    Every member is checked first: an absolute path, a ``..``, a link pointing outside, a member inside
    a link or a special file refuses the whole archive. Members go to a temporary folder inside
    ``outdir`` (tarfile ``filter="data"`` where available) and are moved into place only at the end,
    so a refused, cancelled or interrupted extraction leaves nothing half-written.

    Parameters
    ----------
    archive : path-like
        The archive.
    outdir : path-like
        Target folder (created if missing); files of the same names are replaced.
    cancel : CancelToken, optional
        Checked between members.

    Returns
    -------
    list of str
        Extracted files relative to ``outdir`` (the generator yields :class:`Progress` in bytes).

    Raises
    ------
    DataError
        An unsafe member (naming it) or a damaged archive.
    Cancelled
        The token was set; nothing was moved into ``outdir``.

    Examples
    --------
    >>> run_job(extract_archive("candels-blender-data.tar.gz", "data"))  # doctest: +SKIP
    ['candels_cat.csv', 'candels_img.npy', 'candels_seg.npy']
    """
    archive, outdir = Path(archive), Path(outdir)
    if not is_archive(archive):
        raise DataError(f"{archive}: not a .tar(.gz/.bz2/.xz) or .zip archive")
    outdir.mkdir(parents=True, exist_ok=True)
    tmp: Optional[Path] = None
    try:
        is_zip = archive.name.lower().endswith(".zip")
        with (zipfile.ZipFile(archive) if is_zip else tarfile.open(archive, "r:*")) as ctx:
            if is_zip:
                members: list = _check_zip(ctx.infolist(), archive)
                sizes = [info.file_size for info, _ in members]
            else:
                members = _check_tar(ctx.getmembers(), archive)
                sizes = [m.size if m.isfile() else 0 for m, _ in members]
            total, done = sum(sizes), 0
            tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=outdir))
            files = []
            for (member, clean), nbytes in zip(members, sizes):
                check_cancel(cancel)
                yield Progress(done, total, f"extracting {clean}")
                if isinstance(member, zipfile.ZipInfo):
                    ctx.extract(member, tmp)
                    is_file = not member.is_dir()
                else:
                    if hasattr(tarfile, "data_filter"):
                        ctx.extract(member, tmp, filter="data")
                    else:  # pragma: no cover - Python without extraction filters
                        ctx.extract(member, tmp)
                    is_file = not member.isdir()
                if is_file:
                    files.append(clean)
                done += nbytes
            check_cancel(cancel)
            _move_into(tmp, outdir)
            yield Progress(total, total, f"extracted {archive.name}")
            return sorted(set(files))
    except _FILTER_ERROR as exc:
        raise DataError(f"{archive}: refusing member ({exc}); nothing was extracted") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{archive}: damaged archive ({_reason(exc)})") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------- dataset
