"""The dashboard's views (read through ``StoreQueries`` and the live view), its controls
(commands published on the bus, answered by the engines' acknowledgements) and admin pages."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from polyarb.api.auth import (
    Admin,
    Ctx,
    Operator,
    Session,
    Viewer,
    check_live_step_up,
    check_step_up,
)
from polyarb.api.context import ApiContext
from polyarb.bus import new_command
from polyarb.bus.schemas import MAX_BOOK_DEPTH
from polyarb.domain.accounts import Role, UserExists, normalize_email

M = TypeVar("M", bound=BaseModel)

router = APIRouter(prefix="/api")
system = APIRouter()

NAME = r"^[a-z0-9_]{1,32}$"
MAX_INT64 = 2**63 - 1  # timestamps and ids are 64-bit integers in the database


def _cursor(value: str | None) -> str | None:
    if value is not None:
        ts, _, row_id = value.partition(":")
        if int(ts) > MAX_INT64 or int(row_id) > MAX_INT64:
            raise ValueError("cursor out of range: pass back a next_cursor as given")
    return value


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2262, 4, 10)  # days whose ns fit 64 bits


def _day(value: date | None) -> date | None:
    if value is not None and not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"a day from {FIRST_DAY} to {LAST_DAY}")
    return value


Day = Annotated[date | None, Query(), AfterValidator(_day)]
Cursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,19}:[0-9]{1,19}$"), AfterValidator(_cursor)]
Ns = Annotated[int | None, Query(ge=0, le=MAX_INT64)]
RowId = Annotated[int | None, Query(ge=1, le=MAX_INT64)]
Limit = Annotated[int, Query(ge=1, le=1000)]  # rows per page


class RowModel(BaseModel):
    """An answer built from one of the store's rows (read by attribute)."""

    model_config = ConfigDict(from_attributes=True)


class LogRowOut(RowModel):
    """A line of one of the store's logs (errors, alerts, audit), listed newest first."""

    id: int
    ts_ns: int


def _rows(model: type[M], rows: Iterable[Any]) -> list[M]:
    return [model.model_validate(row) for row in rows]


def _builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


# --- health ----------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    database: bool
    login_store: bool
    engine_heartbeat: bool


@system.get("/health", tags=["system"], name="health")
async def health() -> Health:
    """Liveness: the process answers (public, no session needed)."""
    return Health(status="ok")


@system.get(
    "/ready",
    tags=["system"],
    name="readiness",
    responses={503: {"model": Readiness, "description": "a dependency is down"}},
)
async def readiness(session: Viewer, ctx: Ctx) -> Any:
    """Database, login store (Redis) and a fresh engine heartbeat on the bus."""
    checks = {"database": True, "login_store": True}
    try:
        await ctx.users.ping()
    except Exception:
        checks["database"] = False
    try:
        await ctx.auth.ping()
    except Exception:
        checks["login_store"] = False
    result = Readiness(ready=False, engine_heartbeat=ctx.live.engine_fresh(), **checks)
    result.ready = result.database and result.login_store and result.engine_heartbeat
    if not result.ready:
        return JSONResponse(result.model_dump(), status_code=503)
    return result


# --- engine state, positions, opportunities --------------------------------------------------


class EngineView(BaseModel):
    instance_id: str
    stale: bool
    state: dict[str, Any]


class StateView(BaseModel):
    engines: list[EngineView]


_state_encoder = msgspec.json.Encoder()


@router.get("/state", tags=["views"], name="get_state", response_model=StateView)
async def get_state(session: Viewer, ctx: Ctx) -> Response:
    """The latest state each engine published (status, trading state, P&L, counters ...)."""
    states = ctx.live.states
    # Encoded straight from the bus structs (decimal strings), without a second validation:
    # this is the dashboard's most frequent call.
    body = {
        "engines": [
            {
                "instance_id": instance,
                "stale": states.is_stale(instance),
                "state": states.latest[instance].state,
            }
            for instance in states.instances()
        ]
    }
    return Response(_state_encoder.encode(body), media_type="application/json")


