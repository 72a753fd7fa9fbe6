"""`polyarb sim` (to be implemented)."""

from __future__ import annotations
