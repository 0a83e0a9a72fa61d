"""The GRID layout of compositions: where each of n tiles goes in a W x H picture (the
platform's renderer draws with it, the content checks read with it)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    width: int
    height: int


def _even(value: float) -> int:
    return int(value) // 2 * 2


def grid(count: int, width: int, height: int) -> list[Rect]:
    """`count` tiles of one even size: ceil(sqrt n) columns, as many rows as needed, the last
    row centred when it is not full; no tiles for count 0."""
    if count <= 0:
        return []
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    tile_w, tile_h = _even(width / cols), _even(height / rows)
    top = _even((height - rows * tile_h) / 2)
    rects: list[Rect] = []
    for index in range(count):
        row, col = divmod(index, cols)
        in_row = min(cols, count - row * cols)
        left = _even((width - in_row * tile_w) / 2)
        rects.append(Rect(left + col * tile_w, top + row * tile_h, tile_w, tile_h))
    return rects


def fit(source_width: int, source_height: int, tile: Rect) -> Rect:
    """The largest even-sized rectangle of the source's aspect ratio centred in `tile`
    (letterboxed or pillarboxed; the picture is never stretched)."""
    scale = min(tile.width / source_width, tile.height / source_height)
    width = max(2, min(tile.width, _even(source_width * scale)))
    height = max(2, min(tile.height, _even(source_height * scale)))
    return Rect(
        tile.x + _even((tile.width - width) / 2),
        tile.y + _even((tile.height - height) / 2),
        width,
        height,
    )
