"""Helpers for the record-domain tests (`test_server_records_*.py`): real images, multipart
bodies, and fetching signed URLs without a token."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import aiohttp
import av
import numpy as np
from yarl import URL

from tests.platform_support import PlatformUser


def jpeg_bytes(
    width: int = 32, height: int = 24, colour: tuple[int, int, int] = (200, 40, 90)
) -> bytes:
    """A real JPEG (PyAV's MJPEG encoder), like the frame a participant captures."""
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    pixels = np.full((height, width, 3), colour, np.uint8)
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])


def png_bytes() -> bytes:
    """A real 1x1 PNG, built by hand (no imaging library here)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def form(fields: dict[str, str], **files: tuple[bytes, str, str]) -> aiohttp.FormData:
    """A multipart body: text fields, then files as `name=(data, filename, content_type)`."""
    body = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        body.add_field(name, value)
    for name, (data, filename, content_type) in files.items():
        body.add_field(name, data, filename=filename, content_type=content_type)
    return body


async def post_form(
    user: PlatformUser,
    path: str,
    body: aiohttp.FormData,
    *,
    expect: int = 200,
    headers: dict[str, str] | None = None,
) -> Any:
    async with user.http.post(path, data=body, headers={**user.headers, **(headers or {})}) as r:
        text = await r.text()
        assert r.status == expect, f"POST {path}: {r.status} {text}"
        return await r.json(content_type=None) if text else None


async def fetch_signed(url: str, *, expect: int = 200) -> tuple[bytes, aiohttp.ClientResponse]:
    """GET a signed URL with no Authorization header (the signature is the credential)."""
    async with aiohttp.ClientSession() as anonymous, anonymous.get(URL(url, encoded=True)) as r:
        data = await r.read()
        assert r.status == expect, f"GET signed: {r.status} {data[:300]!r}"
        return data, r


def tamper(url: str, *, expiration_delta: int = 0, signature: str | None = None) -> str:
    """The URL with its expiration shifted or its signature replaced."""
    parsed = URL(url, encoded=True)
    head, expiration = parsed.path.rsplit("/", 1)
    new_path = f"{head}/{int(expiration) + expiration_delta}"
    sig = signature if signature is not None else parsed.query["signature"]
    return str(parsed.with_path(new_path, encoded=True).with_query(signature=sig))


def raw_file_form(
    fields: dict[str, str], name: str, data: bytes, filename: str, ctype: str
) -> tuple[bytes, str]:
    """A multipart body written byte by byte, as a browser would send it (aiohttp's own
    writer percent-encodes file names, which would hide what the server does with them)."""
    boundary = "----records-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
        for key, value in fields.items()
    ]
    parts.append(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f'name="{name}"; filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    return "".join(parts).encode() + data + tail, f"multipart/form-data; boundary={boundary}"