def _marks(ctx: ApiContext) -> dict[str, Any]:
    marks: dict[str, Any] = {}
    for current in ctx.live.states.latest.values():
        for position in current.state.positions:
            marks[position.token_id] = position
    return marks


class PositionOut(BaseModel):
    strategy: str
    token_id: str
    market: str
    size: Decimal
    cost: Decimal
    avg_cost: Decimal
    mark: Decimal | None
    unrealized_pnl: Decimal | None
    updated_ns: int


@router.get("/positions", tags=["views"], name="list_positions")
async def list_positions(session: Viewer, ctx: Ctx) -> list[PositionOut]:
    """Open positions from the database, marked with the engine's latest prices."""
    marks = _marks(ctx)
    out = []
    for row in await ctx.queries.positions():
        mark = marks.get(row.token_id)
        out.append(
            PositionOut(
                strategy=row.strategy,
                token_id=row.token_id,
                market=row.market,
                size=row.size,
                cost=row.cost,
                avg_cost=row.avg_cost,
                mark=mark.mark if mark is not None else None,
                unrealized_pnl=mark.unrealized_pnl if mark is not None else None,
                updated_ns=row.updated_ns,
            )
        )
    return out


class OpportunityStatsOut(RowModel):
    strategy: str
    opportunities: int
    open: int
    by_outcome: dict[str, int]
    sightings: int
    best_edge_max: Decimal
    best_edge_mean: Decimal
    mean_duration_ms: Decimal
    lifetime_histogram: dict[str, int]  # lifetime bucket ("<10 ms" ... ">=10 s") -> count


class OpportunitiesOut(BaseModel):
    open: list[dict[str, Any]]
    lifetime: list[OpportunityStatsOut]


@router.get("/opportunities", tags=["views"], name="list_opportunities")
async def list_opportunities(
    session: Viewer,
    ctx: Ctx,
    since_ns: Ns = None,
    until_ns: Ns = None,
) -> OpportunitiesOut:
    """Open opportunities (live) and lifetime statistics per strategy (database)."""
    open_now = [
        _builtins(o) for s in ctx.live.states.latest.values() for o in s.state.opportunities
    ]
    stats = await ctx.queries.opportunity_stats(since_ns=since_ns, until_ns=until_ns)
    return OpportunitiesOut(
        open=open_now,
        lifetime=_rows(OpportunityStatsOut, stats),
    )


# --- trades, P&L, errors ---------------------------------------------------------------------


class TradeOut(RowModel):
    id: int
    fill_id: str
    ts_ns: int
    strategy: str
    market: str
    token_id: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    notional: Decimal
    liquidity: str
    client_order_id: str
    order_status: str
    signal_id: str


class TradePageOut(BaseModel):
    trades: list[TradeOut]
    next_cursor: str | None


TRADE_FIELDS = tuple(TradeOut.model_fields)


