"""Loads the Dify plugin the way the SDK's runtime does and invokes its tools against a facecast server.

Run in its own process (dify_plugin monkey-patches the standard library with gevent on import):
    python plugin_driver.py PLUGIN_DIR SCENARIO_JSON  ->  prints one JSON object with each call's messages
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
from pathlib import Path


def serve_file(path: Path) -> str:
    """Serve `path` on 127.0.0.1 the way Dify's file URLs are served to plugins."""
    directory = str(path.parent)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=directory, **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/{path.name}"


def message_json(message) -> dict:
    body = message.message
    data = {"type": message.type.value}
    if data["type"] == "blob":
        data.update(size=len(body.blob), meta=message.meta)
    elif data["type"] == "json":
        data["json"] = body.json_object
    elif data["type"] == "variable":
        data.update(name=body.variable_name, value=body.variable_value)
    elif data["type"] == "log":
        data.update(label=body.label, status=body.status.value)
    else:
        data["text"] = body.text
    return data


def main() -> None:
    plugin_dir, scenario = Path(sys.argv[1]).resolve(), json.loads(sys.argv[2])
    os.chdir(plugin_dir)
    sys.path.insert(0, str(plugin_dir))
    from dify_plugin.config.config import DifyPluginEnv
    from dify_plugin.core.plugin_registration import PluginRegistration
    from dify_plugin.file.constants import DIFY_FILE_IDENTITY

    registration = PluginRegistration(DifyPluginEnv())
    provider_config, provider_cls, tools = registration.tools_mapping["facecast"]
    out: dict = {"plugin": registration.configuration.name, "tools": sorted(tools),
                 "credentials": sorted(c.name for c in provider_config.credentials_schema), "calls": []}
    for call in scenario["calls"]:
        credentials = call.get("credentials", scenario["credentials"])
        record: dict = {"tool": call["tool"]}
        try:
            if call["tool"] == "validate":
                provider_cls().validate_credentials(credentials)
                record["messages"] = []
            else:
                parameters = dict(call["parameters"])
                for name, path in call.get("files", {}).items():
                    parameters[name] = {"dify_model_identity": DIFY_FILE_IDENTITY, "url": serve_file(Path(path)),
                                        "type": "audio", "filename": Path(path).name, "mime_type": "audio/wav",
                                        "extension": ".wav", "size": Path(path).stat().st_size}
                tool_cls = tools[call["tool"]][1]
                tool = tool_cls.from_credentials(credentials)
                record["messages"] = [message_json(m) for m in tool.invoke(parameters)]
        except Exception as exc:  # reported, and asserted on by the test
            record["error"] = f"{type(exc).__name__}: {exc}"
        out["calls"].append(record)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
