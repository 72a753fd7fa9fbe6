"""URL passwords are masked and registered secrets scrubbed, in every form they may take."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from polyarb.domain.secrets import forget_secrets, mask_url, register_url, scrub


@pytest.fixture(autouse=True)
def _no_secrets_left() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+asyncpg://bob:pw-1234@db:5432/app",
            "postgresql+asyncpg://bob:***@db:5432/app",
        ),
        ("redis://:hunter22@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://default:p%40ss-word@cache/1", "rediss://default:***@cache/1"),
        (
            "postgresql://bob@db/app?password=qs-secret&sslmode=require",
            "postgresql://bob@db/app?password=***&sslmode=require",
        ),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("https://gamma-api.polymarket.com", "https://gamma-api.polymarket.com"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_registered_url_secrets_are_scrubbed_as_given_quoted_and_decoded() -> None:
    register_url("rediss://default:p%40ss-word@cache/1")
    register_url("postgresql://bob@db/app?password=qs-secret")
    text = "a p%40ss-word, a p@ss-word, a p%2540ss-word and a qs-secret"
    assert scrub(text) == "a ***, a ***, a *** and a ***"
    assert scrub("nothing secret here") == "nothing secret here"