@router.get(
    "/trades",
    tags=["views"],
    name="list_trades",
    response_model=TradePageOut,  # the JSON answer's schema (the CSV is returned as is)
    responses={200: {"content": {"text/csv": {}}}},
)
async def list_trades(
    session: Viewer,
    ctx: Ctx,
    strategy: Annotated[str | None, Query(pattern=NAME)] = None,
    market: Annotated[str | None, Query(max_length=100)] = None,
    since_ns: Ns = None,
    until_ns: Ns = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """Fills newest first (cursor pages); ``format=csv`` downloads every match, oldest first."""
    if format == "csv":
        buffer = io.StringIO()
        await ctx.queries.export_trades_csv(
            buffer, strategy=strategy, market=market, since_ns=since_ns, until_ns=until_ns
        )
        return StreamingResponse(
            iter([buffer.getvalue()]),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="trades.csv"'},
        )
    page = await ctx.queries.trades(
        strategy=strategy,
        market=market,
        since_ns=since_ns,
        until_ns=until_ns,
        limit=limit,
        cursor=cursor,
    )
    # Encoded straight from the rows (msgspec writes a Decimal as pydantic does: its text):
    # validating 100 rows into models, then the models again for the response, cost the
    # engine's loop about a quarter of this route's time on the embedded default.
    body = {
        "trades": [{name: getattr(row, name) for name in TRADE_FIELDS} for row in page.rows],
        "next_cursor": page.next_cursor,
    }
    return Response(_state_encoder.encode(body), media_type="application/json")


class PnlOut(RowModel):
    key: str
    realized_pnl: Decimal
    fees: Decimal
    volume: Decimal
    fills: int


@router.get("/pnl/daily", tags=["views"], name="pnl_by_day")
async def pnl_by_day(
    session: Viewer, ctx: Ctx, since: Day = None, until: Day = None
) -> list[PnlOut]:
    """Realized P&L, fees, volume and fills per UTC day."""
    lines = await ctx.queries.pnl_by_day(since=since, until=until)
    return _rows(PnlOut, lines)


@router.get("/pnl/strategies", tags=["views"], name="pnl_by_strategy")
async def pnl_by_strategy(
    session: Viewer, ctx: Ctx, since: Day = None, until: Day = None
) -> list[PnlOut]:
    """Realized P&L, fees, volume and fills per strategy over the days given."""
    lines = await ctx.queries.pnl_by_strategy(since=since, until=until)
    return _rows(PnlOut, lines)


class ErrorOut(LogRowOut):
    level: str
    source: str
    kind: str
    message: str
    detail: dict[str, Any]


@router.get("/errors", tags=["views"], name="list_errors")
async def list_errors(
    session: Viewer,
    ctx: Ctx,
    since_ns: Ns = None,
    level: Annotated[Literal["warning", "error", "critical"] | None, Query()] = None,
    limit: Limit = 100,
) -> list[ErrorOut]:
    """Operational errors the engine recorded, newest first."""
    rows = await ctx.queries.errors(since_ns=since_ns, level=level, limit=limit)
    return _rows(ErrorOut, rows)


class AlertOut(LogRowOut):
    severity: str
    title: str
    message: str
    delivery: str  # its Slack post: none, pending, sent, coalesced, dropped
    delivered_ns: int | None


@router.get("/alerts", tags=["views"], name="list_alerts")
async def list_alerts(
    session: Viewer,
    ctx: Ctx,
    before_id: RowId = None,
    severity: Annotated[Literal["info", "warning", "critical"] | None, Query()] = None,
    limit: Limit = 100,
) -> list[AlertOut]:
    """Alerts (kill switch, trading state changes ...), newest first (page with ``before_id``)."""
    return _rows(
        AlertOut, await ctx.queries.alerts(before_id=before_id, severity=severity, limit=limit)
    )


class SignalOut(RowModel):
    id: int
    signal_id: str
    ts_ns: int
    strategy: str
    market: str
    kind: str
    edge: Decimal
    size: Decimal
    cost: Decimal
    fees: Decimal
    outcome: str
    reason: str
    detail: dict[str, Any]


class SignalPageOut(BaseModel):
    signals: list[SignalOut]
    next_cursor: str | None


@router.get("/signals", tags=["views"], name="list_signals")
async def list_signals(
    session: Viewer,
    ctx: Ctx,
    strategy: Annotated[str | None, Query(pattern=NAME)] = None,
    market: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    since_ns: Ns = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> SignalPageOut:
    """Signals newest first and what became of each (taken, denied and why, skipped)."""
    page = await ctx.queries.signals(
        strategy=strategy,
        market=market,
        outcome=outcome,
        since_ns=since_ns,
        limit=limit,
        cursor=cursor,
    )
    return SignalPageOut(signals=_rows(SignalOut, page.rows), next_cursor=page.next_cursor)


class MarketOut(RowModel):
    condition_id: str
    question: str
    slug: str
    event_id: str
    neg_risk: bool
    outcomes: list[tuple[str, str]]  # (label, token id)
    first_seen_ns: int
    last_seen_ns: int


@router.get("/markets", tags=["views"], name="list_markets")
async def list_markets(session: Viewer, ctx: Ctx) -> list[MarketOut]:
    """The markets the engine watches (or watched), most recently seen first."""
    return _rows(MarketOut, await ctx.queries.markets())


class LevelOut(BaseModel):
    price: str  # decimal strings
    size: str


class OutcomeBookOut(BaseModel):
    token_id: str
    outcome: str
    bids: list[LevelOut]  # best first
    asks: list[LevelOut]  # best first
    best_bid: str | None
    best_ask: str | None
    stale: bool
    updated_ns: int | None


class MarketBookOut(BaseModel):
    condition_id: str
    question: str
    neg_risk: bool
    event_id: str
    as_of_ns: int
    depth: int  # levels per side given: the request, lowered to fit a large negRisk event
    truncated: bool  # outcomes were left out (an event with more than 200)
    books: list[OutcomeBookOut]


class Problem(BaseModel):
    detail: str


BOOK_TIMEOUT_S = 2.0
ConditionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


@router.get(
    "/markets/{condition_id}/book",
    tags=["views"],
    name="get_market_book",
    response_model=MarketBookOut,
    responses={
        404: {"model": Problem, "description": "no engine watches this market"},
        503: {"model": Problem, "description": "no engine answered within 2 s"},
    },
)
async def get_market_book(
    condition_id: ConditionId,
    session: Viewer,
    ctx: Ctx,
    depth: Annotated[int, Query(ge=1, le=MAX_BOOK_DEPTH)] = 20,
) -> Response:
    """One market's books from the engine (asked over the bus): bids and asks best first.

    A binary market: YES then NO. A negRisk market: the YES book of every outcome of its event.
    """
    states = ctx.live.states
    engines = sum(1 for instance in states.instances() if not states.is_stale(instance))
    answers = await ctx.engine_queries.books(
        condition_id, depth=depth, timeout_s=BOOK_TIMEOUT_S, expect=max(1, engines)
    )
    found = next((answer for answer in answers if answer.found), None)
    if found is None:
        if not answers:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "engine did not answer")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no engine watches market {condition_id}")
    body = {
        "condition_id": found.condition_id,
        "question": found.question,
        "neg_risk": found.neg_risk,
        "event_id": found.event_id,
        "as_of_ns": found.as_of_ns,
        "depth": found.depth,
        "truncated": found.truncated,
        "books": found.books,
    }
    return Response(_state_encoder.encode(body), media_type="application/json")


class EquityOut(RowModel):
    ts_ns: int
    equity: Decimal
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    exposure: Decimal


@router.get("/pnl/equity", tags=["views"], name="equity_curve")
async def equity_curve(
    session: Viewer,
    ctx: Ctx,
    since_ns: Ns = None,
    until_ns: Ns = None,
    max_points: Annotated[int, Query(ge=2, le=5000)] = 1000,
) -> list[EquityOut]:
    """The equity curve: snapshots (one a minute) oldest first, thinned to ``max_points``."""
    points = await ctx.queries.equity_curve(
        since_ns=since_ns, until_ns=until_ns, max_points=max_points
    )
    return _rows(EquityOut, points)


# --- strategies and controls -----------------------------------------------------------------


class StrategyOut(BaseModel):
    instance_id: str
    name: str
    enabled: bool
    params: dict[str, str]


@router.get("/strategies", tags=["views"], name="list_strategies")
async def list_strategies(session: Viewer, ctx: Ctx) -> list[StrategyOut]:
    """Each engine's strategies, whether they run, and their current parameters."""
    return [
        StrategyOut(instance_id=instance, name=s.name, enabled=s.enabled, params=dict(s.params))
        for instance, current in sorted(ctx.live.states.latest.items())
        for s in current.state.strategies
    ]


class Ack(BaseModel):
    instance_id: str
    accepted: bool
    reason: str


class CommandResult(BaseModel):
    command_id: str
    action: str
    acks: list[Ack]


class ControlRequest(BaseModel):
    model_config = {"extra": "forbid"}
    reason: str = Field(default="", max_length=500)
    target: str = Field(default="", max_length=128)  # one engine's instance id; "" = all


class ParamValue(BaseModel):
    model_config = {"extra": "forbid"}
    value: str = Field(min_length=1, max_length=40)


COMMAND_TIMEOUT_S = 3.0
COMMAND_ANSWERS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "`target` names no engine this dashboard knows"},
    503: {"model": Problem, "description": "COMMAND_SECRET is not set (over Redis)"},
    504: {"model": Problem, "description": "no engine acknowledged in time (resend: safe)"},
}
# The routes that publish a command and answer with the engines' acknowledgements.
controls = APIRouter(prefix="/api", tags=["controls"], responses=COMMAND_ANSWERS)


