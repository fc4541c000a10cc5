"""Running a Wav2Lip generator from a PyTorch checkpoint (.pth) or an ONNX export (.onnx).

Both runners take the same numpy batches and return the same numpy faces, on CUDA when it is there (fp16 for
torch) and on the CPU otherwise. torch and onnxruntime are imported here, inside functions, only when a model
is loaded: the classical path never pays for them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import BackendUnavailableError, InputNotFoundError, InvalidWeightsError

logger = logging.getLogger(__name__)

CPU_BATCH = 8                    # frames per call on the CPU: larger batches gain little there (docs/backends.md)
MAX_GPU_BATCH = 256
GPU_BYTES_PER_FRAME = 24 << 20   # activations of one frame at fp16 with headroom for cuDNN workspaces
GPU_MEMORY_SHARE = 0.5           # of the free memory: the encoder and other processes share the card
INSTALL_HINT = "install it with `pip install 'facecast[wav2lip]'`"


class Wav2LipRunner(Protocol):
    """Runs the generator: mel float32 B x 1 x 80 x 16 and faces float32 B x 6 x 96 x 96 (masked face, then
    the reference face, BGR in [0, 1]) -> faces float32 B x 3 x 96 x 96 (BGR in [0, 1])."""

    device: str
    batch_size: int

    def predict(self, mel: np.ndarray, faces: np.ndarray) -> np.ndarray: ...


def load_runner(weights: Path, batch_size: int | None = None) -> Wav2LipRunner:
    """The runner for a .pth or .onnx file; `batch_size` None picks one from the free GPU memory (8 on a CPU).

    Raises:
        InputNotFoundError: no such file.
        BackendUnavailableError: torch (for .pth) or onnxruntime (for .onnx) is not installed.
        InvalidWeightsError: the file is not a Wav2Lip generator.
    """
    weights = Path(weights)
    if not weights.is_file():
        raise InputNotFoundError(f"weights file {weights} not found; give the path of a Wav2Lip .pth or .onnx")
    if weights.suffix.lower() == ".onnx":
        return OnnxRunner(weights, batch_size)
    return TorchRunner(weights, batch_size)


class TorchRunner:
    """A Wav2Lip .pth checkpoint run with PyTorch."""

    def __init__(self, weights: Path, batch_size: int | None = None) -> None:
        torch = _import_or_raise("torch")
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self._dtype = torch.float16 if self.device == "cuda" else torch.float32
        self._model = load_torch_model(weights).to(self.device, self._dtype)
        self.batch_size = batch_size or _automatic_batch_size(self.device)
        logger.info("wav2lip %s on %s, batch %d", weights.name, self.device, self.batch_size)

    def predict(self, mel: np.ndarray, faces: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self._model(self._tensor(torch, mel), self._tensor(torch, faces))
        return out.float().cpu().numpy()

    def _tensor(self, torch: Any, array: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(array, np.float32)).to(self.device, self._dtype)


def load_torch_model(weights: Path) -> Any:
    """The Wav2Lip network of a .pth checkpoint, fp32 on the CPU, in eval mode (a torch.nn.Module).

    Raises:
        BackendUnavailableError: torch is not installed.
        InvalidWeightsError: not a checkpoint, or not a Wav2Lip generator's.
    """
    torch = _import_or_raise("torch")
    from .wav2lip_model import load_wav2lip  # imports torch

    return load_wav2lip(_torch_checkpoint(torch, weights), weights.name)


def _torch_checkpoint(torch: Any, weights: Path) -> dict:
    """The checkpoint's contents; weights_only refuses pickles that would run code when loaded."""
    try:
        checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or OSError for a foreign file
        raise InvalidWeightsError(f"{weights.name} is not a PyTorch checkpoint torch can load safely "
                                  f"({type(exc).__name__}); give a Wav2Lip .pth or an ONNX export") from exc
    if not isinstance(checkpoint, dict):
        raise InvalidWeightsError(f"{weights.name} holds a {type(checkpoint).__name__}, not a checkpoint dict; "
                                  "give a Wav2Lip .pth")
    return checkpoint


