"""Errors the user can fix. Each has a stable `code` (API contract) and a message that says what to do."""

from __future__ import annotations


class FacecastError(Exception):
    """A problem the user can fix: `code` is stable API, the message says what to do next."""

    code = "facecast_error"
    http_status = 400


class InputNotFoundError(FacecastError):
    code = "input_not_found"
    http_status = 404


class UnreadableInputError(FacecastError):
    """The file exists but is not a media file we can decode (corrupt, wrong type, unreadable)."""

    code = "unreadable_input"
    http_status = 422


class EmptyAudioError(FacecastError):
    code = "empty_audio"
    http_status = 422


class AudioTooLongError(FacecastError):
    code = "audio_too_long"
    http_status = 413


class NoFaceError(FacecastError):
    code = "no_face"
    http_status = 422


class FaceTooSmallError(FacecastError):
    code = "face_too_small"
    http_status = 422


class MediaTooLargeError(FacecastError):
    """A file declares more than the limits allow (pixels, sample rate, duration); refused before decoding."""

    code = "media_too_large"
    http_status = 413


class InvalidOptionError(FacecastError):
    code = "invalid_option"
    http_status = 422


class BackendUnavailableError(FacecastError):
    """A backend needs an optional dependency or weights the user has not supplied."""

    code = "backend_unavailable"
    http_status = 422


class CanceledError(FacecastError):
    code = "canceled"
    http_status = 409
