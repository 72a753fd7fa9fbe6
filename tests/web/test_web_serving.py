"""The dashboard's pages as the API serves them: the bundle at ``/`` with the SPA fallback
(never over the API's own paths), its security headers, and the page saying how to build it
when there is no bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from tests.api.harness import Api
from tests.web.bundle import STATIC, WEB, ensure_bundle

from polyarb.api import web


@pytest.fixture(scope="module")
def bundle() -> Path:
    return ensure_bundle()


async def test_the_app_serves_the_bundle_and_client_routes(api: Api, bundle: Path) -> None:
    browser = api.browser()
    index = (bundle / "index.html").read_text()
    for path in ("/", "/markets", "/markets/0xabc", "/activity?strategy=x"):
        page = await browser.get(path)
        assert page.status_code == 200, path
        assert page.text == index
        assert page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-" not in csp
        assert page.headers["x-frame-options"] == "DENY"
    script = next((bundle / "assets").glob("*.js")).name
    asset = await browser.get(f"/assets/{script}")
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert "immutable" in asset.headers["cache-control"]
    assert (await browser.get("/assets/missing-0000.js")).status_code == 404
    assert (await browser.get("/favicon.svg")).headers["content-type"].startswith("image/svg")


async def test_the_pages_never_shadow_the_api(api: Api, bundle: Path) -> None:
    browser = api.browser()
    for path in ("/api/nothing-here", "/api/", "/health/x", "/ready/x", "/metrics"):
        answer = await browser.get(path)
        assert answer.status_code == 404, path
        assert answer.json() == {"detail": "Not Found"}
        assert answer.headers["content-security-policy"].startswith("default-src 'none';")
    assert (await browser.get("/health")).json() == {"status": "ok"}
    assert (await browser.get("/api/state")).status_code == 401  # a route, not the page
    assert (await browser.get("/openapi.json")).json()["info"]["title"]
    # Paths escaping the bundle's folder get the page, never a file from elsewhere.
    escaped = await browser.get("/..%2F..%2Fconfig.py")
    assert escaped.text == (bundle / "index.html").read_text()


async def test_without_a_bundle_the_page_says_how_to_build_it(tmp_path: Path) -> None:
    app = FastAPI()
    web.mount(app, tmp_path)  # an empty folder: nothing built
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/", "/markets"):
            page = await client.get(path)
            assert page.status_code == 200
            assert "The dashboard is not built" in page.text
            assert "make web" in page.text
        assert (await client.get("/api/x")).status_code == 404


def test_the_checked_in_spec_and_client_match_the_api() -> None:
    """web/openapi.json is the API's document and src/api/schema.d.ts is generated from it
    (regenerate both with `make web-api`)."""
    dumped = subprocess.run(
        [sys.executable, "-m", "polyarb", "openapi"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    checked_in = (WEB / "openapi.json").read_text()
    assert json.loads(dumped) == json.loads(checked_in), "web/openapi.json is stale: make web-api"
    generated = subprocess.run(
        ["node", "node_modules/openapi-typescript/bin/cli.js", "openapi.json"],
        cwd=WEB,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert generated == (WEB / "src" / "api" / "schema.d.ts").read_text(), (
        "web/src/api/schema.d.ts is stale: make web-api"
    )


def test_the_web_checks_pass() -> None:
    """Types (strict), lint and format (biome) and the logic tests (vitest) of web/."""
    ensure_bundle()  # node_modules too
    for script in ("typecheck", "lint", "test"):
        result = subprocess.run(
            ["npm", "run", "--silent", script],
            cwd=WEB,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, f"npm run {script}:\n{result.stdout}\n{result.stderr}"
    assert STATIC.joinpath("index.html").is_file()
