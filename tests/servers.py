"""Servers a test starts for itself, so fault tests never touch the machine's shared services.

``RedisServer`` is a ``redis-server`` on a free loopback port with its own temp dir and no
persistence; ``PostgresCluster`` is a throwaway cluster made with ``initdb`` and run with
``pg_ctl`` on a free port. Both can be stopped and started again on the same port (that is what
the fault tests do) and are stopped and deleted at teardown. Only processes these objects
started are ever signalled.

PostgreSQL refuses to run as root: as root the cluster is made and run as the ``postgres`` user
(``runuser``), in a temp dir that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT_S = 30.0


class ServerUnavailable(RuntimeError):
    """The machine cannot run this server for a test; the message says what is missing."""


def free_port() -> int:
    """A loopback port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --- Redis --------------------------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` of the test's own, on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None or shutil.which("redis-cli") is None:
            raise ServerUnavailable("redis-server / redis-cli are not installed (apt redis-server)")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="polyarb-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            timeout=5,
            check=False,
        )

    def is_up(self) -> bool:
        try:
            return self.cli("ping").stdout.strip() == b"PONG"
        except (OSError, subprocess.TimeoutExpired):
            return False

    def start(self) -> None:
        """Start (or start again, on the same port) and wait until it answers ``PING``."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("this Redis is already running")
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - the server owns it from now
        with log:
            self.process = subprocess.Popen(
                [
                    *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.dir)),
                    *("--daemonize", "no", "--protected-mode", "yes"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.is_up():
            if self.process.poll() is not None:
                raise ServerUnavailable(f"redis-server exited at start: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"redis-server did not answer PING: {self.log_tail()}")
            time.sleep(0.02)

    def shutdown_nosave(self) -> None:
        """What an operator's ``SHUTDOWN NOSAVE`` does: the server exits, its data is gone."""
        assert self.process is not None, "not started"
        self.cli("shutdown", "nosave")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "redis.log").read_text(errors="replace")[-800:]
        return "(no log)"


# --- PostgreSQL ---------------------------------------------------------------------------------


def _postgres_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` (Debian), else where ``initdb`` is on PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    )
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    on_path = shutil.which("initdb")
    if on_path is not None and shutil.which("pg_ctl") is not None:
        return Path(on_path).resolve().parent
    raise ServerUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin "
        "or on PATH (apt postgresql)"
    )


def _run_as() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs PostgreSQL's tools as an allowed user, and that user."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise ServerUnavailable(
            "running as root, and PostgreSQL refuses root: no 'postgres' user to run it as"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ServerUnavailable("running as root and 'runuser' is missing: cannot run as postgres")
    return [runuser, "-u", "postgres", "--"], user


class PostgresCluster:
    """A throwaway PostgreSQL cluster: ``initdb`` in a temp dir, served on a free port.

    Trust authentication on 127.0.0.1 only, its own socket directory, fsync off (it holds test
    data; a crash of this machine loses nothing anyone needs).
    """

    def __init__(self, directory: Path | None = None, port: int | None = None) -> None:
        """A new temp dir and a free port by default; ``scripts/ensure-services`` passes a
        lasting directory and the port the tests expect."""
        self.bin = _postgres_bin_dir()
        self.prefix, owner = _run_as()
        # Not pytest's tmp_path: its parents are private to the user running the tests.
        if directory is None:
            self.dir = Path(tempfile.mkdtemp(prefix="polyarb-pg-"))
        else:
            self.dir = directory
            self.dir.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = port or free_port()
        self.initialised = (self.data / "PG_VERSION").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _tool(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.dir,  # the postgres user may not be able to enter the caller's cwd
            check=False,
        )

    def init(self) -> None:
        done = self._tool(
            str(self.bin / "initdb"),
            *("-D", str(self.data), "-U", "postgres", "-A", "trust"),
            *("-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"),
        )
        if done.returncode != 0:
            raise ServerUnavailable(f"initdb failed: {(done.stderr or done.stdout)[-800:]}")
        self.initialised = True

    def start(self) -> None:
        """Start (or start again, on the same port) and wait until it accepts connections."""
        if not self.initialised:
            self.init()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
            "-c full_page_writes=off -c max_connections=50"
        )
        done = self._tool(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.log), "-o", options),
            *("-w", "-t", str(int(START_TIMEOUT_S)), "start"),
        )
        if done.returncode != 0 or not _listening(self.port):
            raise ServerUnavailable(
                f"pg_ctl start failed ({done.returncode}): {done.stderr[-400:]} {self.log_tail()}"
            )

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast|immediate`` on this cluster only."""
        done = self._tool(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {done.stderr[-400:]}")

    def running(self) -> bool:
        done = self._tool(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", timeout=10)
        return done.returncode == 0

    def close(self) -> None:
        if self.initialised and self.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-800:]
        return "(no log)"
