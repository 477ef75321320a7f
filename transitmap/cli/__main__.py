"""``python -m transitmap.cli``: the command line, as the ``transitmap`` script runs it."""

from . import entry

entry()
