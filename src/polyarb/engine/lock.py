"""One engine per account: an exclusive lock file refuses a second engine (lesson D1: two live
traders once ran for 16 minutes after a botched deploy)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from polyarb.domain.errors import ConfigError


class InstanceLock:
    """An advisory ``flock`` held for the engine's lifetime; the OS releases it if we die."""

    def __init__(self, data_dir: Path, account: str) -> None:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in account) or "default"
        self.path = data_dir / f"engine-{safe}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"another engine already runs for this account (lock {self.path}, pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
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
