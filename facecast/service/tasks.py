"""What a worker does with a job id taken from the queue: claim it, run the engine under a lease, record the end."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facecast.engine.errors import FacecastError

from .db.models import Job, Template
from .fetch import AUDIO, IMAGE, VIDEO, fetch_to_file
from .jobs import JobService
from .lanes import ProcessLanes, lane_codec_threads, thread_lanes
from .library import Library
from .logs import job_context
from .metrics import REALTIME_FACTOR, STAGE_SECONDS
from .problems import TemplateNotReadyError, UnsupportedMediaError, is_disk_full
from .queue import this_host
from .speech import RETRYABLE_CODES, speech_key, subtitle_keys, synthesize_cached
from .storage import Storage
from .tenants import SYSTEM

if TYPE_CHECKING:
    from facecast.engine import GenerateOptions, GenerateResult, PreparedTemplate
    from facecast.engine.quality import RenderedSample
    from facecast.voice import SynthesizedSpeech

log = logging.getLogger("facecast.worker")
PREPARE_SHARE = 0.25  # share of progress given to template tracking when a video has to track first
DISK_FULL = "disk_full"  # a render that ran out of space is tried again later, when space may have been freed
RETRY_CODES = RETRYABLE_CODES | {DISK_FULL}


class TemplateFailedError(TemplateNotReadyError):
    """The video's template could not be fetched or prepared: the video ends with the template's own code."""

    def __init__(self, template: Template) -> None:
        super().__init__(f"template {template.id} failed: {template.error_message or 'no reason recorded'}")
        if template.error_code:
            self.code = template.error_code


class Lease:
    """Renews a claimed job's lease from a thread, carries progress to the row and turns cancel into a token."""

    def __init__(self, jobs: JobService, job_id: str, worker_id: str, lease_s: float) -> None:
        from facecast.engine import CancelToken

        self.jobs, self.job_id, self.worker_id = jobs, job_id, worker_id
        self.cancel = CancelToken()
        self.lost = False
        self.durations: dict[str, float] = {}  # seconds spent in each stage so far, for /metrics
        self._stage: str | None = None
        self._stage_since = time.monotonic()
        self.stage = "starting"
        self.progress = 0.0
        self._interval = min(1.0, lease_s / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"lease-{job_id}")

    @property
    def stage(self) -> str | None:
        return self._stage

    @stage.setter
    def stage(self, value: str | None) -> None:
        """Entering a stage closes the previous one's timing."""
        if value == self._stage:
            return
        self._close_stage()
        self._stage = value

    def _close_stage(self) -> None:
        now = time.monotonic()
        if self._stage is not None:
            self.durations[self._stage] = self.durations.get(self._stage, 0.0) + now - self._stage_since
        self._stage_since = now

    def report(self, stage: str, done: int, total: int) -> None:
        """Engine progress callback: tracking takes the first quarter, the rest is rendering and encoding."""
        fraction = done / total if total else 0.0
        if "track" in stage or "prepar" in stage:
            value = PREPARE_SHARE * fraction
        else:
            value = PREPARE_SHARE + (1 - PREPARE_SHARE) * fraction
        self.stage, self.progress = stage, max(self.progress, min(value, 0.99))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                state = self.jobs.renew(self.job_id, self.worker_id, self.stage, self.progress)
            except Exception:  # a database hiccup: keep the job running, the lease has slack
                log.warning("lease renewal of %s failed; will retry", self.job_id, exc_info=True)
                continue
            if state != "ok":
                self.lost = state == "lost"
                self.cancel.cancel()

    def __enter__(self) -> "Lease":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._close_stage()
        self._stop.set()
        self._thread.join(timeout=5)


