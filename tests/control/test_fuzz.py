"""Hypothesis-drawn control messages on the channel: every one answered, the listener alive, and a
real `start` afterwards warms every monitored pair."""

from __future__ import annotations

from livermore.control.client import ControlClient
from tests.support.control_fuzz import calm, control_messages, missing_after, sample
from tests.support.control_world import TIMEFRAMES, World


async def test_every_fuzzed_message_gets_its_final_reply_and_a_real_start_follows(
    client: ControlClient, world: World
) -> None:
    sent = sample(control_messages([*world.symbols, *world.spare]), 60)
    for raw in sent:
        await client.publish_raw(raw)
    assert await missing_after(client, sent, timeout_s=20) == 0
    await calm(client, world.symbols)
    reply = await client.request("start")
    assert reply.data["status"] == "started", reply
    stats = await world.service.runner.wait()
    assert stats is not None
    monitored = await world.service.handlers.ctx.symbols.all()
    assert (stats.outcome, stats.scanned_pairs) == ("complete", len(monitored) * len(TIMEFRAMES))
