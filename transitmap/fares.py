"""Fares per route from the fares collectors paid, robust to typos.

A route's price is the median of the whole-ride fares of its rides in the route's most common currency; a
fare more than ``outlier_ratio`` times above or below that median is reported (a typo, a special trip) and
left out of the price.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from . import notices as N
from .clean import Ride


@dataclass(frozen=True)
class FareConfig:
    outlier_ratio: float = 3.0


@dataclass(frozen=True)
class RouteFare:
    price: float
    currency: str
    samples: int


def route_fare(route_id: str, rides: list[Ride], config: FareConfig = FareConfig()) -> tuple[RouteFare | None, list[N.Notice]]:
    """The fare of one route from its rides' whole-ride fares (None when none was recorded)."""
    paid = [(r, f) for r in rides for f in r.fares if f.from_stop is None and f.to_stop is None]
    if not paid:
        return None, []
    currency = Counter(f.currency for _, f in paid).most_common(1)[0][0]
    paid = [(r, f) for r, f in paid if f.currency == currency]
    median = float(np.median([f.amount for _, f in paid]))
    notices, kept = [], []
    for r, f in paid:
        if f.amount > median * config.outlier_ratio or f.amount < median / config.outlier_ratio:
            notices.append(N.FareOutlierNotice(file=r.source, trace_id=r.trace_id, route_id=route_id,
                                               amount=f.amount, median_amount=median))
        else:
            kept.append(f.amount)
    return RouteFare(round(float(np.median(kept)), 2), currency, len(kept)), notices