async def _command(
    ctx: ApiContext,
    session: Session,
    action: str,
    *,
    strategy: str = "",
    param: str = "",
    value: str = "",
    reason: str = "",
    target: str = "",
) -> CommandResult:
    if ctx.command_key is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "COMMAND_SECRET is not set: commands are signed with the key the engines share, and "
            "engines reached over Redis refuse unsigned ones",
        )
    if target and target not in ctx.live.states.latest:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no engine {target[:128]!r} has published its state (see GET /api/state)",
        )
    command = new_command(
        action,
        session.user.email,
        strategy=strategy,
        param=param,
        value=value,
        reason=reason,
        target=target,
        role=session.user.role,  # vouched for: the engine acts on the lesser of it and its own
    )
    acks = await ctx.commands.send(command, timeout_s=COMMAND_TIMEOUT_S)
    accepted = bool(acks) and all(a.accepted for a in acks.values())
    await ctx.users.audit(
        actor=session.user.email,
        action=action,
        target=strategy or target,
        outcome="accepted" if accepted else ("unanswered" if not acks else "rejected"),
        source_ip=session.ip,
        detail={"command_id": command.id, "param": param, "value": value, "reason": reason},
    )
    if not acks:
        raise HTTPException(
            status.HTTP_504_GATEWAY_TIMEOUT,
            f"no engine acknowledged within {COMMAND_TIMEOUT_S} s (command {command.id}); "
            "sending it again is safe",
        )
    return CommandResult(
        command_id=command.id,
        action=action,
        acks=[
            Ack(instance_id=i, accepted=a.accepted, reason=a.reason)
            for i, a in sorted(acks.items())
        ],
    )


