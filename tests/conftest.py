"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run every test in a temp dir so a developer's .env or data folder never leaks in."""
    monkeypatch.chdir(tmp_path)
