"""The input groups the Create and Batch tabs share: the speech (audio, or text and a voice) and the output
options, with the request body each one makes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ..client import ApiClient, ApiError
from ..widgets import (TEMPLATE_SIZE, changed_values, choice_dropdown, choice_radio, max_height_dropdown,
                       quality_dropdown, slider)
from .context import UiContext

SPEECH_AUDIO, SPEECH_TEXT = "Audio file or recording", "Text, spoken by a voice"
SERVER_DEFAULT_VOICE = ("Server default", "")  # no voice in the request: the server picks its default


@dataclass(frozen=True, slots=True)
class SpeechInputs:
    mode: gr.Radio
    audio: gr.Audio
    text_group: gr.Group
    text: gr.Textbox
    voice: gr.Dropdown
    sample: gr.Audio | None
    rate: gr.Slider
    extras: tuple[gr.Component, ...]  # pitch, volume and subtitles, where the tab offers them

    def components(self) -> list[gr.Component]:
        """The handler inputs, in speech_body's order."""
        return [self.mode, self.audio, self.text, self.voice, self.rate, *self.extras]


@dataclass(frozen=True, slots=True)
class OutputInputs:
    max_height: gr.Dropdown
    quality: gr.Dropdown
    render_mode: gr.Dropdown
    intensity: gr.Slider

    def components(self) -> list[gr.Component]:
        """The handler inputs, in output_body's order."""
        return [self.max_height, self.quality, self.render_mode, self.intensity]


def speech_inputs(ctx: UiContext, text_lines: int, full: bool, prefix: str) -> SpeechInputs:
    """Audio or text inputs; `full` adds the voice sample, pitch, volume and subtitles. The mode radio shows
    once the page finds the server has voices."""
    mode = gr.Radio([SPEECH_AUDIO, SPEECH_TEXT], value=SPEECH_AUDIO, label="Speech", visible=False)
    audio = gr.Audio(label="Speech audio", sources=["upload", "microphone"], type="filepath", buttons=[],
                     elem_id=f"{prefix}-audio")
    with gr.Group(visible=False) as text_group:
        text = gr.Textbox(label="Text", lines=text_lines, placeholder="What the person says")
        voice = gr.Dropdown(label="Voice", choices=[SERVER_DEFAULT_VOICE], value=SERVER_DEFAULT_VOICE[1],
                            allow_custom_value=True, interactive=True, info=ctx.options.voice_help)
        sample = gr.Audio(label="Voice sample", type="filepath", interactive=False, buttons=[]) if full else None
        rate = slider(ctx.options.rate)
        extras: tuple[gr.Component, ...] = ()
        if full:
            with gr.Accordion("Pitch, volume, subtitles", open=False):
                extras = (slider(ctx.options.pitch), slider(ctx.options.volume),
                          choice_radio(ctx.options.subtitles, "Subtitles"))
    mode.change(_toggle_speech, mode, [audio, text_group], api_name=False)
    return SpeechInputs(mode, audio, text_group, text, voice, sample, rate, extras)


def output_inputs(ctx: UiContext) -> OutputInputs:
    with gr.Row():
        max_height = max_height_dropdown(ctx.options.max_height)
        quality = quality_dropdown(ctx.options.crf)
    with gr.Accordion("Mouth", open=False):
        render_mode = choice_dropdown(ctx.options.render_mode, "Renderer")
        intensity = slider(ctx.options.intensity)
    return OutputInputs(max_height, quality, render_mode, intensity)


def speech_body(ctx: UiContext, api: ApiClient, mode: str, audio_path: str | None, text: str,
                voice_id: str | None, rate: float, pitch: float | None = None, volume: float | None = None,
                subtitles: str | None = None) -> dict[str, Any]:
    """The speech part of a video or batch body; uploads the audio first, with the caller's key."""
    if mode == SPEECH_TEXT:
        if not (text or "").strip():
            raise ApiError(0, "empty_text", "Type the text to speak first.")
        if api.list_voices() is None:
            raise ApiError(0, "no_voice_api", "This server does not speak text; upload an audio instead.")
        options = ctx.options
        return {"text": text, **({"voice": voice_id} if voice_id else {}),
                **changed_values([(options.rate, rate), (options.pitch, pitch), (options.volume, volume),
                                  (options.subtitles, subtitles)])}
    if not audio_path:
        raise ApiError(0, "no_audio", "Upload or record the speech first.")
    return {"audio_id": api.upload_audio(Path(audio_path))["id"]}


def output_body(ctx: UiContext, max_height: int | None, crf: int | None, render_mode: str | None = None,
                intensity: float | None = None) -> dict[str, Any]:
    """The output part of a video or batch body: a preset height, the quality, and mouth options moved from
    their defaults."""
    return {**({"max_height": int(max_height)} if max_height and max_height != TEMPLATE_SIZE else {}),
            **({"crf": int(crf)} if crf is not None else {}),
            **changed_values([(ctx.options.render_mode, render_mode), (ctx.options.intensity, intensity)])}


def voice_choices(voices: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The voice dropdown's choices: the server's default first, then every voice it lists."""
    return [SERVER_DEFAULT_VOICE, *((_voice_label(v), v["id"]) for v in voices)]


def _voice_label(voice: dict[str, Any]) -> str:
    name = str(voice.get("name") or voice["id"])
    extras = [x for x in (voice.get("language"), voice.get("gender")) if x]
    return f"{name} ({', '.join(extras)})" if extras else name


def _toggle_speech(mode: str) -> tuple[Any, Any]:
    return gr.update(visible=mode == SPEECH_AUDIO), gr.update(visible=mode == SPEECH_TEXT)
