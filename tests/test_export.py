"""SavedModel export: signatures, assets, same numbers as `tfaudio predict`, saved_model_cli, atomic writes."""
from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfaudio
from tfaudio.deploy import metadata, savedmodel
from tfaudio import inference
from tfaudio import models
from tfaudio.config import FeatureConfig
from tfaudio.errors import TfaudioError
from tfaudio.spec import RunSpec

from tests.fixtures import instrument, write_audio

SR = 16000
FEAT = FeatureConfig(kind="log_mel", sr=SR, n_fft=512, hop_length=256, n_mels=16, fmax=SR / 2)
FRAMES = 8
WINDOW = FEAT.window_samples(FRAMES)
CLASSES = ("piano", "violin", "flute")


@pytest.fixture(scope="module")
def act_export(tmp_path_factory):
    keras.utils.set_random_seed(4)
    model = models.build("activation_cnn", n_instruments=3, n_frames=FRAMES, features=FEAT, filters=(2, 2, 2))
    spec = RunSpec("activation", CLASSES, FEAT, WINDOW)
    out = savedmodel.export_saved_model(model, spec, tmp_path_factory.mktemp("act") / "exported")
    return model, spec, out, tf.saved_model.load(str(out))


@pytest.fixture(scope="module")
def clf_export(tmp_path_factory):
    keras.utils.set_random_seed(5)
    model = models.build("cnn_small", n_classes=3, n_frames=FRAMES, n_bins=16, features=FEAT, multi_label=True)
    spec = RunSpec("multi_label", CLASSES, FEAT, WINDOW, threshold=0.4)
    out = savedmodel.export_saved_model(model, spec, tmp_path_factory.mktemp("clf") / "exported")
    return model, spec, out, tf.saved_model.load(str(out))


