"""Helpers shared by the commands: settings loading and logging set-up.

Imported by every command module, so it imports nothing heavy at module level (see the start-up
note in ``polyarb.cli``).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import typer

from polyarb.domain.errors import ConfigError
from polyarb.domain.secrets import ScrubFilter, scrubbing

if TYPE_CHECKING:
    import structlog

    from polyarb.config import Settings


def settings_or_exit(*, configure: bool = True) -> Settings:
    """Load settings; on a bad value print one line naming the variable and exit 2.
    ``configure``: also configure logging (LOG_LEVEL, LOG_FORMAT) for a command that logs."""
    from polyarb.config import load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(f"polyarb: error: {exc}", err=True)
        raise typer.Exit(2) from None
    if configure:
        configure_logging(settings.log_level, settings.log_format)
    return settings


class _StderrLogger:
    """Writes to whatever ``sys.stderr`` is now (a test runner may swap and close streams)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*_args: object) -> _StderrLogger:
    return _StderrLogger()


class JsonLineFormatter(logging.Formatter):
    """Standard-library records (uvicorn, asyncio, alembic ...) as one JSON object per line, with
    the keys structlog's JSON lines have, so that LOG_FORMAT=json makes stderr pure JSON."""

    def format(self, record: logging.LogRecord) -> str:
        import json
        from datetime import UTC, datetime

        out: dict[str, object] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "info", fmt: str = "console") -> None:
    """structlog and the standard library's logging on stderr, at ``level``; ``fmt`` "json":
    every line a JSON object (tracebacks inside it), nothing else on stderr."""
    import structlog

    numeric = getattr(logging, level.upper(), logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter() if fmt == "json" else logging.Formatter("%(message)s"))
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    for each in logging.getLogger().handlers:  # no secret in any log line (issue 9)
        if not any(isinstance(f, ScrubFilter) for f in each.filters):
            each.addFilter(ScrubFilter())
    # Per-request lines from the HTTP client drown the operator's view; warnings still show.
    for noisy in ("httpx", "httpcore", "websockets", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    exceptions: list[structlog.typing.Processor] = (
        [structlog.processors.format_exc_info] if fmt == "json" else []
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *exceptions,
            scrubbing(renderer),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
