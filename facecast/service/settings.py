"""One settings object for the API and its workers, read from FACECAST_* environment variables and a TOML file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, create_model, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from facecast.engine.options import Limits
from facecast.engine.optionspec import build_options, option_specs

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
CONFIG_ENV = "FACECAST_CONFIG"  # path of the TOML file; the file's keys mirror the field names below


class FetchSettings(BaseModel):
    """Limits on inputs given as URLs (template source_url, audio_url) and on webhook targets."""

    allow_hosts: list[str] = Field(default_factory=list, description=(
        "Hosts or CIDR ranges that may be private, loopback or link-local (refused otherwise), e.g. 127.0.0.1"))
    max_bytes: int = Field(200 * 1024 * 1024, description="Largest download accepted, in bytes")
    timeout_s: float = Field(60.0, description="Whole-download time limit in seconds")
    max_redirects: int = Field(3, description="Redirects followed, each checked like the first URL")


class WorkerSettings(BaseModel):
    """How jobs run: how many at once, how long a worker's claim lasts, how often crashed work is recovered."""

    processes: int = Field(1, ge=0, description="Worker processes `facecast serve` starts (CPU concurrency)")
    gpus: list[int] = Field(default_factory=list, description=(
        "GPU indices; when set, one worker process per GPU runs one job at a time (overrides processes)"))
    lease_s: float = Field(30.0, gt=0, description="A running job's claim expires this long after its last renewal")
    sweep_interval_s: float = Field(5.0, gt=0, description="How often workers look for expired claims")
    max_attempts: int = Field(3, ge=1, description="Runs of one job before it fails with worker_lost")
    poll_max_delay_s: float = Field(0.5, gt=0, description="Longest pause between polls of an idle queue")
    hostname: str | None = Field(None, description=(
        "Name this machine's workers register under, for routing jobs to the machine that holds a template's "
        "cache; default the OS hostname (set it when containers share one)"))
    batch_parallel: int = Field(2, ge=1, le=8, description=(
        "Videos of one batch a CPU worker renders at once, each extra one in a lane process of its own (so "
        "the renders do not share Python's lock) forked from a server the worker starts with the engine "
        "imported. GPU workers always render one at a time"))
    nice: int = Field(10, ge=0, le=19, description=(
        "CPU priority increment (os.nice) of worker processes, so renders never starve the API; 0 keeps it"))


class DeliverySettings(BaseModel):
    """How callbacks and chat notifications are sent: by any live worker, from rows, retried on a schedule."""

    retry_delays_s: list[float] = Field(default_factory=lambda: [30.0, 90.0, 300.0, 900.0, 2400.0], description=(
        "Wait before each retry of a delivery that failed; one attempt plus one per entry (default: 6 attempts "
        "over about an hour), then the delivery is failed until redelivered"))
    timeout_s: float = Field(10.0, gt=0, description="Time limit of one attempt's HTTP request, in seconds")
    poll_s: float = Field(1.0, gt=0, description="How often each worker looks for deliveries that are due")

    @field_validator("retry_delays_s")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays are seconds, 0 or more")
        return value


NotifierKind = Literal["wecom", "dingtalk", "feishu", "slack"]
NOTIFIER_NAME = r"^[a-z0-9][a-z0-9_.-]{0,39}$"


class NotifierSettings(BaseModel):
    """A chat group robot that receives a message when a video or batch ends (and alerts)."""

    kind: NotifierKind = Field(description="Message format: wecom, dingtalk, feishu (Lark) or slack (and compatibles)")
    url: str = Field(description="The robot's webhook URL (it usually carries the robot's token)")
    secret: SecretStr | None = Field(None, description="Signing secret (dingtalk and feishu robots with signing on)")
