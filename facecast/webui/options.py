"""The API's option fields as the web UI shows them, read from the server's OpenAPI document.

The API owns each option's bounds, allowed values and help text (the `VideoCreate` body) and the job statuses
(`VideoPublic.status`); the UI reads them here once, so a changed limit on the server changes the widgets too.
Pure functions, no Gradio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import ApiError

REQUEST_COMPONENT, JOB_COMPONENT = "VideoCreate", "VideoPublic"


@dataclass(frozen=True, slots=True)
class NumberField:
    """A numeric body field: its inclusive bounds, the API's default (None: the server decides) and help."""

    name: str
    minimum: float
    maximum: float
    default: float | None
    description: str

    def clamp(self, value: float) -> float:
        return min(max(value, self.minimum), self.maximum)


@dataclass(frozen=True, slots=True)
class ChoiceField:
    """A body field with a fixed set of values; `default` is the API's, else the first value."""

    name: str
    values: tuple[str, ...]
    default: str
    description: str


@dataclass(frozen=True, slots=True)
class ApiOptions:
    """Every option the UI offers, as the API defines it."""

    crf: NumberField
    max_height: NumberField
    intensity: NumberField
    rate: NumberField
    pitch: NumberField
    volume: NumberField
    render_mode: ChoiceField
    subtitles: ChoiceField
    voice_help: str
    job_statuses: tuple[str, ...]

    @classmethod
    def from_openapi(cls, document: dict[str, Any]) -> "ApiOptions":
        """Read the options from an OpenAPI document.

        Raises:
            ApiError: code `openapi_unreadable` when a field is missing or has no bounds or values.
        """
        reader = _SchemaReader(document)
        numbers = {name: reader.number(name) for name in ("crf", "max_height", "intensity", "rate", "pitch",
                                                          "volume")}
        return cls(**numbers, render_mode=reader.choice("render_mode"), subtitles=reader.choice("subtitles"),
                   voice_help=str(reader.field(REQUEST_COMPONENT, "voice").get("description", "")),
                   job_statuses=tuple(reader.enum(reader.field(JOB_COMPONENT, "status"), "status")))


class _SchemaReader:
    """Looks up component properties, following $ref and the `anyOf: [X, null]` of optional fields."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def number(self, name: str) -> NumberField:
        schema = self.field(REQUEST_COMPONENT, name)
        if "minimum" not in schema or "maximum" not in schema:
            raise _unreadable(f"{REQUEST_COMPONENT}.{name} has no minimum and maximum")
        default = schema.get("default")
        return NumberField(name, float(schema["minimum"]), float(schema["maximum"]),
                           None if default is None else float(default), str(schema.get("description", "")))

    def choice(self, name: str) -> ChoiceField:
        schema = self.field(REQUEST_COMPONENT, name)
        values = tuple(self.enum(schema, name))
        default = schema.get("default")
        return ChoiceField(name, values, default if default in values else values[0],
                           str(schema.get("description", "")))

    def enum(self, schema: dict[str, Any], name: str) -> list[str]:
        values = [str(value) for value in schema.get("enum", [])]
        if not values:
            raise _unreadable(f"{name} lists no allowed values")
        return values

    def field(self, component: str, name: str) -> dict[str, Any]:
        """A property with its optional-wrapper and references resolved; the outer description and default win."""
        try:
            properties = self._resolve(self.document["components"]["schemas"][component])["properties"]
            merged = dict(self._resolve(properties[name]))
            for branch in merged.pop("anyOf", None) or merged.pop("oneOf", None) or []:
                if (branch := self._resolve(branch)).get("type") != "null":
                    merged = {**branch, **merged}
            for part in merged.pop("allOf", []):
                merged = {**self._resolve(part), **merged}
        except (KeyError, TypeError, AttributeError) as exc:
            raise _unreadable(f"no {component}.{name} in it") from exc
        return merged

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            target: Any = self.document
            for key in ref.removeprefix("#/").split("/"):
                target = target[key]
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema


def _unreadable(reason: str) -> ApiError:
    return ApiError(0, "openapi_unreadable", f"the API's OpenAPI document cannot be used: {reason}")
