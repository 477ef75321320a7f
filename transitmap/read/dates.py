"""Dates and clocks as spreadsheets and phone apps write them (``05/03/2024``, ``3/5/24``, ``2024.03.05``,
``7:10:00 PM``, ``19h10``, ``05/03/2024 07:10``), to ISO 8601 text that :func:`traces.parse_times` reads.

Day and month are told apart from the data: a first number above 12 shows day-first dates, a second one
above 12 month-first dates. Where no date shows which, day first is read (most of the world writes so) and
the file is reported (``ambiguous_date_order``); ``read.date_format`` declares the order. Dates in a file's
name (``2024-03-05_ride.csv``) date the clocks of its rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from ..errors import SettingsError

#: A date: year first (``2024-03-05``, ``2024/3/5``) or last (``05/03/2024``, ``3.5.24``)
_DATE = r"(?P<a>\d{1,4})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2}|\d{4})"
#: A clock: ``07:10``, ``7:10:00``, ``07:10:00.5``, ``19h10``, ``7:10 PM``, ``07:10 p. m.``, with a UTC offset
_CLOCK = (r"(?P<H>\d{1,2})(?:[:h])(?P<M>\d\d)(?::(?P<S>\d\d)(?:[.,](?P<F>\d{1,6}))?)?"
          r"(?:\s*(?P<ampm>[aApP])\.?\s*[mM]\.?)?\s*(?P<tz>Z|[+-]\d\d:?\d\d|UTC|GMT)?")
_DATE_ONLY = re.compile(rf"^\s*{_DATE}\s*$")
_CLOCK_ONLY = re.compile(rf"^\s*{_CLOCK}\s*$")
_DATE_CLOCK = re.compile(rf"^\s*{_DATE}(?:\s*[T,]\s*|\s+)(?:-\s*)?{_CLOCK}\s*$")
#: A date in a file name: 2024-03-05, 2024_03_05, 20240305, 05-03-2024 (digits not part of a longer number)
_NAME_DATE = re.compile(r"(?<!\d)(?:(?P<y>(?:19|20)\d\d)[-_.]?(?P<m>[01]\d)[-_.]?(?P<d>[0-3]\d)"
                        r"|(?P<a>\d{1,2})[-_.](?P<b>\d{1,2})[-_.](?P<c>(?:19|20)\d\d))(?!\d)")

#: The orders of ``read.date_format``: its own words and the patterns people write
ORDERS = {"dmy": "dmy", "mdy": "mdy", "ymd": "ymd"}


def date_order(declared: str) -> str:
    """The order of day, month and year that ``read.date_format`` declares: ``dd/mm/yyyy``, ``mm/dd/yy``,
    ``yyyy-mm-dd``, ``%d/%m/%Y`` or ``dmy``/``mdy``/``ymd``; "" when none is declared. Raises
    ``SettingsError`` on anything else."""
    text = declared.strip().lower()
    if not text:
        return ""
    letters = "".join(ch for ch in re.sub(r"%", "", text) if ch in "dmy")
    order = "".join(dict.fromkeys(letters))  # "ddmmyyyy" -> "dmy"
    if order in ORDERS and re.fullmatch(r"[dmy%/.\-\s]+", text):
        return order
    raise SettingsError(f"read.date_format {declared!r} is not a date format: write dd/mm/yyyy, mm/dd/yyyy or "
                        "yyyy-mm-dd")


@dataclass(frozen=True)
class WrittenTimes:
    """Times of a table's rows as ISO 8601 text ("" where no time could be read), and how dates were read."""

    iso: list[str]
    order: str = ""  # the day/month order used: dmy, mdy, ymd ("" when no date needed one)
    ambiguous: bool = False  # no date showed the order: day first was read
    example: str = ""  # a date that could be read either way
    example_row: int = -1
    undated: bool = False  # clocks without a date in the rows or the file name


def file_date(name: str, order: str = "") -> tuple[int, int, int, bool] | None:
    """(year, month, day, ambiguous) of a date in a file's name (the last one in its path), or None."""
    found = list(_NAME_DATE.finditer(PurePosixPath(name.replace("\\", "/")).name))
    if not found:
        return None
    m = found[-1]
    if m.group("y"):
        return int(m.group("y")), int(m.group("m")), int(m.group("d")), False
    a, b = int(m.group("a")), int(m.group("b"))
    dayfirst = order != "mdy" and (order == "dmy" or a > 12 or b <= 12)
    return int(m.group("c")), (b if dayfirst else a), (a if dayfirst
                                                       else b), not order and a <= 12 and b <= 12 and a != b


