"""Burn subtitle cues into RGB frames with a CJK-capable font (Pillow, imported lazily)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from facecast.engine.errors import BackendUnavailableError, InvalidOptionError

from .subtitles import Cue

if TYPE_CHECKING:
    from facecast.engine.pipeline import FrameHook

# Debian's fonts-wqy-microhei (installed by `make system-deps`) and fonts-noto-cjk; both cover Latin too.
CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
)


@dataclass(frozen=True, slots=True)
class SubtitleStyle:
    """How burned-in subtitles look."""

    font_path: Path | None = None                 # None: the first installed CJK font
    size_px: int | None = None                    # None: 1/20 of the frame height
    position: Literal["bottom", "top"] = "bottom"
    margin_px: int | None = None                  # distance from the edge; None: 1/18 of the height
    outline_px: int = 2
    color: tuple[int, int, int] = (255, 255, 255)
    outline_color: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        if self.position not in ("bottom", "top"):
            raise InvalidOptionError(f"subtitle position must be bottom or top, got {self.position!r}")
        if self.size_px is not None and not 8 <= self.size_px <= 400:
            raise InvalidOptionError(f"subtitle size must be 8-400 px, got {self.size_px}")
        if not 0 <= self.outline_px <= 20:
            raise InvalidOptionError(f"subtitle outline must be 0-20 px, got {self.outline_px}")


def find_cjk_font() -> Path:
    """The first installed CJK font, or a clear error saying how to install one."""
    for path in CJK_FONT_CANDIDATES:
        if path.is_file():
            return path
    raise BackendUnavailableError(
        "burned-in subtitles need a CJK font; run `make system-deps` (apt-get install fonts-wqy-microhei) "
        "or pass a font file with --subtitle-font"
    )


class SubtitleBurner:
    """Draws the cue active at a time onto a frame. Each cue is rendered once and reused."""

    def __init__(self, cues: Sequence[Cue], width: int, height: int, style: SubtitleStyle = SubtitleStyle()) -> None:
        try:
            from PIL import ImageFont
        except ImportError as exc:
            raise BackendUnavailableError("burned-in subtitles require Pillow; pip install pillow") from exc
        font_path = style.font_path or find_cjk_font()
        if not Path(font_path).is_file():
            raise InvalidOptionError(f"subtitle font {font_path} does not exist; give a .ttf/.ttc/.otf file")
        self.cues = list(cues)
        self.starts = [cue.start_s for cue in self.cues]
        self.width, self.height, self.style = width, height, style
        self.font = ImageFont.truetype(str(font_path), style.size_px or max(12, height // 20))
        self._cached: tuple[int, np.ndarray, int, int] | None = None  # cue index, RGBA patch, x, y

    def cue_at(self, time_s: float) -> int | None:
        index = bisect.bisect_right(self.starts, time_s) - 1
        if index >= 0 and time_s < self.cues[index].end_s:
            return index
        return None

    def draw(self, frame: np.ndarray, time_s: float) -> np.ndarray:
        """Return the frame (HxWx3 uint8) with the cue at time_s drawn in place."""
        index = self.cue_at(time_s)
        if index is None:
            return frame
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, *self._render(self.cues[index]))
        _, patch, x, y = self._cached
        h, w = patch.shape[:2]
        region = frame[y : y + h, x : x + w].astype(np.float32)
        alpha = patch[..., 3:4].astype(np.float32) / 255.0
        frame[y : y + h, x : x + w] = (region * (1 - alpha) + patch[..., :3] * alpha).astype(np.uint8)
        return frame

    def _render(self, cue: Cue) -> tuple[np.ndarray, int, int]:
        from PIL import Image, ImageDraw

        text = "\n".join(cue.lines)
        stroke = self.style.outline_px
        probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
        left, top, right, bottom = probe.multiline_textbbox((0, 0), text, font=self.font, stroke_width=stroke, align="center")
        box_w, box_h = min(int(right - left) + 1, self.width), min(int(bottom - top) + 1, self.height)
        image = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
        ImageDraw.Draw(image).multiline_text(
            (-int(left), -int(top)), text, font=self.font, fill=(*self.style.color, 255), align="center",
            stroke_width=stroke, stroke_fill=(*self.style.outline_color, 255),
        )
        margin = self.style.margin_px if self.style.margin_px is not None else self.height // 18
        x = max(0, (self.width - box_w) // 2)
        y = margin if self.style.position == "top" else max(0, self.height - margin - box_h)
        return np.asarray(image), x, y


def burn_hook(cues: Sequence[Cue], style: SubtitleStyle, fps: float) -> FrameHook:
    """A frame hook for generate() drawing the cues into each frame as it is rendered: no second encode.

    The burner is sized from the first frame it sees, so rotation and scaling need no separate probe; each
    frame shows the cue active at its middle.
    """
    if style.font_path is None:
        find_cjk_font()  # no font installed: say so before any frame is rendered
    half_frame_s = 0.5 / fps
    burners: list[SubtitleBurner] = []

    def hook(frame: np.ndarray, time_s: float) -> np.ndarray:
        if not burners:
            burners.append(SubtitleBurner(cues, frame.shape[1], frame.shape[0], style))
        return burners[0].draw(frame, time_s + half_frame_s)

    return hook
