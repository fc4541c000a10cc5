"""Every error code has an HTTP status in problems.STATUS_BY_CODE, so a new error cannot silently answer 400."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import facecast.engine
import facecast.service
import facecast.voice
from facecast.engine.errors import FacecastError
from facecast.service.problems import STATUS_BY_CODE, VoiceNotFoundError, status_for
from facecast.voice.errors import UnknownVoiceError


def _import_all() -> None:
    for package in (facecast.engine, facecast.voice, facecast.service):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" not in module.name:  # alembic scripts run migrations when imported
                importlib.import_module(module.name)


def _subclasses(cls: type[FacecastError]) -> list[type[FacecastError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


_import_all()
ERRORS = _subclasses(FacecastError)


def test_every_error_module_was_walked() -> None:
    assert len(ERRORS) > 20, [cls.__name__ for cls in ERRORS]


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_error_code_has_a_status(error: type[FacecastError]) -> None:
    assert error.code in STATUS_BY_CODE, f"add {error.code!r} ({error.__name__}) to problems.STATUS_BY_CODE"
    assert not hasattr(error, "http_status"), "errors carry a code only; statuses live in problems.py"


def test_a_voice_in_the_path_is_missing_a_voice_in_a_body_is_unusable() -> None:
    assert status_for(UnknownVoiceError("no such voice")) == 422
    assert status_for(VoiceNotFoundError("no such voice")) == 404
