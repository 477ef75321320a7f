"""Render the report model and write outputs atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec


def to_json(report: dict[str, Any]) -> bytes:
    """Stable JSON: sorted keys, two-space indent, a final newline (byte-identical for equal reports)."""
    return msgspec.json.format(msgspec.json.encode(report, order="sorted"), indent=2) + b"\n"


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_dir_atomic(path: str | os.PathLike, files: dict[str, bytes]) -> None:
    """Write a folder of files so that ``path`` holds the complete old output or the complete new one: the
    new folder is written beside it, then swapped in; a run that fails before leaves the old one untouched."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
    try:
        for name, data in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.rename(path, old / "x")
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def to_csv(rows: list[dict], columns: list[str]) -> bytes:
    """Rows as CSV (fixed columns, lists joined with ';'), UTF-8, LF line ends."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ";".join(v) if isinstance(v, (list, tuple)) else v for k, v in row.items()})
    return buf.getvalue().encode("utf-8")
