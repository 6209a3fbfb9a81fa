"""Downloading one file over HTTP(S): progress, cancel, hash check, atomic rename.

:func:`download_file` is a long job (``progress`` / ``cancel``, see
``domain.progress``). The bytes go to a hidden ``.<name>.<pid>.partial`` file
beside the destination; only a complete file whose SHA-256 starts with the
expected prefix (torch.hub's check: the ``-<hex>.`` part of torchvision's
file names) is renamed onto the destination, so a cancelled, dropped or
corrupt transfer leaves nothing that looks like the model. Proxies set in the
environment (``https_proxy``, ``http_proxy``, ``no_proxy``) are honoured: this
is urllib's default opener.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from detector_app.domain.errors import UserError
from detector_app.domain.fsutil import process_alive
from detector_app.domain.progress import ProgressFn, check_cancel, report

#: torch.hub's rule: the hex digits between the last ``-`` and the first ``.`` after it.
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
_CHUNK = 1 << 16
#: Seconds to wait for a connection or for the next bytes: fail fast when offline,
#: tolerate a slow but live server.
DEFAULT_TIMEOUT = 15.0


class DownloadError(UserError):
    """A download that did not produce the file (the message says what to do)."""


def hash_prefix_of(file_name: str) -> str | None:
    """The SHA-256 prefix torchvision puts in a weight file's name
    (``fasterrcnn_resnet50_fpn_coco-258fb6c6.pth`` -> ``258fb6c6``), or None."""
    m = HASH_REGEX.search(file_name)
    return m.group(1) if m and m.group(1) else None


def partial_path(dest: Path) -> Path:
    """Where the bytes of ``dest`` go while they arrive (hidden, never a ``.pth``)."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.partial")


def remove_stale_partials(dest: Path) -> list[Path]:
    """Delete partial files of ``dest`` left by processes that no longer run."""
    removed = []
    for p in dest.parent.glob(f".{dest.name}.*.partial"):
        pid = p.name[len(dest.name) + 2:-len(".partial")]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def size_text(n: float) -> str:
    """``167.1 MB``, ``512 kB``: decimal units, as download tools show them."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.0f} kB"


def rate_message(done: int, total: int, elapsed: float) -> str:
    """``"12.3 MB of 167.1 MB, 4.2 MB/s, 37 s left"`` (unknown parts left out)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    parts = [f"{size_text(done)} of {size_text(total)}" if total else size_text(done)]
    if rate > 0:
        parts.append(f"{size_text(rate)}/s")
        if total and done < total:
            left = (total - done) / rate
            parts.append(f"{left:.0f} s left" if left < 120 else f"{left / 60:.0f} min left")
    return ", ".join(parts)


def offline_hint(url: str, dest: Path) -> str:
    """What to do without network: the URL, where the file goes, what still works."""
    return (f"to install it by hand, download {url} on a machine with network and put it at {dest}; "
            "the bundled model keeps working meanwhile")


