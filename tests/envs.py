"""The environment a test gives a `polyarb` subprocess: this one's, without any polyarb setting
(so the developer's shell or CI cannot change what the test sees)."""

from __future__ import annotations

import os

from polyarb.config import KNOWN_PREFIXES


def settings_free_env(*drop: str) -> dict[str, str]:
    """``os.environ`` without the variables of ``KNOWN_PREFIXES`` and without ``drop``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(KNOWN_PREFIXES)}
    for name in drop:
        env.pop(name, None)
    return env
