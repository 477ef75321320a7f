"""Simulate collectors riding along known routes: traces in the collector schema, with realistic faults.

Used to make the sample survey and the benchmarks (where the true network is known, so the output can be
scored). What it models, each switchable by :class:`RideProfile`:

- a wait at the origin rank (the collector records while the vehicle fills up) and the departures of other
  vehicles of the route seen meanwhile;
- driving at a cruise speed, stopping at marked stops (dwell) and at unmarked traffic stops;
- fixes every ``fix_interval_s`` (jittered), GPS noise correlated in time (an AR(1) process), spikes of
  hundreds of metres, signal gaps;
- partial rides (boarding late, alighting early), fares with typos, route names misspelled or missing;
- what real rides show beside (``HOSTILE``): passengers' board and alight marks all along the route (a mark's
  kind is what passengers did), vehicles standing at the same junctions and traffic lights ride after ride,
  unmarked, ad-hoc stops marked for one passenger, rides named by the collector or by their terminals
  (``Bree to Soweto``), fares written as notes in local notations (``Départ - 200F - 30min``, ``KSh 50``)
  and in withdrawn currency codes (``SLL`` for ``SLE``); :func:`osmtracker_gpx` writes a ride as OSMTracker
  does, for surveys whose files carry route numbers and collector codes in their names.

Deterministic for a given ``numpy.random.Generator`` state.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from .geo import project, unproject, utm_epsg


@dataclass(frozen=True)
class RideProfile:
    """How a simulated collector and vehicle behave. Ranges are (low, high), drawn uniformly per ride."""

    cruise_kph: tuple[float, float] = (22.0, 45.0)
    fix_interval_s: tuple[float, float] = (1.0, 10.0)
    noise_m: tuple[float, float] = (3.0, 12.0)
    noise_correlation_s: float = 30.0
    spike_rate: float = 0.005
    spike_m: tuple[float, float] = (100.0, 800.0)
    gap_probability: float = 0.3  # chance of one signal gap in a ride
    gap_s: tuple[float, float] = (30.0, 240.0)
    rank_wait_s: tuple[float, float] = (120.0, 1200.0)
    headway_s: float = 300.0  # departures of the route seen while waiting
    dwell_s: tuple[float, float] = (10.0, 60.0)
    traffic_stops_per_km: float = 0.4
    traffic_stop_s: tuple[float, float] = (10.0, 90.0)
    partial_probability: float = 0.1
    mark_stops: bool = True  # the collector marks stops in the app
    accuracy: bool = True  # the device reports accuracy
    passenger_marks: bool = False  # marks say what passengers did (board / alight / both), all along
    junctions_per_km: float = 0.0  # places of a route (junctions, lights) where vehicles stand, unmarked ...
    junction_stop_probability: float = 0.6  # ... on this share of rides
    adhoc_stops: float = 0.0  # stops marked for one passenger, anywhere, per ride (Poisson mean)
    note_marks: float = 0.0  # share of marks whose label is a note typed into the waypoint (``NOTES``), no name
    note_waypoints: float = 0.0  # waypoints of a note alone (the GPS, a photo, a voice note), anywhere, per ride
    mark_late_s: tuple[float, float] = (0.0, 0.0)  # a stop marked this long after the vehicle stood: the phone's
    # position then, on the move again


@dataclass(frozen=True)
class RouteSpec:
    """A route to ride: its path (lat, lon vertices), the distances of its stops along it, names."""

    route_id: str
    name: str
    path: tuple[tuple[float, float], ...]  # (lat, lon)
    stop_names: tuple[str | None, ...] = ()
    stop_fraction: tuple[float, ...] = ()  # where the stops lie, 0..1 along the path (0 and 1 = the ranks)
    fare: float = 10.0
    currency: str = "ZAR"
    operator: str | None = None
    code: str | None = None  # the route's number as riders write it (``45K``, ``QX012``), for the name variants


#: What real rides show (see the module docstring); the accuracy benchmark rides with it.
HOSTILE = RideProfile(passenger_marks=True, junctions_per_km=0.8, adhoc_stops=0.7, traffic_stops_per_km=0.6,
                      note_marks=0.06, note_waypoints=0.4, mark_late_s=(0.0, 20.0))


def _along(path_xy: np.ndarray):
    seg = np.hypot(*np.diff(path_xy, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return cum


def ride(
    route: RouteSpec,
    start: datetime,
    rng: np.random.Generator,
    *,
    trace_id: str,
    collector_id: str,
    profile: RideProfile = RideProfile(),
    name_variant: str | None = "same",
    partial: bool | None = None,
) -> dict:
    """One simulated ride along ``route`` as a collector-schema trace (a JSON-ready dict).

    ``start`` is when the collector starts recording at the origin rank (time-zone aware).
    ``name_variant``: "same", "typo", None (no name), "collector" (the collector's id, as some write),
    "terminals" (the first and last stops' names: ``Bree to Soweto``); with the route's ``code``: "code" (the
    number alone: ``QX012``), "code_terminals" (``QX012 Central Park-Zone Stage``), "lower" (that, in lower
    case), "word_code" (``Route 45K``, ``Line 12``, ``Tata 23``), "terminals_typo" (the terminals with a letter
    dropped or doubled). ``partial``: None = drawn from the profile.
    """
    lat0, lon0 = route.path[0]
    epsg = utm_epsg(lat0, lon0)
    px, py = project(np.array([p[0] for p in route.path]), np.array([p[1] for p in route.path]), epsg)
    xy = np.column_stack([px, py])
    cum = _along(xy)
    total = cum[-1]
    fractions = np.array(route.stop_fraction or np.linspace(0, 1, 2))
    stop_s = fractions * total
    if partial is None:
        partial = rng.random() < profile.partial_probability
    s_from, s_to = 0.0, total
    if partial:  # board at an intermediate stop or alight early
        inner = stop_s[1:-1]
        if len(inner):
            if rng.random() < 0.5:
                s_from = float(rng.choice(inner))
            else:
                s_to = float(rng.choice(inner))
    u = lambda lo_hi: float(rng.uniform(*lo_hi))  # noqa: E731
    cruise = u(profile.cruise_kph) / 3.6
    # Events along the ride: (distance along, dwell seconds, marked stop index or -1)
    events = [(s, u(profile.dwell_s), i) for i, s in enumerate(stop_s) if s_from < s < s_to]
    n_traffic = rng.poisson(profile.traffic_stops_per_km * (s_to - s_from) / 1000)
    events += [(float(s), u(profile.traffic_stop_s), -1) for s in rng.uniform(s_from, s_to, n_traffic)]
    if profile.junctions_per_km:  # the route's own junctions: the same places on every ride (seeded by route)
        places = np.random.default_rng(zlib.crc32(route.route_id.encode())).uniform(
            0, total, int(profile.junctions_per_km * total / 1000))
        events += [(float(s), u(profile.traffic_stop_s), -1) for s in places
                   if s_from < s < s_to and rng.random() < profile.junction_stop_probability]
    if profile.adhoc_stops:
        adhoc = rng.uniform(s_from, s_to, rng.poisson(profile.adhoc_stops))
        events += [(float(s), u((5.0, 20.0)), -2) for s in adhoc]  # -2: marked, for one passenger
    events.sort()
    waiting = not partial or s_from == 0.0
    wait = u(profile.rank_wait_s) if waiting else u((5.0, 30.0))
    # Knots of the distance-time curve
    t_knots, s_knots = [0.0, wait], [s_from, s_from]
    marks = []
    kinds = ("board", "alight", "both")
    kind = lambda: str(rng.choice(kinds, p=(0.4, 0.4, 0.2))) if profile.passenger_marks else "both"  # noqa: E731
    if waiting or s_from > 0:
        marks.append((wait - 5.0, s_from, "board", int(np.argmin(np.abs(stop_s - s_from)))))
    for s, dwell, idx in events:
        t_arr = t_knots[-1] + (s - s_knots[-1]) / cruise
        t_knots += [t_arr, t_arr + dwell]
        s_knots += [s, s]
        if idx != -1:  # a stop of the route, or one for one passenger (-2); not traffic (-1)
            marks.append((t_arr + dwell / 2, s, kind(), idx))
    t_end = t_knots[-1] + (s_to - s_knots[-1]) / cruise
    t_knots.append(t_end)
    s_knots.append(s_to)
    marks.append((t_end + 5.0, s_to, "alight", int(np.argmin(np.abs(stop_s - s_to)))))
    t_knots.append(t_end + u((20.0, 90.0)))  # the collector stops recording a little after arrival
    s_knots.append(s_to)
    if profile.mark_late_s[1] > 0:  # marked late: where the phone was when the collector tapped
        marks = [(tm + (late := u(profile.mark_late_s)), float(np.interp(tm + late, t_knots, s_knots)), kd, idx)
                 if 0 < idx else (tm, sm, kd, idx) for tm, sm, kd, idx in marks]
    if profile.note_waypoints:
        for tm in rng.uniform(t_knots[1], t_knots[-1], rng.poisson(profile.note_waypoints)):
            marks.append((float(tm), float(np.interp(tm, t_knots, s_knots)), "stop", -3))  # -3: a note alone

    t, lat, lon, acc = gps_fixes(t_knots, s_knots, xy, epsg, profile, rng)

    def iso(sec: float) -> str:
        return (start + timedelta(seconds=round(float(sec), 1))).isoformat(timespec="seconds")

    points = [{"time": iso(ti), "lat": round(float(a), 6), "lon": round(float(o), 6),
               **({"accuracy": round(float(c), 1)} if profile.accuracy else {})}
              for ti, a, o, c in zip(t, lat, lon, acc)]
    trace: dict = {
        "schema_version": "1.0",
        "trace_id": trace_id,
        "collector_id": collector_id,
        "mode": "minibus",
        "route_name": (collector_id if name_variant == "collector" else
                       _terminals(route, rng) if name_variant == "terminals" else
                       _coded_name(route, name_variant, rng) if name_variant in CODED_VARIANTS else
                       _name_variant(route.name, name_variant, rng)),
        "operator": route.operator,
        "points": points,
    }
    if not partial or s_from == 0.0:
        trace["origin"] = route.stop_names[0] if route.stop_names else None
    if s_to == total:
        trace["destination"] = route.stop_names[-1] if route.stop_names else None
    if profile.mark_stops:
        stops = []
        for tm, sm, kind, idx in sorted(marks):
            sx, sy = np.interp(sm, cum, xy[:, 0]), np.interp(sm, cum, xy[:, 1])
            slat, slon = unproject(np.array([sx + rng.normal(0, 4)]), np.array([sy + rng.normal(0, 4)]), epsg)
            name = route.stop_names[idx] if 0 <= idx < len(route.stop_names) else None
            if idx == -3 or (profile.note_marks and rng.random() < profile.note_marks):
                name = _note(route, rng)  # a note typed into the waypoint, where a name would go
            stops.append({"time": iso(tm), "lat": round(float(slat[0]), 6), "lon": round(float(slon[0]), 6),
                          "kind": kind, "name": name})
        trace["stops"] = stops
    fare = route.fare if s_to - s_from > 0.5 * total else round(route.fare * 0.7)
    trace["fares"] = [{"amount": fare, "currency": route.currency}]
    if waiting and profile.headway_s:
        # vehicles of the route leave every headway (+-20 %); the collector's own leaves at the end of the wait
        deps, d = [wait], wait
        while True:
            d -= profile.headway_s * rng.uniform(0.8, 1.2)
            if d < 0:
                break
            deps.append(d)
        trace["departures"] = [iso(x) for x in sorted(deps)]
    return trace


def gps_fixes(t_knots: list[float], s_knots: list[float], xy: np.ndarray, epsg: int, profile: RideProfile,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What a phone records of a vehicle that is ``s_knots[k]`` metres along the path ``xy`` (UTM ``epsg``) at
    ``t_knots[k]`` seconds (linear between knots): (seconds, latitudes, longitudes, reported accuracy) of fixes
    every ``profile.fix_interval_s``, with the profile's noise, spikes and signal gap."""
    u = lambda lo_hi: float(rng.uniform(*lo_hi))  # noqa: E731
    cum = _along(xy)
    interval = u(profile.fix_interval_s)
    n = int(t_knots[-1] / interval) + 1
    # Fixes at whole seconds (as phones write them), jittered, never two in the same second.
    t = np.unique(np.round(np.arange(n) * interval + rng.uniform(-0.3, 0.3, n) * min(interval, 1.0)))
    t = t[t >= 0]
    n = len(t)
    s = np.interp(t, t_knots, s_knots)
    x = np.interp(s, cum, xy[:, 0])
    y = np.interp(s, cum, xy[:, 1])
    sigma = u(profile.noise_m)
    ex = _correlated_noise(rng, n, interval, profile.noise_correlation_s, sigma)
    ey = _correlated_noise(rng, n, interval, profile.noise_correlation_s, sigma)
    acc = np.clip(sigma * (1 + 0.3 * rng.standard_normal(n)), 2.0, None)
    spikes = rng.random(n) < profile.spike_rate
    spikes[[0, -1]] = False
    ang = rng.uniform(0, 2 * np.pi, spikes.sum())
    dist = rng.uniform(*profile.spike_m, spikes.sum())
    x, y = x + ex, y + ey
    x[spikes] += dist * np.cos(ang)
    y[spikes] += dist * np.sin(ang)
    keep = np.ones(n, bool)
    if rng.random() < profile.gap_probability and t[-1] > 600:
        g0 = rng.uniform(0.2, 0.8) * t[-1]
        keep &= ~((t > g0) & (t < g0 + u(profile.gap_s)))
    t, x, y, acc = t[keep], x[keep], y[keep], acc[keep]
    lat, lon = unproject(x, y, epsg)
    return t, lat, lon, acc


def _terminals(route: RouteSpec, rng: np.random.Generator) -> str | None:
    """The route named by its terminals, as riders say it: ``Bree to Soweto``, ``bree - soweto``."""
    if len(route.stop_names) < 2 or not route.stop_names[0] or not route.stop_names[-1]:
        return None
    a, b = route.stop_names[0], route.stop_names[-1]
    text = f"{a} to {b}" if rng.random() < 0.5 else f"{a} - {b}"
    return text.lower() if rng.random() < 0.3 else text


#: How riders write a fare in a note, by currency: ``{a}`` the amount as written (``2,000``), ``{n}`` plain.
NOTATIONS = {
    "XOF": ("{n}F", "{n} F", "{n} frs", "{n}FCFA", "{n}cfa", "Départ - {n}F - {w}min", "Départ-{n}f-{w} minutes",
            "Départ {n} fcfa {w} min"),
    "KES": ("KSh {n}", "Ksh.{n}", "{n}/=", "Sh {a}", "KES {n}", "ksh {n}"),
    "SLE": ("Le {a}", "Le{n}", "{a} leones"),  # in old leones (SLL): what people still write
    "ZAR": ("R{n}", "R {n}", "R {n}.00"),
    "GHS": ("GH₵{n}", "GHS {n}", "{n} cedis"),
    "NGN": ("₦{n}", "N{n}"),
    "UGX": ("UGX {a}", "{a}/="),
}


def fare_note(amount: float, currency: str, rng: np.random.Generator, wait_min: int = 20) -> tuple[str, float]:
    """A note a collector writes for a fare, in one of the local notations of ``currency``, and the amount it
    says (a Sierra Leonean note is in old leones: 1,000 times the SLE amount)."""
    n = amount * 1000 if currency == "SLE" else amount
    text = str(rng.choice(NOTATIONS.get(currency, ("{n} " + currency,))))
    return text.format(n=f"{n:g}", a=f"{n:,.0f}", w=wait_min), n


def osmtracker_gpx(trace: dict, notes: dict[int, str] = {}) -> bytes:  # noqa: B006 - never mutated
    """A simulated trace as OSMTracker for Android writes it: track points, and a waypoint for each stop mark
    (its name, or the note given for that mark's index). No collector, route or fare fields: GPX has none."""

    wpts = []
    for k, st in enumerate(trace.get("stops") or []):
        label = notes.get(k) or st.get("name") or "stop"
        wpts.append(f'<wpt lat="{st["lat"]}" lon="{st["lon"]}"><time>{st["time"]}</time>'
                    f"<name><![CDATA[{label}]]></name><sat>0</sat></wpt>")
    pts = "".join(f'<trkpt lat="{p["lat"]}" lon="{p["lon"]}"><time>{p["time"]}</time>'
                  + (f'<extensions><accuracy>{p["accuracy"]}</accuracy></extensions>' if "accuracy" in p else "")
                  + "</trkpt>" for p in trace["points"])
    return ("<?xml version='1.0' encoding='UTF-8' ?>\n"
            '<gpx xmlns="http://www.topografix.com/GPX/1/1" version="1.1" creator="OSMTracker for Android™">\n'
            + "".join(wpts) + "<trk><name><![CDATA[Tracked with OSMTracker for Android™]]></name><trkseg>"
            + pts + "</trkseg></trk></gpx>\n").encode()


def _correlated_noise(rng: np.random.Generator, n: int, step_s: float, corr_s: float, sigma: float) -> np.ndarray:
    """Gaussian noise with standard deviation ``sigma`` and exponential autocorrelation (time constant
    ``corr_s``): white noise convolved with a truncated exponential kernel, vectorised."""
    phi = np.exp(-step_s / corr_s)
    k = np.arange(max(1, int(5 * corr_s / step_s)))
    kernel = phi**k
    e = rng.standard_normal(n + len(k) - 1)
    out = np.convolve(e, kernel, mode="valid")
    return out * (sigma / np.sqrt(np.sum(kernel**2)))


CODED_VARIANTS = ("code", "code_terminals", "lower", "word_code", "terminals_typo")


def _coded_name(route: RouteSpec, variant: str, rng: np.random.Generator) -> str | None:
    """The route's name in one of the shapes riders write it (``ride``'s ``name_variant``)."""
    a, b = (route.stop_names[0], route.stop_names[-1]) if len(route.stop_names) >= 2 else (None, None)
    code = route.code or route.name
    sep = str(rng.choice(["-", " - ", " to "]))
    if variant == "code" or not (a and b):
        return code
    if variant == "code_terminals":
        return f"{code} {a}{sep}{b}"
    if variant == "lower":
        return f"{code} {a}{sep}{b}".lower()
    if variant == "word_code":
        return f"{rng.choice(['Route', 'Line', 'Ruta', 'Bus', 'Tata', 'route'])} {code}"
    # terminals_typo: a letter of one terminal dropped or doubled
    words = [a, b]
    w = int(rng.integers(0, 2))
    text = words[w]
    if len(text) > 4:
        i = int(rng.integers(1, len(text) - 1))
        text = text[:i] + text[i + 1:] if rng.random() < 0.5 else text[:i] + text[i] + text[i:]
    words[w] = text
    return f"{words[0]}{sep}{words[1]}"


#: Notes collectors type into a waypoint's label instead of a stop's name (the benchmarks' ``note_marks``): about
#: the device, the GPS, photos and voice notes, the ride, fares, times, stop kinds, in the languages of surveys.
NOTES = (
    "GPS signal lost", "gps not working", "problemas con el gps", "hay problemas con la señal del gps",
    "Voice recording", "near Voice recording", "Photo", "foto", "صورة", "تسجيل صوتي", "I am at the stop",
    "Estoy en la parada esperando", "je suis à l'arrêt", "bus full", "waiting for passengers", "heavy traffic",
    "Ruta empezada con un leve retraso", "started late", "stop type 1", "Parada de Bus tipo 2", "arrêt type A",
    "fin del trayecto", "ultima parada", "end of route", "Départ : {a}", "Arrivée : {b}", "Inicio de ruta",
    "Fin", "KSh 50", "50/=", "200F", "7:45", "08h10", "battery low", "phone restarted", "test",
)


def _note(route: RouteSpec, rng: np.random.Generator) -> str:
    a = route.stop_names[0] if route.stop_names and route.stop_names[0] else "the rank"
    b = route.stop_names[-1] if route.stop_names and route.stop_names[-1] else "the end"
    return str(rng.choice(NOTES)).format(a=a, b=b)


def _name_variant(name: str, variant: str | None, rng: np.random.Generator) -> str | None:
    if variant is None:
        return None
    if variant == "typo" and len(name) > 3:
        i = int(rng.integers(1, len(name) - 1))
        chars = list(name)
        chars[i], chars[i - 1] = chars[i - 1], chars[i]
        return "".join(chars).lower()
    return name


def at(year: int, month: int, day: int, hour: int, minute: int, utc_offset_h: float) -> datetime:
    """A time-zone aware datetime (helper for generators)."""
    return datetime(year, month, day, hour, minute, tzinfo=timezone(timedelta(hours=utc_offset_h)))
