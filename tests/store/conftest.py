"""Store fixtures: every store test runs on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polyarb.domain.trading import Mode
from polyarb.store import Store, WriterConfig

# In-process writer for most tests (the writer process adds a start-up per store);
# test_writer_process.py and the outage/crash tests run the production path.
FAST_WRITER = WriterConfig(process=False, flush_interval_s=0.01, retry_min_s=0.05, retry_max_s=0.5)
PROCESS_WRITER = WriterConfig(
    process=True, flush_interval_s=0.01, retry_min_s=0.05, retry_max_s=0.5
)


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
async def store(db_url: str, spool_dir: Path) -> AsyncIterator[Store]:
    opened = await Store.open(db_url, mode=Mode.PAPER, spool_dir=spool_dir, writer=FAST_WRITER)
    try:
        yield opened
    finally:
        await opened.close()
