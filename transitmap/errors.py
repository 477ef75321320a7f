"""transitmap's exceptions: one package base, each also a builtin so plain ``except ValueError`` still works."""

from __future__ import annotations


class TransitmapError(Exception):
    """Base of every error transitmap raises on purpose (a usage or data problem, not a bug)."""


class SettingsError(TransitmapError, ValueError):
    """A survey setting that cannot be used (an unknown time zone or currency, an unknown key); the message
    names the setting and what would do."""


class FeedError(TransitmapError, ValueError):
    """A GTFS feed that cannot be used (not a zip, a required table missing or unreadable); the message says
    what is wrong."""


class WorkspaceError(TransitmapError):
    """A folder that is not a survey workspace, or one this version cannot use; the message says which."""


class UnsafeOutputError(TransitmapError, ValueError):
    """An output path that transitmap will not write: it holds the user's files, an input, a survey workspace
    or the current folder. The message says what to do instead."""
