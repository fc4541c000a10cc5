"""Wav2Lip generators with random weights, saved in the published formats: a .pth checkpoint as the original
training script writes it, and an ONNX export of it. No trained model is needed to test the plumbing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def save_checkpoint(model: Any, path: Path, prefix: str = "") -> Path:
    """As Wav2Lip's train.py saves: the state dict beside optimizer state and step counters."""
    import torch

    state = {prefix + key: value for key, value in model.state_dict().items()}
    torch.save({"state_dict": state, "optimizer": None, "global_step": 1, "global_epoch": 1}, path)
    return path


@pytest.fixture(scope="session")
def random_model() -> Any:
    torch = pytest.importorskip("torch")
    from facecast.engine.neural.wav2lip_model import Wav2Lip

    torch.manual_seed(0)
    model = Wav2Lip().eval()
    # Random running statistics too, so batch norm is exercised as in a trained model.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="session")
def pth_weights(random_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Saved from nn.DataParallel, as the published checkpoints are: every key starts with "module."."""
    return save_checkpoint(random_model, tmp_path_factory.mktemp("weights") / "wav2lip.pth", prefix="module.")


@pytest.fixture(scope="session")
def onnx_weights(pth_weights: Path) -> Path:
    pytest.importorskip("onnxruntime")
    from facecast.engine.neural.export import export_onnx

    return export_onnx(pth_weights, pth_weights.with_suffix(".onnx"))
