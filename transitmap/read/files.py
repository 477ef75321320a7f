"""Finding the files to read (folders, archives, links that leave the input) and reading each with the reader
that takes it (the registry ``READERS``).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import IO

from .. import notices as N
from . import canonical, geojson, gpx, kml, odk, table
from .base import CSV_TABLES, InputFile, ReadLimits, ReadResult, failed_read


def list_inputs(paths: Sequence[str | os.PathLike | InputFile]) -> tuple[list[InputFile], list[ReadResult]]:
    """The readable files under ``paths`` (files, directories read recursively; ``InputFile`` as given),
    sorted by name, and results for what cannot be read at all (missing paths, links leaving the input)."""
    files: list[InputFile] = []
    problems: list[ReadResult] = []
    for raw in paths:
        if isinstance(raw, InputFile):
            files.append(raw)
            continue
        p = Path(raw)
        if p.is_dir():
            root = p.resolve()
            found = []
            for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
                dirnames.sort()
                for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
                    fp = Path(dirpath) / name
                    rel = fp.relative_to(p).as_posix()
                    if fp.is_symlink():
                        target = fp.resolve()
                        if not target.is_relative_to(root):
                            problems.append(failed_read(rel, N.UnsafePathNotice(file=rel, value=str(os.readlink(fp)))))
                            continue
                        if target.is_dir():
                            continue  # a link to a folder inside the input is read there already
                    found.append((rel, fp))
            files.extend(_group([(rel, _fs_file(rel, fp)) for rel, fp in found]))
        elif p.exists():
            files.append(_fs_file(p.name, p))
        else:
            problems.append(failed_read(str(raw),
                                        N.UnreadableFileNotice(file=str(raw), message="no such file or directory")))
    files.sort(key=lambda f: f.name)
    return files, problems


def _fs_file(name: str, path: Path) -> InputFile:
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    return InputFile(name, _Opener(path), size)


@dataclass(frozen=True)
class _Opener:
    """Opens one file on disk (a value, not a closure: input files can be sent to other processes)."""

    path: Path

    def __call__(self) -> IO[bytes]:
        return _open_regular(self.path)


def _open_regular(path: Path) -> IO[bytes]:
    """Open a regular file for reading; a pipe, socket or device (which could block the run for ever, or never
    end) raises OSError, also when the file was swapped for one after it was listed."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file (a pipe, socket or device)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_GEOJSON_STOPS = re.compile(r"(?i)(^|[/_\- ])stops?(/|[_\- ]?\w*\.(geo)?json$)")


def _group(entries: list[tuple[str, InputFile]]) -> list[InputFile]:
    """Attach ``traces.csv``, ``stops.csv`` ... to the ``points.csv`` of the same folder, and GeoJSON stop files
    (in a ``stops/`` folder, or named ``*stops.geojson``) to the GeoJSON routes beside them: the routes of the
    folder that holds the ``stops/`` folder (or the file), and of its subfolders, as TransitWand-style apps
    export them (``<route>/route/route.geojson`` + ``<route>/stops/route_<id>stops_of.geojson``)."""
    by_dir: dict[str, dict[str, InputFile]] = {}
    stop_files: dict[str, dict[str, InputFile]] = {}
    out = []
    for rel, f in entries:
        pp = PurePosixPath(rel)
        if pp.name.lower() in CSV_TABLES:
            by_dir.setdefault(str(pp.parent), {})[pp.name.lower()] = f
        elif pp.suffix.lower() in (".geojson", ".json") and _GEOJSON_STOPS.search(rel):
            parts = pp.parent.parts
            owner = parts[: max(i for i, p in enumerate(parts) if p.lower() == "stops")] if any(
                p.lower() == "stops" for p in parts) else parts
            stop_files.setdefault(owner, {})[f.name] = f
        else:
            out.append(f)
    if stop_files:
        used = set()
        for k, f in enumerate(out):
            if not f.name.lower().endswith((".geojson", ".json")):
                continue
            folder = PurePosixPath(f.name.split("!")[-1]).parent.parts
            mine = {name: sf for owner, group in stop_files.items() if folder[: len(owner)] == owner
                    for name, sf in group.items()}
            if mine:
                out[k] = replace(f, siblings={**f.siblings, **mine})
                used |= set(mine)
        out.extend(sf for group in stop_files.values() for name, sf in group.items() if name not in used)
    for tables in by_dir.values():
        points = tables.pop("points.csv", None)
        if points is None:
            out.extend(tables.values())  # tables without points.csv: reported as unsupported
        else:
            out.append(replace(points, siblings=tables))
    return out


