"""Names from what collectors leave behind: the paths of their files and the labels of their marks.

Files are named by people and apps: ``bus_alajuela-santabarbara/asistentes/fernando_2017_09_04.gpx``,
``JBL_13.gpx``, ``omd_45_back.gpx``, ``14___B___KD___HP_2019-03-05.gpx``. For each ride whose content names
no route, this stage reads the route from its path; it also reads the collector (where the content names
none) and the mode, and it clears the labels of marks that name no stop.

- A path is folders (below what all the survey's files share) and a file name. The file name loses dates,
  times, counters, long numbers (app ids), app and folder words (``track``, ``asistentes``) and direction
  words (``start``, ``back``, ``ida``); a route number (leading, ``14``, or after a short prefix, ``JBL 13``)
  is kept.
- A word, a file name or a folder name is a route name only if the rides that carry it follow one path (the
  rides of two routes do not): a collector's name or code recurs on the rides of every route they rode, and
  is dropped from names, and becomes the ride's collector where its content names none.
- The route is the file name's route number, else a folder name that two or more rides share, else what is
  left of the file name where two or more rides on one path carry it (on one ride it may be a collector's
  name), else a folder of one ride. Words after a route number join it on the same condition. A folder's leading
  mode word (``bus_``, ``tren_``) sets
  the ride's mode.
- A route name that is a collector's id (some collectors write their own) names no route.
- A label written on marks at many places far apart (``Parada de Bus tipo 1``, ``vide``, ``arrêt``) is a
  waypoint template, as are labels without a letter (``1``, ``3``): they name no stop.

A survey can declare its convention instead (``NamingConfig.convention``, ``path_names`` in survey.toml):
``{mode}_{route}/{*}/{collector}_{date}`` or ``{route}___{direction}___{collector}___{*}``: ``/`` separates
folders, matched from the file backwards; ``{*}`` is anything. A path that does not fit is named as above,
with a notice.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from . import notices as N
from .geo import along
from .model import MODE_WORDS, ROUTE_TYPES, Ride, canonical_mode, place_name, route_type, split_route_name  # noqa: F401 (modes)

# Words of apps, servers and survey folders, not route names.
_GENERIC = frozenset("""
    asistentes asistente assistants assistant collectors collector enumerators enumerator surveyors surveyor
    data gpx kml csv json geojson tracks track traces trace rides ride trips trip uploads upload uploaded
    export exports exported raw files file recordings recording record log logs route_data routes route
    survey surveys day days week weeks new old final copy tmp test tests img download downloads osmtracker
    gpslogger tracked with for android untitled unnamed sin titulo nouveau nuevo nueva todo all misc other
    otros autres hp points stops fares departures part parts chunk batch page sheet
""".split())
# Words of direction, dropped from names (the matcher finds directions from the paths).
_DIRECTION = frozenset("""
    start back return retour aller ida vuelta regreso in out inbound outbound forward reverse go come
    up down a b i v r
