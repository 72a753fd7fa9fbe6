"""CLI start-up benchmark: `polyarb --help` and `polyarb config` against `import typer, rich`.

The target (issue 9): both within 2x of ``python -c "import typer, rich"`` measured in the same
run. Each command runs ``--runs`` times, interleaved round by round so that a busy spell of the
machine hits all three alike; the figure is the median wall time of a fresh process. Exit 1 if
a ratio is above ``--max-ratio``. ``--cpu``: the median CPU time (user + system, of the process
as the kernel counts it) instead, less swayed by waiting for a core on a loaded machine; the
target is the wall time's.

Byte-code is cached as an installed user's would be: the libraries' ``.pyc`` files are written at
install time, polyarb's on its first run. With ``PYTHONDONTWRITEBYTECODE`` set (as in some
shells and CI images) polyarb alone would be compiled from source at every start (~40 ms) while
the baseline's libraries are not; so every command here runs with the same private
``PYTHONPYCACHEPREFIX`` (a temporary folder, filled by the warm-up run) and byte-code writing on.

    .venv/bin/python bench/bench_cli_start.py [--runs 15] [--max-ratio 2.0] [--cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

# A typer app with one command and one option, run: the floor of any typer command (typer 0.29
# imports pydantic to coerce parameters), for reference; it is not a target.
TOY = """
import typer
app = typer.Typer()
@app.command()
def config(as_json: bool = typer.Option(False, "--json")) -> None:
    print("configuration")
app()
"""
# The floor of `polyarb config` as long as its settings are validated by pydantic: the
# baseline's imports plus pydantic's model machinery, then plus our settings loaded (the
# model built and validated, no CLI), for reference; they are not targets.
PYDANTIC = "import typer, rich; from pydantic import BaseModel, SecretStr"
SETTINGS = "import typer, rich; from polyarb.config import load_settings; load_settings()"
COMMANDS: dict[str, list[str]] = {
    "python -c 'import typer, rich'": ["-c", "import typer, rich"],
    "typer one-option command (ref.)": ["-c", TOY],
    "+ pydantic BaseModel (ref.)": ["-c", PYDANTIC],
    "+ settings loaded (ref.)": ["-c", SETTINGS],
    "polyarb --help": ["-m", "polyarb", "--help"],
    "polyarb config": ["-m", "polyarb", "config"],
}
BASELINE = "python -c 'import typer, rich'"
REFERENCES = {
    "typer one-option command (ref.)",
    "+ pydantic BaseModel (ref.)",
    "+ settings loaded (ref.)",
}


def _once(args: list[str], cwd: str, env: dict[str, str], cpu: bool = False) -> float:
    """Seconds of one fresh process: wall time, or (``cpu``) its user + system CPU time."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, process.args)
    return usage.ru_utime + usage.ru_stime if cpu else wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--max-ratio", type=float, default=2.0)
    parser.add_argument("--cpu", action="store_true", help="CPU time instead of wall time")
    options = parser.parse_args()
    skip = ("POLY", "PYTHONPROFILE", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory() as cwd:  # no .env of the developer's
        env["PYTHONPYCACHEPREFIX"] = os.path.join(cwd, "pycache")
        for args in COMMANDS.values():
            _once(args, cwd, env)  # warm the file cache
        for _ in range(options.runs):
            for name, args in COMMANDS.items():
                times[name].append(_once(args, cwd, env, options.cpu))
    base = statistics.median(times[BASELINE])
    worst = 0.0
    what = "CPU time" if options.cpu else "wall time"
    print(f"median {what} of {options.runs} runs each (interleaved), fresh processes:")
    for name, samples in times.items():
        median = statistics.median(samples)
        ratio = median / base
        if name != BASELINE and name not in REFERENCES:
            worst = max(worst, ratio)
        print(f"  {name:32s} {median * 1000:7.1f} ms  {ratio:4.2f}x")
    verdict = "met" if worst <= options.max_ratio else "MISSED"
    print(f"target: within {options.max_ratio:g}x of the baseline: {verdict} (worst {worst:.2f}x)")
    return 0 if worst <= options.max_ratio else 1


if __name__ == "__main__":
    raise SystemExit(main())
