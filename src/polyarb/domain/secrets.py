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
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

MASK = "***"
_MIN_SECRET_LEN = 4  # shorter values would scrub ordinary words from the logs

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


_SECRET_QUERY_KEYS = ("password", "passwd", "secret", "token")


def _secret_query_values(query: str) -> list[str]:
    return [
        value
        for key, value in parse_qsl(query, keep_blank_values=True)
        if any(word in key.lower() for word in _SECRET_QUERY_KEYS) and value
    ]


def url_passwords(url: str) -> list[str]:
    """The secrets in ``url``: its password and ``?password=``-like query values."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    found = [password] if password else []
    return found + _secret_query_values(parts.query)


def mask_url(url: str) -> str:
    """``url`` with its password (and ``?password=``-like query values) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc
    if password is not None:
        hostport = netloc.rpartition("@")[2]
        netloc = f"{parts.username or ''}:{MASK}@{hostport}"
    query = parts.query
    if _secret_query_values(query):
        query = "&".join(
            f"{key}={MASK}"
            if any(word in key.lower() for word in _SECRET_QUERY_KEYS)
            else f"{key}={value}"
            for key, value in parse_qsl(query, keep_blank_values=True)
        )
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def register_secret(value: str | None) -> None:
    """Scrub ``value`` (and its URL-quoted form) from every log line and published error."""
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    global _secrets
    with _lock:
        known = set(_secrets)
        # As given, URL-quoted, and decoded (a URL's password is stored quoted).
        known.update({value, quote(value, safe=""), unquote(value)})
        # Longest first: a secret containing another is replaced whole.
        _secrets = tuple(sorted(known, key=len, reverse=True))


def register_url(url: str | None) -> None:
    """Register the password of ``url`` (and ``?password=``-like values) as secrets."""
    if url:
        for secret in url_passwords(url):
            register_secret(secret)


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
