"""deploy/: the Prometheus alert rules and the Grafana dashboard must only use metrics the
engine exports, with label values it exports, and every alert must have its runbook.

The exported names come from a scrape of a real engine's registry (``build_registry`` over an
``Engine``, a ``MarketFeed``, a bus, a SQLite ``Store`` and the breakers, as ``polyarb run``
wires them), not from a list kept by hand. Here PromQL is checked for balanced brackets and valid
range durations; promtool parses it too (test_deploy_tools.py).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.engine.replaykit import EngineDriver, sim_driver, universe_of

from polyarb.bus import make_bus
from polyarb.config import load_settings
from polyarb.domain.trading import Mode
from polyarb.engine.health import make_breakers
from polyarb.engine.metrics import Watched, build_registry
from polyarb.marketdata.feed import FeedConfig, MarketFeed
from polyarb.monitor.slack import SlackNotifier
from polyarb.store import Store, WriterConfig, resolve_database_url
from polyarb.strategies.base import Sighting

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "polyarb-engine.json"
RUNBOOK = ROOT / "docs" / "operations.md"
# Series Prometheus itself adds to every target.
PROMETHEUS_OWN = {"up": {"job", "instance"}}

Exported = dict[str, dict[str, set[str]]]  # sample name -> label name -> values seen

METRIC = re.compile(r"\b((?:polyarb|process|python)_[a-z0-9_]+|up)\b(?:\{([^}]*)\})?")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
RANGE = re.compile(r"\[([^\]]*)\]")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return asyncio.run(scrape_engine(tmp_path_factory.mktemp("deploy")))


async def scrape_engine(tmp: Path) -> Exported:
    settings = load_settings(None, data_dir=tmp, sniper_enabled=True)
    driver = sim_driver(seed=4, binary_markets=2, negrisk_events=1, closed_markets=0)
    engine = EngineDriver(settings, universe_of(driver.gamma_markets(), settings)).engine
    feed = MarketFeed("ws://127.0.0.1:9/ws", list(engine.books.books), engine.books, FeedConfig())
    bus = make_bus(None, "deploy-test")
    await bus.start()
    store = await Store.open(
        resolve_database_url(None, tmp),
        mode=Mode.PAPER,
        spool_dir=tmp / "spool",
        writer=WriterConfig(process=False),
    )
    notifier = SlackNotifier("http://127.0.0.1:9/hook")  # its metrics; never posts here
    try:
        breakers = tuple(make_breakers(settings).values())
        registry = build_registry(Watched(engine, feed, bus, store, breakers, notifier))
        # Series that appear with their first event: an opportunity seen once, then gone.
        sighting = Sighting(market="m", edge=Decimal("0.01"), size=Decimal(10))
        engine.tracker.observe("sumto100", ["m"], [sighting], 1)
        engine.tracker.observe("sumto100", ["m"], [], 2)
        text = generate_latest(registry).decode()
    finally:
        await notifier.close(timeout_s=0.1)
        await store.close()
        await bus.close()
    out: Exported = {
        name: {label: set() for label in labels} for name, labels in PROMETHEUS_OWN.items()
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = out.setdefault(sample.name, {})
            for key, value in sample.labels.items():
                labels.setdefault(key, set()).add(value)
    return out


def problems_of(expr: str, exported: Exported) -> list[str]:
    """What in ``expr`` the engine does not export, and bracket or duration mistakes."""
    problems = []
    for opening, closing in ("()", "[]", "{}"):
        if expr.count(opening) != expr.count(closing):
            problems.append(f"unbalanced {opening}{closing}")
    for window in RANGE.findall(expr):
        if not re.fullmatch(r"\d+[smhd]", window):
            problems.append(f"bad range [{window}]")
    names = list(METRIC.finditer(expr))
    if not names:
        problems.append("no metric")
    for match in names:
        name, matchers = match.group(1), match.group(2) or ""
        if name not in exported:
            problems.append(f"{name} is not exported")
            continue
        labels = exported[name]
        for label, op, value in MATCHER.findall(matchers):
            if label not in labels:
                problems.append(f"{name} has no label {label}")
            elif op == "=" and value not in labels[label] and name not in PROMETHEUS_OWN:
                problems.append(f'{name}{{{label}="{value}"}}: value never exported')
    return problems


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_the_checker_catches_what_it_must(exported: Exported) -> None:
    assert problems_of("rate(polyarb_feed_frames_total[5m])", exported) == []
    assert problems_of("rate(polyarb_feed_frame_total[5m])", exported) == [
        "polyarb_feed_frame_total is not exported"
    ]
    assert problems_of('polyarb_trading_state{state="paused"} == 1', exported) == [
        'polyarb_trading_state{state="paused"}: value never exported'
    ]
    assert problems_of('polyarb_books{kind="fresh"}', exported) == [
        "polyarb_books has no label kind"
    ]
    assert problems_of("rate(polyarb_feed_frames_total[5 m])", exported) == ["bad range [5 m]"]
    assert problems_of("sum(rate(polyarb_feed_frames_total[5m])", exported) == ["unbalanced ()"]


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    [group] = loaded["groups"]
    assert group["name"] == "polyarb-engine"
    return list(group["rules"])


def test_alert_rules_use_exported_metrics_and_have_runbooks(exported: Exported) -> None:
    runbook = anchors(RUNBOOK.read_text())
    names = []
    failures = []
    for rule in rules():
        name = rule["alert"]
        names.append(name)
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, name
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["summary"], name
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), name
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/operations.md#{name.lower()}", name
        assert name.lower() in runbook, f"docs/operations.md has no section {name}"
        failures += [f"{name}: {p}" for p in problems_of(rule["expr"], exported)]
    assert failures == []
    assert len(names) == len(set(names))
    assert len(names) >= 20


def panels(items: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def test_dashboard_panels_query_exported_metrics(exported: Exported) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "polyarb-engine"
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = []
    failures = []
    queried = set()
    for panel in panels(dashboard["panels"]):
        ids.append(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        targets = panel["targets"]
        assert targets, panel["title"]
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            failures += [f"{panel['title']}: {p}" for p in problems_of(target["expr"], exported)]
            queried.update(m.group(1) for m in METRIC.finditer(target["expr"]))
    assert failures == []
    assert len(ids) == len(set(ids))
    # Every area of the issue has a panel.
    for needed in (
        "polyarb_feed_messages_total",
        "polyarb_tick_to_decision_seconds_bucket",
        "polyarb_signals_total",
        "polyarb_orders_total",
        "polyarb_realized_pnl_dollars",
        "polyarb_exposure_dollars",
        "polyarb_bus_dropped_total",
        "polyarb_store_queue_depth",
        "polyarb_breaker_state",
    ):
        assert needed in queried, needed