class KeyLimits(BaseModel):
    """Limits of each database API key that sets none of its own (`facecast keys create --rate-limit ...`).
    Config keys (api_keys) and a server without keys are the operator's own and are not limited."""

    rate_limit_per_min: int | None = Field(600, ge=1, description=(
        "Requests per minute one key may make to one API process (a token bucket); None for no limit"))
    max_active_jobs: int | None = Field(20, ge=1, description=(
        "New videos are refused (429) while a key has this many queued or running; None for no limit"))


class S3Settings(BaseModel):
    """Object storage used instead of the local data directory when storage = "s3"."""

    bucket: str = Field("facecast", description="Bucket holding templates/, inputs/ and outputs/")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint; None uses AWS")
    region: str | None = Field(None, description="Region name")
    access_key_id: SecretStr | None = Field(None, description="Access key id")
    secret_access_key: SecretStr | None = Field(None, description="Secret access key")
    url_expiry_s: int = Field(3600, ge=0, le=7 * 24 * 3600, description=(
        "Result URLs in job JSON are presigned GET URLs of the bucket valid this long, issued anew on each "
        "read of the job; 0 gives URLs through this API instead"))


class RetentionSettings(BaseModel):
    """How long files are kept. Templates are a library the caller manages and never expire."""

    outputs_h: float | None = Field(None, ge=0, description=(
        "Hours after a video ends before its files (MP4, thumbnail, subtitles) are deleted; None or 0 keeps them"))
    inputs_h: float | None = Field(None, ge=0, description=(
        "Hours after upload before an uploaded audio file is deleted (not while a queued or running job "
        "uses it); None or 0 keeps them"))
    interval_s: float = Field(300.0, ge=1, le=86400, description="How often workers look for expired files")


class AlertSettings(BaseModel):
    """Conditions the workers check periodically; each kind is sent at most once per repeat_s."""

    interval_s: float = Field(60.0, ge=1, le=3600, description="How often a worker evaluates the conditions")
    repeat_s: float = Field(3600.0, ge=0, description="Least time between two alerts of the same kind")
    gpu_memory_percent: float = Field(95.0, gt=0, le=100, description="Alert when a GPU's memory use is above this")
    failure_rate: float = Field(0.5, gt=0, le=1, description=(
        "Alert when more than this share of the jobs that ended within failure_window_s failed"))
    failure_window_s: float = Field(900.0, gt=0, description="Window of the failure rate, in seconds")
    failure_min_jobs: int = Field(4, ge=1, description="Ended jobs in the window before the failure rate counts")
    queued_max_s: float = Field(900.0, gt=0, description="Alert when the oldest queued job has waited longer")


class LogSettings(BaseModel):
    """logs/facecast.log: its format and rotation."""

    format: Literal["text", "json"] = Field("text", description=(
        "text: one readable line per event; json: one JSON object per line with request_id and job_id"))
    max_bytes: int = Field(20 * 1024 * 1024, ge=0, description="Rotate the log file at this size; 0 never rotates")
    backups: int = Field(5, ge=0, le=100, description="Rotated files kept (facecast.log.1 ...)")


class PiperVoiceSettings(BaseModel):
    """One Piper voice file; its id is piper:<name>."""

    name: str = Field(description="Voice name; the voice id is piper:<name>")
    model_path: Path = Field(description="The voice's .onnx file")
    config_path: Path | None = Field(None, description="Its .onnx.json; default model_path + .json")
    speaker: int | None = Field(None, description="Speaker id for multi-speaker models")


class OpenAIServerSettings(BaseModel):
    """A speech server speaking OpenAI's POST /v1/audio/speech (CosyVoice, fish-speech, ...)."""

    name: str = Field(description="Server name; its voices are openai:<name>/<voice>")
    base_url: str = Field(description="API base URL, e.g. http://127.0.0.1:9880/v1")
    model: str = Field("tts-1", description="Model name sent with each request")
    voices: list[str] = Field(default_factory=lambda: ["alloy"], description="Voices listed by GET /v1/voices")
    api_key: SecretStr | None = Field(None, description="Bearer key, if the server wants one")
    language: str | None = Field(None, description="What its voices speak (e.g. en, cmn); enables the language check")
    timeout_s: float = Field(60.0, gt=0, description="Time limit of one sentence's request, in seconds")


