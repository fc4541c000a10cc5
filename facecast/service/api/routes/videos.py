"""Video jobs: create (202), get and list (with ?wait long-polling), cancel, delete, download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse

from ...problems import ExpiredError, InvalidStateError, NotFoundError
from ...schemas import DeliveryList, JobStatus, VideoCreate, VideoList, VideoPublic, video_public
from ..deps import CallerDep, CursorQuery, DeliveriesDep, IdempotencyKeyDep, JobsDep, SettingsDep, StorageDep
from ..threads import create_in_order
from .polling import WaitQuery, answer_created, ended, progress_headers, wait_until

router = APIRouter(prefix="/v1/videos", tags=["videos"])


@router.post("", status_code=202, operation_id="create_video", response_model=VideoPublic,
             responses={200: {"description": "The job had already ended (wait, or a replayed Idempotency-Key)"}})
async def create_video(body: VideoCreate, caller: CallerDep, jobs: JobsDep, settings: SettingsDep,
                       idem: IdempotencyKeyDep, response: Response, wait: WaitQuery = 0) -> VideoPublic:
    """Queue a lip-sync video. Poll the Location URL, pass ?wait=N to get a short job's result in this call,
    or give a callback_url."""
    job = await create_in_order(jobs.create_video, jobs, caller, body, idem)
    view = video_public(job, settings.base_url, jobs.storage.presigned_url)
    if wait and not ended(view):
        view = await wait_until(lambda: video_public(jobs.get(caller, job.id), settings.base_url,
                                                     jobs.storage.presigned_url),
                                ended, wait)
    return answer_created(response, f"/v1/videos/{view.id}", view)


@router.get("", operation_id="list_videos", response_model=VideoList)
def list_videos(caller: CallerDep, jobs: JobsDep, settings: SettingsDep,
                status: Annotated[JobStatus | None, Query(description="Only this status")] = None,
                batch_id: Annotated[str | None, Query(description="Only videos of this batch")] = None,
                cursor: CursorQuery = None,
                limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20) -> VideoList:
    """List videos, newest first, with cursor pagination."""
    rows, next_cursor = jobs.list(caller, status=status, batch_id=batch_id, cursor=cursor, limit=limit)
    views = [video_public(j, settings.base_url, jobs.storage.presigned_url) for j in rows]
    return VideoList(data=views, next_cursor=next_cursor)


@router.get("/{video_id}", operation_id="get_video", response_model=VideoPublic)
async def get_video(video_id: str, caller: CallerDep, jobs: JobsDep, settings: SettingsDep, response: Response,
                    wait: WaitQuery = 0) -> VideoPublic:
    """Get a video's status, progress, ETA and, once succeeded, its URLs. ?wait=N answers as soon as it ends."""
    view = await wait_until(lambda: video_public(jobs.get(caller, video_id), settings.base_url,
                                                 jobs.storage.presigned_url),
                            ended, wait)
    progress_headers(response, f"/v1/videos/{view.id}", view.status)
    return view


@router.post("/{video_id}/cancel", operation_id="cancel_video", response_model=VideoPublic)
def cancel_video(video_id: str, caller: CallerDep, jobs: JobsDep, settings: SettingsDep) -> VideoPublic:
    """Cancel a queued or running video. A running one stops within seconds and leaves no output."""
    return video_public(jobs.cancel(caller, video_id), settings.base_url, jobs.storage.presigned_url)


@router.delete("/{video_id}", status_code=204, operation_id="delete_video")
def delete_video(video_id: str, caller: CallerDep, jobs: JobsDep) -> Response:
    """Delete an ended video and its files."""
    jobs.delete_video(caller, video_id)
    return Response(status_code=204)


@router.get("/{video_id}/deliveries", operation_id="list_video_deliveries", response_model=DeliveryList)
def list_video_deliveries(video_id: str, caller: CallerDep, deliveries: DeliveriesDep) -> DeliveryList:
    """The video's callback and notifications: each target's status and every attempt (time, HTTP status, error)."""
    return DeliveryList(data=deliveries.list_for(caller, "video", video_id))


