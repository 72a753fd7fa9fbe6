"""`polyarb dashboard` (the API in its own process) and `polyarb users` (dashboard accounts)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from polyarb.cli import app
from polyarb.cli.common import settings_or_exit
from polyarb.domain.accounts import ROLES
from polyarb.domain.errors import PolyarbError

# The API, the store and uvicorn are imported by the commands that use them: `polyarb --help`
# and the other commands start without them (bench/bench_cli_start.py).
if TYPE_CHECKING:
    import uvicorn

    from polyarb.api.context import ApiContext
    from polyarb.bus import Bus
    from polyarb.config import Settings


_T = TypeVar("_T")

users_app = typer.Typer(help="Dashboard accounts: who may log in, with which role.")
app.add_typer(users_app, name="users")


def _announce(url: str) -> None:
    print(f"polyarb: dashboard API at {url} (OpenAPI: {url}/openapi.json)", file=sys.stderr)


def dashboard_context(settings: Settings, bus: Bus, *, key: bytes | None = None) -> ApiContext:
    """The API's parts over the configured database (its own connection pools); ``key``: the
    command key to sign with (`polyarb run`'s dashboard process gets the engine's own)."""
    from polyarb.api.context import build_context
    from polyarb.bus.signing import command_key
    from polyarb.domain.trading import Mode
    from polyarb.store import StoreQueries, resolve_database_url
    from polyarb.store.users import UserStore

    url = resolve_database_url(settings.database_url, settings.data_dir)
    mode = Mode(settings.mode)

    configured = settings.command_secret
    return build_context(
        settings,
        bus,
        queries=StoreQueries.open(url, mode),
        users=UserStore.open(url),
        mode=mode,
        command_key=key
        or command_key(
            configured.get_secret_value() if configured is not None else None,
            over_redis=bool(settings.redis_url),
        ),
    )


def _run(main: Coroutine[Any, Any, _T]) -> _T:
    import asyncio  # here, not at the top: asyncio is a tenth of `polyarb config`'s start

    return asyncio.run(main)


async def run_dashboard(settings: Settings) -> None:
    import asyncio

    from polyarb.api.app import create_app
    from polyarb.api.server import make_server, serve
    from polyarb.bus import default_instance_id, make_bus
    from polyarb.store import resolve_database_url
    from polyarb.store.admin import ensure_database

    url = resolve_database_url(settings.database_url, settings.data_dir)
    await ensure_database(url, auto_upgrade=settings.db_auto_upgrade)
    bus = make_bus(settings.redis_url, f"{settings.instance_id or default_instance_id()}-dashboard")
    await bus.start()
    try:
        ctx = dashboard_context(settings, bus)
        # Our own SIGINT/SIGTERM handling: stop serving, close cleanly, exit 0.
        server = make_server(create_app(ctx), settings, embedded=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, _stop, server)
        await serve(server, settings, _announce)
    finally:
        await bus.close()


def _stop(server: uvicorn.Server) -> None:
    server.should_exit = True


@app.command("dashboard")
def dashboard_command() -> None:
    """Serve the dashboard API (API_HOST:API_PORT) in its own process: bus over REDIS_URL."""
    settings = settings_or_exit()
    if not settings.redis_url:
        raise PolyarbError(
            "REDIS_URL is not set: a separate dashboard reaches the engine over Redis (without "
            "Redis, `polyarb run` serves the dashboard itself)"
        )
    _run(run_dashboard(settings))


@app.command("openapi")
def openapi_command() -> None:
    """Print the dashboard API's OpenAPI document (JSON; the web client is generated from it)."""
    import json

    from polyarb.api.app import openapi_document

    print(json.dumps(openapi_document(), indent=2, sort_keys=True))


async def _users(settings: Settings, action: str, email: str = "", role: str = "") -> str:
    from polyarb.store import resolve_database_url
    from polyarb.store.admin import ensure_database
    from polyarb.store.users import UserExists, UserStore

    url = resolve_database_url(settings.database_url, settings.data_dir)
    await ensure_database(url, auto_upgrade=settings.db_auto_upgrade)
    users = UserStore.open(url)
    try:
        if action == "add":
            try:
                user = await users.add(email, role)  # type: ignore[arg-type]
            except UserExists as exc:
                raise PolyarbError(str(exc)) from None
            note = (
                ""
                if user.email in {e.lower() for e in settings.allowed_emails}
                else (" (not in ALLOWED_EMAILS yet: add it there to let it log in)")
            )
            await users.audit(
                actor="cli", action="user_add", target=user.email, detail={"role": user.role}
            )
            return f"added {user.email} as {user.role}{note}"
        if action == "role":
            if not await users.set_role(email, role):  # type: ignore[arg-type]
                raise PolyarbError(f"no account for {email}")
            await users.audit(actor="cli", action="user_role", target=email, detail={"role": role})
            return f"{email} is now {role} (its sessions ended)"
        if action == "remove":
            if not await users.remove(email):
                raise PolyarbError(f"no account for {email}")
            await users.audit(actor="cli", action="user_remove", target=email)
            return f"removed {email} (its sessions ended)"
        rows = await users.list()
        return "\n".join(f"{u.email}\t{u.role}" for u in rows) or "no accounts"
    finally:
        await users.close()


def _role(role: str) -> str:
    if role not in ROLES:
        raise typer.BadParameter(f"{role!r}; accepted: {', '.join(ROLES)}", param_hint="--role")
    return role


@users_app.command("add")
def users_add(
    email: str = typer.Argument(..., help="The email the login codes go to."),
    role: str = typer.Option("viewer", "--role", help="viewer | operator | admin"),
) -> None:
    """Create a dashboard account."""
    settings = settings_or_exit()
    typer.echo(_run(_users(settings, "add", email, _role(role))))


@users_app.command("role")
def users_role(
    email: str = typer.Argument(...),
    role: str = typer.Option(..., "--role", help="viewer | operator | admin"),
) -> None:
    """Change an account's role (its current sessions end)."""
    settings = settings_or_exit()
    typer.echo(_run(_users(settings, "role", email, _role(role))))


@users_app.command("list")
def users_list() -> None:
    """The accounts and their roles."""
    settings = settings_or_exit()
    typer.echo(_run(_users(settings, "list")))


@users_app.command("remove")
def users_remove(email: str = typer.Argument(...)) -> None:
    """Delete an account (its sessions end at once)."""
    settings = settings_or_exit()
    typer.echo(_run(_users(settings, "remove", email)))
