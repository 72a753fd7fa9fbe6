"""The dashboard end to end in headless Chromium (Debian's package, driven by playwright-core):
`polyarb run --venue sim` paper-trades and serves the dashboard (its child process); the login
code comes from this test's SMTP server. The browser script (web/e2e/dashboard.e2e.mjs) logs
in, watches P&L and trades move live, pauses and resumes, engages the kill switch and clears it
through the step-up prompt, opens a market's depth chart, exports the CSV, visits
every page, switches theme and width, checks that logging out and a tampered cookie lock the
UI, and finally sees the disconnection banner when the engine stops. Screenshots land in
web/e2e/out/ (ignored by git)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from tests.api.harness import free_port
from tests.cli.test_dashboard_cli import Running, _env
from tests.web.bundle import WEB, ensure_bundle

EMAIL = "admin@example.test"
STEP_UP_TTL_S = 60
CHROMIUM = "/usr/bin/chromium"
OUT = WEB / "e2e" / "out"
SCREENSHOTS = ("login", "overview", "overview-paused", "markets", "market-depth",
               "trades-signals", "strategies", "pnl", "errors", "admin", "overview-other-theme",
               "overview-phone", "step-up", "disconnected")  # fmt: skip


class MailDir:
    """aiosmtpd handler writing each message to a file the browser script reads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        (self.folder / f"{self.count:04d}.eml").write_bytes(envelope.content)
        return "250 OK"


def _stop_when_asked(run: Running) -> None:
    """Stop the engine (SIGINT, as Ctrl-C) once the browser script asks for it."""
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and run.process.poll() is None:
        if (OUT / "stop-engine").exists():
            run.process.send_signal(signal.SIGINT)
            return
        time.sleep(0.1)


@pytest.mark.timeout(240)  # the step-up wait (60 s) and two engine starts' worth of margin
def test_dashboard_in_a_real_browser(tmp_path: Path) -> None:
    assert Path(CHROMIUM).is_file(), "apt-get install chromium (make test installs it)"
    ensure_bundle()
    mail = tmp_path / "mail"
    mail.mkdir()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    controller = Controller(MailDir(mail), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        added = subprocess.run(
            [sys.executable, "-m", "polyarb", "users", "add", EMAIL, "--role", "admin"],
            cwd=tmp_path,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        env = _env(
            tmp_path,
            ALLOWED_EMAILS=EMAIL,
            COMMAND_ADMINS=EMAIL,
            API_PORT=str(free_port()),
            JWT_SECRET="e2e-web-" + "s" * 60,
            OTP_DELIVERY="smtp",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(controller.port),
            SMTP_SECURITY="none",
            JWT_STEP_UP_TTL_S=str(STEP_UP_TTL_S),  # the minimum: the script waits it out
            OTP_REQUESTS_PER_EMAIL="10/15minutes",  # 3 logins and a step-up in a minute or two
        )
        args = ["run", "--venue", "sim", "--no-display", "--duration", "150"]
        with Running(tmp_path, args, env) as run:
            url = run.wait_for(r"dashboard API at (http://\S+)").group(1)
            stopper = threading.Thread(target=_stop_when_asked, args=(run,), daemon=True)
            stopper.start()
            browser = subprocess.run(
                ["node", "e2e/dashboard.e2e.mjs"],
                cwd=WEB,
                env={
                    **os.environ,
                    "DASHBOARD_URL": url,
                    "LOGIN_EMAIL": EMAIL,
                    "MAIL_DIR": str(mail),
                    "OUT_DIR": str(OUT),
                    "CHROMIUM": CHROMIUM,
                    "STEP_UP_TTL_S": str(STEP_UP_TTL_S),
                },
                capture_output=True,
                text=True,
                timeout=150,
                check=False,
            )
            print(browser.stdout)
            assert browser.returncode == 0, f"{browser.stdout}\n{browser.stderr}"
            assert run.process.wait(timeout=30) == 0  # stopped on the script's request
            # The CSV the browser downloaded: the API's export, one line per fill.
            exported = list(csv.DictReader(io.StringIO((OUT / "trades.csv").read_text())))
            assert exported, "no trade in the export"
            assert len({row["fill_id"] for row in exported}) == len(exported)
            assert all(Decimal(0) < Decimal(row["price"]) < Decimal(1) for row in exported)
            assert all(Decimal(row["size"]) > 0 for row in exported)
    finally:
        controller.stop()
    for name in SCREENSHOTS:
        assert (OUT / f"{name}.png").stat().st_size > 5000, name
