"""The web bundle the tests serve: built from ``web/`` into ``src/polyarb/api/static`` when it
is missing or older than its sources (what ``make web`` does), so a test run never serves a
stale dashboard."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
STATIC = ROOT / "src" / "polyarb" / "api" / "static"
SOURCES = ("src", "public", "index.html", "package-lock.json", "vite.config.ts", "tsconfig.json")


def _newest_source() -> float:
    newest = 0.0
    for name in SOURCES:
        path = WEB / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        newest = max([newest, *(f.stat().st_mtime for f in files)])
    return newest


def npm() -> str:
    found = shutil.which("npm")
    assert found is not None, "npm is needed for the dashboard's tests (Node.js 20+)"
    return found


def ensure_node_modules() -> None:
    lock = WEB / "package-lock.json"
    installed = WEB / "node_modules" / ".package-lock.json"
    if not installed.is_file() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run([npm(), "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)


def ensure_bundle() -> Path:
    index = STATIC / "index.html"
    if not index.is_file() or index.stat().st_mtime < _newest_source():
        ensure_node_modules()
        subprocess.run([npm(), "run", "build"], cwd=WEB, check=True, capture_output=True)
    return STATIC
