"""Export a Wav2Lip .pth checkpoint to ONNX, for machines that run onnxruntime without PyTorch."""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

from ..errors import InputNotFoundError
from ..files import atomic_output
from .runner import load_torch_model

ONNX_OPSET = 17
INPUT_NAMES = ("mel", "faces")
OUTPUT_NAME = "face"


def export_onnx(weights: Path, output: Path, opset: int = ONNX_OPSET) -> Path:
    """Write the checkpoint in `weights` as an fp32 ONNX model with a dynamic batch dimension.

    The file appears complete or not at all: a failed export leaves no half-written `output`.

    Args:
        weights: a Wav2Lip or Wav2Lip-GAN generator checkpoint (.pth).
        output: the .onnx file to write.
        opset: ONNX opset (13 or later).
    Returns:
        `output`.
    Raises:
        InputNotFoundError, BackendUnavailableError (no torch), InvalidWeightsError.
    """
    weights = Path(weights)
    if not weights.is_file():
        raise InputNotFoundError(f"weights file {weights} not found; give the path of a Wav2Lip .pth")
    model = load_torch_model(weights)
    import torch  # present: load_torch_model needs it

    # The TorchScript exporter: the newer dynamo one needs onnxscript and gains nothing on a plain CNN.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    batch = {0: "batch"}
    with warnings.catch_warnings(), atomic_output(Path(output)) as partial:
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter announces it on every call
        torch.onnx.export(model, (torch.zeros(1, 1, 80, 16), torch.zeros(1, 6, 96, 96)), str(partial),
                          input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAMES[0]: batch, INPUT_NAMES[1]: batch, OUTPUT_NAME: batch},
                          opset_version=opset, **legacy)
    return Path(output)