class VoiceSettings(BaseModel):
    """Voices for text jobs beyond the embedded espeak-ng ones, and the default voice."""

    default_voice: str = Field("espeak:en-us", description="Voice of text jobs that name none")
    piper: list[PiperVoiceSettings] = Field(default_factory=list, description="Piper voice files")
    piper_dirs: list[Path] = Field(default_factory=list, description=(
        "Directories whose *.onnx files (with a .onnx.json beside them) are Piper voices"))
    openai: list[OpenAIServerSettings] = Field(default_factory=list, description="OpenAI-compatible speech servers")

    def voice_config(self) -> Any:
        """The voice layer's VoiceConfig (facecast.voice.VoiceConfig) for these settings."""
        from facecast.voice import OpenAIServerConfig, PiperVoiceConfig, VoiceConfig

        piper = tuple(PiperVoiceConfig(v.name, v.model_path, v.config_path, v.speaker) for v in self.piper)
        openai = tuple(OpenAIServerConfig(s.name, s.base_url, s.model, tuple(s.voices),
                                          s.api_key.get_secret_value() if s.api_key else None, s.language,
                                          s.timeout_s) for s in self.openai)
        return VoiceConfig(piper=piper, openai=openai, piper_dirs=tuple(self.piper_dirs))


LIMIT_SETTINGS = tuple(spec for spec in option_specs(Limits) if spec.setting)
# The engine's input limits as top-level settings (FACECAST_MAX_AUDIO_S, ...), declared once on Limits.
LimitSettings = create_model("LimitSettings", __base__=BaseSettings, **{
    spec.name: (spec.type, Field(spec.default, ge=spec.min, le=spec.max, description=spec.help))
    for spec in LIMIT_SETTINGS})


