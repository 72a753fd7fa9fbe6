"""Errors the store raises, placed in the domain's error tree by what the caller does with them."""

from __future__ import annotations

from polyarb.domain.errors import ConfigError, PolyarbError, Transient


class StoreError(PolyarbError):
    """The store cannot do what was asked (bad state, spool in use, unwritable disk ...)."""


class StoreUnavailable(StoreError, Transient):
    """The database cannot be reached now: nothing was committed; do not act as if it were."""


class ModeMismatch(StoreError, ConfigError):
    """The database holds rows of another trading mode (live vs simulated): refuse to start."""


class SchemaOutdated(StoreError, ConfigError):
    """The database schema is behind the code and automatic upgrade is off."""