def download_file(url: str, dest: str | Path, *, hash_prefix: str | None = None,
                  progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                  timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Fetch ``url`` into ``dest`` (atomically); return ``dest``.

    ``progress`` gets ``Progress(bytes_done, bytes_total, "x MB of y MB, rate, time left")``
    (total 0 when the server does not say). ``cancel`` is checked between
    chunks of at most 64 KiB. ``hash_prefix`` (default: from ``dest``'s name)
    must start the file's SHA-256 hex digest. Raises :class:`DownloadError`
    (unreachable server, HTTP error, dropped connection, hash mismatch; the
    message names the URL and what to do) or ``Cancelled``; in every failure
    the partial file is removed and ``dest`` is untouched.
    """
    dest = Path(dest)
    expected = hash_prefix if hash_prefix is not None else hash_prefix_of(dest.name)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {dest.parent}: {exc.strerror or exc}") from None
    remove_stale_partials(dest)
    tmp = partial_path(dest)
    host = urlsplit(url).netloc or url
    request = urllib.request.Request(url, headers={"User-Agent": "detector-app"})
    try:
        check_cancel(cancel)
        # a fresh opener reads the proxy variables now (urlopen's cached one keeps the first call's)
        opener = urllib.request.build_opener()
        with opener.open(request, timeout=timeout) as response, open(tmp, "wb") as out:
            got = _receive(response, out, url, host, progress, cancel)
        if expected and not got.startswith(expected):
            raise DownloadError(f"{url}: the file's SHA-256 starts {got[:len(expected)]}, its name says {expected}: "
                                "corrupt or not the published file; nothing was kept")
        os.replace(tmp, dest)
        return dest
    except (http.client.HTTPException, OSError) as exc:
        raise _failure(exc, url, dest, timeout) from None
    finally:
        tmp.unlink(missing_ok=True)


def _receive(response: http.client.HTTPResponse, out: BinaryIO, url: str, host: str,
             progress: ProgressFn | None, cancel: threading.Event | None) -> str:
    """Copy the body of ``response`` into ``out`` (flushed and synced), reporting progress;
    returns its SHA-256 hex digest. A body shorter than its ``Content-Length`` raises."""
    total = _content_length(response)
    digest = hashlib.sha256()
    done = 0
    start = time.monotonic()
    report(progress, 0, total, f"connected to {host}")
    while True:
        check_cancel(cancel)
        # read1: whatever has arrived (up to a chunk), so Cancel is seen while a slow server trickles
        chunk = response.read1(_CHUNK)
        if not chunk:
            break
        out.write(chunk)
        digest.update(chunk)
        done += len(chunk)
        report(progress, done, total, rate_message(done, total, time.monotonic() - start))
    if total and done != total:
        raise DownloadError(f"{url}: the connection dropped after {size_text(done)} of "
                            f"{size_text(total)}; nothing was kept, try again")
    out.flush()
    os.fsync(out.fileno())
    return digest.hexdigest()


def _failure(exc: http.client.HTTPException | OSError, url: str, dest: Path, timeout: float) -> DownloadError:
    """What a failed transfer means to the person downloading: the server's answer, no
    network, a dropped or stalled connection, or the disk (when ``exc`` names a file)."""
    host = urlsplit(url).netloc or url
    if isinstance(exc, urllib.error.HTTPError):
        return DownloadError(f"{url}: the server answered HTTP {exc.code} {exc.reason}; {offline_hint(url, dest)}")
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
        return DownloadError(f"cannot reach {host} ({reason}): no network? {offline_hint(url, dest)}")
    if isinstance(exc, http.client.IncompleteRead):
        return DownloadError(f"{url}: the connection dropped after {size_text(len(exc.partial))}; "
                             "nothing was kept, try again")
    if isinstance(exc, TimeoutError):
        return DownloadError(f"{url}: no data for {timeout:.0f} s; {offline_hint(url, dest)}")
    if isinstance(exc, (http.client.HTTPException, ConnectionError)):
        return DownloadError(f"{url}: the connection failed ({type(exc).__name__}: {exc}); "
                             "nothing was kept, try again")
    if exc.filename is not None:  # our side: the disk, not the network
        return DownloadError(f"cannot write {dest}: {exc.strerror or exc}")
    return DownloadError(f"cannot download {url} ({exc}); {offline_hint(url, dest)}")


def _content_length(response: http.client.HTTPResponse) -> int:
    """The response's ``Content-Length`` (0 when it gives none or nonsense)."""
    try:
        return max(0, int(response.headers.get("Content-Length") or 0))
    except ValueError:
        return 0


__all__ = [
    "DEFAULT_TIMEOUT", "DownloadError", "HASH_REGEX", "download_file", "hash_prefix_of", "offline_hint",
    "partial_path", "rate_message", "remove_stale_partials", "size_text",
]
