"""One engine per account, and one per ``DATA_DIR``: exclusive lock files refuse a second
engine (lesson D1: two live traders once ran for 16 minutes after a botched deploy).

The account lock (``engine-<account>.lock``) refuses a second engine for the same account. The
data-dir lock (``engine.lock``) refuses any second engine on the same ``DATA_DIR``, whatever its
mode: two engines would share the spool, the journal and the SQLite file, and the second one
used to wait silently on the spool's lock. Each lock file holds its owner's pid and mode, so the
refusal names the running engine."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from polyarb.domain.errors import ConfigError


class InstanceLock:
    """An advisory ``flock`` held for the engine's lifetime; the OS releases it if we die."""

    def __init__(self, data_dir: Path, account: str, *, mode: str = "") -> None:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in account) or "default"
        self.path = data_dir / f"engine-{safe}.lock"
        self.mode = mode or account
        self._fd: int | None = None

    def _refusal(self, holder: str) -> str:
        return f"another engine already runs for this account (lock {self.path}, {holder})"

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.read(fd, 256).decode(errors="replace"))
            os.close(fd)
            raise ConfigError(self._refusal(holder)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {self.mode}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class DataDirLock(InstanceLock):
    """One engine per ``DATA_DIR``, whatever its mode."""

    def __init__(self, data_dir: Path, mode: str) -> None:
        super().__init__(data_dir, "unused", mode=mode)
        self.path = data_dir / "engine.lock"
        self.data_dir = data_dir

    def _refusal(self, holder: str) -> str:
        return (
            f"DATA_DIR {self.data_dir} is in use by a running engine ({holder}); "
            "stop it or give this engine another DATA_DIR"
        )


def _describe(content: str) -> str:
    """``pid 123, mode paper`` from a lock file's ``123 paper`` (older files: the pid alone)."""
    pid, _, mode = content.strip().partition(" ")
    text = f"pid {pid or 'unknown'}"
    return f"{text}, mode {mode}" if mode else text
