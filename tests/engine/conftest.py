"""Fixtures shared by the engine tests."""

from __future__ import annotations

from typing import Any

import pytest

from .replaykit import sim_driver


@pytest.fixture
def market() -> Any:
    """A fee-free binary market of the simulator's catalog (tick 0.01), with its driver."""
    driver = sim_driver(seed=4, binary_markets=2, negrisk_events=0, closed_markets=0)
    chosen = driver.binary[1]
    assert chosen.category.fee_rate == 0
    return driver, chosen
