from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyarb.domain.numbers import (
    COST_SCALE,
    ONE,
    SIZE_SCALE,
    canonical,
    cost_to_decimal,
    decimal_to_price,
    decimal_to_size,
    parse_price,
    parse_size,
    price_str,
    price_to_decimal,
    size_str,
    size_to_decimal,
)


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("0.52", 5200),
        ("0.5", 5000),
        ("0.001", 10),
        ("0.0001", 1),
        ("1", ONE),
        ("1.0", ONE),
        ("0", 0),
        (".5", 5000),
        ("0.50000000", 5000),  # surplus zeros are exact, not rounding
    ],
)
def test_parse_price_accepts_plain_decimals(text: str, units: int) -> None:
    assert parse_price(text) == units


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("219.217767", 219_217_767),
        ("100", 100 * SIZE_SCALE),
        ("0", 0),
        ("5.", 5 * SIZE_SCALE),
        (".25", 250_000),
        ("007.10", 7_100_000),
        ("9000023.58", 9_000_023_580_000),
        ("1.0000000", SIZE_SCALE),
    ],
)
def test_parse_size_accepts_plain_decimals(text: str, units: int) -> None:
    assert parse_size(text) == units


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1_0",
        "1e5",
        "1.2.3",
        "0.1234567",
        "abc",
        "١",
        "0.٥",
        "5.-1",
    ],
)
def test_parse_size_rejects_anything_but_plain_decimals(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a|decimals"):
        parse_size(text)


@pytest.mark.parametrize("text", ["1.0001", "2", "0.00001", "-0.5", "0.5x", "", "٠.5"])
def test_parse_price_rejects_out_of_range_or_too_fine(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a|decimals|above 1"):
        parse_price(text)


@given(st.integers(min_value=0, max_value=10**15))
def test_size_text_round_trips(size: int) -> None:
    text = size_str(size)
    assert parse_size(text) == size
    assert Decimal(text) == size_to_decimal(size)
    assert not text.endswith(".")
    assert text == "0" or "." not in text or not text.endswith("0")


@given(st.integers(min_value=0, max_value=ONE))
def test_price_text_round_trips(price: int) -> None:
    text = price_str(price)
    assert parse_price(text) == price
    assert decimal_to_price(Decimal(text)) == price


@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=10**6 - 1),
    st.integers(min_value=0, max_value=6),
)
def test_parse_size_matches_decimal_reference(whole: int, frac: int, places: int) -> None:
    frac_text = str(frac).zfill(6)[:places]
    text = f"{whole}.{frac_text}" if places else str(whole)
    assert parse_size(text) == int(Decimal(text) * SIZE_SCALE)


def test_canonical_strings_have_no_exponent_or_trailing_zeros() -> None:
    assert canonical(Decimal("0.50")) == "0.5"
    assert canonical(Decimal("120.250")) == "120.25"
    assert canonical(Decimal("1E+3")) == "1000"
    assert canonical(Decimal("0.000")) == "0"
    assert price_str(5000) == "0.5"
    assert size_str(120_250_000) == "120.25"


def test_decimal_conversions_are_exact_and_refuse_finer_values() -> None:
    assert price_to_decimal(5123) == Decimal("0.5123")
    assert cost_to_decimal(5000 * 2 * SIZE_SCALE) == Decimal(1)
    assert decimal_to_size(Decimal("1.5")) == 1_500_000
    assert cost_to_decimal(COST_SCALE) == Decimal(1)
    with pytest.raises(ValueError, match="finer"):
        decimal_to_price(Decimal("0.00001"))
    with pytest.raises(ValueError, match="finer"):
        decimal_to_size(Decimal("0.0000001"))
