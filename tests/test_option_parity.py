"""Every option declared on the option dataclasses reaches each surface with the same default, bounds and help:
the CLI flags, the OpenAPI schema of POST /v1/videos, the service settings, and the job record the worker
turns back into engine options. A field added to a dataclass without reaching them fails here."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from facecast.cli import app as cli_app
from facecast.engine.options import GenerateOptions, Limits, TrackingOptions
from facecast.engine.optionspec import SPEC_KEY, OptionSpec, build_options, option_specs, option_values
from facecast.service.app import create_app
from facecast.service.db.models import Job
from facecast.service.db.session import Database
from facecast.service.job_options import JobOptions
from facecast.service.schemas import VideoCreate
from facecast.service.settings import Settings
from facecast.voice.options import SubtitleOptions, SynthesisOptions

ROOTS = (GenerateOptions, SynthesisOptions, SubtitleOptions)
SPECS = tuple(spec for root in ROOTS for spec in option_specs(root))
COMMANDS = {"generate": (GenerateOptions,), "prepare": (TrackingOptions,), "say": (SynthesisOptions, SubtitleOptions)}
COMMAND_ARGS = {"generate": ["-t", "missing.mp4", "-a", "missing.wav"], "prepare": ["missing.mp4"],
                "say": ["-t", "missing.jpg", "--text", "hello"]}
# Engine tuning nobody is offered (codec_threads: set by a worker's batch lanes); anything else on an option
# class must be declared with optionspec.option().
INTERNAL = {"TrackingOptions.min_face_height_px", "TrackingOptions.smoothing", "MotionOptions.use_phonemes",
            "EncodeOptions.codec_threads"}


def _ids(specs: tuple[OptionSpec, ...]) -> list[str]:
    return [spec.name for spec in specs]


def _option_classes(root: type) -> list[type]:
    nested = [f.default_factory for f in dataclasses.fields(root) if callable(f.default_factory)]
    return [root] if not nested else [c for cls in nested for c in _option_classes(cls)]  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [c for root in ROOTS for c in _option_classes(root)], ids=lambda c: c.__name__)
def test_every_field_is_a_declared_option(cls: type) -> None:
    undeclared = {f"{cls.__name__}.{f.name}" for f in dataclasses.fields(cls) if SPEC_KEY not in f.metadata}
    assert undeclared <= INTERNAL, "declare these with optionspec.option() (help, bounds, surfaces)"


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_every_option_reaches_a_surface(spec: OptionSpec) -> None:
    assert spec.flag or spec.api or spec.setting
    assert spec.help.strip()


def _out_of_range(spec: OptionSpec) -> str:
    if spec.choices is not None:
        return "nonsense"
    return str(spec.max + 1 if spec.max is not None else spec.min - 1)  # type: ignore[operator]


@pytest.mark.parametrize(("command", "spec"), [(name, spec) for name, classes in COMMANDS.items()
                                               for cls in classes for spec in option_specs(cls) if spec.flag],
                         ids=lambda value: value if isinstance(value, str) else value.name)
def test_cli_flag_has_the_default_and_enforces_the_bounds(command: str, spec: OptionSpec, tmp_path: Path) -> None:
    params = {param.name: param for param in typer.main.get_command(cli_app).commands[command].params}  # type: ignore[attr-defined]
    assert spec.flag in params, f"facecast {command} has no --{spec.flag}"
    param = params[spec.flag]
    assert param.default == spec.default and param.help == spec.help
    if spec.choices is None and spec.min is None and spec.max is None:
        return
    output = [] if command == "prepare" else ["-o", str(tmp_path / "out.mp4")]
    flag = f"--{spec.flag.replace('_', '-')}={_out_of_range(spec)}"  # type: ignore[union-attr]
    result = CliRunner().invoke(cli_app, [command, *COMMAND_ARGS[command], *output, flag])
    assert result.exit_code == 2 and "[invalid_option]" in result.output, result.output
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("service"))


@pytest.fixture(scope="module")
def video_request_schema(settings: Settings) -> dict[str, Any]:
    api = create_app(settings)
    try:
        schema = api.openapi()
    finally:
        api.state.jobs.close()
    body = schema["paths"]["/v1/videos"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]


API_SPECS = tuple(spec for spec in SPECS if spec.api)


@pytest.mark.parametrize("spec", API_SPECS, ids=_ids(API_SPECS))
def test_api_field_matches_the_option(spec: OptionSpec, video_request_schema: dict[str, Any]) -> None:
    field = video_request_schema["properties"].get(spec.name)
    assert field is not None, f"POST /v1/videos has no {spec.name}"
    assert field.get("default") == spec.default and field["description"] == spec.help
    value_schema = next(branch for branch in field["anyOf"] if branch.get("type") != "null")
    assert value_schema.get("minimum") == spec.min and value_schema.get("maximum") == spec.max
    assert tuple(value_schema.get("enum", ())) == (spec.choices or ())


SETTING_SPECS = tuple(spec for spec in SPECS if spec.setting)


@pytest.mark.parametrize("spec", SETTING_SPECS, ids=_ids(SETTING_SPECS))
def test_limit_setting_matches_the_option_and_reaches_the_engine(spec: OptionSpec, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    field = Settings.model_fields[spec.name]
    assert field.default == spec.default and field.description == spec.help
    assert Settings(data_dir=tmp_path).limits() == Limits()
    changed = spec.default * 2
    monkeypatch.setenv(f"FACECAST_{spec.name.upper()}", str(changed))
    assert getattr(Settings(data_dir=tmp_path).limits(), spec.path[-1]) == changed


def _changed_value(spec: OptionSpec) -> Any:
    """A valid value other than the default."""
    if spec.choices is not None:
        return next(choice for choice in reversed(spec.choices) if choice != spec.default)
    return spec.max if spec.max is not None else spec.min


def _stored_and_loaded(settings: Settings, options: JobOptions | dict[str, Any]) -> JobOptions:
    """Write a job row with these options through the real (migrated) database and read it back."""
    db = Database(settings.effective_database_url)
    db.migrate()
    row_id = f"vid_{uuid.uuid4().hex[:20]}"
    with db.session() as session:
        if isinstance(options, dict):  # a row as written before the record was versioned
            session.add(Job(id=row_id, kind="video", owner="o", status="queued"))
            session.flush()
            session.execute(text("UPDATE jobs SET options = :options WHERE id = :id"),
                            {"options": json.dumps(options), "id": row_id})
        else:
            session.add(Job(id=row_id, kind="video", owner="o", status="queued", options=options))
    with db.session() as session:
        loaded = session.get(Job, row_id).options  # type: ignore[union-attr]
    db.dispose()
    return loaded


def test_request_to_record_to_engine_keeps_every_value(settings: Settings) -> None:
    body = {spec.name: _changed_value(spec) for spec in API_SPECS}
    request = VideoCreate.model_validate({"template_id": "tpl_x", "text": "hello", **body})
    record = _stored_and_loaded(settings, JobOptions.from_request(request))
    assert record.version == 1
    engine = {**option_values(record.generate_options(settings.limits())),
              **option_values(build_options(SynthesisOptions, record.values())),
              "subtitles": record.subtitles()}
    assert {name: engine[name] for name in body} == body


def test_record_keeps_defaults_of_options_not_given(settings: Settings) -> None:
    request = VideoCreate.model_validate({"template_id": "tpl_x", "audio_id": "aud_x", "crf": None})
    record = _stored_and_loaded(settings, JobOptions.from_request(request))
    assert record.generate_options(Limits()) == GenerateOptions()


def test_a_row_in_the_old_flat_shape_still_loads(settings: Settings) -> None:
    record = _stored_and_loaded(settings, {"crf": 28, "max_height": 240, "rate": 1.5, "subtitles": "burn"})
    assert record.version == 1
    assert record.output.crf == 28 and record.output.max_height == 240 and record.output.render_mode == "auto"
    assert record.speech.rate == 1.5 and record.speech.subtitles == "burn" and record.speech.pitch == 0.0
    assert _stored_and_loaded(settings, {}).generate_options(Limits()) == GenerateOptions()  # prepare jobs
