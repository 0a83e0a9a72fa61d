"""Image types told from the bytes (magic numbers), never from what a client declares."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImageType:
    mime_type: str
    extension: str


def sniff_image(data: bytes) -> ImageType | None:
    if data.startswith(b"\xff\xd8\xff"):
        return ImageType("image/jpeg", "jpg")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageType("image/png", "png")
    if data.startswith((b"GIF87a", b"GIF89a")):
        return ImageType("image/gif", "gif")
    if len(data) >= 12 and data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return ImageType("image/webp", "webp")
    return None
