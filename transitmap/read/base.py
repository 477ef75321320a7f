"""What every reader shares: the limits of reading, what reading a file yields, one file to read, a registry
entry, and reading, decoding and parsing a file's bytes safely.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import msgspec
import pandas as pd

from .. import notices as N
from ..model import Trace
from .dates import date_order

SCHEMA_MAJOR = "1"


CSV_TABLES = ("points.csv", "traces.csv", "stops.csv", "fares.csv", "departures.csv")


NUMBER = frozenset({int, float})  # JSON numbers; bool is not one


@dataclass(frozen=True)
class ReadColumns:
    """The columns a survey's forms or apps name otherwise than the readers know (``[build.read]`` in
    survey.toml, ``--set read.route_name=ruta``): each the column's name, lower-cased, spaces and dashes as
    ``_``; empty: found by the names tools give them (``table.CSV_COLUMNS``, ``odk.FORM_COLUMNS``)."""

    trace_id: str = ""
    lat: str = ""
    lon: str = ""
    time: str = ""
    collector_id: str = ""
    route_name: str = ""
    mode: str = ""
    fare: str = ""
    geotrace: str = ""  # an ODK/KoboToolbox form's geotrace answer (the ride's path)
    # how the survey's spreadsheets write dates where no date shows it (a day above 12): dd/mm/yyyy,
    # mm/dd/yyyy or yyyy-mm-dd; empty: found from the data, else day first (ambiguous_date_order)
    date_format: str = ""

    def __post_init__(self) -> None:
        date_order(self.date_format)  # a SettingsError names what would do

    def named(self, columns) -> dict[str, str]:
        """{field: column} of the fields set here whose column is among ``columns``."""
        have = set(columns)
        return {f.name: normal_column(v) for f in dataclasses.fields(self)
                if f.name != "date_format" and (v := getattr(self, f.name)) and normal_column(v) in have}


def normal_column(name: str) -> str:
    """A column's name as the readers compare them: accents dropped, lower case, spaces and dashes as ``_``."""
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", str(name).strip().lower()) if
                     not unicodedata.combining(ch))
    return re.sub(r"[\s\-]+", "_", folded)


@dataclass(frozen=True)
class ReadLimits:
    """Sizes beyond which input is refused rather than read, and the columns a survey names its own way."""

    max_file_bytes: int = 512 * 2**20  # a JSON, GPX or CSV file read in one piece
    max_line_bytes: int = 64 * 2**20  # one JSON Lines line
    max_archive_ratio: float = 200.0  # uncompressed / compressed, for members over 1 MiB
    max_archive_depth: int = 2  # zips within zips
    columns: ReadColumns = ReadColumns()


@dataclass(frozen=True)
class ReadResult:
    """What one trace (or one file that yielded no trace) became when read."""

    source: str
    trace: Trace | None
    notices: tuple[N.Notice, ...] = ()


@dataclass(frozen=True)
class InputFile:
    """One file to read: its display name and a way to open it."""

    name: str
    open: Callable[[], IO[bytes]]
    size: int | None = None
    siblings: dict[str, InputFile] = field(default_factory=dict)  # CSV tables beside points.csv
    #: what the file was read as already (a survey workspace keeps traces read on import): no re-reading
    results: Callable[[], list[ReadResult]] | None = None
    depth: int = 0  # archives it lies in (a zip's member read on its own: 1)


def failed_read(source: str, *notices: N.Notice) -> ReadResult:
    return ReadResult(source, None, tuple(notices))


def read_all(name: str, opener: Callable[[], IO[bytes]], limits: ReadLimits) -> bytes | ReadResult:
    try:
        with opener() as fh:
            data = fh.read(limits.max_file_bytes + 1)
    except (gzip.BadGzipFile, zlib.error, EOFError, zipfile.BadZipFile) as e:
        return failed_read(name, N.InvalidArchiveNotice(file=name, message=str(e) or type(e).__name__))
    if len(data) > limits.max_file_bytes:
        return failed_read(name, N.FileTooLargeNotice(file=name, size_bytes=len(data), limit=limits.max_file_bytes))
    if not data.strip():
        return failed_read(name, N.EmptyFileNotice(file=name))
    return data


GENERIC = msgspec.json.Decoder()


