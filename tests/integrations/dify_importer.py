"""Dify's custom-tool importer rules, re-implemented from langgenius/dify api/core/tools/utils/parser.py
(ApiBasedToolSchemaParser.parse_openapi_to_tool_bundle and _get_tool_parameter_type), for testing our specs.

Kept faithful on purpose, including what the importer does not do: it reads servers[0].url only, takes the
description (else summary) of each operation, resolves only a top-level $ref of a request body, maps types with
`typ in {...}` (so a type array raises TypeError, as it crashes the real import), and ignores title and enum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_TOOLS = 100  # a provider with more operations cannot be saved
METHODS = ("get", "post", "put", "delete", "patch", "head", "options", "trace")


@dataclass
class Parameter:
    name: str
    type: str  # string, number, boolean, file (format: binary)
    required: bool
    description: str
    default: Any = None


@dataclass
class Tool:
    operation_id: str
    method: str
    server_url: str
    summary: str | None
    parameters: list[Parameter] = field(default_factory=list)

    def param(self, name: str) -> Parameter:
        matches = [p for p in self.parameters if p.name == name]
        assert matches, f"{self.operation_id} has no parameter {name}: {[p.name for p in self.parameters]}"
        return matches[0]


def parameter_type(parameter: dict[str, Any]) -> str:
    if parameter.get("format") == "binary":
        return "file"
    typ = None
    if "type" in parameter:
        typ = parameter["type"]
    elif "schema" in parameter and "type" in parameter["schema"]:
        typ = parameter["schema"]["type"]
    if typ in {"integer", "number"}:  # a list here raises TypeError: unhashable type, as in Dify
        return "number"
    if typ == "boolean":
        return "boolean"
    return "string"


def parse(openapi: dict[str, Any]) -> tuple[list[Tool], dict[str, str]]:
    """(tools, warnings) as Dify's importer builds them; raises where the importer raises."""
    warnings: dict[str, str] = {}
    openapi["info"].get("description", "")
    if len(openapi["servers"]) == 0:
        raise ValueError("No server found in the openapi yaml.")
    server_url = openapi["servers"][0]["url"]
    tools = []
    for path, item in openapi["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            parameters = []
            for parameter in operation.get("parameters", []):
                parameters.append(Parameter(
                    name=parameter["name"], type=parameter_type(parameter),
                    required=parameter.get("required", False), description=parameter.get("description", ""),
                    default=parameter["schema"]["default"]
                    if "schema" in parameter and "default" in parameter["schema"] else None))
            if "requestBody" in operation and "content" in operation["requestBody"]:
                content_type = None
                for content_type, content in operation["requestBody"]["content"].items():
                    if "schema" not in content:
                        continue
                    if "$ref" in content["schema"]:
                        root = openapi
                        for ref in content["schema"]["$ref"].split("/")[1:]:
                            root = root[ref]
                        content["schema"] = root
                body = operation["requestBody"]["content"][content_type]
                if "schema" in body:
                    required = body["schema"].get("required", [])
                    for name, prop in body["schema"].get("properties", {}).items():
                        parameters.append(Parameter(name=name, type=parameter_type(prop), required=name in required,
                                                    description=prop.get("description", ""),
                                                    default=prop.get("default")))
            counts: dict[str, int] = {}
            for parameter in parameters:
                counts[parameter.name] = counts.get(parameter.name, 0) + 1
            for name, count in counts.items():
                if count > 1:
                    warnings["duplicated_parameter"] = f"Parameter {name} is duplicated."
            if "operationId" not in operation:
                stripped = re.sub(r"[^a-zA-Z0-9_-]", "", path.lstrip("/"))
                operation["operationId"] = f"{stripped}_{method}"
            tools.append(Tool(operation_id=operation["operationId"], method=method, server_url=server_url + path,
                              summary=operation["description"] if "description" in operation
                              else operation.get("summary"), parameters=parameters))
    return tools, warnings
