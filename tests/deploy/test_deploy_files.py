"""The deployment files agree with the code: compose services and settings names, nginx limits, `nginx -t`."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from facecast.service.settings import CONFIG_ENV, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx" / "facecast.conf"
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
ENV_NAME = re.compile(r"\bFACECAST_[A-Z0-9_]+\b")
INTERPOLATION = re.compile(r"\$\{[A-Z_]+(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _is_setting(env_name: str) -> bool:
    """FACECAST_A__B names Settings field a, then its field b (pydantic-settings' nesting)."""
    if env_name == CONFIG_ENV:
        return True
    model: type[BaseModel] | None = Settings
    for part in env_name.removeprefix("FACECAST_").lower().split("__"):
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model is None


def _service_env(compose: dict[str, Any], service: str) -> dict[str, str]:
    """A service's environment with ${VAR...} interpolations replaced by a stand-in value."""
    env = compose["services"][service].get("environment", {})
    return {name: INTERPOLATION.sub("x" * 12, str(value)) for name, value in env.items()}


def test_compose_services_volumes_and_dependencies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"api", "worker", "gpu-worker", "redis", "postgres", "s3", "nginx"} <= set(services)
    declared = set(compose["volumes"])
    for name, service in services.items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source.startswith(".") or source in declared, f"{name} mounts undeclared volume {source}"
            if source.startswith("."):
                assert (ROOT / source).exists() or source.endswith(("certs", "auth")), source
        depends = service.get("depends_on", {})
        assert set(depends) <= set(services), f"{name} depends on a missing service"
    for role in ("api", "worker", "gpu-worker"):
        assert {"postgres", "redis"} <= set(services[role]["depends_on"]), role
    assert services["api"]["command"] == ["facecast", "serve"]
    assert services["worker"]["command"] == services["gpu-worker"]["command"] == ["facecast", "worker"]
    assert "api" in services["nginx"]["depends_on"] and "443:443" in services["nginx"]["ports"]


def test_every_facecast_variable_is_a_setting(compose: dict[str, Any]) -> None:
    files = [COMPOSE, *UNITS, ROOT / "Dockerfile", ROOT / "Dockerfile.gpu", ROOT / "docs" / "deploy.md"]
    names = {(path.name, name) for path in files for name in ENV_NAME.findall(path.read_text())}
    assert len({name for _, name in names}) > 10
    unknown = sorted(f"{file}: {name}" for file, name in names if not _is_setting(name))
    assert not unknown, unknown


@pytest.mark.parametrize("service", ["api", "worker", "gpu-worker"])
def test_compose_environment_builds_the_intended_settings(compose: dict[str, Any], service: str,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in _service_env(compose, service).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FACECAST_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.storage == "s3" and settings.s3.endpoint_url == "http://s3:9000"
    assert settings.effective_queue_url.startswith("redis://redis:")
    assert settings.effective_database_url.startswith("postgresql://")
    assert len(settings.api_keys) == 1 and settings.webhook_secret is not None
    assert (settings.worker.gpus == [0]) == (service == "gpu-worker")


def test_systemd_units_run_the_cli() -> None:
    commands = {}
    for unit in UNITS:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(unit.read_text())
        commands[unit.name] = parser["Service"]["ExecStart"].split()[1:]
        assert parser["Service"]["User"] != "root"
    assert commands == {"facecast-api.service": ["serve"], "facecast-worker@.service": ["worker"]}


def test_dockerfiles() -> None:
    cpu, gpu = (ROOT / "Dockerfile").read_text(), (ROOT / "Dockerfile.gpu").read_text()
    assert cpu.startswith("#") and "FROM python:3.11-slim" in cpu and "fonts-wqy-microhei" in cpu
    assert '/healthz' in cpu and 'CMD ["facecast", "serve"]' in cpu
    assert "FROM nvidia/cuda:" in gpu and "TORCH_SPEC" in gpu and 'CMD ["facecast", "worker"]' in gpu
    for text in (cpu, gpu):
        users = re.findall(r"^USER (\S+)", text, re.M)
        assert users and users[-1] not in ("root", "0")


def _directive(conf: str, name: str) -> str:
    match = re.search(rf"^\s*{name}\s+([^;]+);", conf, re.M)
    assert match, f"{name} missing"
    return match.group(1).strip()


def _size_bytes(value: str) -> int:
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    return int(value[:-1]) * units[value[-1].lower()] if value[-1].lower() in units else int(value)


def test_nginx_limits_fit_the_service() -> None:
    conf = NGINX_CONF.read_text()
    defaults = Settings.model_fields
    assert _size_bytes(_directive(conf, "client_max_body_size")) >= defaults["max_upload_bytes"].default
    assert int(_directive(conf, "proxy_read_timeout").rstrip("s")) >= 120
    assert _directive(conf, "proxy_request_buffering") == "off"
    assert "return 301 https://" in conf


def _write_certificate(folder: Path) -> None:
    folder.mkdir(parents=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", str(folder / "facecast.key"), "-out", str(folder / "facecast.crt")],
                   check=True, capture_output=True)


@pytest.mark.parametrize("basic_auth", [False, True])
def test_nginx_accepts_the_config(tmp_path: Path, basic_auth: bool) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.fail("nginx is missing: run `make system-deps` (apt-get install nginx)")
    if not shutil.which("openssl"):
        pytest.fail("openssl is missing: it writes the test's self-signed certificate")
    _write_certificate(tmp_path / "certs")
    auth = tmp_path / "auth"
    auth.mkdir()
    if basic_auth:
        example = NGINX_CONF.parent / "auth" / "basic.conf.example"
        (auth / "basic.conf").write_text(example.read_text().replace("/etc/nginx/auth", str(auth)))
        (auth / "htpasswd").write_text("alice:$apr1$abcdefgh$0123456789abcdefghijkl\n")
    site = (NGINX_CONF.read_text().replace("server api:8000", "server 127.0.0.1:8000")
            .replace("/etc/nginx/certs", str(tmp_path / "certs")).replace("/etc/nginx/auth", str(auth)))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n    include {tmp_path}/site.conf;\n}}\n")
    result = subprocess.run([nginx, "-t", "-q", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                             "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_makefile_installs_nginx() -> None:
    makefile = (ROOT / "Makefile").read_text()
    line = next(line for line in makefile.splitlines() if "apt-get install" in line)
    assert re.search(r"\bnginx\b", line), line
