"""The deployment files pass the tools that check them here (there is no Docker engine on these
machines): hadolint on the Dockerfile, actionlint and the workflow schema on .github/workflows,
the compose specification's JSON schema (vendored in deploy/schemas) on docker-compose.yml,
promtool on the Prometheus configuration and rules. Each tool is also shown a broken file, so a
tool that checks nothing cannot pass. The rest is what the tools do not know: the policies of
these files (pinned images and actions, least privilege, secrets only from .env) and that the
containers' environment passes polyarb's strict settings loader.

hadolint, actionlint and check-jsonschema come with the dev extra (binaries inside the wheels);
promtool from Debian's ``prometheus`` package, which scripts/ensure-services installs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import unavailable

from polyarb.config import COMPOSE_VARIABLES, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
WORKFLOWS = ROOT / ".github" / "workflows"
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
RAILWAY = ROOT / "deploy" / "railway"
COMPOSE_SCHEMA = ROOT / "deploy" / "schemas" / "compose-spec.json"
POLYARB_SERVICES = ("migrate", "engine", "dashboard")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def tool(name: str) -> Path:
    """A checker installed by the dev extra, next to this interpreter."""
    path = BIN / name
    assert path.exists(), f"{name} is not installed: pip install -e '.[dev]'"
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=60, check=False
    )


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


# --- Dockerfile ----------------------------------------------------------------------------------


def test_hadolint_passes_the_dockerfile_and_catches_a_bad_one(tmp_path: Path) -> None:
    hadolint = tool("hadolint")
    done = run(hadolint, "--failure-threshold", "info", DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    caught = run(hadolint, "--failure-threshold", "info", bad)
    assert caught.returncode != 0
    assert "DL3007" in caught.stdout  # the latest tag
    assert "DL3008" in caught.stdout  # unpinned apt packages


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_stages_pins_user_healthcheck_and_entry_point() -> None:
    steps = instructions(DOCKERFILE.read_text())
    args = dict(rest.split("=", 1) for kind, rest in steps if kind == "ARG" and "=" in rest)
    froms = [rest for kind, rest in steps if kind == "FROM"]
    assert [f.split(" AS ")[-1] for f in froms] == ["web", "wheels", "runtime"]
    for image in (args["PYTHON_IMAGE"], args["NODE_IMAGE"]):
        # An exact tag (no "latest", a patch or minor version) and the digest.
        assert re.fullmatch(r"[a-z]+:\d+\.\d+[\w.\-]*@sha256:[0-9a-f]{64}", image), image
    web = [rest for kind, rest in steps[: steps.index(("FROM", froms[1]))] if kind == "RUN"]
    assert any("npm ci" in r for r in web)
    assert any("npm run build" in r and "src/polyarb/api/static" in r for r in web)
    runtime = steps[steps.index(("FROM", froms[2])) :]
    users = [rest for kind, rest in runtime if kind == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"0", "root"}
    [healthcheck] = [rest for kind, rest in runtime if kind == "HEALTHCHECK"]
    assert "/usr/local/lib/polyarb/healthcheck.py" in healthcheck
    assert ("ENTRYPOINT", '["polyarb"]') in runtime
    assert ("CMD", '["run"]') in runtime
    # No secret is given to the build or baked into the image.
    assert not [r for kind, r in steps if kind in {"ARG", "ENV"} and re.search("SECRET|PASS", r)]


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"  # an allowlist: what is not named below stays out (.env, .git, data)
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "src", "web", "deploy/docker"}
    copied = re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    for source in copied:
        assert any(source.rstrip("/").startswith(a) for a in allowed), source
    assert "src/polyarb/api/static/" in rules  # the bundle comes from the Node stage only


# --- GitHub Actions ------------------------------------------------------------------------------


def workflows() -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(WORKFLOWS.glob("*.yml"))}


def test_actionlint_and_the_workflow_schema_pass_and_catch_a_bad_workflow(tmp_path: Path) -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["ci.yml", "deploy.yml"]
    actionlint = tool("actionlint")
    done = run(actionlint, "-no-color", *files)
    assert done.returncode == 0, done.stdout + done.stderr
    schema = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.event.nope( }}\n"
    )
    caught = run(actionlint, "-no-color", bad)
    assert caught.returncode == 1
    assert "bad.yml:6" in caught.stdout


def test_workflows_pin_actions_and_grant_least_privilege() -> None:
    for name, flow in workflows().items():
        text = (WORKFLOWS / name).read_text()
        for action in re.findall(r"uses:\s*(\S+)", text):
            _, _, ref = action.partition("@")
            # actions/* by full commit SHA (release in a comment), others by an exact release.
            if action.startswith("actions/"):
                assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{name}: {action}"
            else:
                assert re.fullmatch(r"v\d+\.\d+\.\d+", ref), f"{name}: {action}"
        # Top-level permissions at most read; a job that needs more says so itself.
        assert flow["permissions"] in ({}, {"contents": "read"}), name
        assert "write-all" not in text
        for job_name, job in flow["jobs"].items():
            granted = job.get("permissions", {})
            writes = {scope for scope, level in granted.items() if level == "write"}
            expected = {"packages"} if (name, job_name) == ("deploy.yml", "image") else set()
            assert writes == expected, f"{name}/{job_name}: {granted}"
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout"):
                    assert step["with"]["persist-credentials"] is False, f"{name}/{job_name}"
    deploy = workflows()["deploy.yml"]
    # Deploys only commits whose CI passed on main; Railway's token is a secret, never inline.
    trigger = deploy[True] if True in deploy else deploy["on"]  # YAML 1.1 reads `on` as True
    assert trigger["workflow_run"] == {
        "workflows": ["ci"],
        "types": ["completed"],
        "branches": ["main"],
    }
    railway = deploy["jobs"]["railway"]
    assert railway["env"]["RAILWAY_TOKEN"] == "${{ secrets.RAILWAY_TOKEN }}"
    assert railway["needs"] == "image"
    ci = workflows()["ci.yml"]
    services = ci["jobs"]["test"]["services"]
    assert set(services) == {"redis", "postgres"}
    # CI tests against the servers, and builds the bundle with the Node, that production uses.
    for name, service in services.items():
        assert service["image"] == compose()["services"][name]["image"], name
    node = re.search(r"NODE_IMAGE=node:([\d.]+)-", DOCKERFILE.read_text())
    assert node is not None
    for flow in (ci, deploy):
        for job in flow["jobs"].values():
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/setup-node"):
                    assert step["with"]["node-version"] == node.group(1)
    assert "bash .ci/run" in [step.get("run") for step in ci["jobs"]["test"]["steps"]]


# --- docker compose ------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec_and_a_bad_one_does_not(tmp_path: Path) -> None:
    checker = tool("check-jsonschema")
    done = run(checker, "--schemafile", COMPOSE_SCHEMA, COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(COMPOSE.read_text().replace("service_completed_successfully", "service_done"))
    caught = run(checker, "--schemafile", COMPOSE_SCHEMA, bad)
    assert caught.returncode == 1
    assert "service_done" in caught.stdout


def test_compose_services_wait_for_their_dependencies() -> None:
    services = compose()["services"]
    assert {"engine", "dashboard", "migrate", "redis", "postgres"} <= set(services)
    for name in ("postgres", "redis", "engine", "dashboard", "prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for name in ("engine", "dashboard"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
    assert services["engine"]["environment"]["API_ENABLED"] == "false"
    assert services["engine"]["volumes"] == ["engine-data:/app/data"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"], name
    # Published ports only on the loopback address of the host.
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port}"
    # Every file mounted from the checkout exists.
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_compose_secrets_come_from_env_and_env_example_documents_them() -> None:
    text = COMPOSE.read_text()
    names = {m.group(1) for m in INTERPOLATION.finditer(text)}
    assert names == COMPOSE_VARIABLES
    example = (ROOT / ".env.example").read_text()
    for name in names:
        assert re.search(rf"^{name}=", example, re.MULTILINE), f".env.example lacks {name}"
    # The passwords have no default: compose refuses to start without them.
    required = {m.group(1) for m in INTERPOLATION.finditer(text) if m.group(2) == "?"}
    assert required == {"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}
    # A secret's value in the file is only ever a reference to .env.
    for service in compose()["services"].values():
        for key, value in dict(service.get("environment", {})).items():
            if re.search("PASSWORD|SECRET|TOKEN", key):
                assert INTERPOLATION.fullmatch(str(value)), key
    for name in POLYARB_SERVICES:
        assert compose()["services"][name]["env_file"] == [{"path": ".env", "required": True}]


def container_environment(service: str, data_dir: Path) -> dict[str, str]:
    """What polyarb sees in ``service``'s container: the Dockerfile's ENV, .env (here: a filled-in
    .env.example), then the service's environment, with compose's interpolation done."""
    dockerfile = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", dockerfile, re.MULTILINE):
        env.update(dict(pair.split("=", 1) for pair in line.split()))
    dotenv = dict(re.findall(r"^(\w+)=(.*)$", (ROOT / ".env.example").read_text(), re.M))
    dotenv.update(POSTGRES_PASSWORD="pg-Secret-1", GRAFANA_ADMIN_PASSWORD="gf-Secret-2")
    env.update({k: v for k, v in dotenv.items() if v != ""})

    def interpolate(value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name, kind, default = match.groups()
            if dotenv.get(name):
                return dotenv[name]
            assert kind == "-", f"{name} is required and unset"
            return str(default)

        return INTERPOLATION.sub(one, value)

    env.update(
        {k: interpolate(str(v)) for k, v in compose()["services"][service]["environment"].items()}
    )
    env["DATA_DIR"] = str(data_dir)  # /app/data is the image's volume
    return env


@pytest.mark.parametrize("service", POLYARB_SERVICES)
def test_each_polyarb_containers_environment_passes_the_strict_loader(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(Settings.model_fields) + list(COMPOSE_VARIABLES):
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in container_environment(service, tmp_path).items():
        monkeypatch.setenv(name, value)
    settings = load_settings(None)
    assert settings.database_url == "postgresql+asyncpg://polyarb:pg-Secret-1@postgres:5432/polyarb"
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.db_auto_upgrade is False
    # Reachable from the compose network whatever .env says for a process on the host.
    assert (settings.health_host, settings.health_port) == ("0.0.0.0", 8080)
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", 8000)
    assert settings.api_enabled is (service != "engine")
    assert settings.dry_run is True  # the safe default holds in the containers too
    # A compose variable in .env is accepted by polyarb on the host too (and ignored).
    dotenv = tmp_path / ".env"
    dotenv.write_text("POSTGRES_PASSWORD=pg-Secret-1\nPOLYARB_IMAGE=polyarb:local\n")
    load_settings(dotenv)


# --- Prometheus and Grafana ----------------------------------------------------------------------


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool is not installed: scripts/ensure-services installs it (prometheus)")
    return str(found)


def test_promtool_checks_the_configs_and_rules_and_catches_a_bad_rule(tmp_path: Path) -> None:
    binary = promtool()
    for config in ("prometheus.yml", "prometheus-compose.yml"):
        # check config also checks the rule files it names (alerts.yml).
        done = run(binary, "check", "config", PROMETHEUS / config)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout
    rules = run(binary, "check", "rules", PROMETHEUS / "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    loaded = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    count = sum(len(group["rules"]) for group in loaded["groups"])
    assert f"SUCCESS: {count} rules found" in rules.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: X\n"
        "        expr: rate(polyarb_feed_frames_total[5m]\n"
    )
    caught = run(binary, "check", "rules", bad)
    assert caught.returncode != 0
    compose_targets = yaml.safe_load((PROMETHEUS / "prometheus-compose.yml").read_text())
    [job] = compose_targets["scrape_configs"]
    engine_port = compose()["services"]["engine"].get("environment", {}).get("HEALTH_PORT")
    assert job["static_configs"] == [{"targets": [f"engine:{engine_port or 8080}"]}]


def test_grafana_provisioning_finds_the_dashboard_and_its_datasource() -> None:
    provisioning = GRAFANA / "provisioning"
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "polyarb.yml").read_text())[
        "providers"
    ]
    mounts = compose()["services"]["grafana"]["volumes"]
    folder = provider["options"]["path"]
    assert f"./deploy/grafana/polyarb-engine.json:{folder}/polyarb-engine.json:ro" in mounts
    dashboard = json.loads((GRAFANA / "polyarb-engine.json").read_text())
    # The panels' ${DS_PROMETHEUS} is a datasource variable, so a provisioned dashboard resolves it.
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == source["type"]


# --- Railway -------------------------------------------------------------------------------------


def railway() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(RAILWAY.glob("*.json"))}


def test_railway_services_build_this_image_and_check_health() -> None:
    configs = railway()
    assert set(configs) == {"engine", "dashboard"}
    for name, config in configs.items():
        assert set(config) == {"$schema", "build", "deploy"}, name
        assert config["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
        deploy = config["deploy"]
        assert deploy["startCommand"].split()[:2] == [
            "polyarb",
            "run" if name == "engine" else name,
        ]
        assert deploy["preDeployCommand"] == ["polyarb db upgrade"]
        assert deploy["healthcheckPath"] == "/health"
        assert 10 <= deploy["healthcheckTimeout"] <= 300
        assert deploy["restartPolicyType"] == "ON_FAILURE"
        assert deploy["restartPolicyMaxRetries"] > 0
        assert deploy["numReplicas"] == 1  # one engine per account (the DATA_DIR lock)
