"""Login by one-time code, session cookies, roles and step-up.

``POST /api/auth/otp/request`` answers the same (202, a fresh ``attempt_id``) for every
well-formed email; only an email in ``ALLOWED_EMAILS`` that has an account gets a code. The
code is bound to that attempt: ``verify`` needs the email, the attempt id and the code.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from polyarb.api.auth_state import code_digest, email_key
from polyarb.api.context import ApiContext
from polyarb.api.tokens import Claims, InvalidToken, TokenPair
from polyarb.domain.accounts import ROLE_RANK, UserRow, normalize_email
from polyarb.domain.trading import Mode

log = structlog.get_logger(__name__)

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$"


async def context(request: Request) -> ApiContext:
    # async although it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker
    # thread, a hop through the thread pool per request on the engine's loop (embedded).
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]


def cookie_names(ctx: ApiContext) -> tuple[str, str]:
    """(access, refresh) cookie names; ``__Host-`` unless development's plain-http switch."""
    if ctx.secure_cookies:
        return "__Host-polyarb-access", "__Host-polyarb-refresh"
    return "polyarb-access", "polyarb-refresh"


def client_ip(ctx: ApiContext, request: Request) -> str:
    peer = request.client.host if request.client else None
    return ctx.client_address.resolve(peer, request.headers.get("x-forwarded-for"))


@dataclass(frozen=True, slots=True)
class Session:
    user: UserRow
    claims: Claims
    ip: str


UNAUTHENTICATED = HTTPException(
    status.HTTP_401_UNAUTHORIZED, "not logged in", headers={"WWW-Authenticate": "Cookie"}
)


async def session_from_token(ctx: ApiContext, token: str | None) -> tuple[UserRow, Claims]:
    """The user and claims of a valid, unrevoked access token; raises 401."""
    if not token:
        raise UNAUTHENTICATED
    try:
        claims = ctx.tokens.decode(token, "access")
    except InvalidToken as exc:
        log.info("auth.token_refused", reason=str(exc))
        raise UNAUTHENTICATED from None
    if not await ctx.auth.session_valid(claims.jti, claims.sid):
        raise UNAUTHENTICATED
    user = await ctx.user(claims.sub)
    if not _still_allowed(ctx, user, claims):
        raise UNAUTHENTICATED
    assert user is not None
    return user, claims


def _still_allowed(ctx: ApiContext, user: UserRow | None, claims: Claims) -> bool:
    """The account exists, its sessions were not revoked, and ALLOWED_EMAILS still lists it."""
    return (
        user is not None and user.session_version == claims.sv and user.email in ctx.allowed_emails
    )


async def current_session(ctx: Ctx, request: Request) -> Session:
    user, claims = await session_from_token(ctx, request.cookies.get(cookie_names(ctx)[0]))
    return Session(user, claims, client_ip(ctx, request))


def require(role: Literal["viewer", "operator", "admin"]) -> object:
    async def dependency(session: Annotated[Session, Depends(current_session)]) -> Session:
        if ROLE_RANK[session.user.role] < ROLE_RANK[role]:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {role} role")
        return session

    return Depends(dependency)


Viewer = Annotated[Session, require("viewer")]
Operator = Annotated[Session, require("operator")]
Admin = Annotated[Session, require("admin")]


def check_live_step_up(ctx: ApiContext, session: Session) -> None:
    """Trading live, anything that lets more trading happen (resume, enable a strategy) needs
    step-up too; what stops trading (pause, disable, the kill switch) never waits for it."""
    if ctx.mode == Mode.LIVE:
        check_step_up(ctx, session)


def check_step_up(ctx: ApiContext, session: Session) -> None:
    """Dangerous actions need a code entered within ``JWT_STEP_UP_TTL_S``."""
    if time.time() - session.claims.auth_time > ctx.settings.jwt_step_up_ttl_s:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "step-up required: request and enter a fresh code, then retry",
            headers={"X-Step-Up": "required"},
        )


# --- models ----------------------------------------------------------------------------------


