"""Helpers shared by the commands: settings loading and logging set-up."""

from __future__ import annotations

import logging
import sys

import structlog
import typer

from polyarb.config import Settings, load_settings
from polyarb.domain.errors import ConfigError
from polyarb.domain.secrets import ScrubFilter, scrubbing


def settings_or_exit() -> Settings:
    """Load settings; on a bad value print one line naming the variable and exit 2."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        typer.echo(f"polyarb: error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


class _StderrLogger:
    """Writes to whatever ``sys.stderr`` is now (a test runner may swap and close streams)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*_args: object) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(level: str = "info", fmt: str = "console") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    for handler in logging.getLogger().handlers:  # no secret in any log line (issue 9)
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(ScrubFilter())
    # Per-request lines from the HTTP client drown the operator's view; warnings still show.
    for noisy in ("httpx", "httpcore", "websockets", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            scrubbing(renderer),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
