"""How API objects are shown: labels, table rows and the progress bar. Pure functions, no Gradio."""

from __future__ import annotations

import html
from typing import Any

from .client import ApiError

TEMPLATE_COLUMNS = ["Name", "Status", "Resolution", "FPS", "Duration (s)", "Face coverage", "Talking", "Id"]
VIDEO_COLUMNS = ["Id", "Status", "Progress", "Stage", "Template", "Duration (s)", "Lip-sync", "Created", "Error"]
VIDEO_COLUMN_WIDTHS = ["220px", "140px", "90px", "100px", "140px", "110px", "250px", "170px", "240px"]
STATUS_ICON = {"ready": "✅", "preparing": "⏳", "failed": "❌", "queued": "🕒", "processing": "⏳",
               "succeeded": "✅", "canceled": "⏹"}


def template_label(template: dict[str, Any]) -> str:
    """'demo · ready · 480×480, 7.2 s' for dropdowns ('..., photo' for a still, which has no length of its own)."""
    parts = [template["name"], template["status"]]
    facts = template.get("facts")
    if facts:
        length = "photo" if facts.get("is_still") else f"{facts['duration_s']:.1f} s"
        parts.append(f"{facts['width']}×{facts['height']}, {length}")
    return " · ".join(parts)


def template_choices(templates: list[dict[str, Any]], ready_only: bool = False) -> list[tuple[str, str]]:
    return [(template_label(t), t["id"]) for t in templates if not ready_only or t["status"] == "ready"]


def template_row(template: dict[str, Any]) -> list[Any]:
    facts = template.get("facts") or {}
    return [template["name"], f"{STATUS_ICON.get(template['status'], '')} {template['status']}",
            f"{facts['width']}×{facts['height']}" if facts else "",
            round(facts["fps"], 2) if facts else None,
            ("photo" if facts["is_still"] else round(facts["duration_s"], 2)) if facts else None,
            f"{facts['face_coverage']:.0%}" if facts else "",
            ("yes" if facts["talking"] else "no") if facts else "",
            template["id"]]


def template_facts_markdown(template: dict[str, Any]) -> str:
    facts = template.get("facts")
    lines = [f"**{html.escape(template['name'])}** `{template['id']}` · {template['status']}"]
    if facts:
        size = f"{facts['width']}×{facts['height']}"
        if facts["is_still"]:  # a photo becomes a video as long as its speech: frames and length say nothing
            lines.append(f"photo, {size}, face {'found' if facts['face_coverage'] else 'not found'}")
        else:
            lines.append(f"video, {size}, {facts['fps']:.2f} fps, {facts['frame_count']} frames, "
                         f"{facts['duration_s']:.1f} s, face in {facts['face_coverage']:.0%} of frames"
                         f"{', talking' if facts['talking'] else ''}")
    if template.get("error_message"):
        lines.append(f"❌ {html.escape(template['error_message'])} ({template.get('error_code')})")
    return "\n\n".join(lines)


def video_row(video: dict[str, Any], template_names: dict[str, str]) -> list[Any]:
    template_id = video.get("template_id") or ""
    return [video["id"], f"{STATUS_ICON.get(video['status'], '')} {video['status']}",
            f"{video.get('progress', 0.0):.0%}", video.get("stage") or "",
            template_names.get(template_id, template_id),
            round(video["duration_s"], 2) if video.get("duration_s") is not None else None,
            quality_text(video),
            str(video.get("created_at", ""))[:19].replace("T", " "),
            video.get("error_message") or ""]


def quality_text(video: dict[str, Any]) -> str:
    """'✅ r 0.95, offset 0 ms', or '⚠️ review: r 0.31, offset 400 ms' below the gate; '' until measured."""
    quality = video.get("quality")
    if not quality:
        return ""
    r, offset = quality.get("sync_r"), quality.get("offset_ms")
    figures = f"r {'n/a' if r is None else f'{r:.2f}'}, offset {'n/a' if offset is None else f'{offset:.0f}'} ms"
    return f"⚠️ review: {figures}" if quality.get("needs_review") else f"✅ {figures}"


def format_eta(eta_s: float | None) -> str:
    if eta_s is None:
        return ""
    seconds = max(int(round(eta_s)), 0)
    return f"about {seconds // 60} min {seconds % 60:02d} s left" if seconds >= 60 else f"about {seconds} s left"


def progress_html(progress: float, status: str, stage: str | None = None, eta_s: float | None = None,
                  note: str = "") -> str:
    """A progress bar with the job's status, stage and ETA under it."""
    percent = max(0.0, min(float(progress or 0.0), 1.0)) * 100
    words = [status] + ([stage] if stage and status == "processing" else []) + \
        ([format_eta(eta_s)] if eta_s is not None and status == "processing" else [])
    caption = " · ".join(w for w in words if w)
    if note:
        caption = f"{caption} — {note}" if caption else note
    return (f'<div class="fc-progress" data-status="{html.escape(status)}">'
            f'<div class="fc-bar"><div class="fc-fill" style="width:{percent:.1f}%"></div></div>'
            f'<div class="fc-caption"><span>{html.escape(caption)}</span><span>{percent:.0f}%</span></div></div>')


def message_html(text: str, kind: str = "info") -> str:
    """A one-line notice; kind is info, ok or error."""
    icon = {"error": "⚠️", "ok": "✅"}.get(kind, "ℹ️")
    return f'<div class="fc-msg fc-{kind}">{icon} {html.escape(text)}</div>'


def error_html(error: ApiError | str) -> str:
    return message_html(error.message if isinstance(error, ApiError) else error, "error")


def job_error_text(job: dict[str, Any]) -> str:
    """What a failed or canceled job says about itself."""
    if job["status"] == "canceled":
        return "the job was canceled"
    return f"{job.get('error_message') or 'the job failed'} ({job.get('error_code') or 'failed'})"
