"""A worker renders videos from the template its row names without hashing the template file again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from facecast.engine import pipeline, template_cache
from facecast.service.db.session import Database
from facecast.service.jobs import JobService
from facecast.service.library import Library
from facecast.service.queue import Queues
from facecast.service.schemas import VideoCreate
from facecast.service.settings import Settings
from facecast.service.storage import make_storage
from facecast.service.tasks import JobRunner
from facecast.service.tenants import Caller

OWNER = Caller("owner", admin=False)


def test_video_job_on_a_prepared_template_does_not_hash_it_again(tmp_path: Path, media: Path, short_wav: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    db = Database(settings.effective_database_url)
    db.migrate()
    storage = make_storage(settings)
    jobs = JobService(settings, db, Queues(settings), storage)
    library = Library(jobs)
    runner = JobRunner(jobs, library, storage, "test-worker")

    hashed: list[Path] = []
    real_hash = template_cache.content_hash
    counting = lambda path: hashed.append(Path(path)) or real_hash(path)  # noqa: E731
    monkeypatch.setattr(template_cache, "content_hash", counting)
    monkeypatch.setattr(pipeline, "content_hash", counting)  # bound there by name at import

    upload = tmp_path / "upload.mp4"
    shutil.copyfile(media / "talking_man_480.mp4", upload)
    template = library.add_template_file(OWNER, upload, "man")
    runner(_prepare_job_id(db, template.id))
    assert library.get_template(OWNER, template.id).status == "ready"
    assert len(hashed) == 1  # preparing hashes the file once

    audio = library.add_audio_file(OWNER, _copy(short_wav, tmp_path / "upload.wav"), "speech.wav")
    video = jobs.create_video(OWNER, VideoCreate(template_id=template.id, audio_id=audio.id, max_height=240))
    runner(video.id)
    finished = jobs.load(video.id)
    assert finished.status == "succeeded", (finished.error_code, finished.error_message)
    assert len(hashed) == 1  # the video found the tracks by the key stored on the template row


def _copy(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


def _prepare_job_id(db: Database, template_id: str) -> str:
    from sqlalchemy import select

    from facecast.service.db.models import Job

    with db.session() as session:
        return session.scalar(select(Job.id).where(Job.template_id == template_id, Job.kind == "prepare"))