@router.post("/{video_id}/deliveries/redeliver", status_code=202, operation_id="redeliver_video",
             response_model=DeliveryList)
def redeliver_video(video_id: str, caller: CallerDep, deliveries: DeliveriesDep) -> DeliveryList:
    """Send the ended video's callback and notifications again, within seconds, with a fresh retry schedule."""
    return DeliveryList(data=deliveries.redeliver(caller, "video", video_id))


def _result_file(jobs: JobsDep, storage: StorageDep, caller: CallerDep, video_id: str, field: str) -> str:
    job = jobs.get(caller, video_id)
    key = (job.result or {}).get(field)
    if job.expired_at is not None:
        raise ExpiredError(f"video {video_id}'s files were deleted at {job.expired_at:%Y-%m-%d %H:%M} UTC by the "
                           "retention policy; render it again to get them")
    if job.status != "succeeded" or not key:
        raise InvalidStateError(f"video {video_id} is {job.status}; its files exist once it has succeeded")
    return str(storage.local_path(key))


@router.get("/{video_id}/content", operation_id="download_video", response_class=FileResponse,
            responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "Partial content (Range)"}})
def download_video(video_id: str, caller: CallerDep, jobs: JobsDep, storage: StorageDep) -> FileResponse:
    """Download the MP4. Supports HTTP Range requests for seeking and resuming."""
    path = _result_file(jobs, storage, caller, video_id, "video_key")
    return FileResponse(path, media_type="video/mp4", filename=f"{video_id}.mp4")


@router.get("/{video_id}/thumbnail", operation_id="get_video_thumbnail", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}})
def get_video_thumbnail(video_id: str, caller: CallerDep, jobs: JobsDep, storage: StorageDep) -> FileResponse:
    """The first frame of the finished video as JPEG."""
    return FileResponse(_result_file(jobs, storage, caller, video_id, "thumbnail_key"), media_type="image/jpeg")


def _subtitle_file(jobs: JobsDep, storage: StorageDep, caller: CallerDep, video_id: str, field: str) -> str:
    job = jobs.get(caller, video_id)
    if job.text is None:
        raise NotFoundError(f"video {video_id} was made from audio; subtitles exist only for videos made from text")
    return _result_file(jobs, storage, caller, video_id, field)


SUBTITLE_FORMATS = {"srt": ("srt_key", "application/x-subrip; charset=utf-8"),
                    "vtt": ("vtt_key", "text/vtt; charset=utf-8")}


def _subtitles(jobs: JobsDep, storage: StorageDep, caller: CallerDep, video_id: str, kind: str) -> FileResponse:
    key_field, media_type = SUBTITLE_FORMATS[kind]
    path = _subtitle_file(jobs, storage, caller, video_id, key_field)
    return FileResponse(path, media_type=media_type, filename=f"{video_id}.{kind}")


@router.get("/{video_id}/subtitles.srt", operation_id="get_video_srt", response_class=FileResponse,
            responses={200: {"content": {"application/x-subrip": {}}}})
def get_video_srt(video_id: str, caller: CallerDep, jobs: JobsDep, storage: StorageDep) -> FileResponse:
    """SRT subtitles of a succeeded text video, timed from the synthesised speech."""
    return _subtitles(jobs, storage, caller, video_id, "srt")


@router.get("/{video_id}/subtitles.vtt", operation_id="get_video_vtt", response_class=FileResponse,
            responses={200: {"content": {"text/vtt": {}}}})
def get_video_vtt(video_id: str, caller: CallerDep, jobs: JobsDep, storage: StorageDep) -> FileResponse:
    """WebVTT subtitles of a succeeded text video, timed from the synthesised speech."""
    return _subtitles(jobs, storage, caller, video_id, "vtt")
