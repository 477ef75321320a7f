"""What keeps collectors private: keyed pseudonyms for their ids, and outlines of rides that show where
they rode but not where they live or work.

Collector ids never leave transitmap as written: the ledger and the workspace carry an HMAC pseudonym
(``pseudonyms``) made with a key kept on this machine (``pseudonym_key_file``), never beside an output. A
quarantined trace is drawn on the map without its first and last 500 m (``trimmed_outline``); every outline
is thinned to at most 300 points (``thinned``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets

import numpy as np

from .geo import distinct, geodesic_m

log = logging.getLogger(__name__)


def pseudonyms(collector_ids: set[str], key: str | None) -> dict[str, str]:
    """A keyed pseudonym (HMAC-SHA256, 10 hex digits) for each collector id. The key: the one given, else
    ``TRANSITMAP_PSEUDONYM_KEY``, else this machine's key file (``pseudonym_key_file``), made on first use."""
    key = key or os.environ.get("TRANSITMAP_PSEUDONYM_KEY") or machine_key()
    return {c: "c" + hmac.new(key.encode(), c.encode(), hashlib.sha256).hexdigest()[:10] for c in collector_ids}


def pseudonym_key_file() -> str:
    """Where this machine keeps its pseudonym key: ``$XDG_CONFIG_HOME/transitmap/pseudonym-key`` (by default
    under ``~/.config``), never beside an output."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "transitmap", "pseudonym-key")


def machine_key() -> str:
    path = pseudonym_key_file()
    try:
        with open(path, encoding="ascii") as fh:
            key = fh.read().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    except OSError as e:
        log.warning("cannot read the pseudonym key %s: %s", path, e)
    key = secrets.token_hex(32)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
    except FileExistsError:  # another run made it meanwhile
        return machine_key()
    except OSError as e:
        log.warning("cannot keep the pseudonym key in %s (%s): pseudonyms of this run "
                                            "will not match those of other runs", path, e)
    return key


def trimmed_outline(lat: np.ndarray, lon: np.ndarray, trim_m: float = 500.0) -> tuple[np.ndarray, np.ndarray]:
    """A quarantined trace for the map, without its first and last ``trim_m`` (where a walk from home or to
    work would show), thinned; nothing for a trace shorter than 2.5 times that."""
    if len(lat) < 2:
        return lat[:0], lon[:0]
    cum = np.concatenate([[0.0], np.cumsum(geodesic_m(lat[:-1], lon[:-1], lat[1:], lon[1:]))])
    if cum[-1] < 2.5 * trim_m:
        return lat[:0], lon[:0]
    keep = thinned(np.flatnonzero((cum >= trim_m) & (cum <= cum[-1] - trim_m)))
    return lat[keep], lon[keep]


def thinned(index: np.ndarray, most: int = 300) -> np.ndarray:
    """At most ``most`` of the indices, evenly spread, first and last kept."""
    if len(index) <= most:
        return index
    return index[distinct(np.linspace(0, len(index) - 1, most).round().astype(int))]
