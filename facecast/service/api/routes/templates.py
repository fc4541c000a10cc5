"""Template library: upload or fetch, list, get, rename, delete, thumbnail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import FileResponse

from ...library import receive_upload
from ...problems import InvalidStateError
from ...schemas import TemplateCreate, TemplateList, TemplatePublic, TemplateStatus, TemplateUpdate, template_public
from ..deps import CallerDep, CursorQuery, LibraryDep, SettingsDep, StorageDep

router = APIRouter(prefix="/v1/templates", tags=["templates"])


@router.post("", status_code=202, operation_id="upload_template", response_model=TemplatePublic)
def upload_template(caller: CallerDep, library: LibraryDep, settings: SettingsDep, response: Response,
                    file: Annotated[UploadFile, File(description="Video (mp4, mov, webm) or photo (jpg, png)")],
                    name: Annotated[str | None, Form(max_length=200, description="Display name")] = None,
                    ) -> TemplatePublic:
    """Upload a template. Face tracking runs as a queued job: poll until status is ready (or failed with why)."""
    path = receive_upload(file, settings.data_dir / "work", settings.max_upload_bytes)
    template = library.add_template_file(caller, path, name or file.filename)
    response.headers["Location"] = f"/v1/templates/{template.id}"
    return template_public(template, settings.base_url)


@router.post("/from_url", status_code=202, operation_id="create_template", response_model=TemplatePublic)
def create_template(body: TemplateCreate, caller: CallerDep, library: LibraryDep, settings: SettingsDep,
                    response: Response) -> TemplatePublic:
    """Add a template from an http(s) URL; a worker downloads and prepares it."""
    template = library.add_template_url(caller, body.source_url, body.name)
    response.headers["Location"] = f"/v1/templates/{template.id}"
    return template_public(template, settings.base_url)


@router.get("", operation_id="list_templates", response_model=TemplateList)
def list_templates(caller: CallerDep, library: LibraryDep, settings: SettingsDep,
                   status: Annotated[TemplateStatus | None, Query(description="Only this status")] = None,
                   cursor: CursorQuery = None,
                   limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20) -> TemplateList:
    """List templates, newest first."""
    rows, next_cursor = library.list_templates(caller, status=status, cursor=cursor, limit=limit)
    return TemplateList(data=[template_public(t, settings.base_url) for t in rows], next_cursor=next_cursor)


@router.get("/{template_id}", operation_id="get_template", response_model=TemplatePublic)
def get_template(template_id: str, caller: CallerDep, library: LibraryDep, settings: SettingsDep) -> TemplatePublic:
    """Get one template with its status, facts and thumbnail URL."""
    return template_public(library.get_template(caller, template_id), settings.base_url)


@router.patch("/{template_id}", operation_id="rename_template", response_model=TemplatePublic)
def rename_template(template_id: str, body: TemplateUpdate, caller: CallerDep, library: LibraryDep,
                    settings: SettingsDep) -> TemplatePublic:
    """Rename a template."""
    return template_public(library.rename_template(caller, template_id, body.name), settings.base_url)


@router.delete("/{template_id}", status_code=204, operation_id="delete_template")
def delete_template(template_id: str, caller: CallerDep, library: LibraryDep) -> Response:
    """Delete a template and its files. Refused while a queued or running video uses it."""
    library.delete_template(caller, template_id)
    return Response(status_code=204)


@router.get("/{template_id}/thumbnail", operation_id="get_template_thumbnail",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}})
def get_template_thumbnail(template_id: str, caller: CallerDep, library: LibraryDep,
                           storage: StorageDep) -> FileResponse:
    """The template's thumbnail (JPEG) once it is ready."""
    template = library.get_template(caller, template_id)
    if not template.thumbnail_key:
        raise InvalidStateError(f"template {template_id} is {template.status}; the thumbnail exists once ready")
    return FileResponse(storage.local_path(template.thumbnail_key), media_type="image/jpeg")
