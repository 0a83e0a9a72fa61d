"""Where a decodable picture starts, read from an RTP payload without depacketizing the frame.

A viewer that joins mid-stream is held back until the next keyframe: handing it delta frames
first only makes its decoder fail and ask for the keyframe anyway, with a broken picture meanwhile.
"""

from __future__ import annotations

_H264_IDR = 5
_H264_SPS = 7
_H264_STAP_A = 24
_H264_FU_A = 28


def starts_keyframe(codec_name: str, payload: bytes) -> bool:
    """True if this packet carries the first bytes of a keyframe.

    For a codec we cannot read every packet counts as a start, so nothing is ever held back.
    """
    try:
        if codec_name == "VP8":
            return _vp8_starts_keyframe(payload)
        if codec_name == "H264":
            return _h264_starts_keyframe(payload)
    except IndexError:
        return False
    return True


def _vp8_starts_keyframe(payload: bytes) -> bool:
    # RFC 7741 4.2: payload descriptor, then the VP8 frame tag; its bit 0 is 0 on keyframes.
    first = payload[0]
    if not first & 0x10 or first & 0x07:  # not the start of partition 0
        return False
    pos = 1
    if first & 0x80:  # X: extension octet follows
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/KEYIDX octet
            pos += 1
    return not payload[pos] & 0x01


def _h264_starts_keyframe(payload: bytes) -> bool:
    # RFC 6184: a single NAL unit, an aggregate (STAP-A) or the first fragment (FU-A).
    nal_type = payload[0] & 0x1F
    if nal_type in (_H264_IDR, _H264_SPS):
        return True
    if nal_type == _H264_STAP_A:
        pos = 1
        while pos + 2 < len(payload):
            size = int.from_bytes(payload[pos : pos + 2], "big")
            if payload[pos + 2] & 0x1F in (_H264_IDR, _H264_SPS):
                return True
            pos += 2 + size
        return False
    if nal_type == _H264_FU_A:
        return bool(payload[1] & 0x80) and payload[1] & 0x1F in (_H264_IDR, _H264_SPS)
    return False