class JobRunner:
    """The queue task body. One runner per worker process; it keeps decoded audio for the batch it is working on."""

    def __init__(self, jobs: JobService, library: Library, storage: Storage, worker_id: str,
                 stop: threading.Event | None = None, lanes: ProcessLanes | None = None) -> None:
        self.jobs, self.library, self.storage, self.worker_id = jobs, library, storage, worker_id
        self.stop = stop or threading.Event()  # set when the worker is stopping: no further batch video is claimed
        self.lanes = lanes  # how a batch's extra lanes run: processes, or threads when None
        self.settings = jobs.settings
        self.work_dir = self.settings.data_dir / "work"
        self.cache_dir = self.settings.data_dir / "cache" / "templates"
        self._audio_cache: OrderedDict[str, Any] = OrderedDict()  # batch audio decoded once, shared by its videos
        self._audio_lock = threading.Lock()

    def __call__(self, job_id: str) -> None:
        if self.jobs.park_while_template_prepares(job_id):
            return  # woken when its template's preparation ends
        job = self.jobs.claim(job_id, self.worker_id)
        if job is None:
            return  # already done, taken by another worker, or canceled
        count = self._batch_lanes(job)
        if count == 1:
            self._run(job)
            return

        def sibling_lane() -> None:
            self._run_siblings(job)

        def own_lane() -> None:
            self._run(job)
            sibling_lane()

        if self.lanes is None:
            thread_lanes(count - 1, own_lane, sibling_lane)
        else:
            self.lanes.run(job.id, count - 1, own_lane, sibling_lane, self.stop)

    @property
    def lanes_per_batch(self) -> int:
        """How many videos of one batch this worker renders at once."""
        return 1 if self.settings.worker.gpus else self.settings.worker.batch_parallel

    def _batch_lanes(self, job: Job) -> int:
        """How many videos of the job's batch this worker renders at once (1: the job alone)."""
        return self.lanes_per_batch if job.kind == "video" and job.batch_id else 1

    def run_siblings_of(self, job_id: str) -> None:
        """A lane process's work: the queued videos of job `job_id`'s batch (see lanes.py)."""
        self._run_siblings(self.jobs.load(job_id))

    def _run_siblings(self, job: Job) -> None:
        """Claim and run the batch's queued videos one after another until none is left. Each lane takes the
        next as soon as its last one ends, so one video's decoding and tracking overlap another's encoding
        instead of every pair waiting for its slower half. The siblings' own queue tasks stay queued and are
        skipped when they come up, because claiming is compare-and-set; a stopping worker leaves them queued."""
        lanes, parked = self._batch_lanes(job), set[str]()
        while not self.stop.is_set():
            queued = [sibling_id for sibling_id in self.jobs.queued_in_batch(job.batch_id or "", lanes + len(parked))
                      if sibling_id not in parked]
            if not queued:
                return
            sibling = self._claim_ready(queued, parked)
            if sibling is not None:  # else the other lanes took them meanwhile, or they wait: look again
                self._run(sibling)

    def _claim_ready(self, queued: list[str], parked: set[str]) -> Job | None:
        """The first of `queued` this worker could claim. One whose template is still being prepared is parked
        instead, as its own queue task would be, and added to `parked`."""
        for sibling_id in queued:
            if self.jobs.park_while_template_prepares(sibling_id):
                parked.add(sibling_id)
            elif (claimed := self.jobs.claim(sibling_id, self.worker_id)) is not None:
                return claimed
        return None

    def _run(self, job: Job) -> None:
        """Run a claimed job under a renewed lease in its own scratch folder, then record how it ended."""
        scratch = self.work_dir / job.id
        with job_context(job.id):  # every log line of this attempt names the job
            try:
                with Lease(self.jobs, job.id, self.worker_id, self.settings.worker.lease_s) as lease:
                    status, result, code, message = self._attempt(job, lease)
                shutil.rmtree(scratch, ignore_errors=True)  # before the end is recorded: a finished job left nothing
                self._record(job, lease, status, result, code, message)
            except Exception as exc:  # recording failed (database down or full): the lease expires, the sweep decides
                log.error("job %s: could not record its end (%s: %s); the sweep will recover it", job.id,
                          type(exc).__name__, exc)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

    def _attempt(self, job: Job, lease: Lease) -> tuple[str, dict[str, Any] | None, str | None, str | None]:
        """(status, result, error code, error message) of one attempt at the job."""
        try:
            result = self._prepare(job, lease) if job.kind == "prepare" else self._video(job, lease)
            return "succeeded", result, None, None
        except FacecastError as exc:
            if exc.code == "canceled":
                return "canceled", None, None, None
            return "failed", None, exc.code, str(exc)
        except Exception as exc:
            if is_disk_full(exc):
                log.error("job %s: disk full (%s)", job.id, exc)
                return "failed", None, DISK_FULL, f"the server ran out of disk space: {exc}"[:500]
            log.exception("job %s crashed", job.id)
            return "failed", None, "internal_error", f"unexpected error: {exc}"[:500]

    def _record(self, job: Job, lease: Lease, status: str, result: dict[str, Any] | None, code: str | None,
                message: str | None) -> None:
        """Write the attempt's end; what a job that did not succeed stored is removed."""
        if lease.lost:
            log.warning("job %s: lease lost while running; another attempt owns it now", job.id)
            if self.jobs.load(job.id).status in ("failed", "canceled"):
                self.jobs.delete_outputs(job.id)
            return
        if status != "succeeded":
            self.jobs.delete_outputs(job.id)
        if code in RETRY_CODES and job.attempts < job.max_attempts:
            log.info("job %s: %s on attempt %d of %d; retrying later", job.id, code, job.attempts, job.max_attempts)
            self.jobs.retry_later(job.id, self.worker_id, code or "", message or "")
            return
        if not self.jobs.finish(job.id, self.worker_id, status, result=result, error_code=code,
                                error_message=message):
            return
        if status == "succeeded":
            self._observe(lease, result or {})
        if job.kind == "prepare" and status == "failed":
            self.library.template_failed(job.template_id or "", code or "failed", message or "")
        if job.kind == "prepare":
            self.jobs.wake_waiting(job.template_id or "")

    def _observe(self, lease: Lease, result: dict[str, Any]) -> None:
        """Add a succeeded job's stage durations and real-time factor to the histograms /metrics shows."""
        try:
            for stage, seconds in lease.durations.items():
                self.jobs.observe(STAGE_SECONDS.name, stage, seconds, STAGE_SECONDS.bounds)
            if result.get("render_s") and result.get("duration_s"):
                factor = result["render_s"] / result["duration_s"]
                self.jobs.observe(REALTIME_FACTOR.name, "", factor, REALTIME_FACTOR.bounds)
        except Exception as exc:  # metrics must never fail a finished job
            log.warning("could not record timings (%s: %s)", type(exc).__name__, exc)

    def clean_orphan_scratch(self) -> int:
        """Remove what crashed processes left in work/: folders of jobs no live lease holds, and other entries
        (uploads cut off by a full disk or a killed API) untouched for a lease. Returns how many went."""
        if not self.work_dir.is_dir():
            return 0
        entries = list(self.work_dir.iterdir())
        held = self.jobs.lease_held({entry.name for entry in entries})
        cutoff = time.time() - self.settings.worker.lease_s
        removed = 0
        for entry in entries:
            orphan = not held[entry.name] if entry.name in held else _newest_mtime(entry) < cutoff
            if not orphan:
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        return removed

    def _scratch(self, job: Job) -> Path:
        """The job's own folder under work/: removed when the attempt ends, however it ends."""
        folder = self.work_dir / job.id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _download(self, job: Job, lease: Lease, url: str, name: str, kinds: tuple[str, ...],
                  refusal: str) -> tuple[Path, str]:
        """Fetch `url` into the job's scratch folder as `name`; (path, extension) when its content is one of
        `kinds`, else the file is removed and UnsupportedMediaError(refusal) raised."""
        lease.stage = "downloading"
        download = self._scratch(job) / name
        kind, ext = fetch_to_file(url, download, self.settings.fetch, lease.cancel)
        if kind not in kinds:
            download.unlink(missing_ok=True)
            raise UnsupportedMediaError(refusal)
        return download, ext

    # --- kinds ----------------------------------------------------------------------------------------------

    def _prepare(self, job: Job, lease: Lease) -> dict[str, Any]:
        from facecast.engine import prepare_template
        from facecast.engine.template_cache import facts_to_dict

        template = self.library.get_template(SYSTEM, job.template_id or "")
        source_key, size = template.source_key, template.size_bytes
        if source_key is None:  # added by URL: fetch it now
            download, ext = self._download(job, lease, template.source_url or "", "template.download", (VIDEO, IMAGE),
                                           "a template must be a video or a photo showing one face")
            source_key = f"templates/{template.id}.{ext}"
            size = self.storage.put(source_key, download)
            self.library.template_source_stored(template.id, source_key, size)
        prepared = prepare_template(self.storage.local_path(source_key), cache_dir=self.cache_dir,
                                    limits=self.settings.limits(), progress=lease.report, cancel=lease.cancel)
        thumbnail_key = f"templates/{template.id}.jpg"
        staged = self._scratch(job) / "thumbnail.jpg"
        shutil.copyfile(prepared.thumbnail_path, staged)
        self.storage.put(thumbnail_key, staged)
        self.library.template_prepared(template.id, source_key=None, size=size, facts=facts_to_dict(prepared.facts),
                                       content_hash=prepared.content_hash, thumbnail_key=thumbnail_key,
                                       host=this_host(self.settings))
        return {"content_hash": prepared.content_hash}

    def _video(self, job: Job, lease: Lease) -> dict[str, Any]:
        from facecast.engine import generate
        from facecast.engine.quality import RenderedSample, SoundMemo, gate_or_raise

        template = self.library.get_template(SYSTEM, job.template_id or "")
        if template.status == "failed" or template.source_key is None:
            raise TemplateFailedError(template)
        prepared = self._prepared_template(template, lease)
        staged = self._scratch(job) / f"{job.id}.mp4"
        options = self._lane_options(job, job.options.generate_options(self.settings.limits()))
        clip = self._audio(job, lease) if job.text is None else None
        started, sample = time.monotonic(), RenderedSample()  # the gate's frames, tracked while they render
        if clip is None:
            outcome, subtitles = self._say(job, lease, prepared, staged, options, sample)
        else:
            lease.stage = "rendering"
            outcome = generate(prepared, clip, staged, options, progress=lease.report, cancel=lease.cancel,
                               sample=sample)
            subtitles = {}
        render_s = time.monotonic() - started
        lease.stage = "checking"
        sound = self._shared(f"sound:{job.batch_id}", SoundMemo) if job.batch_id else None  # one analysis a batch
        quality = gate_or_raise(staged, options.quality, render_s, sound, sample)  # action=fail raises: nothing stored
        thumb_staged = staged.with_suffix(".jpg")
        has_thumb = _first_frame_jpeg(staged, thumb_staged)
        size = self.storage.put(f"outputs/{job.id}.mp4", staged)  # atomic: the key holds all of it or nothing
        if has_thumb:
            self.storage.put(f"outputs/{job.id}.jpg", thumb_staged)
        self.library.mark_cached_on(template.id, this_host(self.settings))
        return {"video_key": f"outputs/{job.id}.mp4", "thumbnail_key": f"outputs/{job.id}.jpg" if has_thumb else None,
                "duration_s": outcome.duration_s, "size_bytes": size, "width": outcome.width,
                "height": outcome.height, "fps": outcome.fps, "frame_count": outcome.frame_count,
                "renderer": outcome.renderer, "render_s": round(render_s, 3), "quality": quality.as_dict(),
                **subtitles}

    def _lane_options(self, job: Job, options: GenerateOptions) -> GenerateOptions:
        """A batch video renders beside its siblings: its codecs get its lane's share of the cores."""
        lanes = self._batch_lanes(job)
        if lanes == 1:
            return options
        return dataclasses.replace(options, encode=dataclasses.replace(options.encode,
                                                                       codec_threads=lane_codec_threads(lanes)))

    def _prepared_template(self, template: Template, lease: Lease) -> PreparedTemplate:
        """The template's tracks from this host's cache, found by the key its row stores: the file is not
        hashed again. A host that has not prepared it yet (another worker did) tracks it once now."""
        from facecast.engine.pipeline import prepare_template
        from facecast.engine.template_cache import TemplateCache

        source = self.storage.local_path(template.source_key or "")
        if template.content_hash:
            cached = TemplateCache(self.cache_dir).load(source, template.content_hash)
            if cached is not None:
                return cached
        return prepare_template(source, cache_dir=self.cache_dir, limits=self.settings.limits(), progress=lease.report,
                                cancel=lease.cancel)

    def _say(self, job: Job, lease: Lease, prepared: PreparedTemplate, staged: Path, options: GenerateOptions,
             sample: RenderedSample) -> tuple[GenerateResult, dict[str, Any]]:
        """A text job through the voice layer's text-to-video path, with this host's speech cache plugged in;
        its SRT and WebVTT files are stored beside the video."""
        from facecast.voice.burn import SubtitleStyle
        from facecast.voice.say import SayRequest, say_to_video

        mode = job.options.subtitles()
        srt, vtt = staged.with_suffix(".srt"), staged.with_suffix(".vtt")
        request = SayRequest(template=prepared, text=job.text or "", output=staged,
                             voice=job.voice or self.settings.voice.default_voice, generate=options,
                             srt_path=srt, vtt_path=vtt, burn=SubtitleStyle() if mode == "burn" else None,
                             soft=mode == "soft")
        said = say_to_video(request, speech=lambda: self._speech(job, lease), progress=lease.report,
                            cancel=lease.cancel, sample=sample)
        srt_key, vtt_key = subtitle_keys(job.id)
        self.storage.put(srt_key, srt)
        self.storage.put(vtt_key, vtt)
        return said.video, {"srt_key": srt_key, "vtt_key": vtt_key, "subtitle_cues": len(said.cues)}

    def _speech(self, job: Job, lease: Lease) -> SynthesizedSpeech:
        """The job's text spoken, from this host's speech cache; one synthesis per batch."""
        voice = job.voice or self.settings.voice.default_voice

        def speak() -> SynthesizedSpeech:
            lease.stage = "speaking"
            return synthesize_cached(self.settings, job.text or "", voice, job.options.values(), lease.cancel)

        return self._shared(f"speech:{speech_key(job.text or '', voice, job.options.values())}", speak)

    def _audio(self, job: Job, lease: Lease) -> Any:
        """Decoded audio, shared across the videos of one batch (and across jobs using the same upload)."""
        cache_key = f"batch:{job.batch_id}" if job.batch_id and job.audio_url else f"audio:{job.audio_id}"
        if job.audio_id is None and job.batch_id is None:
            cache_key = f"job:{job.id}"
        return self._shared(cache_key, lambda: self._decoded_audio(job, lease))

    def _shared(self, cache_key: str, make: Callable[[], Any]) -> Any:
        """What `make` returns, made once and kept for the other videos of a batch (the last four kept)."""
        with self._audio_lock:  # videos of a batch may run side by side; the first makes it, the rest wait
            if cache_key in self._audio_cache:
                self._audio_cache.move_to_end(cache_key)
                return self._audio_cache[cache_key]
            value = make()
            self._audio_cache[cache_key] = value
            while len(self._audio_cache) > 4:
                self._audio_cache.popitem(last=False)
            return value

    def _decoded_audio(self, job: Job, lease: Lease) -> Any:
        from facecast.engine import load_audio

        limits = self.settings.limits()
        if job.audio_id:
            audio = self.library.get_audio(SYSTEM, job.audio_id)
            return load_audio(self.storage.local_path(audio.key), limits)
        download, _ = self._download(job, lease, job.audio_url or "", "audio.download", (AUDIO, VIDEO),
                                     "audio_url must point to an audio file (wav, mp3, m4a, ogg, flac)")
        try:
            return load_audio(download, limits)
        finally:
            download.unlink(missing_ok=True)


def _first_frame_jpeg(video: Path, target: Path) -> bool:
    """Write the video's first frame as a JPEG; False if it cannot be read (the video is still returned)."""
    try:
        import av
        import cv2

        with av.open(str(video)) as container:
            frame = next(container.decode(video=0))
            ok, data = cv2.imencode(".jpg", frame.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            target.write_bytes(data.tobytes())
        return bool(ok)
    except Exception:
        log.warning("no thumbnail for %s", video, exc_info=True)
        return False


def _newest_mtime(path: Path) -> float:
    """The latest modification time of `path` and anything under it (0 when it vanished meanwhile)."""
    try:
        paths = [path, *path.rglob("*")] if path.is_dir() else [path]
        return max(p.stat().st_mtime for p in paths)
    except FileNotFoundError:
        return 0.0