def spreadsheet_times(times: pd.Series, dates: pd.Series | None = None, *, name: str = "", order: str = "",
                      groups: pd.Series | None = None) -> WrittenTimes:
    """ISO 8601 text of the times of a table's rows, from a column of times (a date and a clock, or a clock)
    and, where the clock has no date, a column of dates or the date in the file's ``name``. ``order``: the
    declared day/month order (``date_order``). ``groups``: the trace of each row, for rides past midnight
    dated by the file name. Vectorised over the rows."""
    t = times.fillna("").astype(str)
    both = t.str.extract(_DATE_CLOCK)
    clock_only = both["H"].isna()
    clocks = both.copy()
    if clock_only.any():
        clocks.loc[clock_only, list(_clock_fields())] = t[clock_only].str.extract(_CLOCK_ONLY)[list(_clock_fields())]
    date_parts = both[["a", "b", "c"]].copy()
    undated = clock_only & clocks["H"].notna()
    from_name = None
    if undated.any() and dates is not None:
        d = dates.fillna("").astype(str).str.extract(_DATE_ONLY)[["a", "b", "c"]]
        date_parts.loc[undated, ["a", "b", "c"]] = d.loc[undated, ["a", "b", "c"]]
    a, b, c = (pd.to_numeric(date_parts[k], errors="coerce").to_numpy(float) for k in ("a", "b", "c"))
    year_first = np.isfinite(a) if order == "ymd" else a > 31  # 2024-03-05; 24/03/05 only when declared
    others = np.isfinite(a) & ~year_first
    if order in ("dmy", "mdy"):
        used, ambiguous = order, False
    else:
        day_first, month_first = bool((a[others] > 12).any()), bool((b[others] > 12).any())
        used = "mdy" if month_first and not day_first else "dmy"  # both: rows disagree, the odd ones unread
        ambiguous = not day_first and not month_first and bool(others.any())
    undated_rows = undated & ~np.isfinite(a)
    if undated_rows.any():
        from_name = file_date(name, order)
        if from_name is not None:
            y, m, dd, name_ambiguous = from_name
            a = np.where(undated_rows, y, a)
            b = np.where(undated_rows, m, b)
            c = np.where(undated_rows, dd, c)
            year_first = year_first | undated_rows.to_numpy()
            ambiguous = ambiguous or name_ambiguous
    year = np.where(year_first, a, c)
    year = np.where(year < 100, year + 2000, year)  # two-digit years: this century
    month = np.where(year_first, b, np.where(used == "mdy", a, b))
    day = np.where(year_first, c, np.where(used == "mdy", b, a))
    hour = pd.to_numeric(clocks["H"], errors="coerce").to_numpy(float)
    minute = pd.to_numeric(clocks["M"], errors="coerce").to_numpy(float)
    second = pd.to_numeric(clocks["S"], errors="coerce").fillna(0).to_numpy(float)
    ampm = clocks["ampm"].fillna("").str.lower().to_numpy(str)
    twelve = ampm != ""
    ok_twelve = ~twelve | ((hour >= 1) & (hour <= 12))
    hour = np.where(twelve, hour % 12 + np.where(ampm == "p", 12, 0), hour)
    if from_name is not None and groups is not None:  # a ride past midnight dated by its file's name
        day_s = pd.Series(hour * 3600 + minute * 60 + second)
        back = day_s.groupby(groups.to_numpy()).diff() < -12 * 3600
        rolled = back.astype(int).groupby(groups.to_numpy()).cumsum().to_numpy()
        k = np.flatnonzero(rolled > 0)
        if len(k):
            shifted = pd.to_datetime(pd.DataFrame({"year": year[k], "month": month[k], "day": day[k]}),
                                     errors="coerce") + pd.to_timedelta(rolled[k], unit="D")
            year, month, day = year.copy(), month.copy(), day.copy()
            year[k], month[k], day[k] = (shifted.dt.year.to_numpy(float), shifted.dt.month.to_numpy(float),
                                         shifted.dt.day.to_numpy(float))
    good = (np.isfinite(year) & np.isfinite(month) & np.isfinite(day) & np.isfinite(hour) & np.isfinite(minute)
            & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31) & (hour <= 23) & (minute <= 59)
            & (second <= 60) & ok_twelve)
    frac = clocks["F"].fillna("").to_numpy(str)
    tz = clocks["tz"].fillna("").replace({"UTC": "Z", "GMT": "Z"}).to_numpy(str)
    num = lambda v, w: pd.Series(np.where(good, v, 0).astype(np.int64)).astype(str).str.zfill(w)  # noqa: E731
    iso = (num(year, 4) + "-" + num(month, 2) + "-" + num(day, 2) + "T" + num(hour, 2) + ":" + num(minute, 2)
           + ":" + num(second, 2) + pd.Series(np.where(frac != "", "." + frac, "")) + pd.Series(tz))
    iso = iso.where(good, t.reset_index(drop=True))  # unread: the value as written, for the notice
    example, row = "", -1
    if ambiguous:
        k = np.flatnonzero(np.isfinite(a) & ~year_first & (a != b))
        if len(k):
            row = int(k[0])
            example = f"{int(a[row])}/{int(b[row])}"
        elif from_name is not None:
            example = PurePosixPath(name).name
        ambiguous = bool(example)
    return WrittenTimes(iso.tolist(), used if others.any() else ("ymd" if np.isfinite(a).any() else ""), ambiguous,
                        example, row,
                        bool((undated & ~np.isfinite(a)).any()))


def _clock_fields() -> tuple[str, ...]:
    return ("H", "M", "S", "F", "ampm", "tz")


def looks_iso(values: pd.Series) -> bool:
    """True when the first written value is an ISO 8601 date and time (``2024-03-05T07:10:00``): read as is."""
    first = values[values.str.strip() != ""].head(1)
    return bool(len(first)) and re.match(r"^\s*\d{4}-\d\d-\d\d[T ]\d\d:\d\d", first.iloc[0]) is not None