class Settings(LimitSettings):  # type: ignore[valid-type,misc]
    """Effective configuration: environment (FACECAST_..., nested with __) over the TOML file over defaults."""

    model_config = SettingsConfigDict(env_prefix="FACECAST_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Holds templates/, inputs/, outputs/, logs/ and the databases")
    host: str = Field("127.0.0.1", description="Address the API binds")
    port: int = Field(8000, description="Port the API binds")
    public_url: str | None = Field(None, description="Base URL clients reach the API at; default http://host:port")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite in data_dir")
    queue_url: str | None = Field(None, description=(
        "Task queue: sqlite:///path, redis://host:port/db or postgresql://...; default sqlite in data_dir"))
    storage: Literal["local", "s3"] = Field("local", description="Where media files are kept")
    s3: S3Settings = Field(default_factory=S3Settings)
    api_keys: list[SecretStr] = Field(default_factory=list, description=(
        "Accepted keys (Authorization: Bearer or X-API-Key); empty means no authentication"))
    allow_unauthenticated: bool = Field(False, description=(
        "Allow a non-loopback bind without api_keys or database keys (facecast keys create)"))
    key_limits: KeyLimits = Field(default_factory=KeyLimits)
    webhook_secret: SecretStr | None = Field(None, description=(
        "Standard Webhooks signing secret of config keys and a keyless server, whsec_<base64 of the key>; any "
        "other string is taken as the key's bytes (UTF-8). Database keys sign with their own. Unset: callbacks "
        "of config keys are sent unsigned"))
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    notifiers: dict[str, NotifierSettings] = Field(default_factory=dict, description=(
        "Chat robots by name, e.g. {ops = {kind = \"wecom\", url = \"https://qyapi.weixin.qq.com/...\"}}"))
    notify: list[str] = Field(default_factory=list, description=(
        "Notifiers told when a video or batch ends, for requests that give no notify list"))
    alert_notifiers: list[str] = Field(default_factory=list, description="Notifiers that receive service alerts")
    max_upload_bytes: int = Field(500 * 1024 * 1024, description="Largest multipart upload accepted")
    max_batch_templates: int = Field(100, ge=1, le=1000, description="Most templates in one batch")
    min_free_disk_mb: int = Field(500, ge=0, description=(
        "Below this much free space in the data directory, new jobs and uploads get 507, /readyz fails "
        "and the disk_low alert fires"))
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    logs: LogSettings = Field(default_factory=LogSettings)
    webui: bool = Field(True, description="Serve the web UI at /ui (needs the webui extra, gradio)")
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    allowed_hosts: list[str] = Field(default_factory=lambda: list(LOOPBACK_NAMES), description=(
        "Host names (Host header, without port) the API answers to, besides host and public_url's host; "
        "others get 400, which stops DNS-rebinding pages. Add the names clients use for a 0.0.0.0 bind, "
        'or "*" to answer any'))
    max_json_bytes: int = Field(1024 * 1024, ge=1024, description="Largest JSON request body accepted, in bytes")
    docs_require_key: bool = Field(True, description=(
        "With api_keys set, /docs, /openapi.json and /metrics need a key too"))

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            whsec_key(value.get_secret_value())  # raises on a whsec_ value that is not base64
        return value

    @model_validator(mode="after")
    def _known_notifiers(self) -> "Settings":
        import re

        for name in self.notifiers:
            if not re.match(NOTIFIER_NAME, name) or name == "webhook":
                raise ValueError(f"notifier name {name!r}: use 1-40 lower-case letters, digits, '_', '-' or '.', "
                                 "and not 'webhook'")
        unknown = sorted({*self.notify, *self.alert_notifiers} - set(self.notifiers))
        if unknown:
            raise ValueError(f"notify and alert_notifiers name unknown notifiers: {', '.join(unknown)}; "
                             "add them under notifiers")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = os.environ.get(CONFIG_ENV)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml)))
        return tuple(sources)

    def limits(self) -> Limits:
        """The engine's input limits for uploads and jobs."""
        return build_options(Limits, {spec.name: getattr(self, spec.name) for spec in LIMIT_SETTINGS})

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'facecast.db'}"

    @property
    def effective_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{self.data_dir / 'queue.db'}"

    @property
    def effective_allowed_hosts(self) -> set[str]:
        """allowed_hosts plus the bind address and public_url's host, lower-case and without brackets."""
        names = {*self.allowed_hosts, self.host}
        if self.public_url:
            names.add(urlsplit(self.public_url).hostname or "")
        return {name.strip("[]").lower() for name in names if name}

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def masked(self) -> dict[str, Any]:
        """The settings as JSON-ready data with secrets and URL passwords replaced by ***."""
        data = self.model_dump(mode="json")  # SecretStr dumps as "**********"
        for key in ("database_url", "queue_url"):
            data[key] = _mask_url_password(getattr(self, f"effective_{key}"))
        for server in data["voice"]["openai"]:
            server["base_url"] = _mask_url_password(server["base_url"])
        for notifier in data["notifiers"].values():  # robot URLs carry their token in the path or query
            parts = urlsplit(notifier["url"])
            notifier["url"] = f"{parts.scheme}://{parts.netloc}/***"
        return data


def whsec_key(secret: str) -> bytes:
    """The HMAC key of a signing secret: whsec_<base64> decoded, or any other string's UTF-8 bytes."""
    import base64
    import binascii

    if not secret.startswith("whsec_"):
        return secret.encode()
    try:
        encoded = secret.removeprefix("whsec_")
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)  # padding may be left off
    except (binascii.Error, ValueError):
        raise ValueError("webhook_secret starting whsec_ must be followed by base64 (the key's bytes)") from None
    if not key:
        raise ValueError("webhook_secret whsec_ holds an empty key")
    return key


def _mask_url_password(url: str) -> str:
    from urllib.parse import urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
