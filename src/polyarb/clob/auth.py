"""L1 and L2 request authentication headers of the CLOB.

L1 (create/derive an API key) proves control of the wallet with an EIP-712 ``ClobAuth``
signature; L2 (every trading call) is an HMAC-SHA256 over ``timestamp + METHOD + path + body``
keyed by the API secret (URL-safe base64, padding kept). The path excludes the query string.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field

from polyarb.clob.signing import Wallet, clob_auth_digest


@dataclass(frozen=True, slots=True)
class ApiCreds:
    """The L2 credentials; ``repr`` hides the secret and the passphrase."""

    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)


def l1_headers(wallet: Wallet, *, chain_id: int, timestamp: int, nonce: int = 0) -> dict[str, str]:
    digest = clob_auth_digest(wallet.address, str(timestamp), nonce, chain_id)
    return {
        "POLY_ADDRESS": wallet.address,
        "POLY_SIGNATURE": wallet.sign_digest(digest),
        "POLY_TIMESTAMP": str(timestamp),
        "POLY_NONCE": str(nonce),
    }


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str = "") -> str:
    """URL-safe base64 of HMAC-SHA256(base64url-decoded secret, ts + METHOD + path + body)."""
    try:
        key = base64.urlsafe_b64decode(secret)
    except (binascii.Error, ValueError):
        raise ValueError("POLY_API_SECRET is not URL-safe base64") from None
    message = f"{timestamp}{method}{path}{body}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def l2_headers(
    creds: ApiCreds, address: str, *, method: str, path: str, body: str, timestamp: int
) -> dict[str, str]:
    return {
        "POLY_ADDRESS": address,
        "POLY_SIGNATURE": hmac_signature(creds.secret, str(timestamp), method, path, body),
        "POLY_TIMESTAMP": str(timestamp),
        "POLY_API_KEY": creds.api_key,
        "POLY_PASSPHRASE": creds.passphrase,
    }
