"""Live and simulated books never share a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyarb.domain.trading import Mode
from polyarb.store import ModeMismatch, Store

from .helpers import count


async def test_a_live_store_refuses_a_paper_database_and_vice_versa(
    db_url: str, tmp_path: Path
) -> None:
    paper = await Store.open(db_url, mode=Mode.PAPER, spool_dir=tmp_path / "a")
    await paper.close()
    with pytest.raises(ModeMismatch, match="holds paper trading rows"):
        await Store.open(db_url, mode=Mode.LIVE, spool_dir=tmp_path / "b")
    # Log-only (dry run) is simulated too: it may share the paper database.
    log_only = await Store.open(db_url, mode=Mode.LOG_ONLY, spool_dir=tmp_path / "c")
    await log_only.close()
    assert await count(db_url, "meta") == 1


async def test_a_paper_store_refuses_a_live_database(db_url: str, tmp_path: Path) -> None:
    live = await Store.open(db_url, mode=Mode.LIVE, spool_dir=tmp_path / "a")
    await live.close()
    for mode in (Mode.PAPER, Mode.LOG_ONLY):
        with pytest.raises(ModeMismatch, match="holds live trading rows"):
            await Store.open(db_url, mode=mode, spool_dir=tmp_path / "b")
    reopened = await Store.open(db_url, mode=Mode.LIVE, spool_dir=tmp_path / "a")
    await reopened.close()
