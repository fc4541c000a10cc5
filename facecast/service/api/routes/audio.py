"""Uploaded audio, referenced by id from videos and batches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile

from ...library import receive_upload
from ...schemas import AudioPublic, audio_public
from ..deps import CallerDep, LibraryDep, SettingsDep

router = APIRouter(prefix="/v1/audio", tags=["audio"])


@router.post("", status_code=201, operation_id="upload_audio", response_model=AudioPublic)
def upload_audio(caller: CallerDep, library: LibraryDep, settings: SettingsDep, response: Response,
                 file: Annotated[UploadFile, File(description="wav, mp3, m4a, aac, ogg or flac")]) -> AudioPublic:
    """Upload audio once and use its id in any number of videos and batches. It is decoded and checked now."""
    path = receive_upload(file, settings.data_dir / "work", settings.max_upload_bytes)
    audio = library.add_audio_file(caller, path, file.filename)
    response.headers["Location"] = f"/v1/audio/{audio.id}"
    return audio_public(audio)


@router.get("/{audio_id}", operation_id="get_audio", response_model=AudioPublic)
def get_audio(audio_id: str, caller: CallerDep, library: LibraryDep) -> AudioPublic:
    """Get an uploaded audio's duration and size."""
    return audio_public(library.get_audio(caller, audio_id))
