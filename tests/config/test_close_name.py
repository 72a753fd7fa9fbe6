"""The typo finder's shortcut (only the names whose length can reach the cutoff) picks exactly
what difflib over every setting name picks: the user-facing messages are in test_config_cli."""

from __future__ import annotations

import difflib
import random
import string

from polyarb.config import TYPO_SIMILARITY, Settings, close_name


def test_close_name_is_difflib_over_every_name() -> None:
    names = sorted(name.upper() for name in Settings.model_fields)
    rng = random.Random(9)
    letters = string.ascii_uppercase + "_"
    words = ["PATH", "HOME", "DATABSE_URL", "REDIS_UR", "X", "", "PYTHONPATH", "SHLVL"]
    for name in names:  # the usual typos of every name: a letter lost, doubled, swapped, changed
        i = rng.randrange(len(name))
        words += [
            name[:i] + name[i + 1 :],
            name[:i] + name[i] + name[i:],
            name[:i] + name[i + 1 : i + 2] + name[i : i + 1] + name[i + 2 :],
            name[:i] + rng.choice(letters) + name[i + 1 :],
            name + "_" + "".join(rng.choices(letters, k=rng.randrange(1, 6))),
        ]
    words += ["".join(rng.choices(letters, k=rng.randrange(1, 30))) for _ in range(300)]
    found = 0
    for word in words:
        expected = difflib.get_close_matches(word, names, n=1, cutoff=TYPO_SIMILARITY)
        assert close_name(word) == (expected[0] if expected else None), word
        found += bool(expected)
    assert found > len(names)  # most typos are near a name: both branches are exercised
