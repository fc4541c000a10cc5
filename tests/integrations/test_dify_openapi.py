"""The served OpenAPI, parsed the way Dify's custom-tool importer parses it."""

from __future__ import annotations

import json

import pytest

import dify_importer
from tests.support.cli import run_facecast

# Every tool and parameter a Dify workflow or agent relies on: (type, required).
INTENDED = {
    "generate_video": {"template_id": ("string", True), "text": ("string", False), "voice": ("string", False),
                       "audio_url": ("string", False), "audio_id": ("string", False), "wait_s": ("number", False)},
    "generate_batch": {"template_ids": ("string", True), "text": ("string", False), "voice": ("string", False),
                       "audio_url": ("string", False), "audio_id": ("string", False), "wait_s": ("number", False)},
    "get_video": {"video_id": ("string", True), "wait": ("number", False)},
    "get_batch": {"batch_id": ("string", True), "wait": ("number", False)},
    "list_templates": {"status": ("string", False), "cursor": ("string", False), "limit": ("number", False)},
}


def by_id(tools: list[dify_importer.Tool]) -> dict[str, dify_importer.Tool]:
    return {tool.operation_id: tool for tool in tools}


def check_intended(tools: dict[str, dify_importer.Tool], server_url: str, described: bool) -> None:
    for operation_id, parameters in INTENDED.items():
        tool = tools[operation_id]
        assert tool.summary, f"{operation_id} has no description"
        assert tool.server_url.startswith(server_url)
        assert re_snake(operation_id)
        for name, (typ, required) in parameters.items():
            parameter = tool.param(name)
            assert (parameter.type, parameter.required) == (typ, required), (operation_id, parameter)
            if described or name not in ("video_id", "batch_id"):
                assert parameter.description.strip(), f"{operation_id}.{name} has no description"


def re_snake(name: str) -> bool:
    import re

    return re.fullmatch(r"[a-z][a-z0-9_]{1,40}", name) is not None


def test_served_spec_imports_as_is(live) -> None:
    spec = live.client.get("/openapi.json").json()
    assert spec["servers"][0]["url"] and spec["info"] and spec["paths"]
    tools, warnings = dify_importer.parse(spec)
    assert not warnings
    assert len(tools) <= dify_importer.MAX_TOOLS
    named = by_id(tools)
    assert len(named) == len(tools), "operationIds must be unique"
    check_intended(named, spec["servers"][0]["url"], described=False)


def test_tool_spec_for_import_from_url(live) -> None:
    spec = live.client.get("/v1/tools/openapi.json", params={"server_url": "http://facecast:8000"}).json()
    tools, warnings = dify_importer.parse(spec)
    assert not warnings
    named = by_id(tools)
    assert set(INTENDED) <= set(named) and all(t.server_url.startswith("http://facecast:8000/v1/") for t in tools)
    check_intended(named, "http://facecast:8000", described=True)
    for tool in tools:  # every field described, allowed values stated (enum is ignored by the importer)
        for parameter in tool.parameters:
            assert parameter.description.strip(), (tool.operation_id, parameter.name)
    assert "ready" in named["list_templates"].param("status").description
    assert named["upload_audio"].param("file").type == "file"  # a workflow passes a file variable


def test_cli_writes_the_same_tools(tmp_path) -> None:
    target = tmp_path / "facecast-openapi.json"
    done = run_facecast("openapi", "--server-url", "http://host.docker.internal:8000", "-o", str(target),
                        timeout=120)
    assert done.returncode == 0, done.stderr
    spec = json.loads(target.read_text())
    assert spec["servers"] == [{"url": "http://host.docker.internal:8000", "description": "facecast"}]
    tools, _ = dify_importer.parse(spec)
    check_intended(by_id(tools), "http://host.docker.internal:8000", described=True)
    whole = run_facecast("openapi", "--server-url", "http://h:1", "--all", timeout=120)
    assert whole.returncode == 0, whole.stderr
    assert len(dify_importer.parse(json.loads(whole.stdout))[0]) > len(tools)
    refused = run_facecast("openapi", "--server-url", "facecast:8000", timeout=120)
    assert refused.returncode == 2 and "http://" in refused.stderr


def test_importer_rules_are_the_real_ones() -> None:
    """The re-implementation keeps Dify's sharp edges: no servers fails, a type array crashes, unions collapse."""
    base = {"openapi": "3.1.0", "info": {"title": "t"}, "paths": {}}
    with pytest.raises(KeyError):
        dify_importer.parse(dict(base))
    op = {"operationId": "x", "requestBody": {"content": {"application/json": {"schema": {"properties": {
        "a": {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "b": {"type": ["string", "null"]}}}}}}}
    with pytest.raises(TypeError):
        dify_importer.parse({**base, "servers": [{"url": "http://h"}], "paths": {"/x": {"post": op}}})
    del op["requestBody"]["content"]["application/json"]["schema"]["properties"]["b"]
    tools, _ = dify_importer.parse({**base, "servers": [{"url": "http://h"}], "paths": {"/x": {"post": op}}})
    assert tools[0].param("a").type == "string"