""".split())
_DATE = re.compile(r"(?<![0-9])(?:(?:19|20)\d\d[-_.]?[01]?\d[-_.]?[0-3]?\d|[0-3]?\d[-_.][01]?\d[-_.](?:19|20)?\d\d)"
                   r"(?:[T_ -]?[0-2]?\d[-:_.h]?[0-5]\d(?:[-:_.m]?[0-5]\d)?s?)?(?![0-9])")
_TIME = re.compile(r"(?<![0-9])(?:[01]?\d|2[0-3])[-:h][0-5]\d(?:[-:m][0-5]\d)?(?![0-9])")  # not 29-30, a route
_COUNTER = re.compile(r"(?:-\d{1,2}|\s?\(\d+\)|[-_ ]copy(?:[-_ ]?\d+)?)$", re.IGNORECASE)
# a route number: 14, 45K, 110ATH, 19C2, 17B_2, 16-62; or letters first: QX012, KB45 (two or three letters and two
# or more digits: "c12" is more often a collector's code)
_CODE = re.compile(r"\d{1,4}(?:[-.]\d{1,4})?(?:[A-Za-z]{1,3}\d{0,2})?(?:_\d{1,2})?|[A-Za-z]{2,3}-?\d{2,4}[A-Za-z]?")
_PREFIX = re.compile(r"[^\W\d_]{1,4}")  # a short district or line prefix before a number: JBL 13, krt 03


@dataclass(frozen=True)
class NamingConfig:
    convention: str | None = None  # the survey's declared path naming (see the module docstring)
    one_path_m: float = 150.0  # a ride follows another's path when its points lie this close to it ...
    one_path_share: float = 0.8  # ... this share of them; and a name's rides are one path when this share do
    template_places: int = 4  # a mark label used at this many places ...
    template_apart_m: float = 400.0  # ... this far apart is a waypoint template (one stop: both sides of a road)
    template_spread_m: float = 3000.0  # a mark label written at places this far apart names no one place


@dataclass(frozen=True)
class _PathName:
    folders: tuple[str, ...]  # folder names below what the survey's paths share
    stem: str  # the file name without its extensions


def name_rides(rides: list[Ride], config: NamingConfig = NamingConfig()) -> tuple[list[Ride], list[N.Notice]]:
    """The rides with route names, collectors and modes read from their paths where their content gives none,
    and without the labels of marks that name no stop. Returns the rides (changed ones replaced) and notices."""
    notices: list[N.Notice] = []
    # a collector's own id written as the route's name (it happens) names no route
    collectors = {_fold(r.collector_id) for r in rides if r.collector_id}
    rides = [replace(r, route_name=None) if r.route_name and _fold(r.route_name) in collectors else r for r in rides]
    # a route's name is its number and places, never a note ("Départ : Gare X>Port Y - 300frc" -> "Gare X - Port Y")
    rides = [r if not r.route_name or (clean := _route_label(r.route_name)) == r.route_name
             else replace(r, route_name=clean) for r in rides]
    paths = _split_paths([r.source for r in rides])
    declared: dict[int, dict[str, str]] = {}
    if config.convention:
        rx = _convention_regex(config.convention)
        for i, p in enumerate(paths):
            fields = _declared(rx, p)
            if fields is None:
                notices.append(N.PathConventionMismatchNotice(file=rides[i].source, trace_id=rides[i].trace_id,
                                                             convention=config.convention))
            else:
                declared[i] = fields
    samples = _Samples(rides)
    one_path = _OnePath(samples, config)
    guessed = _guess(rides, paths, one_path, set(declared))
    templates = mark_templates(rides, config)
    out = []
    for i, ride in enumerate(rides):
        if i in declared:
            route, collector, mode = (declared[i].get(k) for k in ("route", "collector", "mode"))
        else:
            route, collector, mode = guessed[i]
        mode = MODE_WORDS.get(_fold(mode or ""), mode) if mode else None
        changes: dict = {}
        if not ride.route_name and route:
            changes["route_name"] = route
        if not ride.collector_id and collector:
            changes["collector_id"] = collector
        if mode and ride.mode in (None, "minibus"):  # none said, or the schema's default: a path's word says more
            changes["mode"] = mode
        if any(s[4] is not None and _fold(s[4]) in templates for s in ride.stops):
            changes["stops"] = tuple(s if s[4] is None or _fold(s[4]) not in templates else (*s[:4], None)
                                     for s in ride.stops)
        out.append(replace(ride, **changes) if changes else ride)
    # a name read from a path is weaker than one a rider gave: where the path runs along a ride whose content
    # names its route, the matcher decides by the paths ("na-02-BBr" beside rides named "Baragwanath - Bree");
    # a route number is as strong as a rider's word (33IMR beside 33MKR on the same road)
    for i in _along_named(rides, out, samples, config):
        out[i] = replace(out[i], route_name=None)
    return out, notices


def _along_named(rides: list[Ride], named: list[Ride], samples: _Samples, config: NamingConfig) -> list[int]:
    """The rides named from their path only (``named``: after naming) that follow the path of a ride whose own
    content names its route, each along the other."""
    from scipy.spatial import cKDTree  # here: scipy takes 0.2 s to import (see geo.Path)

    given = [j for j, r in enumerate(rides) if r.route_name]
    guessed = [i for i, r in enumerate(rides) if not r.route_name and named[i].route_name
               and not _CODE.match(named[i].route_name)]
    if not given or not guessed:
        return []
    owner = np.concatenate([np.full(len(samples[j]), j) for j in given])
    tree = cKDTree(np.concatenate([samples[j] for j in given]))
    out = []
    for i in guessed:
        near = tree.query_ball_point(samples[i], config.one_path_m)
        per_point = [np.unique(owner[h]) for h in near if h]
        if not per_point:
            continue
        js, counts = np.unique(np.concatenate(per_point), return_counts=True)
        mine = cKDTree(samples[i])
        for j in js[counts >= config.one_path_share * len(samples[i])]:
            back = np.isfinite(mine.query(samples[j], distance_upper_bound=config.one_path_m)[0]).mean()
            if back >= config.one_path_share:
                out.append(i)
                break
    return out


def _route_label(name: str) -> str | None:
    """A route name as riders give it, without what is a note (``model.place_name``): its number and places."""
    code, rest = split_route_name(name)
    places = place_name(rest, way=True) if rest else None
    return " ".join(filter(None, [code, places])) or None


def mark_templates(rides: list[Ride], config: NamingConfig = NamingConfig()) -> frozenset[str]:
    """The folded labels of marks that name no stop: written at ``template_places`` or more places at least
    ``template_apart_m`` apart (a collector app's button: ``Parada de Bus tipo 1``, ``vide``), or without a
    letter (``1``, ``3``)."""
    where: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rides:
        for _, x, y, _, name in r.stops:
            if name:
                where[_fold(name)].append((x, y))
    out = set()
    for name, points in where.items():
        if not re.search(r"[^\W\d_]", name):
            out.add(name)
            continue
        # a name of one place is not written where the label is too (a button of the app: "Buzón", "Hostal"):
        # farther apart than template_spread_m, from the first point and from the point farthest from it
        at = np.array(sorted(set(points)))
        far = at[int(np.argmax(np.hypot(*(at - at[0]).T)))]
        if np.hypot(*(at - far).T).max() > config.template_spread_m:
            out.add(name)
            continue
        # places at least template_apart_m from each other: the first point left, then the points farther
        # from it, and so on (numpy over the points, at most template_places rounds)
        left = at
        for _ in range(config.template_places):
            if len(left) == 0:
                break
            left = left[np.hypot(*(left - left[0]).T) >= config.template_apart_m]
        else:
            out.add(name)
    return frozenset(out)


# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)  # a survey writes few distinct labels, on every ride
def _fold(text: str) -> str:
    """Case and accents folded, spacing normalised: ``Vía  Zapote`` -> ``via zapote``."""
    text = unicodedata.normalize("NFKD", text.lower())
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


def _split_paths(sources: list[str]) -> list[_PathName]:
    """Each source as folders (an archive counts as a folder) below the folders all sources share, and a stem."""
    split = []
    for s in sources:
        parts = [p for p in re.split(r"[\\/!]", s) if p]
        folders = [re.sub(r"(?i)\.(zip|kmz|tar|tgz|gz)$", "", p) for p in parts[:-1]]
        stem = re.sub(r"(?i)(\.(gpx|json|jsonl|ndjson|geojson|csv|kml|kmz|txt|xml|gz))+$", "", parts[-1] if parts
                      else "")
        split.append((folders, stem))
    common = 0
    if split:
        first = split[0][0]
        while common < len(first) and all(len(f) > common and f[common] == first[common] for f, _ in split):
            common += 1
    return [_PathName(tuple(f[common:]), stem) for f, stem in split]


def _words(stem: str) -> list[str]:
    """The fields of a file name that can name something: dates, times, counters, long numbers, app and
    direction words out; separators ``_`` and spaces (a ``-`` joins terminals: ``Bree-Soweto``)."""
    text = _COUNTER.sub("", _TIME.sub(" ", _DATE.sub(" ", stem)))
    fields = []
    # a convention of "___" between fields keeps single "_" inside them (17B_2___A___KD)
    for f in re.split(r"_{3,}|\s+" if "___" in text else r"[_\s]+", text):
        parts = f.split("-")  # "na-02-BBr": a code of parts; "Bree-Soweto": one name of two terminals
        fields += parts if not _CODE.fullmatch(f) and any(re.fullmatch(r"\d+", p) for p in parts) else [f]
    fields = [f.strip("-.()_ ") for f in fields]
    out: list[str] = []
    counter = False  # a number after an app word counts rides ("ride_13", "track 4")
    for f in fields:
        if not f or re.fullmatch(r"[\d\W_]*\d{5,}[\d\W_]*|[\W_]*", f) or (counter and f.isdigit()):
            counter = False
            continue
        low = _fold(f)
        counter = re.sub(r"[-.]?\d+$", "", low) in _GENERIC  # "track", and "track12" / "part004" alike
        if counter or (low in _DIRECTION and out) or re.fullmatch(r"(week|wk|day|semaine|semana|dia)\d+", low):
            continue
        out.append(f)
    return out


def _code(words: list[str]) -> tuple[str | None, list[str]]:
    """(the route number, with its prefix: ``JBL 13``; the other words) of a file name's words."""
    counted = lambda rest: [w for w in rest if not re.fullmatch(r"\d+", w)]  # noqa: E731  (a lone number counts rides)
    if words and _CODE.fullmatch(words[0]):
        return words[0], counted(words[1:])
    if len(words) == 2 and _PREFIX.fullmatch(words[0]) and _CODE.fullmatch(words[1]) \
            and _fold(words[0]) not in MODE_WORDS:  # "JBL 13"; in "na-02-BBr" the number counts rides
        return f"{words[0]} {words[1]}", []
    if len(words) >= 2 and _fold(words[0]) in MODE_WORDS and _CODE.fullmatch(words[1]):
        return words[1], counted(words[2:])
    return None, counted(words)


def _folder_name(folder: str) -> tuple[str | None, str | None]:
    """(route name, mode) of a folder name: ``bus_alajuela-santabarbara`` -> (``alajuela-santabarbara``, bus)."""
    words = [w for w in re.split(r"[_\s]+", _DATE.sub(" ", folder)) if w]
    mode = None
    if words and _fold(words[0]) in MODE_WORDS:
        mode, words = MODE_WORDS[_fold(words[0])], words[1:]
    name = " ".join(words).strip(" -")
    name = re.sub(r"-?\[", " [", name)  # "sanjose-cartago-[vía zapote]" -> "sanjose-cartago [vía zapote]"
    if not name or not re.search(r"[^\W\d_]", name) or _fold(name) in _GENERIC or re.fullmatch(r"[\d\W_]+", name):
        return None, mode
    return name, mode


class _Samples:
    """Each ride's moving part as points every 50 m, made when first asked for (most rides never are)."""

    def __init__(self, rides: list[Ride]):
        self.rides, self.made = rides, {}

    def __getitem__(self, i: int) -> np.ndarray:
        if i not in self.made:
            xy = self.rides[i].moving_xy
            self.made[i] = along(xy, 50.0) if len(xy) > 1 else xy
        return self.made[i]


class _OnePath:
    """Whether rides follow one path: most of them lie along one of the longest (a partial ride lies along the
    full one, the other direction along the same road; the rides of two routes part)."""

    def __init__(self, samples: _Samples, config: NamingConfig):
        self.samples, self.config = samples, config
        self._trees: dict[int, object] = {}

    def __call__(self, members: list[int]) -> bool:
        if len(members) < 2:
            return True
        from scipy.spatial import cKDTree

        c = self.config
        best = 0.0
        for ref in sorted(members, key=lambda i: (-len(self.samples[i]), i))[:3]:
            if ref not in self._trees:
                self._trees[ref] = cKDTree(self.samples[ref])
            tree = self._trees[ref]
            along_ref = [np.mean(np.isfinite(tree.query(self.samples[i], distance_upper_bound=c.one_path_m)[0]))
                         >= c.one_path_share for i in members]
            best = max(best, float(np.mean(along_ref)))
        return best >= c.one_path_share


def _guess(rides: list[Ride], paths: list[_PathName], one_path: _OnePath, skip: set[int]
           ) -> list[tuple[str | None, str | None, str | None]]:
    """(route, collector, mode) of each ride from its path, by the default rules (module docstring)."""
    todo = [i for i in range(len(rides)) if i not in skip and (not rides[i].route_name or not rides[i].collector_id)]
    words = {i: _words(paths[i].stem) for i in todo}
    codes = {i: _code(words[i]) for i in todo}
    # words that recur on rides of more than one path: collectors' names and codes, app words
    carriers: dict[str, list[int]] = defaultdict(list)
    for i in todo:
        for w in {_fold(w) for w in codes[i][1]}:
            carriers[w].append(i)
    personal = {w for w, members in carriers.items() if len(members) > 1 and not one_path(members)}
    # a "number" that recurs on rides of more than one path is a collector's or a device's code, not a route's
    by_code: dict[str, list[int]] = defaultdict(list)
    for i in todo:
        if codes[i][0]:
            by_code[_fold(codes[i][0])].append(i)
    for code, members in by_code.items():
        if len(members) > 1 and not one_path(members):
            personal.add(code)
            for i in members:
                codes[i] = (None, [codes[i][0], *codes[i][1]])
    stem_names: dict[int, str] = {}
    for i in todo:
        rest = [w for w in codes[i][1] if _fold(w) not in personal]
        if rest:
            stem_names[i] = " ".join(rest).replace("_", " ").strip(" -")
    same_stem: dict[str, list[int]] = defaultdict(list)
    for i, name in stem_names.items():
        same_stem[_fold(name)].append(i)
    for members in same_stem.values():
        # what is left of a file name names a route when two or more rides on one path carry it; on one
        # ride it may as well be its collector's name or code ("14___B___KD", "fernando.gpx")
        if len(members) == 1 or not one_path(members):
            for i in members:
                del stem_names[i]
    # folder names, by name (the same name under several folders is one name): accepted on one path
    folder_of: dict[int, list[tuple[str, str | None, str]]] = {}
    by_folder: dict[str, list[int]] = defaultdict(list)
    for i in todo:
        found = []
        for folder in reversed(paths[i].folders):  # the nearest first
            name, mode = _folder_name(folder)
            found.append((name, mode, folder))
            if name:
                by_folder[_fold(name)].append(i)
        folder_of[i] = found
    good = {name for name, members in by_folder.items() if one_path(sorted(set(members)))}
    out: list[tuple[str | None, str | None, str | None]] = [(None, None, None)] * len(rides)
    for i in todo:
        code = codes[i][0]
        folders = folder_of[i]
        mode = next((m for _, m, _ in folders if m), None)
        shared = next((n for n, _, _ in folders if n and _fold(n) in good and len(set(by_folder[_fold(n)])) > 1), None)
        single = next((n for n, _, _ in folders if n and _fold(n) in good), None)
        route = code or shared or stem_names.get(i) or single
        if code and stem_names.get(i) and not shared:
            route = f"{code} {stem_names[i]}"
        first_personal = next((w for w in codes[i][1] if _fold(w) in personal and _fold(w) not in _GENERIC), None)
        if first_personal is None:  # a folder that is no route (its rides part): a collector's folder
            first_personal = next((re.sub(r"(?i)[_ -](export|exports|uploads?|data|files|gpx|rides)$", "", f)
                                   for n, _, f in folders if n and _fold(n) not in good), None)
        out[i] = (route, _fold(first_personal) if first_personal else None, mode)
    return out


_FIELDS = ("route", "direction", "collector", "date", "mode")


def _convention_regex(convention: str) -> list[re.Pattern]:
    """One regex per path segment of a declared convention (the last for the file name)."""
    out = []
    for seg in convention.strip("/").split("/"):
        rx, pos = "", 0
        for m in re.finditer(r"\{(\w+|\*)\}", seg):
            rx += re.escape(seg[pos : m.start()])
            name = m.group(1)
            rx += f"(?P<{name}>.+?)" if name in _FIELDS else ".*?"
            pos = m.end()
        out.append(re.compile(rx + re.escape(seg[pos:]), re.IGNORECASE))  # matched whole (fullmatch)
    return out


def _declared(rx: list[re.Pattern], path: _PathName) -> dict[str, str] | None:
    """The fields of a path that fits the declared convention, or None."""
    parts = [*path.folders, path.stem]
    if len(parts) < len(rx):
        return None
    fields: dict[str, str] = {}
    for r, part in zip(rx, parts[-len(rx):]):
        m = r.fullmatch(part)
        if m is None:
            return None
        # "_" between words is a space; a route number keeps its own (17B_2)
        fields.update({k: v.strip() if _CODE.fullmatch(v.strip()) else v.replace("_", " ").strip()
                       for k, v in m.groupdict().items() if v})
    return fields
