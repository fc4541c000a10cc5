from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from facecast_client import FacecastClient, follow, max_wait, video_result


class AudioToVideoTool(Tool):
    """A Dify file (the speech) uploaded to facecast, then lip-synced onto a template."""

    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        client = FacecastClient(self.runtime.credentials)
        audio = tool_parameters["audio"]
        audio_id = client.upload_audio(audio.filename, audio.blob, audio.mime_type)
        body = {"template_id": tool_parameters["template"], "audio_id": audio_id, "wait_s": 0}
        result = client.request("POST", "/v1/generate", json=body)
        video = client.request("GET", f"/v1/videos/{result['video_id']}")
        video = follow(client, f"/v1/videos/{video['id']}", video, max_wait(tool_parameters))
        yield from video_result(self, client, video, tool_parameters)
