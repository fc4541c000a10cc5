from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from facecast_client import TERMINAL, FacecastClient, FacecastError, concise, follow, max_wait


class BatchVideosTool(Tool):
    """The same speech on several templates (the audio is decoded once on the server); polled until all end."""

    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        client = FacecastClient(self.runtime.credentials)
        body: dict[str, Any] = {"template_ids": tool_parameters["templates"], "wait_s": 0}
        audio = tool_parameters.get("audio")
        if audio is not None:
            body["audio_id"] = client.upload_audio(audio.filename, audio.blob, audio.mime_type)
        elif tool_parameters.get("text"):
            body["text"], body["voice"] = tool_parameters["text"], tool_parameters.get("voice") or None
        else:
            raise FacecastError("give text or an audio file")
        result = client.request("POST", "/v1/generate/batch", json=body)
        path = f"/v1/batches/{result['batch_id']}"
        batch = client.request("GET", path)
        batch = follow(client, path, batch, max_wait(tool_parameters))
        urls = [video["video_url"] for video in batch["videos"] if video.get("video_url")]
        yield self.create_text_message(batch_sentence(batch, urls))
        if concise(tool_parameters):
            return
        yield self.create_variable_message("batch_id", batch["id"])
        yield self.create_variable_message("status", batch["status"])
        yield self.create_variable_message("video_urls", urls)
        yield self.create_json_message(batch)
        for url in urls:
            yield self.create_link_message(url)


def batch_sentence(batch: dict[str, Any], urls: list[str]) -> str:
    if batch["status"] not in TERMINAL:
        return (f"The batch {batch['id']} is still {batch['status']} ({batch['progress']:.0%}); "
                f"{len(urls)} videos are done so far:\n" + "\n".join(urls))
    summary = f"{len(urls)} of {len(batch['videos'])} videos succeeded:\n" + "\n".join(urls)
    failed = [f"{v['template_id']}: {v.get('error_message')}" for v in batch["videos"] if v["status"] == "failed"]
    return summary + ("\nFailed: " + "; ".join(failed) if failed else "")
