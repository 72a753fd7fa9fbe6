"""No password of a URL setting, and no secret, appears in anything polyarb prints: the
configuration (table and JSON), the engine's logs at debug level (``engine configured``
included), its errors (an unreachable Redis) and its summary."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from .procs import Engine, clean_env

DB_PASSWORD = "Pg-pw-9f3kQ-never-printed"
REDIS_PASSWORD = "Rd-pw-7hX2b-never-printed"
COMMAND_SECRET = "cmd-secret-4Lq8-never-printed"
SECRETS = (DB_PASSWORD, REDIS_PASSWORD, COMMAND_SECRET)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def passworded_env(tmp_path: Path, postgres_url: str) -> dict[str, str]:
    # The shared test server trusts local connections: the password is sent, never checked.
    database_url = postgres_url.replace("://postgres@", f"://postgres:{DB_PASSWORD}@")
    assert DB_PASSWORD in database_url
    env = clean_env(tmp_path / "data")
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:{closed_port()}/0",
        COMMAND_SECRET=COMMAND_SECRET,
        LOG_LEVEL="debug",
    )
    return env


def polyarb(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyarb", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_masks_url_passwords(tmp_path: Path, postgres_url: str) -> None:
    env = passworded_env(tmp_path, postgres_url)
    for args in (["config"], ["config", "--json"]):
        result = polyarb(tmp_path, env, *args)
        assert result.returncode == 0, result.stderr
        output = result.stdout + result.stderr
        for secret in SECRETS:
            assert secret not in output, (args, secret)
        # The URLs are still shown, only their passwords masked.
        assert "postgres:***@127.0.0.1" in output
        assert "redis://:***@127.0.0.1" in output


async def test_a_run_never_prints_a_password(tmp_path: Path, postgres_url: str) -> None:
    env = passworded_env(tmp_path, postgres_url)
    engine = await Engine.start(tmp_path, env, "--no-display", "--json", "--duration", "3")
    await engine.wait_ready()
    code, out, err = await engine.finish()
    assert code == 0, err[-3000:]
    assert "engine configured" in err
    assert "Traceback" not in err
    for secret in SECRETS:
        assert secret not in out
        assert secret not in err
    # The data dir holds no password either (spool, journal, lock files).
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in data, path


def test_a_rejected_secret_is_not_echoed(tmp_path: Path, postgres_url: str) -> None:
    env = passworded_env(tmp_path, postgres_url)
    short = "Sh0rt-s3cret"  # under 16 characters: refused, and never printed back
    result = polyarb(tmp_path, dict(env, COMMAND_SECRET=short), "config")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("polyarb: error: invalid configuration: COMMAND_SECRET: must be at")
    assert short not in result.stdout + result.stderr
    # A bad value next to a passworded URL: the error names the setting, the password stays out.
    result = polyarb(tmp_path, dict(env, PAPER_LATENCY_MS="-1"), "config")
    assert result.returncode == 2
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr
