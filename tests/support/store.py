"""A real job store (SQLite in tmp_path, local storage) and real job rows, for tests of retention and alerts."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facecast.service.db.models import Audio, Job, utcnow
from facecast.service.db.session import Database
from facecast.service.jobs import JobService
from facecast.service.pages import new_id
from facecast.service.library import Library
from facecast.service.queue import Queues
from facecast.service.settings import Settings
from facecast.service.storage import LocalStorage


@dataclass
class Store:
    settings: Settings
    jobs: JobService
    library: Library
    storage: LocalStorage

    def add_video(self, status: str = "succeeded", *, ended_ago_h: float = 0.0, created_ago_h: float = 0.0,
                  mp4: Path | None = None, audio_id: str | None = None) -> Job:
        """A video job row; a succeeded one gets its MP4 and thumbnail stored under outputs/."""
        now = utcnow()
        job_id = new_id("vid")
        result: dict[str, Any] | None = None
        if status == "succeeded":
            assert mp4 is not None
            staged = self.settings.data_dir / "work" / f"{job_id}.mp4"
            staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(mp4, staged)
            size = self.storage.put(f"outputs/{job_id}.mp4", staged)
            (self.settings.data_dir / "work" / "thumb.jpg").write_bytes(b"\xff\xd8\xff\xe0jpeg")
            self.storage.put(f"outputs/{job_id}.jpg", self.settings.data_dir / "work" / "thumb.jpg")
            result = {"video_key": f"outputs/{job_id}.mp4", "thumbnail_key": f"outputs/{job_id}.jpg",
                      "size_bytes": size, "duration_s": 1.0}
        ended = status in ("succeeded", "failed", "canceled")
        job = Job(id=job_id, kind="video", owner="default", status=status, template_id="tpl_x", audio_id=audio_id,
                  result=result, created_at=now - dt.timedelta(hours=max(created_ago_h, ended_ago_h)),
                  finished_at=now - dt.timedelta(hours=ended_ago_h) if ended else None,
                  error_code="no_face" if status == "failed" else None, max_attempts=3, attempts=1)
        with self.jobs.db.session() as session:
            session.add(job)
        return job

    def add_audio(self, wav: Path, *, uploaded_ago_h: float) -> Audio:
        """An uploaded audio row and its file under inputs/."""
        audio_id = new_id("aud")
        staged = self.settings.data_dir / "work" / f"{audio_id}.wav"
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wav, staged)
        key = f"inputs/{audio_id}.wav"
        size = self.storage.put(key, staged)
        audio = Audio(id=audio_id, owner="default", key=key, size_bytes=size, duration_s=2.5,
                      created_at=utcnow() - dt.timedelta(hours=uploaded_ago_h))
        with self.jobs.db.session() as session:
            session.add(audio)
        return audio


def make_store(tmp_path: Path, **settings: Any) -> Store:
    config = Settings(data_dir=tmp_path / "data", **settings)
    db = Database(config.effective_database_url)
    db.migrate()
    storage = LocalStorage(config.data_dir)
    jobs = JobService(config, db, Queues(config), storage)
    return Store(config, jobs, Library(jobs), storage)