@dataclass(frozen=True, slots=True)
class _OnnxInputs:
    mel: str
    faces: str
    fixed_batch: int | None   # the model's batch dimension when it was exported fixed
    half: bool                # inputs declared float16


class OnnxRunner:
    """A Wav2Lip generator exported to ONNX, run with onnxruntime (CUDA provider when available)."""

    def __init__(self, weights: Path, batch_size: int | None = None) -> None:
        ort = _import_or_raise("onnxruntime")
        wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        providers = [name for name in wanted if name in ort.get_available_providers()]
        try:
            self._session = ort.InferenceSession(str(weights), providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf types
            raise InvalidWeightsError(f"{weights.name} is not an ONNX model onnxruntime can load: "
                                      f"{str(exc).splitlines()[0][:200]}") from exc
        self._inputs = _onnx_inputs_or_raise(self._session, weights.name)
        self.device = "cuda" if self._session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        self.batch_size = self._inputs.fixed_batch or batch_size or _automatic_batch_size(self.device)
        logger.info("wav2lip %s on %s via onnxruntime, batch %d", weights.name, self.device, self.batch_size)

    def predict(self, mel: np.ndarray, faces: np.ndarray) -> np.ndarray:
        count = len(mel)
        step = self._inputs.fixed_batch or count
        dtype = np.float16 if self._inputs.half else np.float32
        outputs = []
        for start in range(0, count, step):
            feed = {self._inputs.mel: _padded(mel[start:start + step], step).astype(dtype),
                    self._inputs.faces: _padded(faces[start:start + step], step).astype(dtype)}
            outputs.append(self._session.run(None, feed)[0][:count - start])
        return np.concatenate(outputs).astype(np.float32, copy=False)


def _onnx_inputs_or_raise(session: Any, name: str) -> _OnnxInputs:
    """Which input is the mel window and which the faces, told apart by their channel counts (1 and 6)."""
    by_channels = {tuple(item.shape[1:]): item for item in session.get_inputs() if len(item.shape) == 4}
    mel, faces = by_channels.get((1, 80, 16)), by_channels.get((6, 96, 96))
    if mel is None or faces is None or len(session.get_inputs()) != 2:
        shapes = ", ".join(f"{item.name} {item.shape}" for item in session.get_inputs())
        raise InvalidWeightsError(f"{name} does not take Wav2Lip's inputs (mel B x 1 x 80 x 16, faces B x 6 x 96 "
                                  f"x 96); it takes {shapes}")
    batch = mel.shape[0]
    return _OnnxInputs(mel=mel.name, faces=faces.name, fixed_batch=batch if isinstance(batch, int) else None,
                       half=mel.type == "tensor(float16)")


def _padded(batch: np.ndarray, size: int) -> np.ndarray:
    """`batch` repeated at its last item up to `size` rows (a fixed-batch model needs full batches)."""
    if len(batch) == size:
        return batch
    return np.concatenate([batch, np.repeat(batch[-1:], size - len(batch), axis=0)])


def _automatic_batch_size(device: str) -> int:
    """On a GPU, as many frames as half the free memory holds; on a CPU, a small batch."""
    if device != "cuda":
        return CPU_BATCH
    try:
        import torch

        free_bytes, _ = torch.cuda.mem_get_info()
    except (ImportError, RuntimeError):  # onnxruntime without torch: no cheap way to ask the card
        return 32
    return int(np.clip(free_bytes * GPU_MEMORY_SHARE // GPU_BYTES_PER_FRAME, 1, MAX_GPU_BATCH))


def _import_or_raise(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailableError(f"the wav2lip backend needs {module}, which is not installed; "
                                      f"{INSTALL_HINT}") from exc
