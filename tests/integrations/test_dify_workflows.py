"""The workflow examples in Dify's DSL: they import, and every variable reference resolves to a node output.

Node outputs as Dify defines them: langgenius/graphon src/graphon/nodes/tool/tool_node.py (a tool node's
outputs are text, files, json, a *list* of the JSON messages, plus one variable per variable message, which the
plugin declares in each tool's output_schema).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.integrations.dify_dsl import dependency_problems, derives_dependencies, import_status

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "integrations" / "dify" / "workflows"
PLUGIN = ROOT / "integrations" / "dify" / "plugin"
REFERENCE = re.compile(r"\{\{#([A-Za-z0-9_]+)\.([A-Za-z0-9_.]+)#\}\}")
SYSTEM = {"query", "files", "conversation_id", "user_id", "dialogue_count", "app_id", "workflow_id",
          "workflow_run_id"}
# What each node type exposes, as Dify's node classes define it; tools add their plugin output_schema.
OUTPUTS = {"llm": {"text", "usage"}, "tool": {"text", "files", "json"}, "template-transform": {"output"},
           "answer": set(), "end": set()}
FAIL_BRANCH_OUTPUTS = {"error_message", "error_type"}
ALL = ["text_to_video_chat.yml", "audio_batch.yml", "video_agent.yml"]


def plugin_tools() -> dict[str, dict]:
    provider = yaml.safe_load((PLUGIN / "provider" / "facecast.yaml").read_text())
    return {Path(path).stem: yaml.safe_load((PLUGIN / path).read_text()) for path in provider["tools"]}


def node_outputs(node: dict, tools: dict[str, dict]) -> set[str]:
    data = node["data"]
    if data["type"] == "start":
        return {v["variable"] for v in data.get("variables", [])}
    outputs = set(OUTPUTS[data["type"]])
    if data["type"] == "tool":
        outputs |= set(tools[data["tool_name"]].get("output_schema", {}).get("properties", {}))
    if data.get("error_strategy") == "fail-branch":
        outputs |= FAIL_BRANCH_OUTPUTS
    return outputs


def references(value: object) -> list[tuple[str, ...]]:
    """Every {{#node.var.path#}} in strings and every [node, var, ...] value selector inside `value`."""
    found: list[tuple[str, ...]] = []
    if isinstance(value, str):
        found += [(node, *path.split(".")) for node, path in REFERENCE.findall(value)]
    elif isinstance(value, dict):
        if "value_selector" in value:
            found.append(tuple(value["value_selector"]))
        if value.get("type") == "variable" and isinstance(value.get("value"), list):
            found.append(tuple(value["value"]))
        for key, item in value.items():
            if key not in ("value_selector",) and not (key == "value" and value.get("type") == "variable"):
                found += references(item)
    elif isinstance(value, list):
        for item in value:
            found += references(item)
    return found


def check_tool_call(tool_name: str, configured: dict, tools: dict[str, dict]) -> None:
    assert tool_name in tools, f"the plugin has no tool {tool_name}"
    declared = {p["name"]: p for p in tools[tool_name]["parameters"]}
    assert set(configured) <= set(declared), f"{tool_name}: unknown parameters {set(configured) - set(declared)}"


@pytest.mark.parametrize("name", ["text_to_video_chat.yml", "audio_batch.yml"])
def test_workflow_graph_is_wired(name: str) -> None:
    dsl = yaml.safe_load((WORKFLOWS / name).read_text())
    assert dsl["kind"] == "app" and dsl["app"]["mode"] in ("workflow", "advanced-chat")
    tools = plugin_tools()
    graph = dsl["workflow"]["graph"]
    nodes = {node["id"]: node for node in graph["nodes"]}
    assert len(nodes) == len(graph["nodes"]), "node ids must be unique"
    types = [node["data"]["type"] for node in nodes.values()]
    assert types.count("start") == 1 and ("end" in types) == (dsl["app"]["mode"] == "workflow")
    for edge in graph["edges"]:
        assert edge["source"] in nodes and edge["target"] in nodes, edge
        assert edge["data"]["sourceType"] == nodes[edge["source"]]["data"]["type"]
        assert edge["data"]["targetType"] == nodes[edge["target"]]["data"]["type"]
        if edge["sourceHandle"] == "fail-branch":
            assert nodes[edge["source"]]["data"].get("error_strategy") == "fail-branch"
    # every node is reachable from start, and the graph reads forward (what a node uses ran before it)
    upstream: dict[str, set[str]] = {node_id: set() for node_id in nodes}
    order = ["start"]
    for node_id in order:
        for edge in graph["edges"]:
            if edge["source"] == node_id:
                upstream[edge["target"]] |= upstream[node_id] | {node_id}
                if edge["target"] not in order:
                    order.append(edge["target"])
    assert set(order) == set(nodes), f"unreachable: {set(nodes) - set(order)}"
    for node_id, node in nodes.items():
        data = node["data"]
        if data["type"] == "tool":
            check_tool_call(data["tool_name"], {**data["tool_parameters"], **data["tool_configurations"]}, tools)
            required = {p["name"] for p in tools[data["tool_name"]]["parameters"] if p["required"]}
            assert required <= set(data["tool_parameters"]) | set(data["tool_configurations"]), node_id
        for source, variable, *path in references(data):
            if source == "sys":
                assert variable in SYSTEM and dsl["app"]["mode"] == "advanced-chat", variable
                continue
            assert source in nodes, f"{node_id} refers to missing node {source}"
            assert source in upstream[node_id], f"{node_id} uses {source} before it runs"
            assert variable in node_outputs(nodes[source], tools), f"{node_id}: {source} has no output {variable}"
            if nodes[source]["data"]["type"] == "tool":  # json is a list: json.video_url selects nothing
                assert variable != "json" or not path, f"{node_id}: select {source}'s output_schema variables"


def test_agent_uses_plugin_tools() -> None:
    dsl = yaml.safe_load((WORKFLOWS / "video_agent.yml").read_text())
    assert dsl["app"]["mode"] == "agent-chat"
    agent = dsl["model_config"]["agent_mode"]
    assert agent["enabled"] and agent["strategy"] in ("function_call", "react")
    tools = plugin_tools()
    used = [tool["tool_name"] for tool in agent["tools"] if tool["enabled"]]
    assert {"text_to_video", "get_video", "list_templates"} <= set(used)
    for tool in agent["tools"]:
        assert tool["provider_id"] == "facecast/facecast/facecast"
        check_tool_call(tool["tool_name"], tool["tool_parameters"], tools)
        # an agent cannot fill file inputs, so it only gets tools whose required inputs are text
        assert all(p["type"] != "file" for p in tools[tool["tool_name"]]["parameters"] if p["required"])
    for tool_name in used:
        assert tool_name in dsl["model_config"]["pre_prompt"] or tool_name == "list_templates"
    # an agent reads every message of a tool as text (langgenius/dify api/core/tools/tool_engine.py,
    # _convert_tool_response_to_str): the tools answer with one sentence
    assert all(tool["tool_parameters"].get("concise") is True for tool in agent["tools"])


@pytest.mark.parametrize("name", ALL)
def test_imports_without_confirmation_or_unverifiable_dependencies(name: str) -> None:
    """Dify imports the file as it is, and its dependency check has nothing it cannot verify (see dify_dsl)."""
    dsl = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(dsl["version"], str), "Dify refuses a version that YAML reads as a number"
    assert import_status(dsl["version"]) in ("completed", "completed-with-warnings")
    assert not derives_dependencies(dsl), "Dify would look facecast up in the marketplace"
    assert dependency_problems(dsl) == []


def test_waits_end_before_the_plugin_daemon_stops_the_call() -> None:
    """max_wait_s stays below PLUGIN_MAX_EXECUTION_TIMEOUT (600 s in langgenius/dify docker/.env.example)."""
    tools = plugin_tools()
    bounds = {name: p["max"] for name, tool in tools.items() for p in tool["parameters"] if p["name"] == "max_wait_s"}
    assert set(bounds) == {"text_to_video", "audio_to_video", "get_video", "batch_videos"}
    assert set(bounds.values()) == {facecast_client_constant("MAX_WAIT_S")} and max(bounds.values()) < 600
    for name in ALL:
        for tool_name, configured in tool_calls(yaml.safe_load((WORKFLOWS / name).read_text())):
            if "max_wait_s" in configured:
                assert 0 <= configured["max_wait_s"] <= bounds[tool_name], (name, tool_name)


def test_chat_sends_the_users_message_once() -> None:
    """langgenius/dify api/core/prompt/advanced_prompt_transform.py appends memory.query_prompt_template as
    the last user message whenever the LLM node has memory, after the prompt_template's own messages."""
    dsl = yaml.safe_load((WORKFLOWS / "text_to_video_chat.yml").read_text())
    for node in dsl["workflow"]["graph"]["nodes"]:
        data = node["data"]
        if data["type"] != "llm":
            continue
        texts = [message["text"] for message in data["prompt_template"]]
        if data.get("memory"):
            texts.append(data["memory"].get("query_prompt_template") or "")
        assert sum(text.count("{{#sys.query#}}") for text in texts) == 1, node["id"]


def tool_calls(dsl: dict) -> list[tuple[str, dict]]:
    """(tool name, configured parameters) of every tool node or agent tool."""
    if "workflow" in dsl:
        return [(node["data"]["tool_name"], {**node["data"]["tool_parameters"], **node["data"]["tool_configurations"]})
                for node in dsl["workflow"]["graph"]["nodes"] if node["data"]["type"] == "tool"]
    return [(tool["tool_name"], tool["tool_parameters"]) for tool in dsl["model_config"]["agent_mode"]["tools"]]


def facecast_client_constant(name: str) -> object:
    """A constant of the plugin's client module, read without importing dify_plugin (it patches the stdlib)."""
    match = re.search(rf"^{name} = (\d+)", (PLUGIN / "facecast_client.py").read_text(), re.MULTILINE)
    assert match, name
    return int(match.group(1))
