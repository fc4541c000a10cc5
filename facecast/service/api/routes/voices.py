"""Voices for text jobs, and a short spoken preview of each."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from ....voice.errors import UnknownVoiceError
from ... import speech
from ...problems import VoiceNotFoundError
from ...schemas import VoiceList, voice_public
from ..deps import CallerDep, SettingsDep

router = APIRouter(prefix="/v1/voices", tags=["voices"])


@router.get("", operation_id="list_voices", response_model=VoiceList)
def list_voices(caller: CallerDep, settings: SettingsDep,
                language: Annotated[str | None, Query(max_length=20, description=(
                    "Only voices of this language; en also matches en-us and en-gb"))] = None,
                engine: Annotated[Literal["espeak", "piper", "openai"] | None, Query(
                    description="Only voices of this engine")] = None) -> VoiceList:
    """List the voices text jobs can use: embedded espeak-ng ones, configured Piper files and speech servers."""
    voices = speech.list_voices(settings, language=language, engine=engine)
    return VoiceList(data=[voice_public(v, settings.base_url) for v in voices])


@router.get("/{voice_id:path}/preview", operation_id="preview_voice", response_class=FileResponse,
            responses={200: {"content": {"audio/wav": {}}}})
def preview_voice(voice_id: str, caller: CallerDep, settings: SettingsDep) -> FileResponse:
    """A few seconds of the voice reading a sample sentence (WAV), synthesised once and then cached."""
    try:
        preview = speech.preview_wav(settings, voice_id)
    except UnknownVoiceError as error:
        raise VoiceNotFoundError(str(error)) from None
    return FileResponse(preview, media_type="audio/wav")
