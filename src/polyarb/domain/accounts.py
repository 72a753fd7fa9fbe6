"""Dashboard accounts: roles and their order (shared by the store, the API and the CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from polyarb.domain.errors import PolyarbError

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
ROLE_RANK: Mapping[str, int] = {role: rank for rank, role in enumerate(ROLES)}


def normalize_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class UserRow:
    email: str
    role: Role
    session_version: int  # in every session token; bumping it ends all the user's sessions
    created_ns: int
    updated_ns: int


class UserExists(PolyarbError):
    """An account for that email exists already."""
