"""The image's install steps, done here in a clean virtualenv (there is no Docker engine on these
machines): the wheel built from this checkout as the Dockerfile's wheels stage builds it, installed
into a fresh virtualenv as the runtime stage installs it, then the installed entry points started
as the containers start them: `polyarb --help`, the commands docker-compose.yml and the Railway
configs run, `polyarb db upgrade` (the migrations are in the wheel), the dashboard's and the
engine's /health, and the image's HEALTHCHECK script against them.

Built once per session (a wheel, a virtualenv: about 20 s, pip's cache reused for the pinned
dependencies); the rest takes a few seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from tests.deploy.test_deploy_files import ALERTS, DASHBOARD, METRIC, panels
from tests.servers import free_port

from polyarb.config import KNOWN_PREFIXES, Settings

ROOT = Path(__file__).resolve().parents[2]
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"


class Installed:
    def __init__(self, venv: Path, work: Path) -> None:
        self.venv = venv
        self.work = work
        self.python = venv / "bin" / "python"
        self.polyarb = venv / "bin" / "polyarb"

    def env(self, **extra: str) -> dict[str, str]:
        """This machine's environment without any polyarb setting, plus ``extra``."""
        settings = {name.upper() for name in Settings.model_fields}
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.upper().startswith(KNOWN_PREFIXES) and k.upper() not in settings
        }
        env.update(DATA_DIR=str(self.work / "data"), **extra)
        return env

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.polyarb), *args],
            cwd=self.work,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def healthcheck(self, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), str(HEALTHCHECK)],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("install")
    # The wheels stage's context: pyproject.toml, README.md, src/, and the web stage's bundle in
    # src/polyarb/api/static (the checkout's build when there is one; the Node stage is not run
    # here, so otherwise a stand-in page).
    context = base / "context"
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, context / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", context / "src", ignore=ignore)
    static = context / "src" / "polyarb" / "api" / "static"
    if not (static / "index.html").exists():
        (static / "assets").mkdir(parents=True, exist_ok=True)
        (static / "index.html").write_text("<!doctype html><title>polyarb</title>\n")
        (static / "assets" / "app.js").write_text("export {};\n")
    # The wheels stage: `pip wheel .` (its own build environment, as in the image).
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(base / "dist"),
            context,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    [wheel] = (base / "dist").glob("polyarb-*.whl")
    # The runtime stage: a Python with nothing installed, then the wheel and its pinned
    # dependencies (this pip serves the new environment; its cache spares the downloads).
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    work = base / "work"
    work.mkdir()
    return Installed(venv, work)


def test_the_installed_package_is_the_wheel_not_this_checkout(installed: Installed) -> None:
    where = subprocess.run(
        [str(installed.python), "-c", "import polyarb; print(polyarb.__file__)"],
        cwd=installed.work,
        env=installed.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(installed.venv / "lib")), where
    assert str(ROOT / "src") not in where
    # The web bundle travels in the wheel (package data), nested folders included.
    static = Path(where).parent / "api" / "static"
    assert (static / "index.html").is_file()
    assert any(path.is_file() for path in static.glob("*/*")), sorted(static.rglob("*"))


