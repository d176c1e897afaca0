"""HTTP for the connectors: timeouts always, retries with backoff, streamed downloads.

Every request carries a (connect, read) timeout.  Connection errors, read timeouts,
5xx answers and 429 are retried with exponential backoff and full jitter; a
``Retry-After`` header (seconds or an HTTP date) is honoured, capped at
``max_wait``.  404 raises :class:`NotFoundError` at once; other 4xx raise
:class:`ConnectorError` at once.  Downloads stream to ``<dest>.part`` and are
renamed into place only once complete (size and checksums verified); a ``.part``
left by an earlier attempt is resumed with an HTTP Range request when the server
supports it.

Environment (besides ``RG_TIMEOUT``/``RG_RETRIES`` of :class:`~radiogenomics.config.Settings`):
``RG_HTTP_BACKOFF`` base backoff in seconds (default 1.0), ``RG_HTTP_MAX_WAIT``
longest single wait in seconds (default 120).
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import requests

from ..atomic import write_error
from ..config import Settings
from ..exceptions import ChecksumError, ConfigError, ConnectorError, DownloadError, NotFoundError

log = logging.getLogger(__name__)

USER_AGENT = "radiogenomics (+https://github.com/radiogenomics)"
_CHUNK = 1 << 15


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must be >= 0")
    return value


class RetryableError(Exception):
    """An attempt failed in a way worth retrying (internal)."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class DownloadResult:
    """A completed download."""

    path: Path
    size: int
    md5: str
    sha256: str
    attempts: int


