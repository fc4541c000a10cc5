"""Errors of the voice layer. Each has a stable `code` and a message that says what to do next."""

from __future__ import annotations

from facecast.engine.errors import FacecastError


class EmptyTextError(FacecastError):
    """The text has nothing to speak (empty, whitespace, or punctuation only)."""

    code = "empty_text"


class TextTooLongError(FacecastError):
    code = "text_too_long"


class UnknownVoiceError(FacecastError):
    """The voice id names no installed or configured voice; the message lists those that exist."""

    code = "unknown_voice"


class UnsupportedLanguageError(FacecastError):
    """The text is written in a script the chosen voice cannot read."""

    code = "unsupported_language"


class TTSUnreachableError(FacecastError):
    """A remote speech server did not answer; the job may be retried."""

    code = "tts_unreachable"


class TTSFailedError(FacecastError):
    """A speech engine answered but produced no usable audio."""

    code = "tts_failed"


class VoiceConfigError(FacecastError):
    """A configured voice (Piper files, server settings) is incomplete or unreadable."""

    code = "voice_config"
