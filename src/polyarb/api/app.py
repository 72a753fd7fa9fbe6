"""The dashboard API application (FastAPI), and the dashboard's pages it serves at ``/``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Lifespan

from polyarb import __version__
from polyarb.api import auth, routes, stream, web
from polyarb.api.context import ApiContext
from polyarb.api.security import CSRF_HEADER, Hardening


def _operation_id(route: APIRoute) -> str:
    return route.name


def _routed_app(lifespan: Lifespan[FastAPI] | None = None) -> FastAPI:
    app = FastAPI(
        title="polyarb dashboard API",
        version=__version__,
        description="Engine state, history and controls. Session cookies from a one-time "
        "code; state-changing requests need the header X-Requested-With: polyarb.",
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
    )
    app.include_router(routes.system)
    app.include_router(auth.router)
    app.include_router(routes.router)
    app.include_router(routes.controls)
    app.include_router(stream.router)
    return app


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document (what ``/openapi.json`` serves), without a running context:
    the web client is generated from it (``make web-api``)."""
    return _routed_app().openapi()


def create_app(ctx: ApiContext, *, manage_context: bool = True) -> FastAPI:
    """The app over ``ctx``; with ``manage_context`` it starts and closes the context itself."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_context:
            await ctx.start()
        try:
            yield
        finally:
            if manage_context:
                await ctx.close()

    app = _routed_app(lifespan)
    app.state.ctx = ctx
    web.mount(app)  # the dashboard's pages: after every API route, so it never shadows one
    app.add_middleware(
        CORSMiddleware,
        allow_origins=sorted(ctx.allowed_origins),
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["content-type", CSRF_HEADER],
        max_age=600,
    )
    app.add_middleware(
        Hardening,
        max_body=ctx.settings.api_max_body_bytes,
        allowed_origins=ctx.allowed_origins,
    )
    return app
