"""Free text collectors write (fares, waits, names): read into fares, waits and marks; names apps give files and
tracks.
"""

from __future__ import annotations

import re

import numpy as np

from .. import notices as N
from ..model import Fare, known_currency


def timed_marks(marks: list[tuple], xy: np.ndarray, times: list) -> list[tuple]:
    """Marks (``marks_of`` entries) without a time (a converted waypoint, a KML point) take the time of the nearest
    fix of the trace (``xy``: lon, lat), where the trace has times."""
    if not any(times) or not np.isfinite(xy).any():
        return marks
    nearest = lambda lat, lon: times[int(np.nanargmin(np.hypot(xy[:, 0] - lon, xy[:, 1] - lat)))]  # noqa: E731
    return [(loc, label, texts, when or nearest(lat, lon), lat, lon) for loc, label, texts, when, lat, lon in marks]


# Names that apps and servers give tracks and files ("Tracked with OSMTracker", "upload004", "2026-03-02"),
# not route names.
APP_NAME = re.compile(r"(?i)osmtracker|gpslogger|active log|untitled|unnamed|^[\d\-_: T.]+$|"
                       r"^((upload|track|trace|ride|recording|log|gps|file|export|data|new|img|test|tmp|copy|"
                       r"download|gpx)[\s\d]*)+$|"
                       # an app's running number, not a route's (TransitWand names routes "Ruta 10012")
                       r"^(ruta|route|rota|route|line|l[ií]nea|ligne|track)\s*#?\d{5,}$")


# Local ways of writing currencies, beside ISO codes: before the amount (``KSh 50``, ``Le2000``, ``₦200``) and
# after it (``200F``, ``150cfa``, ``2000/=``). FCFA is resolved by place (see _currency); an amount with a
# thousands ``k`` and no currency (``2k``) is the survey's currency ("").
_BEFORE = {
    "r": "ZAR", "zar": "ZAR", "ksh": "KES", "kshs": "KES", "sh": "KES", "shs": "KES",
    "gh₵": "GHS", "ghc": "GHS", "gh¢": "GHS", "₵": "GHS", "¢": "GHS",
    "₦": "NGN", "n": "NGN", "tsh": "TZS", "tshs": "TZS", "ush": "UGX", "ushs": "UGX",
    "le": "SLL", "nle": "SLE", "mk": "MWK", "k": "ZMW", "fc": "CDF", "frw": "RWF",
    "$": "USD", "us$": "USD", "€": "EUR", "₡": "CRC", "birr": "ETB", "br": "ETB",
}


_AFTER = {
    "f": "FCFA", "fr": "FCFA", "frs": "FCFA", "frcs": "FCFA", "francs": "FCFA", "cfa": "FCFA", "fcfa": "FCFA",
    "f cfa": "FCFA", "cfa francs": "FCFA", "/=": "KES", "/-": "KES", "ksh": "KES", "kshs": "KES", "sh": "KES",
    "shs": "KES", "shillings": "KES", "cedi": "GHS", "cedis": "GHS", "gh₵": "GHS", "₵": "GHS", "naira": "NGN",
    "leones": "SLL", "le": "SLL", "rand": "ZAR", "birr": "ETB", "frw": "RWF", "colones": "CRC", "k": "",
    "€": "EUR", "$": "USD",
}


_AMOUNT = r"(\d{1,3}(?:[,.\u00a0 ]\d{3})+(?![\d.,]\d)|\d+(?:[.,]\d{1,2})?)"


_WORD_BEFORE = "|".join(sorted(map(re.escape, _BEFORE), key=len, reverse=True))


_WORD_AFTER = "|".join(sorted(map(re.escape, _AFTER), key=len, reverse=True))


_FARE_BEFORE = re.compile(rf"(?i)(?<![^\W\d_])({_WORD_BEFORE}|[a-z]{{3}})\.?\s?{_AMOUNT}(?![\w.,]?\d)(?![^\W\d_])")


_FARE_AFTER = re.compile(rf"(?i)(?<![\w.,]){_AMOUNT}\s?({_WORD_AFTER}|[a-z]{{3}})(?![^\W\d_])")


_WAIT_RE = re.compile(r"(?i)(?<![\w.,])(\d+(?:[.,]\d+)?)\s*(h|hrs?|hours?|heures?|min|mins|minutes?|minuites?|"
                      r"minutos?|mn|mnt|mns)(?:\s*(\d{1,2})(?!\d))?(?![^\W\d_])")


def _amount(text: str) -> float:
    """``2,000`` -> 2000; ``15.50`` -> 15.5; ``2,50`` -> 2.5."""
    if re.fullmatch(r"\d{1,3}(?:[,.\u00a0 ]\d{3})+", text):
        return float(re.sub(r"\D", "", text))
    return float(text.replace(",", "."))


