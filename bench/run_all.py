"""Run every benchmark in turn (each prints its own figures); `make bench`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = [
    ["bench_replay.py"],
    ["bench_strategies.py"],
    ["bench_replay_strategies.py"],
    ["bench_decision.py"],
    ["bench_paper.py"],
    ["bench_feed.py"],
    ["bench_scale.py"],
    ["bench_bus.py"],
    ["bench_store.py"],
    ["bench_cli_start.py"],
    ["bench_api.py"],
    ["bench_signing.py"],
    ["bench_chain_tx.py"],
    ["bench_api.py", "--rate", "2"],
    ["bench_api.py", "--rate", "2", "--load-nice", "10"],  # the 20 % bar: browsers elsewhere
    ["bench_api.py", "--dashboard", "separate"],
]


def main() -> int:
    here = Path(__file__).parent
    failed = []
    for bench in BENCHES:
        print(f"\n=== {' '.join(bench)} ===", flush=True)
        command = [sys.executable, str(here / bench[0]), *bench[1:]]
        if subprocess.run(command, check=False).returncode:
            failed.append(bench[0])
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