class CodeRequest(BaseModel):
    model_config = {"extra": "forbid"}
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)


class CodeRequested(BaseModel):
    attempt_id: str
    expires_in: int
    message: str


class CodeVerify(BaseModel):
    model_config = {"extra": "forbid"}
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    attempt_id: str = Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    code: str = Field(pattern=r"^[0-9]{6}$")


class SessionInfo(BaseModel):
    email: str
    role: str
    access_expires_in: int
    step_up_until: int  # unix seconds until which dangerous actions are allowed


class LogoutRequest(BaseModel):
    model_config = {"extra": "forbid"}
    everywhere: bool = False  # end every session of this user (bumps the session version)


router = APIRouter(prefix="/api/auth", tags=["auth"])


async def _limited(ctx: ApiContext, item: object, *key: str) -> None:
    retry = await ctx.limits.hit(item, *key)  # type: ignore[arg-type]
    if retry is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many attempts; retry later",
            headers={"Retry-After": str(retry)},
        )


@router.post("/otp/request", status_code=status.HTTP_202_ACCEPTED, name="request_login_code")
async def request_login_code(body: CodeRequest, request: Request, ctx: Ctx) -> CodeRequested:
    """Send a one-time code to ``email`` if it may log in; the answer is the same either way."""
    email = normalize_email(body.email)
    ip = client_ip(ctx, request)
    await _limited(ctx, ctx.limits.request_per_ip, "otp-request-ip", ip)
    await _limited(ctx, ctx.limits.request_per_email, "otp-request-email", email_key(email))
    attempt_id = secrets.token_urlsafe(24)
    settings = ctx.settings
    # The same work either way (one database read, one Redis round trip, no waiting for the
    # mail), so the answer's timing does not tell whether the email may log in.
    account = await ctx.users.get(email)
    code = f"{secrets.randbelow(1_000_000):06d}"
    digest = code_digest(ctx.code_key, attempt_id, email, code)
    if account is not None and email in ctx.allowed_emails:
        await ctx.auth.put_code(email, attempt_id, digest, settings.otp_ttl_s)
        ctx.mailer.enqueue(email, code, max(1, settings.otp_ttl_s // 60))
        log.info("auth.code_sent", email_key=email_key(email), ip=ip)
    else:
        await ctx.auth.ping()
        log.info("auth.code_not_sent", email_key=email_key(email), ip=ip)
    return CodeRequested(
        attempt_id=attempt_id,
        expires_in=settings.otp_ttl_s,
        message="If this email may log in, a code is on its way.",
    )


def _set_cookies(ctx: ApiContext, response: Response, pair: TokenPair) -> None:
    access_name, refresh_name = cookie_names(ctx)
    secure = ctx.secure_cookies
    for name, token, ttl in (
        (access_name, pair.access, ctx.tokens.access_ttl_s),
        (refresh_name, pair.refresh, ctx.tokens.refresh_ttl_s),
    ):
        response.set_cookie(
            name, token, max_age=ttl, path="/", secure=secure, httponly=True, samesite="strict"
        )


def _clear_cookies(ctx: ApiContext, response: Response) -> None:
    for name in cookie_names(ctx):
        response.delete_cookie(
            name, path="/", secure=ctx.secure_cookies, httponly=True, samesite="strict"
        )


def _session_info(ctx: ApiContext, user: UserRow, claims: Claims) -> SessionInfo:
    return SessionInfo(
        email=user.email,
        role=user.role,
        access_expires_in=max(0, claims.exp - int(time.time())),
        step_up_until=claims.auth_time + ctx.settings.jwt_step_up_ttl_s,
    )


async def _end_session(ctx: ApiContext, claims: Claims) -> None:
    await ctx.auth.deny(claims.jti, claims.exp - int(time.time()) + 60)
    await ctx.auth.end_family(claims.sid)


BAD_CODE = HTTPException(status.HTTP_400_BAD_REQUEST, "invalid or expired code")


@router.post("/otp/verify", name="verify_login_code")
async def verify_login_code(
    body: CodeVerify, request: Request, response: Response, ctx: Ctx
) -> SessionInfo:
    """Exchange a code for a session (cookies); also the step-up for dangerous actions."""
    email = normalize_email(body.email)
    ip = client_ip(ctx, request)
    await _limited(ctx, ctx.limits.verify_per_ip, "otp-verify-ip", ip)
    pending = await ctx.auth.try_code(email, ctx.settings.otp_max_tries)
    expected = code_digest(ctx.code_key, body.attempt_id, email, body.code)
    if pending is None or not hmac.compare_digest(pending.digest, expected):
        log.info("auth.code_refused", email_key=email_key(email), ip=ip)
        raise BAD_CODE
    if not await ctx.auth.consume_code(email, expected):
        raise BAD_CODE  # a concurrent verify of the same code won
    user = await ctx.users.get(email)
    if user is None or email not in ctx.allowed_emails:
        raise BAD_CODE  # removed meanwhile
    # A code entered while logged in replaces that session (step-up): end the old one.
    previous = request.cookies.get(cookie_names(ctx)[0])
    if previous:
        try:
            old = ctx.tokens.decode(previous, "access")
            if old.sub == email:
                await _end_session(ctx, old)
        except InvalidToken:
            pass
    pair = ctx.tokens.issue(
        email,
        session_id=ctx.tokens.new_session_id(),
        session_version=user.session_version,
        auth_time=int(time.time()),
    )
    await ctx.auth.set_family(
        pair.refresh_claims.sid, pair.refresh_claims.jti, ctx.tokens.refresh_ttl_s
    )
    _set_cookies(ctx, response, pair)
    await ctx.users.audit(actor=email, action="login", source_ip=ip)
    return _session_info(ctx, user, pair.access_claims)


@router.post("/refresh", name="refresh_session")
async def refresh_session(request: Request, response: Response, ctx: Ctx) -> SessionInfo:
    """Rotate the refresh token; a refresh token used twice ends its whole session."""
    token = request.cookies.get(cookie_names(ctx)[1])
    if not token:
        raise UNAUTHENTICATED
    try:
        claims = ctx.tokens.decode(token, "refresh")
    except InvalidToken:
        raise UNAUTHENTICATED from None
    user = await ctx.users.get(claims.sub)
    if not _still_allowed(ctx, user, claims):
        raise UNAUTHENTICATED
    assert user is not None
    pair = ctx.tokens.issue(
        user.email,
        session_id=claims.sid,
        session_version=user.session_version,
        auth_time=claims.auth_time,
    )
    rotated = await ctx.auth.rotate_family(
        claims.sid, claims.jti, pair.refresh_claims.jti, ctx.tokens.refresh_ttl_s
    )
    if not rotated:
        log.warning("auth.refresh_reuse", email_key=email_key(user.email))
        await ctx.users.audit(
            actor=user.email,
            action="refresh_reuse",
            outcome="session_ended",
            source_ip=client_ip(ctx, request),
        )
        _clear_cookies(ctx, response)
        raise UNAUTHENTICATED
    _set_cookies(ctx, response, pair)
    return _session_info(ctx, user, pair.access_claims)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, name="logout")
async def logout(
    session: Viewer, response: Response, ctx: Ctx, body: LogoutRequest | None = None
) -> None:
    """End this session (its tokens are refused from now on); ``everywhere`` ends them all."""
    await _end_session(ctx, session.claims)
    if body is not None and body.everywhere:
        await ctx.users.bump_session_version(session.user.email)
        ctx.forget_user(session.user.email)
    _clear_cookies(ctx, response)
    await ctx.users.audit(
        actor=session.user.email,
        action="logout_everywhere" if body is not None and body.everywhere else "logout",
        source_ip=session.ip,
    )


@router.get("/me", name="get_session")
async def get_session(session: Viewer, ctx: Ctx) -> SessionInfo:
    """Who is logged in, with which role, and until when step-up is valid."""
    return _session_info(ctx, session.user, session.claims)
