"""Session tokens: PyJWT, HS256 pinned, every claim required and checked.

Two tokens per session, both in cookies: a short access token (``typ=access``) and a rotating
refresh token (``typ=refresh``). Both carry the session id (``sid``, the refresh family), the
user's ``session_version`` (``sv``) and when the user last proved the email (``auth_time``, for
step-up). The algorithm comes from the server, never from the token's header.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt

ALGORITHM = "HS256"
LEEWAY_S = 10
REQUIRED = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ", "sid", "sv", "auth_time"]

TokenType = Literal["access", "refresh"]


class InvalidToken(Exception):
    """The token is not one of ours, or no longer valid (the reason is for logs only)."""


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str  # the user's email
    jti: str
    typ: TokenType
    sid: str  # session (refresh family) id
    sv: int  # session version at issue
    auth_time: int  # unix seconds of the last code verification
    exp: int
    iat: int


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: str
    refresh: str
    access_claims: Claims
    refresh_claims: Claims


class TokenService:
    def __init__(
        self,
        secret: bytes,
        *,
        issuer: str,
        audience: str,
        access_ttl_s: int,
        refresh_ttl_s: int,
    ) -> None:
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    @staticmethod
    def new_session_id() -> str:
        return secrets.token_urlsafe(24)

    def _encode(self, claims: Claims) -> str:
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": claims.sub,
            "jti": claims.jti,
            "typ": claims.typ,
            "sid": claims.sid,
            "sv": claims.sv,
            "auth_time": claims.auth_time,
            "iat": claims.iat,
            "nbf": claims.iat,
            "exp": claims.exp,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM, headers={"typ": "JWT"})

    def issue(
        self, email: str, *, session_id: str, session_version: int, auth_time: int
    ) -> TokenPair:
        now = int(time.time())
        access = Claims(
            email,
            uuid.uuid4().hex,
            "access",
            session_id,
            session_version,
            auth_time,
            now + self.access_ttl_s,
            now,
        )
        refresh = Claims(
            email,
            uuid.uuid4().hex,
            "refresh",
            session_id,
            session_version,
            auth_time,
            now + self.refresh_ttl_s,
            now,
        )
        return TokenPair(self._encode(access), self._encode(refresh), access, refresh)

    def decode(self, token: str, expected: TokenType) -> Claims:
        """The claims of a valid token of type ``expected``; raises ``InvalidToken``."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": REQUIRED, "strict_aud": True},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        if payload.get("typ") != expected:
            raise InvalidToken(f"expected a {expected} token")
        try:
            return Claims(
                sub=str(payload["sub"]),
                jti=str(payload["jti"]),
                typ=expected,
                sid=str(payload["sid"]),
                sv=int(payload["sv"]),
                auth_time=int(payload["auth_time"]),
                exp=int(payload["exp"]),
                iat=int(payload["iat"]),
            )
        except (TypeError, ValueError):
            raise InvalidToken("malformed claims") from None
