"""One pushed sender's RTP packets written with one precompiled `struct.Struct`.

aiortc builds an `RtpPacket` per packet and serializes it through the header extensions map
(7.3 µs a packet measured here, the push path's biggest cost after the socket and SRTP). A
pushed sender's header changes only in its marker, sequence number, timestamp and the 24-bit
`abs-send-time`: the payload type, SSRC and extensions block (`mid` and its padding) are the
same for every packet. The extensions block is taken from aiortc's own map, serialized twice
with abs-send-time 0 and 0xFFFFFF: the bytes that differ are where the value goes, so the
output is aiortc's byte for byte (`tests/test_rtp_header.py` compares), whichever extensions
and form (one-byte or two-byte) were negotiated.

The retransmission history keeps the packets' bytes instead of `RtpPacket`s
(`BytesHistory`): aiortc's `_retransmit` asks it with `get`, which parses the one packet a
NACK names. aiortc's own loop (after `replaceTrack`) keeps writing `RtpPacket`s into the same
history, and those are handed back as they are.
"""

from __future__ import annotations

import struct
from typing import Any

from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket

__all__ = ["BytesHistory", "HeaderWriter"]

_RTP_VERSION = 2
_ABS_SEND_TIME_MAX = 0xFFFFFF


class HeaderWriter:
    """RTP packets of one sender: payload type, SSRC, `mid` and the negotiated extensions map
    are fixed; `write(...)` gives the bytes `RtpPacket(...).serialize(extensions_map)` would."""

    def __init__(
        self, extensions_map: HeaderExtensionsMap, payload_type: int, ssrc: int, mid: str | None
    ) -> None:
        zero = _extensions(extensions_map, mid, 0)
        full = _extensions(extensions_map, mid, _ABS_SEND_TIME_MAX)
        changed = [i for i, (a, b) in enumerate(zip(zero, full, strict=True)) if a != b]
        self._ssrc = ssrc
        has_extension = bool(zero)
        self._first = (_RTP_VERSION << 6) | (has_extension << 4)
        self._payload_type = payload_type
        if changed:
            # abs-send-time's three bytes: split as one byte and one 16-bit half.
            start = changed[0]
            if changed != [start, start + 1, start + 2]:
                raise ValueError("abs-send-time is not three contiguous bytes in the header")
            before, after = zero[:start], zero[start + 3 :]
            self._struct = struct.Struct(f"!BBHLL{len(before)}sBH{len(after)}s")
            self._before, self._after = before, after
            self._abs_send_time = True
        else:
            self._struct = struct.Struct(f"!BBHLL{len(zero)}s")
            self._before, self._after = zero, b""
            self._abs_send_time = False

    def write(
        self, sequence_number: int, timestamp: int, marker: bool, abs_send_time: int, payload: bytes
    ) -> bytes:
        """The packet's bytes; `abs_send_time` is ignored when it was not negotiated."""
        second = (marker << 7) | self._payload_type
        if self._abs_send_time:
            header = self._struct.pack(
                self._first,
                second,
                sequence_number,
                timestamp,
                self._ssrc,
                self._before,
                abs_send_time >> 16,
                abs_send_time & 0xFFFF,
                self._after,
            )
        else:
            header = self._struct.pack(
                self._first, second, sequence_number, timestamp, self._ssrc, self._before
            )
        return header + payload


def _extensions(extensions_map: HeaderExtensionsMap, mid: str | None, abs_send_time: int) -> bytes:
    """The header's extension part (profile, length, elements) as aiortc serializes it."""
    extensions = HeaderExtensions(mid=mid, abs_send_time=abs_send_time)
    profile, value = extensions_map.set(extensions)
    if not value:
        return b""
    return struct.pack("!HH", profile, len(value) >> 2) + value


class BytesHistory(dict[int, Any]):
    """The sender's retransmission history holding serialized packets: `get` parses the one a
    NACK asks for with the sender's extensions map."""

    def __init__(self, extensions_map: HeaderExtensionsMap) -> None:
        super().__init__()
        self._extensions_map = extensions_map

    def get(self, key: int, default: Any = None) -> Any:
        value = super().get(key, default)
        if isinstance(value, bytes):
            return RtpPacket.parse(value, self._extensions_map)
        return value
