"""The CLOB's authenticated REST, as the live executor uses it (httpx).

Every L2 request is signed over the exact body bytes sent. Outcomes are typed so that the
caller can tell the three cases apart that matter for money:

* an answer (``VenueAnswer``), whatever its HTTP status: the venue decided;
* ``VenueBusy`` (425 matching-engine restart, 429 rate limit, 503): the venue said it did NOT
  process the request, and when it may be asked again;
* ``VenueUnknown``: the request may or may not have been processed (a timeout or a dropped
  connection after sending, a 5xx): never retried blindly, resolved by a query.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from polyarb.clob.auth import ApiCreds, l1_headers, l2_headers
from polyarb.clob.signing import Wallet
from polyarb.domain.secrets import register_secret
from polyarb.execution.live.budget import RequestBudgets, group_of

BUSY_STATUSES = frozenset({425, 429, 503})


@dataclass(frozen=True, slots=True)
class VenueAnswer:
    status: int
    body: Any


class VenueBusy(Exception):
    """The venue refused to process the request now (425/429/503)."""

    def __init__(self, status: int, message: str, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.retry_after_s = retry_after_s


class VenueUnknown(Exception):
    """Whether the venue processed the request is unknown."""


def _message(body: Any) -> str:
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return str(body)[:200]


def _retry_after(response: httpx.Response, body: Any) -> float | None:
    header = response.headers.get("Retry-After")
    if header is not None:
        try:
            return float(header)
        except ValueError:
            return None
    if isinstance(body, dict) and isinstance(body.get("retry_after_seconds"), int | float):
        return float(body["retry_after_seconds"])
    return None


class ClobRest:
    """Signed requests to one CLOB host for one wallet and API key."""

    def __init__(
        self,
        base_url: str,
        wallet: Wallet,
        creds: ApiCreds | None,
        *,
        chain_id: int,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
        budgets: RequestBudgets | None = None,
    ) -> None:
        self.wallet = wallet
        # Order requests are paid for by the executor before they are signed (an order over
        # budget is refused, not delayed); every other request waits here for room.
        self.budgets = budgets or RequestBudgets()
        self.creds = creds
        self.chain_id = chain_id
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            headers={"Accept": "*/*", "Content-Type": "application/json"},
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, body: str, headers: dict[str, str]) -> Any:
        try:
            response = await self._http.request(
                method, path, content=body.encode() if body else None, headers=headers
            )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise VenueUnknown(f"{method} {path}: {type(exc).__name__}") from None
        try:
            decoded = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            decoded = response.text[:200]
        if response.status_code in BUSY_STATUSES:
            raise VenueBusy(
                response.status_code, _message(decoded), _retry_after(response, decoded)
            )
        if response.status_code >= 500:
            raise VenueUnknown(f"{method} {path}: HTTP {response.status_code} {_message(decoded)}")
        return VenueAnswer(response.status_code, decoded)

    async def l2(self, method: str, path: str, payload: Any = None) -> VenueAnswer:
        if self.creds is None:
            raise RuntimeError("no API credentials (POLY_API_KEY/SECRET/PASSPHRASE)")
        body = "" if payload is None else orjson.dumps(payload).decode()
        bare = path.split("?", 1)[0]
        group = group_of(method, bare)
        if group != "order":
            await self.budgets.spend(group)
        headers = l2_headers(
            self.creds,
            self.wallet.address,
            method=method,
            path=bare,
            body=body,
            timestamp=int(time.time()),
        )
        answer: VenueAnswer = await self._send(method, path, body, headers)
        return answer

    async def api_key(self, *, nonce: int = 0) -> ApiCreds:
        """Create the API key of ``nonce``, or derive it when it exists (L1)."""
        for method, path in (("POST", "/auth/api-key"), ("GET", "/auth/derive-api-key")):
            await self.budgets.spend("auth")
            headers = l1_headers(
                self.wallet, chain_id=self.chain_id, timestamp=int(time.time()), nonce=nonce
            )
            answer: VenueAnswer = await self._send(method, path, "", headers)
            body = answer.body
            if answer.status == 200 and isinstance(body, dict) and "apiKey" in body:
                creds = ApiCreds(str(body["apiKey"]), str(body["secret"]), str(body["passphrase"]))
                for secret in (creds.api_key, creds.secret, creds.passphrase):
                    register_secret(secret)  # scrubbed from every log line from now on
                return creds
        raise RuntimeError(f"could not create or derive an API key: {_message(answer.body)}")
