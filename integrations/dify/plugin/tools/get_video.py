from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from facecast_client import FacecastClient, follow, max_wait, video_result


class GetVideoTool(Tool):
    """A video's state; waits (up to max_wait_s) for it to end."""

    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        client = FacecastClient(self.runtime.credentials)
        path = f"/v1/videos/{str(tool_parameters['video_id']).strip()}"
        video = client.request("GET", path)
        video = follow(client, path, video, max_wait(tool_parameters))
        yield from video_result(self, client, video, tool_parameters)
