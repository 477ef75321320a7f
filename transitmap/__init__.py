"""transitmap: crowdsourced recordings of informal transit -> validated traces -> GTFS and network statistics."""

import logging
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("transitmap")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

logging.getLogger(__name__).addHandler(logging.NullHandler())

from .model import Fare, Status, Stop, Trace  # noqa: E402
from .read import ReadLimits, list_inputs, read_file, trace_from_dict  # noqa: E402

__all__ = ["Fare", "Status", "Stop", "Trace", "ReadLimits", "list_inputs", "read_file", "trace_from_dict",
           "__version__"]
