from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from facecast_client import FacecastClient, concise


class ListTemplatesTool(Tool):
    """Templates as a readable list for an agent, plus JSON and the names as a variable."""

    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        client = FacecastClient(self.runtime.credentials)
        status = tool_parameters.get("status") or "ready"
        params: dict[str, Any] = {"limit": 100}
        if status != "all":
            params["status"] = status
        templates = client.request("GET", "/v1/templates", params=params)["data"]
        lines = []
        for template in templates:
            facts = template.get("facts") or {}
            size = f", {facts['width']}x{facts['height']}, {facts['duration_s']:.1f} s" if facts else ""
            lines.append(f"- {template['name']} (id {template['id']}, {template['status']}{size})")
        yield self.create_text_message("\n".join(lines) if lines else "No templates yet; upload one to facecast first.")
        if concise(tool_parameters):
            return
        yield self.create_variable_message("names", [t["name"] for t in templates])
        yield self.create_json_message({"templates": templates})
