"""Secrets never leave the process in clear: URL passwords masked, known secrets scrubbed.

``mask_url`` hides the password of a URL (``redis://:***@host``, ``postgresql://u:***@h/db``)
and is what every printed or logged URL goes through. ``register_secret`` adds a value (a URL's
password, an API secret, ``COMMAND_SECRET``) to the process-wide set that ``scrub`` replaces by
``***`` in any text: the log renderer scrubs every line with it, and error messages published
on the bus are scrubbed too, so a driver that puts a DSN into an exception cannot leak it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_MIN_SECRET_LEN = 4  # shorter values would scrub ordinary words from the logs

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def url_password(url: str) -> str | None:
    """The password in ``url`` (``scheme://user:password@host``), or None."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (user, host, path and query kept)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<invalid url>"
    if password is None:
        return url
    _userinfo, _, hostport = parts.netloc.rpartition("@")
    user = parts.username or ""
    netloc = f"{user}:{MASK}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def register_secret(value: str | None) -> None:
    """Scrub ``value`` (and its URL-quoted form) from every log line and published error."""
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    from urllib.parse import quote

    global _secrets
    with _lock:
        known = set(_secrets)
        known.update({value, quote(value, safe="")})
        # Longest first: a secret containing another is replaced whole.
        _secrets = tuple(sorted(known, key=len, reverse=True))


def register_url(url: str | None) -> None:
    """Register the password of ``url`` (if any) as a secret."""
    if url:
        register_secret(url_password(url))


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def forget_secrets() -> None:
    """Forget every registered secret (tests)."""
    global _secrets
    with _lock:
        _secrets = ()


def scrubbing(render: Callable[[Any, str, Any], Any]) -> Callable[[Any, str, Any], Any]:
    """A log renderer (structlog's last processor) whose every line is scrubbed."""

    def render_scrubbed(logger: Any, method: str, event: Any) -> Any:
        line = render(logger, method, event)
        return scrub(line) if isinstance(line, str) else line

    return render_scrubbed


class ScrubFilter(logging.Filter):
    """A ``logging`` filter scrubbing the secrets out of standard-library log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg = scrub(record.getMessage())
            record.args = None
        return True
