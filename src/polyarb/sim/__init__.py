"""Local Polymarket + ESPN simulator speaking the real wire formats (tests, offline demo, bench).

``async with SimServer(ScenarioConfig(seed=1)) as sim:`` then connect to ``sim.ws_url``,
``sim.clob_url``, ``sim.gamma_url`` and ``sim.espn_url``.
"""

from polyarb.sim.scenario import (
    DEMO_SCENARIO,
    ArbWindow,
    Fault,
    ScenarioConfig,
    generate_recording,
)
from polyarb.sim.server import SimServer
from polyarb.sim.venue import SimVenue

__all__ = [
    "DEMO_SCENARIO",
    "ArbWindow",
    "Fault",
    "ScenarioConfig",
    "SimServer",
    "SimVenue",
    "generate_recording",
]
