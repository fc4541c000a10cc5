"""facecast engine: lip-synced talking video from a template (video or photo) and speech.

Importable without any web dependency. The public surface is small: probe, prepare_template, load_audio,
generate, and the option/result/error types.
"""

from .errors import (
    AudioTooLongError,
    BackendUnavailableError,
    CanceledError,
    EmptyAudioError,
    FaceTooSmallError,
    FacecastError,
    InputNotFoundError,
    InvalidOptionError,
    NoFaceError,
    UnreadableInputError,
)
from .options import EncodeOptions, GenerateOptions, Limits, MotionOptions, RenderOptions, TrackingOptions
from .progress import NEVER_CANCELED, CancelToken, Progress, no_progress
from .results import GenerateResult, PreparedTemplate, TemplateFacts
from .speech_types import AudioClip, PhonemeTiming, SubtitleCue, WordTiming

__all__ = [
    "AudioClip", "AudioTooLongError", "BackendUnavailableError", "CancelToken", "CanceledError",
    "EmptyAudioError", "EncodeOptions", "FaceTooSmallError", "FacecastError", "GenerateOptions",
    "GenerateResult", "InputNotFoundError", "InvalidOptionError", "Limits", "MotionOptions", "NEVER_CANCELED",
    "NoFaceError", "PhonemeTiming", "PreparedTemplate", "Progress", "RenderOptions", "SubtitleCue", "TemplateFacts",
    "TrackingOptions", "UnreadableInputError", "WordTiming", "generate", "load_audio", "no_progress",
    "prepare_template", "probe",
]


def __getattr__(name: str):
    # The pipeline pulls in mediapipe and cv2; keep `import facecast.engine` cheap for the service's API process.
    if name in ("generate", "prepare_template"):
        from . import pipeline

        return getattr(pipeline, name)
    if name in ("probe", "load_audio"):
        from . import media

        return getattr(media, name)
    raise AttributeError(name)
