"""Piper voices, with a random-weight model built here in Piper's real input/output signature."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from facecast.voice.base import PiperVoiceConfig, SynthesisOptions, VoiceConfig, get_voice, list_voices, synthesize
from facecast.voice.errors import VoiceConfigError

HOP = 64  # samples per phoneme id before length scaling
# The order of Piper's default espeak phoneme map: pad, BOS, EOS, space, punctuation, then IPA.
SYMBOLS = (
    ["_", "^", "$", " "] + list("!'(),-.:;?") + list("abcdefhijklmnopqrstuvwxyz")
    + list("æçðøħŋœǀǁǂǃɐɑɒɓɔɕɖɗɘəɚɛɜɞɟɠɡɢɣɤɥɦɧɨɪɫɬɭɮɯɰɱɲɳɴɵɶɸɹɺɻɽɾʀʁʂʃʄʈʉʊʋʌʍʎʏʐʑʒʔʕʘʙʛʜʝʟʡʢʲˈˌːˑ˞βθχᵻⱱ")
    + ["\u0303", "\u0329", "\u032a"]
)


def _build_model(path, num_symbols: int) -> None:
    """Embedding -> flatten -> tanh -> resize by length_scale: audio length follows ids and scales."""
    rng = np.random.default_rng(0)
    table = numpy_helper.from_array(rng.normal(size=(num_symbols, HOP)).astype(np.float32), "embedding")
    nodes = [
        helper.make_node("Gather", ["embedding", "input"], ["embedded"]),
        helper.make_node("Reshape", ["embedded", "flat_shape"], ["flat"]),
        helper.make_node("Tanh", ["flat"], ["wave"]),
        helper.make_node("Mul", ["wave", "gain"], ["quiet"]),
        helper.make_node("Slice", ["scales", "one", "two"], ["length_scale"]),
        helper.make_node("Concat", ["ones3", "length_scale"], ["resize_scales"], axis=0),
        helper.make_node("Resize", ["quiet", "", "resize_scales"], ["output"], mode="linear"),
    ]
    constants = [
        numpy_helper.from_array(np.array([1, 1, 1, -1], np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([0.3], np.float32), "gain"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array([2], np.int64), "two"),
        numpy_helper.from_array(np.ones(3, np.float32), "ones3"),
    ]
    graph = helper.make_graph(
        nodes, "piper-test",
        [
            helper.make_tensor_value_info("input", TensorProto.INT64, [1, "phonemes"]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "samples"])],
        [table, *constants],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture
def piper_dir(tmp_path):
    config = {
        "audio": {"sample_rate": 16000, "quality": "low"},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": {symbol: [index] for index, symbol in enumerate(SYMBOLS)},
        "num_symbols": 256,
        "num_speakers": 1,
        "speaker_id_map": {},
        "piper_version": "1.0.0",
        "language": {"code": "en_US", "family": "en", "region": "US"},
        "dataset": "test",
    }
    (tmp_path / "en_US-test-low.onnx.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    _build_model(tmp_path / "en_US-test-low.onnx", config["num_symbols"])
    return tmp_path


def test_piper_voice_is_listed_and_speaks_with_stretched_espeak_timings(piper_dir):
    config = VoiceConfig(piper_dirs=(piper_dir,))
    infos = {v.id: v for v in list_voices(config)}
    assert infos["piper:en_US-test-low"].language == "en-us"
    voice = get_voice("piper:en_US-test-low", config)
    ids = voice.phoneme_ids("Peter bought my map.")
    index = {symbol: i for i, symbol in enumerate(SYMBOLS)}
    assert ids[:2] == [index["^"], index["_"]] and ids[-1] == index["$"] and ids[-2] == index["_"]
    spoken = [i for i in ids[2:-1:2]]
    assert spoken[:3] == [index["p"], index["ˈ"], index["i"]] and spoken[-1] == index["."]

    clip = synthesize("Peter bought my map.", "piper:en_US-test-low", config=config)
    assert clip.sample_rate == 16000
    assert len(clip.samples) >= len(ids) * HOP  # plus the sentence pause
    assert np.abs(clip.samples[: len(ids) * HOP]).mean() > 0.05
    assert clip.phonemes[-1].end_s == pytest.approx(clip.duration_s, abs=1e-3)
    assert [p.phoneme for p in clip.phonemes if p.viseme == "PP"] == ["p", "b", "m", "m", "p"]
    assert [w.text for w in clip.words] == ["Peter", "bought", "my", "map."]


def test_piper_rate_scales_length(piper_dir):
    config = VoiceConfig(piper=(PiperVoiceConfig("mine", piper_dir / "en_US-test-low.onnx"),))
    voice = get_voice("piper:mine", config)
    normal = voice.synthesize("Hello there.", SynthesisOptions())
    fast = voice.synthesize("Hello there.", SynthesisOptions(rate=2.0))
    assert len(fast.samples) == pytest.approx(len(normal.samples) / 2, rel=0.01)
    higher = voice.synthesize("Hello there.", SynthesisOptions(pitch=12.0))  # twice as long, resampled back
    assert len(higher.samples) == pytest.approx(len(normal.samples), rel=0.01)


def test_broken_piper_files_are_clear_errors(piper_dir):
    (piper_dir / "bad.onnx").write_bytes(b"not a model")
    (piper_dir / "bad.onnx.json").write_text('{"audio": {}}', encoding="utf-8")
    config = VoiceConfig(piper_dirs=(piper_dir,))
    assert "piper:bad" not in [v.id for v in list_voices(config)]
    with pytest.raises(VoiceConfigError, match="unreadable or incomplete"):
        get_voice("piper:bad", config)
    missing = VoiceConfig(piper=(PiperVoiceConfig("gone", piper_dir / "gone.onnx"),))
    with pytest.raises(VoiceConfigError, match="does not exist"):
        get_voice("piper:gone", missing)
