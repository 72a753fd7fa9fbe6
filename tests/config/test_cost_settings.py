"""CHAIN_TX_COST_USD, DEFAULT_FEE_RATE and the *_MIN_PROFIT_USD floors: defaults and validation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyarb.config import Settings, load_settings
from polyarb.domain.errors import ConfigError
from polyarb.strategies.base import ClipperConfig, NegRiskConfig, SumTo100Config


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults_fail_closed_and_cost_the_chain() -> None:
    settings = load_settings(None)
    assert settings.default_fee_rate is None  # no fee data: not traded
    assert settings.chain_tx_cost_usd == Decimal("0.01")
    for config in (SumTo100Config, ClipperConfig, NegRiskConfig):
        built = config.from_settings(settings)
        assert built.chain_tx_cost_usd == Decimal("0.01")  # type: ignore[attr-defined]
        assert built.min_profit_usd == Decimal("0.05")  # type: ignore[attr-defined]


def test_one_chain_cost_for_every_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAIN_TX_COST_USD", "0.03")
    monkeypatch.setenv("NEGRISK_MIN_PROFIT_USD", "0.5")
    settings = load_settings(None)
    assert NegRiskConfig.from_settings(settings).chain_tx_cost_usd == Decimal("0.03")
    assert SumTo100Config.from_settings(settings).chain_tx_cost_usd == Decimal("0.03")
    assert NegRiskConfig.from_settings(settings).min_profit_usd == Decimal("0.5")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CHAIN_TX_COST_USD", "-0.01", "CHAIN_TX_COST_USD: Input should be greater than or equal"),
        ("CHAIN_TX_COST_USD", "11", "CHAIN_TX_COST_USD: Input should be less than or equal"),
        ("DEFAULT_FEE_RATE", "1.5", "DEFAULT_FEE_RATE: Input should be less than or equal"),
        ("DEFAULT_FEE_RATE", "abc", "DEFAULT_FEE_RATE"),
        ("SUMTO100_MIN_PROFIT_USD", "-1", "SUMTO100_MIN_PROFIT_USD: Input should be greater"),
        ("POLYGON_RPC_URL", "node.example:8545", "POLYGON_RPC_URL: expected an http"),
        ("POLYGON_RPC_URL", "ftp://node.example", "POLYGON_RPC_URL: expected an http"),
        ("POLY_WS_URL", "https://ws.example/ws/market", "POLY_WS_URL: expected a wss:// or ws://"),
        ("POLY_CLOB_URL", "clob.polymarket.com", "POLY_CLOB_URL: expected a https:// or http://"),
        ("POLY_GAMMA_URL", "htps://gamma.example", "POLY_GAMMA_URL: expected a https://"),
        ("SNIPER_ESPN_URL", "http://", "SNIPER_ESPN_URL: expected a https://"),
        ("REDIS_URL", "127.0.0.1:6379", "REDIS_URL: expected a redis:// or rediss:// or unix://"),
        ("SLACK_WEBHOOK_URL", "hooks.slack.com/x", "SLACK_WEBHOOK_URL: expected an http"),
        ("REPORT_DAILY_AT", "25:00", "REPORT_DAILY_AT: not a time of day"),
        ("REPORT_DAILY_AT", "noon", "REPORT_DAILY_AT: expected HH:MM"),
        ("LIVE_CRASH_AT", "bogus", "LIVE_CRASH_AT: Input should be"),
        ("CHAIN_POL_USD", "0", "CHAIN_POL_USD: Input should be greater than 0"),
        ("LIVE_RECONCILE_S", "0", "LIVE_RECONCILE_S: Input should be greater than 0"),
        ("LIVE_SLIPPAGE", "1.5", "LIVE_SLIPPAGE: Input should be less than or equal"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings(None)


def test_url_settings_accept_their_schemes_and_never_echo_a_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POLY_WS_URL", "ws://127.0.0.1:9000/ws/market")
    monkeypatch.setenv("POLY_CLOB_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("REDIS_URL", "rediss://:pw@redis.example:6380/0")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/secret")
    settings = load_settings(None)
    assert settings.poly_ws_url.startswith("ws://")
    assert settings.redis_url == "rediss://:pw@redis.example:6380/0"
    monkeypatch.setenv("REDIS_URL", "redis-sentinel://:hunter2@host:26379")
    with pytest.raises(ConfigError, match="REDIS_URL: expected") as raised:
        load_settings(None)
    assert "hunter2" not in str(raised.value)


def test_a_crash_drill_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVE_CRASH_AT", "after_send")
    assert load_settings(None).live_crash_at == "after_send"  # development: the drills run
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ConfigError, match="LIVE_CRASH_AT is a test drill"):
        load_settings(None)
