"""Serving a recording: its frames verbatim at the recorded pace, its markets through Gamma."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from tests.recording_lines import frame_records

from polyarb.sim import SimServer, generate_recording


async def test_recording_is_replayed_verbatim(tmp_path: Path, wire_books, sim_connect) -> None:
    path = generate_recording(tmp_path / "rec", frames=1500, markets=12, seed=2)
    raws = [raw for _, raw in frame_records(path / "frames.jsonl.gz")]
    recorded_markets = json.loads((path / "markets.json").read_text())
    async with SimServer(recording=path, speed=0.5) as sim:
        async with httpx.AsyncClient(base_url=sim.gamma_url) as http:
            assert (await http.get("/markets")).json() == recorded_markets
        books = wire_books()
        received: list[str] = []
        async with sim_connect(sim.ws_url, sim.token_ids()) as ws:
            books.apply(await ws.recv())  # the venue's books so far, one array
            while sim.player is not None and not sim.player.done:
                try:
                    received.append(await asyncio.wait_for(ws.recv(), timeout=2.0))
                except TimeoutError:
                    break
            while True:
                try:
                    received.append(await asyncio.wait_for(ws.recv(), timeout=0.3))
                except TimeoutError:
                    break
        for text in received:
            books.apply(text)
        assert len(received) > 1000
        start = raws.index(received[0])
        assert raws[start : start + len(received)] == received  # in order, nothing altered
        assert start + len(received) == len(raws)  # to the end of the recording
        for token in sim.token_ids():
            assert books.matches(token, sim.truth(token))


def test_a_folder_without_a_recording_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"markets\.json"):
        SimServer(recording=tmp_path)
    with pytest.raises(ValueError, match="not both"):
        SimServer(object(), recording=tmp_path)  # type: ignore[arg-type]