def parse_note(text: str, lon: float = np.nan) -> tuple[Fare | None, float | None]:
    """A fare and/or a waiting time read from a free-text note: ``R15``, ``KSh 50``, ``200F``, ``Départ - 200F -
    30min``, ``2000/=``, ``Le2000``, ``2k`` (thousands, in the survey's currency: ``currency`` ""), ``20 mn``,
    ``1h30``. A number inside a place name (``Terminus 40``, ``Rue 12``, ``Riviera 2``) is neither."""
    wait = None
    w = _WAIT_RE.search(text)
    if w:
        v = float(w.group(1).replace(",", "."))
        if w.group(2).lower().startswith("h"):
            wait = v * 3600 + (float(w.group(3)) * 60 if w.group(3) else 0.0)
        else:
            wait = v * 60
        text = text[: w.start()] + " " + text[w.end():]
    found = []
    for m in _FARE_BEFORE.finditer(text):
        code = _currency(m.group(1), lon, _BEFORE)
        if code is not None:
            found.append((m.start(), code, _amount(m.group(2))))
    for m in _FARE_AFTER.finditer(text):
        code = _currency(m.group(2), lon, _AFTER)
        if code is not None:
            amount = _amount(m.group(1)) * (1000 if m.group(2).lower() == "k" else 1)
            found.append((m.start(), code, amount))
    if not found:
        return None, wait
    _, code, amount = min(found)
    return Fare(amount=amount, currency=code), wait


_CLOCK_NOTE = r"(\d{1,2})(?:\s*[:h.]\s*(\d{2})|\s*h(?![^\W\d_]))?\s*(am|pm|a\.m\.|p\.m\.)?"
_SERVICE_NOTE = re.compile(
    r"(?i)(?<![^\W\d_])(first|earliest|premier|première|primer|primera|last|latest|dernier|dernière|último|ultimo|"
    r"última|ultima)(?![^\W\d_])[^\d\n]{0,40}?(?<![\d:])" + _CLOCK_NOTE + r"(?![\d:])")


def service_times(text: str) -> tuple[float | None, float | None]:
    """(seconds after midnight of the first departure, of the last) a note names: "first vehicle 5:00", "last
    taxi 19h30", "premier départ 5h", "último 9 pm". A clock needs minutes or am/pm ("first 5" is no time)."""
    first = last = None
    for m in _SERVICE_NOTE.finditer(text or ""):
        hour, minute, half = int(m.group(2)), m.group(3), (m.group(4) or "").lower().replace(".", "")
        if minute is None and not half and not re.search(r"(?i)\d\s*h$", m.group(0).rstrip()):
            continue
        if half == "pm" and hour < 12:
            hour += 12
        elif half == "am" and hour == 12:
            hour = 0
        seconds = hour * 3600 + int(minute or 0) * 60
        if not 0 <= seconds <= 30 * 3600:
            continue
        word = m.group(1).lower()
        if word.startswith(("first", "earliest", "prem", "prim")):
            first = seconds if first is None else min(first, seconds)
        else:
            last = seconds if last is None else max(last, seconds)
    return first, last


def _currency(token: str, lon: float, words: dict[str, str]) -> str | None:
    """The ISO code a currency word or symbol stands for (FCFA by place: the West African (XOF) and Central
    African (XAF) francs meet near 6 E, Nigeria between); None for a word that is not a currency."""
    t = " ".join(token.strip().lower().rstrip(".").split())
    code = words.get(t)
    if code == "FCFA":
        return "XAF" if np.isfinite(lon) and lon > 6.0 else "XOF"
    if code is not None:
        return code
    if len(t) == 3 and t.isalpha() and known_currency(t.upper()) and (token.strip().isupper() or t
                                                                      in _LOWER_CASE_CODES):
        return t.upper()  # a lower-case three-letter word is a code only where it is a common fare currency
    return None


_LOWER_CASE_CODES = frozenset("kes zar ghs ngn ugx tzs xof xaf etb rwf sll sle usd eur mwk zmw crc sdg mzn aoa cdf "
                              "gnf bif mga".split())


def waypoints_of(wpts, name: str, notes: list[N.Notice], lon: np.ndarray) -> tuple[list, list]:
    return marks_of([(f"/wpt/{i}", w.name, [w.name, w.description, w.comment],
                    w.time.isoformat() if w.time is not None else None, w.latitude, w.longitude)
                   for i, w in enumerate(wpts)], name, notes, lon)


def marks_of(entries: list[tuple], name: str, notes: list[N.Notice], lon: np.ndarray) -> tuple[list, list]:
    """Stop marks and fares of a recording app's marks (GPX waypoints, GPS loggers' annotations): ``entries``
    of (location, label, texts, ISO time or None, lat, lon); a label that is a note (a fare, a wait) names no
    stop."""
    stops, fares = [], []
    ref_lon = float(np.nanmedian(lon)) if np.isfinite(lon).any() else np.nan
    for location, label, texts, time, lat, lon_ in entries:
        texts = [t.strip() for t in texts if t and t.strip()]
        text = " — ".join(texts)
        fare, wait = parse_note(text, ref_lon) if text else (None, None)
        stop_name = label.strip() if label and label.strip() else None
        if fare is not None or wait is not None:
            stop_name = None  # the name was a note, not the stop's name
        elif text and re.search(r"\d", text) and re.search(r"(?i)fare|paid|pay|wait|min|cost|price", text):
            notes.append(N.UnparsedNoteNotice(file=name, location=location, value=text[:80]))
        stops.append((location, {"time": time, "lat": lat, "lon": lon_, "kind": "stop",
                                 "name": stop_name, "wait_s": wait, "note": text or None}))
        if fare is not None:
            fares.append((location, {"amount": fare.amount, "currency": fare.currency}))
    return stops, fares
