"""What a peer connection sent still counts once it is closed (`media.stats.StatsSampler`).

Real aiortc pair on loopback (`media.loopback`). When the far end closes, aiortc closes the
sending pc by itself (DTLS ended) and its senders let go of their tracks; the sampler used to
skip such senders, so a publisher whose connection the platform closed first lost its counts.
"""

from __future__ import annotations

import asyncio

import pytest

from media.loopback import loopback, wait_until
from media.stats import StatsSampler
from media.video import SyntheticVideoTrack

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("closed_by", ["far end", "itself"])
async def test_sent_packets_still_count_after_the_pc_closed(closed_by: str) -> None:
    pair = await loopback([SyntheticVideoTrack(160, 90, fps=15)])
    publisher, viewer = StatsSampler(pair.publisher), StatsSampler(pair.viewer)

    async def packets_sent() -> int:
        outbound = (await publisher.sample()).outbound
        return outbound[0].packets_sent if outbound else 0

    try:
        async with asyncio.timeout(20):
            while (sent_while_open := await packets_sent()) < 10:  # noqa: ASYNC110 (counters)
                await asyncio.sleep(0.1)
        assert not (await viewer.sample()).outbound  # a viewer's senders never sent
        if closed_by == "far end":
            await pair.viewer.close()
            await wait_until(lambda: pair.publisher.connectionState == "closed", 20)
        else:
            await pair.publisher.close()
        after = await publisher.sample()
        assert [o.kind for o in after.outbound] == ["video"]
        assert after.outbound[0].packets_sent >= sent_while_open
        received = (await viewer.sample()).inbound
        assert received and received[0].packets_received > 0
    finally:
        await pair.close()
