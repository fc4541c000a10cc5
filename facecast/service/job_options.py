"""A video job's options as stored on its row: typed, versioned JSON, validated when written and when read.

Rows written before the record was versioned hold a flat dict of the options given ({"crf": 28, "rate": 1.2});
upgrade() turns any older shape into the current one, so every row loads.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from facecast.engine.options import GenerateOptions, Limits
from facecast.engine.optionspec import build_options
from facecast.voice.options import SubtitleOptions

from .schemas import OptionGroup, OutputOptions, SpeechOptions

JOB_OPTIONS_VERSION = 1


class JobOptions(BaseModel):
    """Every option of a video job, defaults filled in when the job was accepted."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = JOB_OPTIONS_VERSION
    output: OutputOptions = Field(default_factory=OutputOptions)  # type: ignore[valid-type]
    speech: SpeechOptions = Field(default_factory=SpeechOptions)  # type: ignore[valid-type]

    @classmethod
    def load(cls, stored: dict[str, Any]) -> "JobOptions":
        """A stored record of any version, upgraded and validated."""
        return cls.model_validate(upgrade(stored))

    @classmethod
    def from_request(cls, request: OptionGroup) -> "JobOptions":
        """The record of a VideoCreate or BatchCreate: the options it gives, the defaults for the rest."""
        return cls(output=request.given(OutputOptions), speech=request.given(SpeechOptions))

    def values(self) -> dict[str, Any]:
        """Flat option values keyed by option name, as optionspec.build_options takes them."""
        return {**self.output.given(OutputOptions), **self.speech.given(SpeechOptions)}

    def generate_options(self, limits: Limits) -> GenerateOptions:
        """The engine's options for this job under the service's input limits."""
        return dataclasses.replace(build_options(GenerateOptions, self.values()), limits=limits)

    def subtitles(self) -> str:
        """none, soft or burn."""
        return build_options(SubtitleOptions, self.values()).mode


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A stored record of any version in the current shape."""
    if "version" in data:
        return data
    return {"version": JOB_OPTIONS_VERSION,  # version 0: the options given, flat
            "output": {name: data[name] for name in OutputOptions.model_fields if name in data},
            "speech": {name: data[name] for name in SpeechOptions.model_fields if name in data}}
