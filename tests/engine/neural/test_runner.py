"""Both runners on random weights in the real formats: shapes, dtypes, agreement, and refusals that name keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facecast.engine.errors import InvalidWeightsError
from facecast.engine.neural.runner import OnnxRunner, TorchRunner, load_runner
from tests.engine.neural.conftest import save_checkpoint

torch = pytest.importorskip("torch")


def _inputs(count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    mel = rng.uniform(-4, 4, (count, 1, 80, 16)).astype(np.float32)
    faces = rng.uniform(0, 1, (count, 6, 96, 96)).astype(np.float32)
    faces[:, :3, 48:] = 0  # the masked half, as the renderer feeds it
    return mel, faces


def test_torch_runner_shapes_and_dtypes(pth_weights: Path) -> None:
    runner = load_runner(pth_weights, batch_size=3)
    assert isinstance(runner, TorchRunner) and runner.device == "cpu" and runner.batch_size == 3
    out = runner.predict(*_inputs(3))
    assert out.shape == (3, 3, 96, 96) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0  # the output block ends in a sigmoid


def test_checkpoint_loads_with_the_original_names(random_model: Any, pth_weights: Path) -> None:
    names = set(torch.load(pth_weights, weights_only=True)["state_dict"])
    assert "module.face_encoder_blocks.0.0.conv_block.0.weight" in names
    assert "module.audio_encoder.0.conv_block.1.running_var" in names
    assert "module.output_block.1.weight" in names
    assert len(names) == 352 and sum(v.numel() for v in random_model.state_dict().values()) == 36_320_837


def test_onnx_and_torch_agree(pth_weights: Path, onnx_weights: Path) -> None:
    mel, faces = _inputs(5)
    onnx_runner = load_runner(onnx_weights)
    assert isinstance(onnx_runner, OnnxRunner) and onnx_runner.device == "cpu"
    expected = load_runner(pth_weights).predict(mel, faces)
    np.testing.assert_allclose(onnx_runner.predict(mel, faces), expected, atol=1e-4)


def test_fixed_batch_onnx_is_fed_full_batches(onnx_weights: Path, pth_weights: Path, tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(onnx_weights))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = 4
    fixed = tmp_path / "fixed.onnx"
    onnx.save(model, str(fixed))
    runner = load_runner(fixed, batch_size=2)
    assert runner.batch_size == 4  # the model's own batch wins
    mel, faces = _inputs(6)  # one full batch and one padded
    out = runner.predict(mel, faces)
    assert out.shape == (6, 3, 96, 96)
    np.testing.assert_allclose(out, load_runner(pth_weights).predict(mel, faces), atol=1e-4)


def test_wrong_architecture_is_refused_naming_keys(tmp_path: Path) -> None:
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
    with pytest.raises(InvalidWeightsError) as caught:
        load_runner(save_checkpoint(other, tmp_path / "other.pth"))
    message = str(caught.value)
    assert caught.value.code == "invalid_weights"
    assert "352 missing keys (audio_encoder.0.conv_block.0.bias" in message
    assert "unexpected keys (0.bias, 0.weight, 1.bias" in message


def test_right_names_wrong_shapes_and_foreign_files_are_refused(random_model: Any, tmp_path: Path) -> None:
    state = dict(random_model.state_dict())
    state["output_block.1.weight"] = torch.zeros(4, 32, 1, 1)
    torch.save({"state_dict": state}, tmp_path / "shapes.pth")
    with pytest.raises(InvalidWeightsError, match="output_block.1.weight"):
        load_runner(tmp_path / "shapes.pth")
    (tmp_path / "notes.pth").write_text("not a checkpoint")
    with pytest.raises(InvalidWeightsError, match="not a PyTorch checkpoint"):
        load_runner(tmp_path / "notes.pth")
    (tmp_path / "notes.onnx").write_text("not a model")
    with pytest.raises(InvalidWeightsError, match="not an ONNX model"):
        load_runner(tmp_path / "notes.onnx")


def test_export_onnx_command_writes_a_model_onnxruntime_runs(pth_weights: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from tests.support.cli import run_facecast

    target = tmp_path / "exported.onnx"
    done = run_facecast("export-onnx", str(pth_weights), str(target))
    assert done.returncode == 0, done.stderr
    assert f"wrote {target}" in done.stdout
    mel, faces = _inputs(2)
    exported = load_runner(target)
    assert isinstance(exported, OnnxRunner)
    np.testing.assert_allclose(exported.predict(mel, faces), load_runner(pth_weights).predict(mel, faces), atol=1e-4)
    missing = run_facecast("export-onnx", str(tmp_path / "absent.pth"), str(tmp_path / "absent.onnx"))
    assert missing.returncode == 2 and "input_not_found" in missing.stderr
    assert not (tmp_path / "absent.onnx").exists() and not list(tmp_path.glob(".absent*"))
