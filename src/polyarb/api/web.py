"""The dashboard's pages: the built web bundle (``web/``, built into ``api/static/``) served at
``/``, with the SPA fallback (any other path that is not the API's answers ``index.html``, so a
reload on ``/markets/...`` works). Without a bundle, ``/`` says how to build it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, status
from fastapi.responses import FileResponse, HTMLResponse, Response

STATIC = Path(__file__).parent / "static"

# Paths the API owns: a miss there is the API's 404, never the dashboard's page.
RESERVED = ("api", "health", "ready", "metrics", "openapi.json")

# The pages' policy: the API's own answers keep ``default-src 'none'`` (security.py). Scripts and
# styles come only from this server (no inline script); the stream is a same-origin WebSocket.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"}
# Vite names assets by their content hash: they never change under one name.
_ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable"}

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>polyarb dashboard: not built</title></head>
<body><main><h1>The dashboard is not built</h1>
<p>The API runs (see <code>/openapi.json</code>), but its web pages were not built into this
install. From the repository, with Node.js 20+ and npm: <code>make web</code>
(<code>npm ci</code> and <code>npm run build</code> in <code>web/</code>), then restart.</p>
</main></body></html>
"""


def _inside(root: Path, relative: str) -> Path | None:
    """The file ``relative`` under ``root``, or None (missing, or outside ``root``)."""
    if not relative:
        return None
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
        return None
    return candidate


def mount(app: FastAPI, root: Path = STATIC) -> None:
    """Add the pages to ``app``: call it after every API route (the fallback matches all)."""

    @app.get("/{path:path}", include_in_schema=False, name="dashboard_page")
    async def dashboard_page(path: str) -> Response:
        if path.split("/", 1)[0] in RESERVED:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, headers=_PAGE_HEADERS)
        found = _inside(root, path)
        if found is not None and found != index.resolve():
            headers = _ASSET_HEADERS if path.startswith("assets/") else _PAGE_HEADERS
            return FileResponse(found, headers=headers)
        if path.startswith("assets/"):  # a missing asset is a 404, not the page
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
        return FileResponse(index, media_type="text/html", headers=_PAGE_HEADERS)
