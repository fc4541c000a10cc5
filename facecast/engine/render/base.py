"""The one interface every mouth renderer implements, and the choice between them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import BackendUnavailableError
from ..motion import MouthPlan
from ..options import RenderOptions
from ..results import PreparedTemplate
from ..speech_types import AudioClip
from ..tracking import Tracks


class MouthRenderer(Protocol):
    """Draws output frame `index` of a mouth plan onto a template frame, given that frame's landmarks.

    The frame is handed over: a renderer may draw into it in place (no full-frame copy) and return it.
    """

    name: str

    def render(self, frame: np.ndarray, points: np.ndarray, index: int) -> np.ndarray: ...


@runtime_checkable
class BatchMouthRenderer(MouthRenderer, Protocol):
    """A renderer that draws many frames per call (a neural network runs batches far faster than frames)."""

    batch_size: int

    def render_batch(self, frames: Sequence[np.ndarray], points: Sequence[np.ndarray],
                     indices: Sequence[int]) -> list[np.ndarray]: ...


def choose_renderer(prepared: PreparedTemplate, tracks: Tracks, plan: MouthPlan,
                    options: RenderOptions, start_frame: int = 0, audio: AudioClip | None = None) -> MouthRenderer:
    """The person's own mouths when the template talks, else the parametric mouth (unless options say).

    The wav2lip backend draws from `audio` itself, with the network in `options.weights_path`.
    """
    if options.backend == "wav2lip":
        from ..neural.renderer import wav2lip_renderer

        return wav2lip_renderer(options, audio, prepared.facts.fps)
    if options.backend != "classical":
        raise BackendUnavailableError(f"unknown backend {options.backend!r}; use 'classical' or 'wav2lip'")
    mode = options.mode
    if mode == "auto":
        mode = "mouthbank" if prepared.facts.talking else "parametric"
    if mode == "mouthbank":
        from .mouthbank import own_mouth_renderer

        if prepared.facts.is_still:
            raise BackendUnavailableError("a photo has only one mouth; use mode 'parametric' or 'auto' for photos")
        return own_mouth_renderer(prepared, tracks, plan, start_frame)
    from .parametric import ParametricRenderer

    return ParametricRenderer(plan)