def read_file(f: InputFile, limits: ReadLimits = ReadLimits(), _depth: int = 0) -> list[ReadResult]:
    """Every trace in one input file, or one failed result naming what is wrong. Never raises."""
    try:
        return _read_file(f, limits, max(_depth, f.depth))
    except (OSError, EOFError) as e:
        return [failed_read(f.name, N.UnreadableFileNotice(file=f.name, message=str(e) or type(e).__name__))]
    except Exception as e:  # a bug of ours must not take the survey down with it
        return [failed_read(f.name, N.SystemErrorNotice(file=f.name, message=f"{type(e).__name__}: {e}"))]


def _read_file(f: InputFile, limits: ReadLimits, depth: int) -> list[ReadResult]:
    if f.results is not None:
        return list(f.results())
    name = f.name.lower()
    if f.size is not None and f.size > limits.max_file_bytes and not name.removesuffix(".gz").endswith((".jsonl",
                                                                                                        ".ndjson")):
        # refused unread (JSON Lines are read line by line, whatever their size)
        return [failed_read(f.name, N.FileTooLargeNotice(file=f.name, size_bytes=f.size, limit=limits.max_file_bytes))]
    if name.endswith((".zip", ".kmz")):  # a KMZ is a zip holding doc.kml
        return _read_zip(f, limits, depth)
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    opener = f.open
    if gz:
        def opener():  # noqa: E306 - decompress on the fly, bounded by the readers' size limits
            raw = f.open()
            g = gzip.GzipFile(fileobj=raw, mode="rb")
            g.myfileobj = raw  # closing the gzip stream closes the file too
            return g
    head = _Head(opener)
    for reader in READERS:
        if reader.takes(base, head):
            return reader.read(f, opener, limits)
    return [failed_read(f.name, N.UnsupportedFileNotice(file=f.name))]


#: the formats, each with the files it takes; the first that takes a file reads it
READERS = (canonical.JSONL_READER, canonical.JSON_READER, geojson.READER, gpx.READER, kml.READER, odk.AUDIT_READER,
           odk.FORM_READER, odk.WORKBOOK_READER, table.READER)


class _Head:
    """The first bytes of a file, read once, for the readers that tell a format by content."""

    def __init__(self, opener: Callable[[], IO[bytes]], size: int = 65536):
        self.opener, self.size, self.data = opener, size, None

    def __call__(self) -> bytes:
        if self.data is None:
            with self.opener() as fh:
                self.data = fh.read(self.size)
        return self.data


def expand_archives(files: list[InputFile], limits: ReadLimits = ReadLimits()) -> tuple[list[InputFile],
                                                                                        list[ReadResult]]:
    """The zip files on disk among ``files`` opened up into their recordings (members read one by one, each
    as if read inside the archive: the same names ``archive.zip!member``, checks and notices), so that work and
    progress go recording by recording; and the results of members refused unread. An archive that cannot be
    opened, or holds no member, stays as it is (reading it says why)."""
    out: list[InputFile] = []
    refused: list[ReadResult] = []
    for f in files:
        opener = f.open
        if (not isinstance(opener, _Opener) or not f.name.lower().endswith(".zip") or f.results is not None
                or f.depth >= limits.max_archive_depth or (f.size or 0) > limits.max_file_bytes):
            out.append(f)
            continue
        try:
            with zipfile.ZipFile(opener.path) as zf:
                entries, failed = _members(zf, f.name, limits)
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError, ValueError):
            out.append(f)
            continue
        if not entries and not failed:
            out.append(f)
            continue
        members = [(name, InputFile(member, _ZipMember(opener.path, info_name, size), size, depth=f.depth + 1))
                   for name, member, info_name, size in entries]
        out.extend(_group(members))
        refused.extend(failed)
    out.sort(key=lambda x: x.name)
    return out, refused


