"""`/ready` of a `polyarb run --venue sim` process follows PostgreSQL: the test stops its own
cluster (tests/servers.py, never the machine's) and the engine must answer 503 naming the
database, trade *reducing* meanwhile, and be ready again once the cluster is back."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.cli.test_run_health import interrupt, ready, run_sim, scrape, total, wait_for
from tests.envs import settings_free_env
from tests.servers import PostgresCluster, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_ready_flips_while_postgres_is_stopped(
    own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = settings_free_env("DRY_RUN", "REDIS_URL")
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        HEALTH_PORT=str(port),
        DATABASE_URL=own_postgres.url(),
        SNIPER_ENABLED="false",
    )
    proc = run_sim(tmp_path, env)
    try:
        wait_for("/ready 200", lambda: (r := ready(url)).status_code == 200 and r, 40, proc)
        own_postgres.stop("fast")
        try:
            down = wait_for(
                "/ready 503", lambda: (r := ready(url)).status_code == 503 and r, 30, proc
            ).json()
            assert down["checks"]["database"]["status"] == "down"
            assert any(r.startswith("database: unavailable") for r in down["reasons"])
            assert down["checks"]["trading"]["status"] == "degraded"  # reducing: store gate
            metrics = scrape(url)
            assert total(metrics, "polyarb_store_up") == 0
            assert total(metrics, "polyarb_trading_state", state="reducing") == 1
            assert httpx.get(url + "/health", timeout=5).status_code == 200
        finally:
            own_postgres.start()
        back = wait_for(
            "/ready 200 again", lambda: (r := ready(url)).status_code == 200 and r, 40, proc
        ).json()
        assert back["checks"]["database"]["status"] == "ok"
        assert total(scrape(url), "polyarb_trading_state", state="active") == 1
    finally:
        stderr = interrupt(proc)
    assert proc.returncode == 0, stderr[-2000:]