@controls.post("/controls/pause", name="pause_trading")
async def pause_trading(session: Operator, ctx: Ctx, body: ControlRequest) -> CommandResult:
    """Stop taking new signals (positions stay; resume restarts)."""
    return await _command(ctx, session, "pause", reason=body.reason, target=body.target)


@controls.post("/controls/resume", name="resume_trading")
async def resume_trading(session: Operator, ctx: Ctx, body: ControlRequest) -> CommandResult:
    """Take signals again after a pause (live: step-up)."""
    check_live_step_up(ctx, session)
    return await _command(ctx, session, "resume", reason=body.reason, target=body.target)


@controls.post("/controls/kill-switch", name="engage_kill_switch")
async def engage_kill_switch(session: Operator, ctx: Ctx, body: ControlRequest) -> CommandResult:
    """Engage the kill switch: cancel everything, trade nothing until an admin clears it."""
    return await _command(
        ctx, session, "kill_switch_engage", reason=body.reason, target=body.target
    )


@controls.post("/controls/kill-switch/clear", name="clear_kill_switch")
async def clear_kill_switch(session: Admin, ctx: Ctx, body: ControlRequest) -> CommandResult:
    """Clear the kill switch (admin, step-up: a code entered in the last minutes)."""
    check_step_up(ctx, session)
    return await _command(ctx, session, "kill_switch_clear", reason=body.reason, target=body.target)


