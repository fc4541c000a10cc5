from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from facecast_client import FacecastClient, follow, max_wait, video_result


class TextToVideoTool(Tool):
    """Text spoken by a voice, lip-synced onto a template; polled here until done or max_wait_s."""

    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        client = FacecastClient(self.runtime.credentials)
        body = {"template_id": tool_parameters["template"], "text": tool_parameters["text"],
                "voice": tool_parameters.get("voice") or None, "wait_s": 0}
        result = client.request("POST", "/v1/generate", json=body)
        video = client.request("GET", f"/v1/videos/{result['video_id']}")
        video = follow(client, f"/v1/videos/{video['id']}", video, max_wait(tool_parameters))
        yield from video_result(self, client, video, tool_parameters)