def test_layout_and_assets(act_export):
    _, spec, out, loaded = act_export
    assert (out / "saved_model.pb").is_file() and (out / "variables").is_dir()
    assert (out / "assets" / "classes.txt").read_text().splitlines() == list(CLASSES)
    meta = metadata.load_metadata(out)
    assert meta["sr"] == SR and meta["window"] == WINDOW and meta["hop"] == 4 * 256
    assert meta["hop_length"] == 256 and meta["task"] == "activation" and meta["frames_per_window"] == FRAMES
    assert meta["features"]["n_mels"] == 16 and meta["tfaudio_version"] == tfaudio.__version__
    assert set(loaded.signatures) == {"serving_default", "serve_wav"}
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_waveform_signature_equals_predict(act_export):
    model, spec, _, loaded = act_export
    serve = loaded.signatures["serving_default"]
    for n in (1, 777, WINDOW, 20000):
        y = instrument("violin", n / SR, SR) if n > 1 else np.zeros(1, np.float32)
        out = serve(waveform=tf.constant(y[None]))
        expected = inference.predict_audio(model, spec, y)
        assert out["activations"].shape == (1, 3, 1 + n // 256)
        np.testing.assert_allclose(out["activations"][0].numpy(), expected.activations, atol=1e-5)
        np.testing.assert_allclose(out["frame_times"].numpy(), expected.frame_times, atol=1e-6)
    batch = np.stack([instrument("piano", 0.5, SR), instrument("flute", 0.5, SR)])
    out = serve(waveform=tf.constant(batch))
    for row, y in zip(out["activations"].numpy(), batch):
        np.testing.assert_allclose(row, inference.predict_audio(model, spec, y).activations, atol=1e-5)


def test_wav_signature_equals_predict_file(act_export, tmp_path):
    model, spec, _, loaded = act_export
    stereo = np.stack([instrument("piano", 1.5, 44100), instrument("violin", 1.5, 44100)], 1)
    a = write_audio(tmp_path / "a.wav", stereo, 44100, "PCM_16")
    b = write_audio(tmp_path / "b.wav", instrument("flute", 0.7, 22050), 22050, "FLOAT")
    out = loaded.signatures["serve_wav"](wav=tf.constant([a.read_bytes(), b.read_bytes()]))
    ra, rb = inference.predict_file(model, spec, a), inference.predict_file(model, spec, b)
    frames = out["n_frames"].numpy()
    assert frames.tolist() == [ra.activations.shape[1], rb.activations.shape[1]]
    acts = out["activations"].numpy()
    assert acts.shape == (2, 3, frames.max()) and out["frame_times"].shape == (frames.max(),)
    np.testing.assert_allclose(acts[0, :, :frames[0]], ra.activations, atol=1e-5)
    np.testing.assert_allclose(acts[1, :, :frames[1]], rb.activations, atol=1e-5)
    assert np.all(acts[1, :, frames[1]:] == 0)


def test_clip_signatures(clf_export, tmp_path):
    model, spec, out_dir, loaded = clf_export
    y = instrument("piano", 0.6, SR)
    expected = inference.predict_audio(model, spec, y)
    out = loaded.signatures["serving_default"](waveform=tf.constant(y[None]))
    np.testing.assert_allclose(out["scores"][0].numpy(), expected.scores, atol=1e-5)
    assert out["label"].numpy()[0].decode() == expected.label
    path = write_audio(tmp_path / "c.wav", y, SR, "PCM_24")
    out = loaded.signatures["serve_wav"](wav=tf.constant([path.read_bytes()]))
    np.testing.assert_allclose(out["scores"][0].numpy(), inference.predict_file(model, spec, path).scores, atol=1e-5)
    assert metadata.load_metadata(out_dir)["threshold"] == 0.4


def _cli(*args: str) -> subprocess.CompletedProcess:
    exe = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    cmd = [exe] if os.path.exists(exe) else ["saved_model_cli"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, env=env)


def test_saved_model_cli(act_export, tmp_path):
    _, _, out, _ = act_export
    show = _cli("show", "--all", "--dir", str(out))
    assert show.returncode == 0, show.stderr[-2000:]
    assert "signature_def['serving_default']" in show.stdout and "signature_def['serve_wav']" in show.stdout
    assert "inputs['waveform']" in show.stdout and "outputs['activations']" in show.stdout
    # This TensorFlow's saved_model_cli evaluates --input_exprs as Python literals only (np.zeros(...) is
    # refused before the model is even loaded), so the 22050 zeros go in as a literal list.
    zeros = "[[" + ",".join(["0.0"] * 22050) + "]]"
    run = _cli("run", "--dir", str(out), "--tag_set", "serve", "--signature_def", "serving_default",
               "--input_exprs", f"waveform={zeros}", "--outdir", str(tmp_path / "res"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert np.load(tmp_path / "res" / "activations.npy").shape == (1, 3, 1 + 22050 // 256)
    assert np.load(tmp_path / "res" / "frame_times.npy").shape == (1 + 22050 // 256,)


def test_failed_export_leaves_nothing(act_export, tmp_path, monkeypatch):
    model, spec, _, _ = act_export
    target = tmp_path / "out"

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", boom)
    with pytest.raises(TfaudioError, match="export failed.*disk full"):
        savedmodel.export_saved_model(model, spec, target)
    assert list(tmp_path.iterdir()) == []


def test_refuses_other_folders_and_replaces_saved_models(act_export, tmp_path):
    model, spec, _, _ = act_export
    other = tmp_path / "data"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(TfaudioError, match="refusing to overwrite"):
        savedmodel.export_saved_model(model, spec, other)
    assert (other / "keep.txt").read_text() == "mine"
    out = savedmodel.export_saved_model(model, spec, tmp_path / "m", version="9.9")
    assert metadata.load_metadata(out)["tfaudio_version"] == "9.9"
    savedmodel.export_saved_model(model, spec, out)  # replaces the previous export
    assert metadata.load_metadata(out)["tfaudio_version"] == tfaudio.__version__
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "m"]
    with pytest.raises(TfaudioError, match="activation model"):
        savedmodel.export_saved_model(models.build("cnn_small", n_classes=3, n_frames=FRAMES, n_bins=16, features=FEAT),
                             spec, tmp_path / "wrong")
    assert not (tmp_path / "wrong").exists()


def test_export_from_a_run_folder(tmp_path):
    """The CLI's path: a run folder (.keras checkpoint + run.json) of an audio-input model -> export."""
    from tfaudio.deploy.loading import open_run
    from tfaudio.run_folder import write_spec

    keras.utils.set_random_seed(9)
    model = models.build("activation_cnn", n_instruments=3, n_frames=FRAMES, features=FEAT, filters=(2, 2, 2),
                         input="audio")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    model.save(run / "checkpoints" / "best.keras")
    write_spec(RunSpec("activation", CLASSES, FEAT, WINDOW, model_input="audio"), run)
    loaded_model, spec = open_run(run)
    out = savedmodel.export_saved_model(loaded_model, spec, tmp_path / "exported")
    y = instrument("piano", 0.8, SR)
    got = tf.saved_model.load(str(out)).signatures["serving_default"](waveform=tf.constant(y[None]))
    np.testing.assert_allclose(got["activations"][0].numpy(), inference.predict_audio(model, spec, y).activations,
                               atol=1e-5)
    assert metadata.load_metadata(out)["model_input"] == "audio"
