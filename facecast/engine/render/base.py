"""The one interface every mouth renderer implements, and the choice between them."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import BackendUnavailableError
from ..motion import MouthPlan
from ..options import RenderOptions
from ..results import PreparedTemplate
from ..tracking import Tracks


class MouthRenderer(Protocol):
    """Draws output frame `index` of a mouth plan onto a template frame, given that frame's landmarks.

    The frame is handed over: a renderer may draw into it in place (no full-frame copy) and return it.
    """

    name: str

    def render(self, frame: np.ndarray, points: np.ndarray, index: int) -> np.ndarray: ...


def choose_renderer(prepared: PreparedTemplate, tracks: Tracks, plan: MouthPlan,
                    options: RenderOptions, start_frame: int = 0) -> MouthRenderer:
    """The person's own mouths when the template talks, else the parametric mouth (unless options say)."""
    if options.backend != "classical":
        raise BackendUnavailableError(
            f"backend {options.backend!r} is not available in this version; use backend 'classical'")
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
