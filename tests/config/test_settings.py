"""Settings are strict: a typo or a bad value must never mean live trading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyarb.cli import app
from polyarb.config import COMPOSE_VARIABLES, Settings, load_settings
from polyarb.domain.errors import ConfigError

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def _clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_env(monkeypatch)


def test_defaults_are_the_safe_ones() -> None:
    settings = load_settings(None)
    assert settings.dry_run is True
    assert settings.sumto100_paper_trading is True
    assert settings.mode == "paper"
    assert settings.redis_url is None
    assert settings.database_url is None


@pytest.mark.parametrize("value", ["yes", "no", "on", "off", "ture", "2"])
def test_dry_run_accepts_only_true_or_false(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DRY_RUN", value)
    with pytest.raises(ConfigError, match=r"DRY_RUN: accepted values are true or false"):
        load_settings(None)


@pytest.mark.parametrize("value", ["TRUE", "true", "1", "True"])
def test_dry_run_true_spellings(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DRY_RUN", value)
    assert load_settings(None).dry_run is True


def test_negative_limit_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISK_MAX_POSITION", "-5")
    with pytest.raises(ConfigError, match=r"RISK_MAX_POSITION: Input should be greater than 0"):
        load_settings(None)


def test_unknown_choice_lists_accepted_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEG_POLICY", "yolo")
    with pytest.raises(ConfigError, match=r"LEG_POLICY: .*'unwind', 'complete' or 'hold'"):
        load_settings(None)


def test_unknown_prefixed_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUMTO100_MIN_EGDE", "0.5")
    with pytest.raises(ConfigError, match="SUMTO100_MIN_EGDE"):
        load_settings(None)


def test_live_with_paper_on_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "false")
    with pytest.raises(ConfigError, match="ambiguous"):
        load_settings(None)


def test_live_needs_both_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "false")
    monkeypatch.setenv("SUMTO100_PAPER_TRADING", "false")
    assert load_settings(None).mode == "live"
    monkeypatch.setenv("DRY_RUN", "true")
    assert load_settings(None).mode == "log-only"


def test_paper_trading_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPER_TRADING", "false")
    assert load_settings(None).mode == "log-only"
    monkeypatch.setenv("SUMTO100_PAPER_TRADING", "true")
    with pytest.raises(ConfigError, match="disagree"):
        load_settings(None)


def test_dotenv_file_is_read_and_unknown_keys_refused(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("SUMTO100_MIN_EDGE=0.01\nPOSTGRES_PASSWORD=for-compose\n")
    assert str(load_settings(env).sumto100_min_edge) == "0.01"
    env.write_text("SUMTO100_MIN_EDGE=0.01\nNOT_A_SETTING=1\n")
    with pytest.raises(ConfigError, match="NOT_A_SETTING: unknown setting"):
        load_settings(env)


def test_env_example_documents_every_setting_and_parses() -> None:
    text = ENV_EXAMPLE.read_text()
    documented = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from .env.example"
    # docker-compose.yml's variables share .env (documented there too, ignored by polyarb).
    assert documented - fields == COMPOSE_VARIABLES, ".env.example documents unknown settings"
    settings = load_settings(ENV_EXAMPLE)
    assert settings.mode == "paper"


def test_config_command_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLY_API_SECRET", "s3cr3t-value")
    monkeypatch.setenv("POLY_PRIVATE_KEY", "0x" + "ab" * 32)
    result = CliRunner().invoke(app, ["config", "--json"])
    assert result.exit_code == 0, result.output
    assert "s3cr3t-value" not in result.output
    assert "abab" not in result.output
    assert '"POLY_API_SECRET": "********"' in result.output
    assert '"MODE": "paper"' in result.output


def test_config_command_bad_value_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "yes")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 2
    assert "DRY_RUN: accepted values are true or false (got 'yes')" in result.output
    assert "Traceback" not in result.output
