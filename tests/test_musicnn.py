"""The musicnn port (issue 21): equal to the original TF1 graph, its front end equal to librosa's, serialisable.

The comparison with the original needs the `musicnn` wheel (never installed, never imported): it is taken from
$TFAUDIO_MUSICNN_WHEEL, or ~/.cache/tfaudio/musicnn/, or fetched there with `pip download`; the test skips
where none of these works.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from tests.harness import assert_saved_model_equal
from tfaudio import models
from tfaudio.features import log10_mel
from tfaudio.models import musicnn
from tfaudio.models.musicnn_convert import checkpoint_prefix, convert, read_checkpoint

WHEEL = "musicnn-0.1.0-py3-none-any.whl"


def _test_audio(seconds: float = 3.0, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    vibrato = 1 + 0.01 * np.sin(2 * np.pi * 5 * t)
    y = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 660 * t * vibrato)
    return (y * np.minimum(1, t * 4) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def log_mels() -> np.ndarray:
    """Two 187-frame log10 mel patches `(2, 187, 96)` of test audio."""
    x = log10_mel(_test_audio()[None]).numpy()[:, :187]
    return np.concatenate([x, 0.7 * x[:, ::-1]], 0)


@pytest.fixture(scope="module")
def wheel() -> Path:
    """The musicnn 0.1.0 wheel (downloaded once with pip, never installed); skips where it cannot be had."""
    wheel = Path(os.environ.get("TFAUDIO_MUSICNN_WHEEL", Path.home() / ".cache" / "tfaudio" / "musicnn" / WHEEL))
    if not wheel.is_file():
        wheel.parent.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([sys.executable, "-m", "pip", "download", "musicnn==0.1.0", "--no-deps", "-q",
                            "-d", str(wheel.parent)], check=True, timeout=300, capture_output=True)
        except (subprocess.SubprocessError, OSError) as e:
            pytest.skip(f"the musicnn wheel cannot be had here: {e}")
    return wheel


@pytest.fixture(scope="module")
def unpacked_wheel(wheel, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("musicnn")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(root, [m for m in z.namelist() if m.startswith("musicnn/") and not m.endswith(".py")])
    return root


def _original(root: Path, name: str, x: np.ndarray, fetch: dict[str, str]) -> dict[str, np.ndarray]:
    """Run the trained TF1 graph of checkpoint `name` from its `.meta` (its training nodes and
    `_output_shapes` dropped), the checkpoint's values fed for its variables, in inference mode."""
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString((root / "musicnn" / name / ".meta").read_bytes())
    graph_def = tf.compat.v1.GraphDef()
    for node in meta.graph_def.node:
        if node.name.startswith(("gradients", "Adam", "save", "metrics", "beta1_power", "beta2_power", "init")) \
                or "/Adam" in node.name:
            continue
        node.attr.pop("_output_shapes", None)
        graph_def.node.append(node)
    variables = read_checkpoint(checkpoint_prefix(root, name))
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
        feed = {"model/Placeholder:0": x, "model/Placeholder_2:0": False}
        feed.update({f"{k}/read:0": v for k, v in variables.items()})
        with tf.compat.v1.Session(graph=graph) as session:
            return session.run({k: f"{v}:0" for k, v in fetch.items()}, feed)


_MUSICNN_NODES = {"taggram": "model/Sigmoid", "f74": "model/Squeeze", "f77": "model/Squeeze_1",
                  "s128": "model/Squeeze_2", "s64": "model/Squeeze_3", "s32": "model/Squeeze_4",
                  "cnn1": "model/transpose", "cnn2": "model/Add", "cnn3": "model/Add_1", "max_pool": "model/Max",
                  "mean_pool": "model/moments/Squeeze",
                  "penultimate": "model/batch_normalization_10/batchnorm/add_1"}