StrategyName = Annotated[str, Path(pattern=NAME)]


@controls.post("/strategies/{name}/enable", name="enable_strategy")
async def enable_strategy(
    name: StrategyName, session: Operator, ctx: Ctx, body: ControlRequest
) -> CommandResult:
    """Let a strategy produce signals again (live: step-up)."""
    check_live_step_up(ctx, session)
    return await _command(ctx, session, "strategy_enable", strategy=name, target=body.target)


@controls.post("/strategies/{name}/disable", name="disable_strategy")
async def disable_strategy(
    name: StrategyName, session: Operator, ctx: Ctx, body: ControlRequest
) -> CommandResult:
    """Stop a strategy producing signals."""
    return await _command(ctx, session, "strategy_disable", strategy=name, target=body.target)


@controls.put("/strategies/{name}/params/{param}", name="set_strategy_param")
async def set_strategy_param(
    name: StrategyName,
    param: Annotated[str, Path(pattern=NAME)],
    session: Operator,
    ctx: Ctx,
    body: ParamValue,
) -> CommandResult:
    """Set a parameter within the engine's bounds (step-up: it can raise limits)."""
    check_step_up(ctx, session)
    return await _command(
        ctx, session, "strategy_set_param", strategy=name, param=param, value=body.value
    )


# --- admin -----------------------------------------------------------------------------------


class AuditOut(LogRowOut):
    actor: str
    action: str
    target: str
    outcome: str
    source_ip: str
    detail: dict[str, Any]


@router.get("/audit", tags=["admin"], name="list_audit")
async def list_audit(
    session: Admin,
    ctx: Ctx,
    before_id: RowId = None,
    limit: Limit = 100,
) -> list[AuditOut]:
    """Operator actions and logins, newest first, with the client IP (page with ``before_id``)."""
    rows = await ctx.queries.audit(before_id=before_id, limit=limit)
    return _rows(AuditOut, rows)


class UserOut(BaseModel):
    email: str
    role: str
    created_ns: int


class UserIn(BaseModel):
    model_config = {"extra": "forbid"}
    email: str = Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$", max_length=254)
    role: Role


@router.get("/users", tags=["admin"], name="list_users")
async def list_users(session: Admin, ctx: Ctx) -> list[UserOut]:
    """Dashboard accounts and their roles."""
    return [
        UserOut(email=u.email, role=u.role, created_ns=u.created_ns) for u in await ctx.users.list()
    ]


@router.post("/users", tags=["admin"], name="add_user", status_code=status.HTTP_201_CREATED)
async def add_user(session: Admin, ctx: Ctx, body: UserIn) -> UserOut:
    """Create an account (step-up). The email must also be in ALLOWED_EMAILS to log in."""
    check_step_up(ctx, session)
    try:
        user = await ctx.users.add(body.email, body.role)
    except UserExists as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    await ctx.users.audit(
        actor=session.user.email,
        action="user_add",
        target=user.email,
        source_ip=session.ip,
        detail={"role": user.role},
    )
    return UserOut(email=user.email, role=user.role, created_ns=user.created_ns)


@router.delete(
    "/users/{email}",
    tags=["admin"],
    name="remove_user",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        404: {"model": Problem, "description": "no such user"},
        409: {"model": Problem, "description": "an admin's own account"},
    },
)
async def remove_user(
    email: Annotated[str, Path(max_length=254)], session: Admin, ctx: Ctx
) -> None:
    """Delete an account; its sessions stop working at once (step-up). Not one's own: the last
    admin would lock everyone out (another admin, or `polyarb users remove`, can)."""
    check_step_up(ctx, session)
    if normalize_email(email) == session.user.email:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "you cannot remove your own account (another admin or `polyarb users remove` can)",
        )
    if not await ctx.users.remove(normalize_email(email)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such user")
    ctx.forget_user(email)
    await ctx.users.audit(
        actor=session.user.email,
        action="user_remove",
        target=normalize_email(email),
        source_ip=session.ip,
    )
