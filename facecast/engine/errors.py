"""Errors the user can fix. Each has a stable `code` (API contract) and a message that says what to do."""

from __future__ import annotations


class FacecastError(Exception):
    """A problem the user can fix: `code` is stable API, the message says what to do next."""

    code = "facecast_error"


class InputNotFoundError(FacecastError):
    code = "input_not_found"


class UnreadableInputError(FacecastError):
    """The file exists but is not a media file we can decode (corrupt, wrong type, unreadable)."""

    code = "unreadable_input"


class EmptyAudioError(FacecastError):
    code = "empty_audio"


class AudioTooLongError(FacecastError):
    code = "audio_too_long"


class NoFaceError(FacecastError):
    code = "no_face"


class FaceTooSmallError(FacecastError):
    code = "face_too_small"


class MediaTooLargeError(FacecastError):
    """A file declares more than the limits allow (pixels, sample rate, duration); refused before decoding."""

    code = "media_too_large"


class InvalidOptionError(FacecastError):
    code = "invalid_option"


class BackendUnavailableError(FacecastError):
    """A backend needs an optional dependency or weights the user has not supplied."""

    code = "backend_unavailable"


class CanceledError(FacecastError):
    code = "canceled"


class InvalidWeightsError(FacecastError):
    """A weights file that is not the model the backend runs (another architecture, or not a checkpoint)."""

    code = "invalid_weights"


class LowSyncQualityError(FacecastError):
    """A finished video's measured lip-sync fell below the gate and the gate was set to fail."""

    code = "low_sync_quality"
