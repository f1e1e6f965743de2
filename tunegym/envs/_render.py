"""Frames of the envs' text rendering, for ``render_mode="rgb_array"`` (video recorders,
SB3's ``make_vec_env``): the ``ansi`` text drawn in black on white."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["RENDER_MODES", "text_frame"]

RENDER_MODES = ["ansi", "rgb_array"]

_LINE = 12  # pixels per line of PIL's default bitmap font
_CHAR = 6  # pixels per character


def text_frame(text: str) -> npt.NDArray[np.uint8]:
    """``text`` as an ``[H, W, 3]`` uint8 image (one 12-pixel line per text line)."""
    from PIL import Image, ImageDraw

    lines = text.splitlines() or [""]
    width = 8 + _CHAR * max(len(line) for line in lines)
    height = 8 + _LINE * len(lines)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((4, 4 + _LINE * i), line, fill="black")
    return np.asarray(image, dtype=np.uint8)
