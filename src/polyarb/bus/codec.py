"""Envelope <-> JSON bytes, with the schema-version check.

Decoding is in two steps so one bad payload names what is wrong: the envelope first (its
``data`` kept raw), then the payload with the struct its ``type`` names. Every failure is a
``MalformedMessage`` (``IncompatibleSchema`` when the version differs) for the subscriber to
count and skip; nothing here raises anything else on bad input.
"""

from __future__ import annotations

import msgspec

from polyarb.bus.schemas import PAYLOAD_TYPES, SCHEMA_VERSION, Envelope, Payload
from polyarb.bus.topics import channel_named
from polyarb.domain.errors import MalformedMessage

MAX_MESSAGE_BYTES = 1 << 20  # a state is ~10 KiB; anything near this is not ours


class IncompatibleSchema(MalformedMessage):
    """The message was written with another schema version than this process understands."""


class _RawEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    schema_version: int
    channel: str
    instance_id: str
    seq: int
    ts_ns: int
    type: str
    data: msgspec.Raw


_encoder = msgspec.json.Encoder(decimal_format="string")
_envelope_decoder = msgspec.json.Decoder(_RawEnvelope)
_payload_decoders: dict[str, msgspec.json.Decoder[Payload]] = {
    name: msgspec.json.Decoder(cls) for name, cls in PAYLOAD_TYPES.items()
}


def encode(envelope: Envelope) -> bytes:
    """Serialise an envelope to compact JSON (decimals as strings)."""
    return _encoder.encode(envelope)


def encode_payload(payload: Payload) -> bytes:
    return _encoder.encode(payload)


def decode(raw: bytes | str) -> Envelope:
    """Parse and check one message; raises ``MalformedMessage`` saying what is wrong."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        head = _envelope_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise MalformedMessage(f"bad envelope: {exc}") from None
    if head.schema_version != SCHEMA_VERSION:
        raise IncompatibleSchema(
            f"schema_version {head.schema_version} from {head.instance_id!r}, "
            f"this process reads {SCHEMA_VERSION}"
        )
    channel = channel_named(head.channel)
    if channel is None:
        raise MalformedMessage(f"unknown channel {head.channel!r}")
    payload_type = PAYLOAD_TYPES.get(head.type)
    if payload_type is None:
        raise MalformedMessage(f"unknown payload type {head.type!r} on {head.channel}")
    if payload_type.CHANNEL is not channel:
        raise MalformedMessage(f"payload type {head.type!r} does not belong on {head.channel}")
    if head.seq < 1 or not head.instance_id:
        raise MalformedMessage(f"bad envelope: seq {head.seq}, instance_id {head.instance_id!r}")
    try:
        data = _payload_decoders[head.type].decode(head.data)
    except msgspec.DecodeError as exc:
        raise MalformedMessage(f"bad {head.type} payload: {exc}") from None
    return Envelope(
        schema_version=head.schema_version,
        channel=channel,
        instance_id=head.instance_id,
        seq=head.seq,
        ts_ns=head.ts_ns,
        type=head.type,
        data=data,
    )
