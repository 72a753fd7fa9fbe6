"""The dashboard API application (FastAPI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware

from polyarb import __version__
from polyarb.api import auth, routes, stream
from polyarb.api.context import ApiContext
from polyarb.api.security import CSRF_HEADER, Hardening


def _operation_id(route: APIRoute) -> str:
    return route.name


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
    app.state.ctx = ctx
    app.include_router(routes.system)
    app.include_router(auth.router)
    app.include_router(routes.router)
    app.include_router(routes.controls)
    app.include_router(stream.router)
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