def commands_the_containers_run() -> list[list[str]]:
    """The argv (after `polyarb`) of every container: the image's CMD, compose, Railway."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    out = [json.loads(re.search(r"^CMD (.*)$", dockerfile, re.MULTILINE).group(1))]  # type: ignore[union-attr]
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    out += [s["command"] for s in services.values() if s.get("image", "").startswith("${POLYARB")]
    for path in sorted((ROOT / "deploy" / "railway").glob("*.json")):
        deploy = json.loads(path.read_text())["deploy"]
        for command in [deploy["startCommand"], *deploy["preDeployCommand"]]:
            argv = command.split()
            assert argv[0] == "polyarb", command
            out.append(argv[1:])
    return out


def test_the_entry_points_and_every_container_command_start(installed: Installed) -> None:
    helped = installed.run("--help")
    assert helped.returncode == 0, helped.stderr
    for command in ("run", "dashboard", "db"):
        assert re.search(rf"^\W*{command}\b", helped.stdout, re.MULTILINE), command
    commands = commands_the_containers_run()
    assert ["run"] in commands
    assert ["dashboard"] in commands
    assert ["db", "upgrade"] in commands
    for argv in {tuple(a) for a in commands}:
        # Every option the containers pass is one this build accepts.
        done = installed.run(*argv, "--help")
        assert done.returncode == 0, f"polyarb {' '.join(argv)}: {done.stderr}"
    # The migrations travel in the wheel: `db upgrade` (the migrate service) builds the schema.
    upgraded = installed.run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = installed.run("db", "current")
    assert current.returncode == 0, current.stdout + current.stderr


class Process:
    """A long-running installed command; stopped with the signal a container stop sends."""

    def __init__(self, installed: Installed, args: list[str], env: dict[str, str]) -> None:
        self.log = installed.work / f"{args[0]}.log"
        self.handle = self.log.open("w")
        self.process = subprocess.Popen(
            [str(installed.polyarb), *args],
            cwd=installed.work,
            env=installed.env(**env),
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, port: int, timeout_s: float = 45) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            assert answer.status_code == 200, answer.text
            body: dict[str, object] = answer.json()
            return body
        raise AssertionError(f"no /health on {port}: {self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            self.handle.close()


@pytest.fixture
def started() -> Iterator[list[Process]]:
    processes: list[Process] = []
    yield processes
    for process in processes:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait(timeout=10)


def test_the_installed_dashboard_answers_health_and_the_image_healthcheck(
    installed: Installed, redis_url: str, started: list[Process]
) -> None:
    api_port, nobody = free_port(), free_port()
    dashboard = Process(
        installed,
        ["dashboard"],
        {"REDIS_URL": redis_url, "API_HOST": "127.0.0.1", "API_PORT": str(api_port)},
    )
    started.append(dashboard)
    assert dashboard.wait_healthy(api_port) == {"status": "ok"}
    # The HEALTHCHECK: the dashboard has no HEALTH_PORT server; its API's /health is enough.
    ok = installed.healthcheck(HEALTH_PORT=str(nobody), API_PORT=str(api_port))
    assert ok.returncode == 0, ok.stdout
    down = installed.healthcheck(HEALTH_PORT=str(nobody), API_PORT="0")
    assert down.returncode == 1
    assert f"127.0.0.1:{nobody}/health" in down.stdout
    assert dashboard.stop() == 0, dashboard.log.read_text()
    gone = installed.healthcheck(HEALTH_PORT="0", API_PORT=str(api_port))
    assert gone.returncode == 1
    assert gone.stdout.startswith("unhealthy:")


def test_the_installed_engine_answers_health_and_the_image_healthcheck(
    installed: Installed, started: list[Process]
) -> None:
    health_port = free_port()
    engine = Process(
        installed,
        ["run", "--venue", "sim", "--duration", "60"],
        {"HEALTH_PORT": str(health_port), "API_ENABLED": "false", "LOG_FORMAT": "json"},
    )
    started.append(engine)
    engine.wait_healthy(health_port)
    ok = installed.healthcheck(HEALTH_PORT=str(health_port), API_PORT="0")
    assert ok.returncode == 0, ok.stdout
    metrics = httpx.get(f"http://127.0.0.1:{health_port}/metrics", timeout=5)
    assert metrics.status_code == 200
    # Every polyarb series the alert rules and the Grafana panels query belongs to a family
    # this installed engine serves (its label values: test_deploy_files.py).
    families = set(re.findall(r"^# TYPE (\S+) ", metrics.text, re.MULTILINE))
    queried = {m.group(1) for expr in queried_expressions() for m in METRIC.finditer(expr)}
    missing = [
        name
        for name in sorted(queried)
        if name.startswith("polyarb_") and not {name, re.sub(SUFFIX, "", name)} & families
    ]
    assert missing == []
    assert len(queried) > 30
    assert engine.stop() in (0, 130), engine.log.read_text()


SUFFIX = re.compile(r"_(total|bucket|sum|count|created|info)$")


def queried_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())["groups"]
    exprs = [rule["expr"] for group in rules for rule in group["rules"]]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs += [t["expr"] for p in panels(dashboard["panels"]) for t in p.get("targets", [])]
    return exprs