def parse_json(name: str, data: bytes, location: str, fast: msgspec.json.Decoder) -> tuple[Any, N.Notice | None]:
    """Decode JSON: typed when it fits ``fast``, else generic. Returns (document, encoding notice) or
    (None, the notice saying why not)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return fast.decode(data), None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        pass  # not the fast shape, or not JSON at all: find out which on the lenient path
    text, enc = decode_text(name, data)
    try:
        return GENERIC.decode(text.encode("utf-8") if isinstance(text, str) else text), enc
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        return None, N.InvalidJsonNotice(file=name, location=location, message=str(e)[:300])
    except RecursionError:
        return None, N.InvalidJsonNotice(file=name, location=location, message="nested too deeply")


def decode_text(name: str, data: bytes) -> tuple[str | bytes, N.Notice | None]:
    """Bytes as UTF-8 (a BOM dropped); invalid UTF-8 is decoded with replacement and reported. Digits of other
    scripts (Arabic-Indic ``٢٠٢٣``, Persian ``۲۰۲۳``, Devanagari ...) become ASCII digits, as phones set to
    those languages write times and numbers."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.isascii():
        return data, None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            try:
                return ascii_digits(data.decode("utf-16")), N.InvalidEncodingNotice(file=name,
                                                                                    message="UTF-16 text, read as such")
            except UnicodeDecodeError:
                pass
        return ascii_digits(data.decode("utf-8", errors="replace")), N.InvalidEncodingNotice(file=name, message=str(e))
    return (data, None) if not _OTHER_DIGIT.search(text) else (ascii_digits(text), None)


_OTHER_DIGIT = re.compile(r"(?![0-9])\d")  # a decimal digit of any script but ASCII


def ascii_digits(text: str) -> str:
    """``text`` with every decimal digit of another script written as its ASCII digit."""
    found = set(_OTHER_DIGIT.findall(text))
    return text.translate({ord(c): str(unicodedata.digit(c)) for c in found}) if found else text


def with_file_notices(results: list[ReadResult], notice: N.Notice | None) -> list[ReadResult]:
    if notice is None:
        return results
    return [ReadResult(r.source, r.trace, (notice,) + r.notices) for r in results]

def retag(n: N.Notice, trace_id: str) -> N.Notice:
    return n if n.trace_id else dataclasses.replace(n, trace_id=trace_id)


#: reads one file: (the file, a way to open it (decompressed), the limits) -> its results
ReadFunction = Callable[["InputFile", Callable[[], IO[bytes]], "ReadLimits"], "list[ReadResult]"]


@dataclass(frozen=True)
class Reader:
    """One format in the registry (``files.READERS``): the files it takes, by the end of their name (``.gz``
    removed) and, where the name does not decide, by their first bytes (``sniff``), and how it reads one.
    Adding a format is adding a module with its ``READER`` and listing it there."""

    name: str
    suffixes: tuple[str, ...]
    read: ReadFunction
    sniff: Callable[[bytes], bool] | None = None

    def takes(self, name: str, head: Callable[[], bytes]) -> bool:
        return name.endswith(self.suffixes) and (self.sniff is None or self.sniff(head()))


def csv_delimiter(text: str | bytes) -> str:
    """The field separator of a CSV from its header line: ``,``, ``;`` or a tab, whichever it holds most of
    outside quotes (spreadsheets in many locales, and KoboToolbox, write ``;``)."""
    head = text[: 4096].decode("utf-8", "replace") if isinstance(text, bytes) else text[:4096]
    line = re.sub(r'"[^"]*"', "", head.splitlines()[0] if head else "")
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def read_table(f: InputFile, limits: ReadLimits, notes: list[N.Notice]) -> pd.DataFrame | None:
    """A CSV file as text columns, its separator sniffed (``csv_delimiter``), its column names as
    ``normal_column`` makes them; None (with a notice in ``notes``) when it cannot be read as a table."""
    data = read_all(f.name, f.open, limits)
    if isinstance(data, ReadResult):
        notes.extend(data.notices)
        return None
    text, enc = decode_text(f.name, data)
    if enc:
        notes.append(enc)
    try:
        df = pd.read_csv(io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text), dtype=str,
                         keep_default_na=False, skipinitialspace=True, encoding="utf-8", sep=csv_delimiter(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        notes.append(N.InvalidCsvNotice(file=f.name, message=str(e).strip()[:300]))
        return None
    df.columns = [normal_column(c) for c in df.columns]
    return df
