"""The project's error vocabulary.

Every error meant for a person (which file, what is wrong) derives from
:class:`UserError`. The CLI prints it as one line; the GUI shows it in the
status bar and log. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (file, argument, model) with a clear message."""


class MediaError(UserError):
    """An image or video that cannot be read (names the file and the problem)."""


class FormatError(UserError):
    """A malformed annotation file (names the file and the element or line)."""


class StoreError(UserError):
    """The project store cannot be read or written."""


class Cancelled(Exception):
    """A long job stopped because its cancel event was set."""