_VGG_NODES = {"taggram": "model/Sigmoid",
              **{f"pool{i}": f"model/max_pooling2d{'' if i == 1 else f'_{i - 1}'}/MaxPool" for i in range(1, 6)}}


@pytest.mark.parametrize("name", ["MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"])
def test_the_port_equals_the_original_graph(unpacked_wheel, log_mels, name):
    vgg = name.endswith("_vgg")
    ref = _original(unpacked_wheel, name, log_mels, _VGG_NODES if vgg else _MUSICNN_NODES)
    if not vgg:
        ref["timbral"] = np.concatenate([ref.pop("f74"), ref.pop("f77")], -1)
        ref["temporal"] = np.concatenate([ref.pop("s128"), ref.pop("s64"), ref.pop("s32")], -1)
    model = models.build("musicnn_vgg" if vgg else "musicnn", weights=name)
    ours = {k: np.asarray(v) for k, v in musicnn.intermediate(model)(log_mels).items()}
    assert set(ours) == set(musicnn.OUTPUTS["vgg" if vgg else "musicnn"]) == set(ref)
    for key, value in ours.items():
        expected = np.reshape(ref[key], value.shape)  # TF1 keeps singleton axes (cnn1: (b, t, 64, 1))
        err = np.abs(value - expected).max()
        assert err <= 1e-4, f"{name} {key}: max |port - original| = {err:.2g} (up to {np.abs(expected).max():.3g})"
    assert np.abs(ours["taggram"]).max() > 0.05  # the tags are not all zero: the weights were loaded


@pytest.mark.parametrize("name", ["MSD_musicnn", "MSD_vgg"])
def test_the_shipped_weights_are_the_wheels(unpacked_wheel, name):
    converted = convert(read_checkpoint(checkpoint_prefix(unpacked_wheel, name)),
                        "vgg" if name.endswith("_vgg") else "musicnn")
    with np.load(musicnn.weights_file(name)) as shipped:
        assert sorted(shipped.files) == sorted(converted)
        for key, value in converted.items():
            assert shipped[key].dtype == np.float32
            np.testing.assert_array_equal(shipped[key], value, err_msg=key)


def test_the_converter_command_writes_the_shipped_weights_and_the_notice(wheel, tmp_path):
    from tfaudio.models.musicnn_convert import main

    assert main([str(wheel), "--out", str(tmp_path / "w"), "--name", "MTT_vgg"]) == 0
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["LICENSE.musicnn", "MTT_vgg.npz"]
    assert (tmp_path / "w" / "LICENSE.musicnn").read_bytes() == (musicnn.WEIGHTS_DIR / "LICENSE.musicnn").read_bytes()
    with np.load(tmp_path / "w" / "MTT_vgg.npz") as new, np.load(musicnn.weights_file("MTT_vgg")) as shipped:
        assert sorted(new.files) == sorted(shipped.files)
        assert all(np.array_equal(new[k], shipped[k]) for k in shipped.files)


def test_the_front_end_is_librosa_log_compressed_mel():
    y = _test_audio(1.0)
    ours = log10_mel(y).numpy()
    S = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96)
    np.testing.assert_allclose(ours, np.log10(10000 * S + 1).T, atol=1e-4)


def test_audio_input_is_the_front_end_then_the_network():
    y = _test_audio()[None, :186 * 256]
    on_audio = models.build("musicnn", weights="MSD_musicnn", input="audio")
    on_features = models.build("musicnn", weights="MSD_musicnn")
    assert on_audio.input_shape == (None, 186 * 256)
    np.testing.assert_allclose(on_audio(y), on_features(log10_mel(y)), atol=1e-5)


def test_musicnn_round_trips_and_takes_any_length(tmp_path, log_mels):
    model = models.build("musicnn", n_frames=None, n_classes=8, multi_label=False)
    assert model.output_shape == (None, 8)
    assert model(log_mels[:, :100]).shape == (2, 8)
    assert_saved_model_equal(model, log_mels, tmp_path)
    vgg = models.build("musicnn_vgg", n_classes=3)
    (tmp_path / "vgg").mkdir()
    assert_saved_model_equal(vgg, log_mels, tmp_path / "vgg")


