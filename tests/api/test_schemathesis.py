"""schemathesis against the API's own OpenAPI document, over real HTTP (real Redis, a healthy
stand-in engine on the bus): anonymous, and as an admin session with a fresh code (so the
step-up routes run too). Checked: no server error, and every answer the spec documents conforms
to it (content type, body schema). The seed is fixed, so a run repeats the same cases; raise
``ST_MAX_EXAMPLES`` / set ``ST_PHASES=examples,coverage,fuzzing`` for a deeper search."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from pathlib import Path

import pytest
from tests.api.harness import CSRF, Api

pytestmark = pytest.mark.redis

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
PHASES = os.environ.get("ST_PHASES", "examples,fuzzing")
MAX_EXAMPLES = int(os.environ.get("ST_MAX_EXAMPLES", "10"))  # per operation: ~25 s in all


async def _schemathesis(
    api: Api, name: str, out_dir: Path, *headers: str, examples: int, exclude: tuple[str, ...] = ()
) -> None:
    args = [
        f"{api.base_url}/openapi.json",
        f"--checks={CHECKS}",
        f"--phases={PHASES}",
        f"--max-examples={examples}",
        "--seed=11",
        "--workers=1",
        "--request-timeout=10",
        "--no-color",
        "--report=ndjson",
        f"--report-ndjson-path={out_dir / (name + '.ndjson')}",
    ]
    for header in (*(f"{k}: {v}" for k, v in CSRF.items()), *headers):
        args.append(f"--header={header}")
    for operation in exclude:
        args.append(f"--exclude-operation-id={operation}")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    text = out.decode(errors="replace")
    (out_dir / f"{name}.txt").write_text(text)  # the whole report, failures first
    assert process.returncode == 0, f"{name}: {text[-6000:]}"
    cases = re.search(r"(\d+) generated, \1 passed", text)  # every case passed every check
    assert cases is not None, text[-3000:]
    assert int(cases.group(1)) > 0


async def _heartbeat(api: Api) -> None:
    while True:
        await api.publish_state()
        await asyncio.sleep(0.5)


async def test_schemathesis_finds_no_server_error_nor_schema_violation(
    api: Api, tmp_path: Path
) -> None:
    await api.publish_state()
    heartbeat = asyncio.create_task(_heartbeat(api))  # a healthy engine: /ready answers 200
    try:
        admin = await api.login("admin@example.test")  # before the anonymous run spends the
        # per-IP login rate limit
        await _schemathesis(api, "anonymous", tmp_path, examples=2)
        # The access cookie only: with the refresh one, a fuzzed refresh would rotate it and the
        # next (same, now reused) one would end the session as stolen (test_sessions covers it);
        # logout would end it too.
        access = admin.cookies["__Host-polyarb-access"]
        await _schemathesis(
            api,
            "admin",
            tmp_path,
            f"Cookie: __Host-polyarb-access={access}",
            examples=MAX_EXAMPLES,
            exclude=("logout",),
        )
        assert (await admin.get("/api/auth/me")).status_code == 200  # the session held throughout
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
