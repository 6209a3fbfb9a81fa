"""Stand-ins for failing resources (a full disk)."""

from __future__ import annotations

import errno
import sqlite3


class FullDisk:
    """Stands in for the store's sqlite connection: every write fails with ENOSPC."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def executemany(self, *_a: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    execute = executemany

    def close(self) -> None:
        self.db.close()