@dataclass(frozen=True)
class _ZipMember:
    """Opens one member of a zip on disk, reading at most the size its header declares (a value: it can be
    sent to other processes)."""

    path: Path
    name: str
    size: int

    def __call__(self) -> IO[bytes]:
        with zipfile.ZipFile(self.path) as zf, zf.open(self.name) as m:
            data = m.read(self.size + 1)
        if len(data) > self.size:
            raise zipfile.BadZipFile("member larger than its header declares")
        return io.BytesIO(data)


def _members(zf: zipfile.ZipFile, archive: str, limits: ReadLimits) -> tuple[list[tuple[str, str, str, int]],
                                                                             list[ReadResult]]:
    """The members of an archive to read, as (name, display name ``archive!name``, name in the zip, size), and
    the results of those refused unread (names escaping the archive, bombs, macOS resource forks)."""
    entries, failed = [], []
    for info in zf.infolist():
        if info.is_dir():
            continue
        stored = info.filename
        if not info.flag_bits & 0x800:  # no UTF-8 flag: zipfile read the name as CP437, but many tools write
            try:  # UTF-8 without saying so; a name that is valid UTF-8 is taken as such
                info.filename = info.filename.encode("cp437").decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                pass
        member = f"{archive}!{info.filename}"
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.filename.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", info.filename):
            failed.append(failed_read(member, N.UnsafeArchiveMemberNotice(file=member, value=info.filename)))
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.max_file_bytes or (info.file_size > 2**20 and ratio > limits.max_archive_ratio):
            failed.append(failed_read(member, N.ArchiveBombNotice(file=member, size_bytes=info.file_size,
                                                              ratio=round(ratio, 1), limit=limits.max_file_bytes)))
            continue
        if PurePosixPath(info.filename).name.startswith("._"):  # macOS resource forks beside real files
            failed.append(failed_read(member, N.UnsupportedFileNotice(file=member)))
            continue
        entries.append((info.filename, member, stored, info.file_size))
    return entries, failed


def _read_zip(f: InputFile, limits: ReadLimits, depth: int) -> list[ReadResult]:
    if depth >= limits.max_archive_depth:
        return [failed_read(f.name, N.ArchiveBombNotice(file=f.name, size_bytes=f.size or 0, ratio=0.0,
                                                    limit=limits.max_archive_depth))]
    try:
        with f.open() as fh:
            zf = zipfile.ZipFile(io.BytesIO(fh.read(limits.max_file_bytes + 1)))
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as e:
        return [failed_read(f.name, N.InvalidArchiveNotice(file=f.name, message=str(e) or "not a zip file"))]
    entries, results = _members(zf, f.name, limits)
    grouped = _group([(name, InputFile(member, _bounded_member(zf, zf.getinfo(stored), limits), size))
                      for name, member, stored, size in entries])
    for inner in sorted(grouped, key=lambda x: x.name):
        results.extend(read_file(inner, limits, depth + 1))
    return results or [failed_read(f.name, N.EmptyFileNotice(file=f.name))]  # an archive of nothing (or of folders)


def _bounded_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ReadLimits) -> Callable[[], IO[bytes]]:
    # The declared size can lie: read at most what it declares (zipfile checks the CRC at the end).
    def opener() -> IO[bytes]:
        with zf.open(info) as m:
            data = m.read(info.file_size + 1)
        if len(data) > info.file_size:
            raise zipfile.BadZipFile("member larger than its header declares")
        return io.BytesIO(data)

    return opener
