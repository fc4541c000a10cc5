"""The template library and uploaded audio: the only writer of template and audio rows."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import UploadFile
from sqlalchemy import exists, select, update

from .db.models import Audio, Job, Template, utcnow
from .fetch import AUDIO, IMAGE, VIDEO, check_url, sniff_file
from .jobs import AUDIO_HINT, TEMPLATE_HINT, JobService
from .pages import new_id, newest_first_page
from .problems import InvalidStateError, NotFoundError, UnsupportedMediaError, UploadTooLargeError
from .resources import disk_space_or_raise
from .schemas import unstorable
from .settings import Settings
from .statuses import ACTIVE
from .tenants import Caller, owned_or_raise, visible_to

log = logging.getLogger("facecast.service")


def receive_upload(upload: UploadFile, work_dir: Path, max_bytes: int) -> Path:
    """Copy an upload to a temp file under our control, enforcing the size limit as it streams."""
    work_dir.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=work_dir, prefix="upload-", delete=False)
    path = Path(handle.name)
    size = 0
    with handle:
        while chunk := upload.file.read(1024 * 1024):
            size += len(chunk)
            if size > max_bytes:
                handle.close()
                path.unlink(missing_ok=True)
                raise UploadTooLargeError(f"upload is larger than the limit of {max_bytes} bytes")
            handle.write(chunk)
    return path


NAME_CHARS = 200  # Template.name and what is kept of an uploaded file's name


def display_name(raw: str | None) -> str | None:
    """A client-given file name made safe to store and show: printable, valid UTF-8, at most NAME_CHARS."""
    if not raw:
        return None
    text = raw.encode("utf-8", "replace").decode("utf-8", "replace")  # lone surrogates become "?"
    cleaned = "".join(ch for ch in text if ch.isprintable())[:NAME_CHARS].strip()
    return cleaned or None


def _sniff_or_discard(path: Path) -> tuple[str, str]:
    try:
        return sniff_file(path)
    except Exception:
        path.unlink(missing_ok=True)
        raise


def _space_or_discard(settings: Settings, path: Path) -> None:
    """Refuse an upload while the disk is low (507), removing what was received."""
    try:
        disk_space_or_raise(settings)
    except Exception:
        path.unlink(missing_ok=True)
        raise


class Library:
    """Templates (with their preparation jobs) and audio."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self.db = jobs.db
        self.storage = jobs.storage
        self.settings = jobs.settings

    # --- templates ------------------------------------------------------------------------------------------

    def add_template_file(self, caller: Caller, path: Path, name: str | None) -> Template:
        """Store an uploaded video or photo and queue its preparation."""
        _space_or_discard(self.settings, path)
        kind, ext = _sniff_or_discard(path)
        if kind not in (VIDEO, IMAGE):
            path.unlink(missing_ok=True)
            raise UnsupportedMediaError("a template must be a video or a photo showing one face")
        template_id = new_id("tpl")
        key = f"templates/{template_id}.{ext}"
        size = self.storage.put(key, path)
        with self._removed_on_error(key):
            return self._add_template(caller.tenant_id, template_id, display_name(name), source_key=key,
                                      source_url=None, size=size)

    @contextmanager
    def _removed_on_error(self, key: str) -> Iterator[None]:
        """Delete the stored `key` when its row could not be written: nothing else would ever remove it."""
        try:
            yield
        except BaseException:
            self.storage.delete(key)
            raise

    def add_template_url(self, caller: Caller, url: str, name: str | None) -> Template:
        """Queue a template whose file a worker fetches from `url`."""
        check_url(url, self.settings.fetch)
        disk_space_or_raise(self.settings)
        return self._add_template(caller.tenant_id, new_id("tpl"), name, source_key=None, source_url=url, size=None)

    def _add_template(self, owner: str, template_id: str, name: str | None, *, source_key: str | None,
                      source_url: str | None, size: int | None) -> Template:
        with self.db.session() as session:
            template = Template(id=template_id, owner=owner, name=name or template_id, status="preparing",
                                source_key=source_key, source_url=source_url, size_bytes=size, created_at=utcnow())
            session.add(template)
            session.flush()
            job = self.jobs.create_prepare(session, template)
        self.jobs.enqueue_after_commit(job)
        return template

    def get_template(self, caller: Caller, template_id: str) -> Template:
        with self.db.session() as session:
            return owned_or_raise(session, Template, template_id, caller, "template", TEMPLATE_HINT)

    def find_template(self, caller: Caller, reference: str) -> Template:
        """The template with id `reference` (tpl_...), or else the newest usable one named `reference`: ready if
        one is, otherwise one still preparing. Raises NotFoundError when neither exists."""
        if reason := unstorable(reference):  # no row holds it, and PostgreSQL refuses to even compare it
            raise NotFoundError(f"no template has the id or name given: it {reason}; {TEMPLATE_HINT}")
        if reference.startswith("tpl_"):
            return self.get_template(caller, reference)
        query = (select(Template).where(visible_to(Template, caller), Template.name == reference,
                                        Template.status != "failed")
                 .order_by((Template.owner == caller.tenant_id).desc(), Template.created_at.desc(),
                           Template.id.desc()))
        with self.db.session() as session:
            named = list(session.scalars(query))
        usable = [t for t in named if t.status == "ready"] or named
        if not usable:
            raise NotFoundError(f"no template has the id or name {reference!r}; {TEMPLATE_HINT}")
        return usable[0]

    def list_templates(self, caller: Caller, *, status: str | None, cursor: str | None,
                       limit: int) -> tuple[list[Template], str | None]:
        query = select(Template).where(visible_to(Template, caller))
        if status:
            query = query.where(Template.status == status)
        return newest_first_page(self.db, query, Template, cursor, limit)

    def rename_template(self, caller: Caller, template_id: str, name: str) -> Template:
        with self.db.session() as session:
            template = owned_or_raise(session, Template, template_id, caller, "template", write=True)
            template.name = name
        return template

    def delete_template(self, caller: Caller, template_id: str) -> None:
        """Delete a template and its files; refused while videos using it are queued or running."""
        with self.db.session() as session:
            template = owned_or_raise(session, Template, template_id, caller, "template", TEMPLATE_HINT,
                                      write=True)
            busy = session.scalar(select(Job.id).where(Job.template_id == template_id, Job.kind == "video",
                                                       Job.status.in_(("queued", "processing"))).limit(1))
            if busy:
                raise InvalidStateError(f"video {busy} still uses template {template_id}; wait or cancel it")
            session.delete(template)
        for key in (template.source_key, template.thumbnail_key):
            if key:
                self.storage.delete(key)

    def template_prepared(self, template_id: str, *, source_key: str | None, size: int | None,
                          facts: dict[str, Any], content_hash: str, thumbnail_key: str, host: str) -> None:
        with self.db.session() as session:
            template = session.get(Template, template_id)
            if template is None:
                return  # deleted while preparing
            if source_key:
                template.source_key, template.size_bytes = source_key, size
            template.status, template.facts, template.content_hash = "ready", facts, content_hash
            template.thumbnail_key, template.prepared_on = thumbnail_key, host
            template.error_code = template.error_message = None

    def template_failed(self, template_id: str, code: str, message: str) -> None:
        with self.db.session() as session:
            template = session.get(Template, template_id)
            if template is not None:
                template.status, template.error_code, template.error_message = "failed", code, message

    def template_source_stored(self, template_id: str, key: str, size: int) -> None:
        with self.db.session() as session:
            template = session.get(Template, template_id)
            if template is not None:
                template.source_key, template.size_bytes = key, size

    def mark_cached_on(self, template_id: str, host: str) -> None:
        with self.db.session() as session:
            template = session.get(Template, template_id)
            if template is not None and template.prepared_on != host:
                template.prepared_on = host

    # --- audio ----------------------------------------------------------------------------------------------

    def add_audio_file(self, caller: Caller, path: Path, filename: str | None) -> Audio:
        """Store uploaded audio after probing its headers (duration, sample rate), so a file that is not
        audio or is too long fails here; decoding is left to the worker that uses it."""
        _space_or_discard(self.settings, path)
        kind, ext = _sniff_or_discard(path)
        if kind not in (AUDIO, VIDEO):
            path.unlink(missing_ok=True)
            raise UnsupportedMediaError("audio must be wav, mp3, m4a, aac, ogg, flac, or a video with sound")
        try:
            duration_s = self._probed_audio_s(path)
        except Exception:
            path.unlink(missing_ok=True)
            raise
        audio_id = new_id("aud")
        key = f"inputs/{audio_id}.{ext}"
        size = self.storage.put(key, path)
        with self._removed_on_error(key), self.db.session() as session:
            audio = Audio(id=audio_id, owner=caller.tenant_id, key=key, size_bytes=size, duration_s=duration_s,
                          filename=display_name(filename), created_at=utcnow())
            session.add(audio)
        return audio

    def _probed_audio_s(self, path: Path) -> float:
        """The duration the headers declare, refused over max_audio_s, without a sound track, or with a sample
        rate or picture over the engine's limits."""
        from facecast.engine import AudioTooLongError, EmptyAudioError, probe

        limits = self.settings.limits()
        info = probe(path, limits)
        if not info.has_audio:
            raise EmptyAudioError("the file has no sound track; upload audio, or a video with sound")
        if info.duration_s > limits.max_audio_s + 0.5:
            raise AudioTooLongError(f"the audio is {info.duration_s:.1f} s long, over the {limits.max_audio_s:.0f} s "
                                    "limit (max_audio_s); split the speech into shorter parts")
        return info.duration_s

    def get_audio(self, caller: Caller, audio_id: str) -> Audio:
        with self.db.session() as session:
            return owned_or_raise(session, Audio, audio_id, caller, "audio", AUDIO_HINT)

    def expire_audio(self, uploaded_before: dt.datetime) -> list[str]:
        """Delete audio uploaded before `uploaded_before` that no queued or running job uses, and mark it
        expired (compare-and-set, so several workers expire each upload once); returns the ids."""
        in_use = exists().where(Job.audio_id == Audio.id, Job.status.in_(ACTIVE))
        query = (select(Audio.id, Audio.key).where(Audio.expired_at.is_(None), Audio.created_at < uploaded_before,
                                                   ~in_use).order_by(Audio.created_at).limit(200))
        expired = []
        with self.db.session() as session:
            for audio_id, key in list(session.execute(query)):
                marked = session.execute(update(Audio).where(Audio.id == audio_id, Audio.expired_at.is_(None))
                                         .values(expired_at=utcnow()).execution_options(synchronize_session=False))
                if marked.rowcount == 1:
                    expired.append((audio_id, key))
        for audio_id, key in expired:
            try:
                self.storage.delete(key)
            except Exception as exc:  # marked already: the file is an orphan now, logged for the operator
                log.warning("could not delete %s of audio %s (%s: %s)", key, audio_id, type(exc).__name__, exc)
        return [audio_id for audio_id, _ in expired]