def test_weights_are_checked():
    from tfaudio.errors import ConfigError

    with pytest.raises(ConfigError, match="weights must be one of"):
        models.build("musicnn", weights="MSD_vgg")
    with pytest.raises(ConfigError, match="n_classes=50"):
        models.build("musicnn", weights="MSD_musicnn", n_classes=8)
    with pytest.raises(ConfigError, match="no layer"):
        musicnn.intermediate(models.build("musicnn"), ["pool5"])


def test_tags_and_intermediate_shapes(log_mels):
    assert len(musicnn.TAGS["MTT_musicnn"]) == len(musicnn.TAGS["MSD_musicnn"]) == 50
    out = musicnn.intermediate(models.build("musicnn", weights="MTT_musicnn"))(log_mels)
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {"timbral": (2, 187, 408), "temporal": (2, 187, 153), "cnn1": (2, 187, 64),
                      "cnn2": (2, 187, 64), "cnn3": (2, 187, 64), "mean_pool": (2, 753), "max_pool": (2, 753),
                      "penultimate": (2, 200), "taggram": (2, 50)}
    keras.backend.clear_session()


# --------------------------------------------------------------------------------------------
# heads on the backbone: every saved form and the stream (issue 21)


def test_head_freezes_the_backbone_and_starts_from_its_weights():
    head = models.build("musicnn_head", backbone="MTT_musicnn", n_classes=4, representation="cnn")
    tagger = models.build("musicnn", weights="MTT_musicnn")
    for name in ("timbral_74_conv", "cnn1", "midend3_conv"):
        assert not head.get_layer(name).trainable
        for a, b in zip(head.get_layer(name).get_weights(), tagger.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert head.get_layer("head_bn").input.shape[-1] == 2 * 3 * 64  # max and mean of cnn1-3
    assert head.get_layer("head_dense").trainable
    frames = models.build("musicnn_head", output="frames", n_classes=4, n_frames=50, trainable="midend")
    assert frames.output_shape == (None, 4, 50)
    assert frames.get_layer("cnn1").trainable and not frames.get_layer("timbral_74_conv").trainable


@pytest.mark.slow
def test_frame_head_every_form_and_the_stream_agree(tmp_path, capsys):
    """An activation head on the backbone exports as SavedModel, TFLite and ONNX (features inside all three),
    `tfaudio predict` gives the same activations for every form, `info` names the backbone and its licence,
    and the stream equals `predict_file`."""
    from tests.fixtures import instrument, write_audio
    from tests.test_deploy import make_run
    from tfaudio import cli
    from tfaudio.deploy import export
    from tfaudio.inference import Stream, StreamOutput, predict_file
    from tfaudio.models.configs import MUSICNN_FEATURES
    from tfaudio.spec import RunSpec
    from tfaudio.deploy.loading import open_model

    keras.utils.set_random_seed(3)
    window = MUSICNN_FEATURES.window_samples(40)
    model = models.build("musicnn_head", output="frames", n_classes=3, n_frames=40, input="audio",
                         head_units=8, representation="cnn")
    run = make_run(tmp_path / "run", model, RunSpec("activation", ("piano", "violin", "flute"), MUSICNN_FEATURES,
                                                    window, model_input="audio"),
                   model_cfg={"name": "musicnn_head", "output": "frames", "backbone": "MSD_musicnn"})
    paths = {"run": run}
    for fmt, name in (("savedmodel", "sm"), ("tflite", "m.tflite"), ("onnx", "m.onnx")):
        paths[fmt], _ = export.export(run, tmp_path / name, fmt)
        assert open_model(paths[fmt]).metadata.get("front_end", "inside") == "inside", fmt
    audio = write_audio(tmp_path / "song.wav", instrument("violin", 3.0, 44100), 44100, "FLOAT")
    acts = {}
    for form, path in paths.items():
        assert cli.main(["predict", str(path), str(audio), "--out", str(tmp_path / form)]) == 0
        acts[form] = np.load(tmp_path / form / "song.npy")
    assert acts["run"].shape == (3, 1 + 3 * 16000 // 256) and acts["run"].std() > 1e-4
    for form, a in acts.items():
        np.testing.assert_allclose(a, acts["run"], atol=1e-4, err_msg=form)
    assert cli.main(["info", str(paths["onnx"])]) == 0
    out = capsys.readouterr().out
    assert "backbone:    MSD_musicnn" in out and "ISC" in out and "log10_mel" in out
    loaded = open_model(run)
    expected = predict_file(loaded.model, loaded.spec, audio)
    stream = Stream(loaded.model, loaded.spec, rate=44100)
    y = instrument("violin", 3.0, 44100)
    got = StreamOutput.concatenate([stream.push(y[i:i + 7000]) for i in range(0, len(y), 7000)] + [stream.flush()])
    np.testing.assert_allclose(got.values, expected.activations.T, atol=1e-5)


def test_fine_tuning_starts_from_the_frozen_run(tmp_path):
    """Frozen backbone first, then its mid end trained: `train.init_from` copies every layer of the first
    model into the second by name and shape (the heads' trained weights included)."""
    from tfaudio.errors import ConfigError
    from tfaudio.training.train import warm_start

    frozen = models.build("musicnn_head", n_classes=3, n_frames=20, head_units=4)
    frozen.get_layer("head_dense").set_weights([w + 1.0 for w in frozen.get_layer("head_dense").get_weights()])
    frozen.save(tmp_path / "frozen.keras")
    tuned = models.build("musicnn_head", n_classes=3, n_frames=20, head_units=4, trainable="midend")
    copied = warm_start(tuned, tmp_path / "frozen.keras")
    assert {"head_dense", "logits", "cnn1", "timbral_74_conv"} <= set(copied)
    for a, b in zip(tuned.get_layer("head_dense").get_weights(), frozen.get_layer("head_dense").get_weights()):
        np.testing.assert_array_equal(a, b)
    assert tuned.get_layer("midend2_conv").trainable
    models.build("cnn_compact", n_classes=3, n_frames=8, n_bins=8, filters=(4,)).save(tmp_path / "other.keras")
    with pytest.raises(ConfigError, match="no layer of the same name"):
        warm_start(tuned, tmp_path / "other.keras")
    with pytest.raises(ConfigError, match="no such"):
        warm_start(tuned, tmp_path / "missing.keras")


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["musicnn_msdb", "musicnn_activations"])
def test_head_pipelines_train_and_evaluate(pipeline, tmp_path, monkeypatch, capsys):
    """The musicnn pipelines train (a few steps, one SoundFont) and evaluate through the CLI."""
    from tfaudio import cli

    monkeypatch.setenv("TFAUDIO_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert cli.main(["train", pipeline, "--out", str(run), "--set", "data.soundfonts=[timgm6mb]",
                     "--set", "data.per_class=3", "--set", "train.epochs=1", "--set", "train.steps_per_epoch=2",
                     "--set", "train.validation_steps=2", "--set", "train.batch_size=4", "--set", "train.verbose=0",
                     "--set", "model.head_units=8"]) == 0
    assert (run / "checkpoints" / "best.keras").is_file()
    extra = ["--mixes", "8"] if pipeline.endswith("activations") else []
    assert cli.main(["evaluate", str(run), "--out", str(tmp_path / "report"), *extra]) == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["n_files" if "n_files" in metrics else "n_examples"] > 0
    assert cli.main(["info", str(run)]) == 0
    assert "backbone:    MTT_musicnn" in capsys.readouterr().out
