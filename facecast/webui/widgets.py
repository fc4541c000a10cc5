"""Option widgets made from the API's fields (options.py).

Bounds, defaults, allowed values and help text come from the API; the UI adds only labels, slider steps and
friendly presets, and a preset the API would refuse is not offered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .options import ChoiceField, NumberField

TEMPLATE_SIZE = 0  # the max-height choice that leaves the field out: the template keeps its size
MAX_HEIGHT_PRESETS = (("1080p", 1080), ("720p", 720), ("480p", 480), ("360p", 360))
QUALITY_PRESETS = (("High (larger file)", 16), ("Standard", 20), ("Small file", 28))
STANDARD_QUALITY = 20
CHOICE_LABELS = {
    "subtitles": {"none": "None", "burn": "Burned into the picture", "soft": "Subtitle track"},
    "render_mode": {"auto": "Automatic", "mouthbank": "Mouth bank (the template's own mouths)",
                    "parametric": "Parametric"},
}


@dataclass(frozen=True, slots=True)
class SliderLook:
    label: str
    step: float
    neutral: float  # the value that changes nothing, shown when the API states no default


SLIDERS = {"rate": SliderLook("Rate", 0.05, 1.0), "pitch": SliderLook("Pitch (semitones)", 0.5, 0.0),
           "volume": SliderLook("Volume", 0.05, 1.0), "intensity": SliderLook("Mouth intensity", 0.05, 1.0)}


def initial_value(field: NumberField | ChoiceField) -> Any:
    """What a widget starts at; a value equal to it is left out of the request, so the server's default holds."""
    if isinstance(field, ChoiceField):
        return field.default
    return field.clamp(field.default if field.default is not None else SLIDERS[field.name].neutral)


def changed_values(pairs: Iterable[tuple[NumberField | ChoiceField, Any]]) -> dict[str, Any]:
    """The body fields whose widget moved away from its initial value."""
    return {field.name: value for field, value in pairs if value is not None and value != initial_value(field)}


def slider(field: NumberField) -> gr.Slider:
    look = SLIDERS[field.name]
    return gr.Slider(field.minimum, field.maximum, value=initial_value(field), step=look.step, label=look.label,
                     info=field.description)


def choice_radio(field: ChoiceField, label: str) -> gr.Radio:
    return gr.Radio(_labelled(field), value=initial_value(field), label=label, info=field.description)


def choice_dropdown(field: ChoiceField, label: str) -> gr.Dropdown:
    return gr.Dropdown(_labelled(field), value=initial_value(field), label=label, info=field.description)


def max_height_dropdown(field: NumberField) -> gr.Dropdown:
    return gr.Dropdown([("Template size", TEMPLATE_SIZE), *_within(field, MAX_HEIGHT_PRESETS)], value=TEMPLATE_SIZE,
                       label="Max height", info=field.description)


def quality_dropdown(field: NumberField) -> gr.Dropdown:
    choices = _within(field, QUALITY_PRESETS) or [("Standard", int(field.clamp(STANDARD_QUALITY)))]
    value = STANDARD_QUALITY if any(v == STANDARD_QUALITY for _, v in choices) else choices[0][1]
    return gr.Dropdown(choices, value=value, label="Quality", info=field.description)


def _labelled(field: ChoiceField) -> list[tuple[str, str]]:
    labels = CHOICE_LABELS.get(field.name, {})
    return [(labels.get(value, value), value) for value in field.values]


def _within(field: NumberField, presets: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(label, value) for label, value in presets if field.minimum <= value <= field.maximum]