class HttpClient:
    """A thread-safe HTTP client (one ``requests.Session`` per thread).

    Parameters
    ----------
    timeout
        Connect and read timeout in seconds (a read timeout is the longest silence
        between two bytes of a body).
    retries
        Retries after the first attempt.
    backoff
        Base of the exponential backoff: attempt ``k`` waits a random time in
        ``[0, backoff * 2**k]`` (full jitter), at most ``max_wait``.
    max_wait
        Cap of any single wait, including one asked for by ``Retry-After``.
    sleep
        Replaceable sleep function (tests).
    """

    def __init__(self, timeout: float = 60.0, retries: int = 5, backoff: float | None = None,
                 max_wait: float | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = _env_float("RG_HTTP_BACKOFF", 1.0) if backoff is None else float(backoff)
        self.max_wait = _env_float("RG_HTTP_MAX_WAIT", 120.0) if max_wait is None else float(max_wait)
        self._sleep = sleep
        self._local = threading.local()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> "HttpClient":
        """A client with the timeout and retries of ``settings``."""
        return cls(timeout=settings.timeout, retries=settings.retries, **kwargs)

    # ------------------------------------------------------------------ plumbing
    @property
    def session(self) -> requests.Session:
        sess = getattr(self._local, "session", None)
        if sess is None:
            sess = requests.Session()
            sess.headers["User-Agent"] = USER_AGENT
            self._local.session = sess
        return sess

    def close(self) -> None:
        """Close this thread's session."""
        sess = getattr(self._local, "session", None)
        if sess is not None:
            sess.close()
            self._local.session = None

    def _wait_for(self, attempt: int, asked: float | None) -> float:
        jittered = random.uniform(0.0, self.backoff * (2 ** attempt))
        wait = max(jittered, asked) if asked is not None else jittered
        return min(wait, self.max_wait)

    def _check_status(self, resp: requests.Response, url: str) -> None:
        code = resp.status_code
        if code < 400:
            return
        if code == 429 or code >= 500:
            raise RetryableError(f"HTTP {code} from {url}", parse_retry_after(resp.headers.get("Retry-After")))
        if code == 404:
            raise NotFoundError(f"{url} does not exist (HTTP 404); check the identifier and the base URL")
        raise ConnectorError(f"{url} answered HTTP {code} {resp.reason}: {resp.text[:200]!r}")

    def _with_retries(self, url: str, attempt_fn: Callable[[int], Any]) -> Any:
        last = ""
        for attempt in range(self.retries + 1):
            try:
                return attempt_fn(attempt)
            except RetryableError as exc:
                last, asked = exc.reason, exc.wait
            except (requests.ConnectionError, requests.Timeout) as exc:
                # ChunkedEncodingError / ContentDecodingError are ConnectionError-like too
                last, asked = f"{type(exc).__name__}: {_short(exc)}", None
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
                last, asked = f"{type(exc).__name__}: {_short(exc)}", None
            if attempt >= self.retries:
                break
            wait = self._wait_for(attempt, asked)
            log.info("retrying %s in %.2fs (attempt %d/%d): %s", url, wait, attempt + 1, self.retries, last)
            self._sleep(wait)
        raise DownloadError(f"{url} failed after {self.retries + 1} attempts: {last}")

    # ------------------------------------------------------------------ requests
    def request(self, method: str, url: str, params: Mapping[str, Any] | None = None,
                data: Mapping[str, Any] | None = None) -> requests.Response:
        """A small (non-streamed) request with retries; returns the response (status < 400)."""
        def attempt(_: int) -> requests.Response:
            resp = self.session.request(method, url, params=params, data=data, timeout=self.timeout)
            self._check_status(resp, url)
            _ = resp.content  # read the body inside the retry loop
            return resp
        return self._with_retries(url, attempt)

    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON (an empty body decodes as ``[]``)."""
        resp = self.request("GET", url, params=params)
        if not resp.content.strip():
            return []
        try:
            return resp.json()
        except ValueError as exc:
            raise ConnectorError(f"{url} did not answer JSON: {resp.text[:200]!r}") from exc

    def get_text(self, url: str, params: Mapping[str, Any] | None = None) -> str:
        """GET a small text body."""
        return self.request("GET", url, params=params).text

    def post_form(self, url: str, data: Mapping[str, Any]) -> str:
        """POST a form and return the text body."""
        return self.request("POST", url, data=data).text

    def download(self, url: str, dest: str | os.PathLike[str], params: Mapping[str, Any] | None = None,
                 resume: bool = True, expected_size: int | None = None, md5: str | None = None,
                 sha256: str | None = None, on_bytes: Callable[[int], None] | None = None) -> DownloadResult:
        """Stream ``url`` to ``dest`` via ``dest.part``; rename into place when verified.

        Parameters
        ----------
        url, params
            What to GET.
        dest
            Final path; its folder is created.
        resume
            Continue a ``.part`` left by an earlier attempt (HTTP Range) and keep the
            ``.part`` when all attempts fail, so the next run resumes.  Without it a
            failed download leaves nothing behind.
        expected_size, md5, sha256
            Verified after the body is complete; a mismatch raises
            :class:`ChecksumError` and removes the file.
        on_bytes
            Called with the number of bytes of every chunk written (progress); bytes
            of a discarded attempt are reported again on the next one.

        Raises
        ------
        NotFoundError, ConnectorError, DownloadError, ChecksumError
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        if not resume and part.exists():
            part.unlink()

        def attempt(_: int) -> int:
            have = part.stat().st_size if (resume and part.exists()) else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            with self.session.get(url, params=params, stream=True, timeout=self.timeout, headers=headers) as resp:
                if resp.status_code == 416 and have:
                    # the .part is already the whole file (or junk): start over
                    part.unlink()
                    raise RetryableError(f"HTTP 416 resuming {url}", 0.0)
                self._check_status(resp, url)
                mode = "ab" if (have and resp.status_code == 206) else "wb"
                total = _content_total(resp, have if mode == "ab" else 0)
                try:
                    handle = open(part, mode)
                except OSError as exc:  # folder not writable, disk full: no retry helps
                    raise write_error(exc, dest) from exc
                with handle:
                    for block in resp.iter_content(_CHUNK):
                        if block:
                            try:
                                handle.write(block)
                            except OSError as exc:
                                raise write_error(exc, dest) from exc
                            if on_bytes:
                                on_bytes(len(block))
                    handle.flush()
                    os.fsync(handle.fileno())
                size = part.stat().st_size
                if total is not None and size != total:
                    raise RetryableError(f"short body from {url}: {size} of {total} bytes")
                return size

        try:
            self._with_retries(url, attempt)
        except BaseException:
            if not resume:
                part.unlink(missing_ok=True)
            raise
        size = part.stat().st_size
        got_md5, got_sha = _digests(part)
        problems = []
        if expected_size is not None and size != int(expected_size):
            problems.append(f"size {size} != expected {expected_size}")
        if md5 and got_md5 != md5.lower():
            problems.append(f"md5 {got_md5} != expected {md5}")
        if sha256 and got_sha != sha256.lower():
            problems.append(f"sha256 {got_sha} != expected {sha256}")
        if problems:
            part.unlink(missing_ok=True)
            raise ChecksumError(f"download of {url} is corrupt ({'; '.join(problems)}); it was removed, rerun to fetch it again")
        os.replace(part, dest)  # complete, verified and synced: the final name appears at once
        return DownloadResult(dest, size, got_md5, got_sha, 1)


def _content_total(resp: requests.Response, offset: int) -> int | None:
    raw = resp.headers.get("Content-Length")
    if raw is None or resp.headers.get("Content-Encoding"):
        return None
    try:
        return offset + int(raw)
    except ValueError:
        return None


def _digests(path: Path) -> tuple[str, str]:
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."
