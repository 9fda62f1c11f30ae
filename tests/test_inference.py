"""Inference: window plan, overlap-add, clip aggregation, streaming files (chunked == whole), writing."""
from __future__ import annotations

import csv
import json
import math

import keras
import numpy as np
import pytest

from tfaudio import models
from tfaudio.io import audio, outputs, resample
from tfaudio.inference import Prediction, ola_weights, predict_audio, predict_file, window_plan, write_prediction
from tfaudio.config import FeatureConfig
from tfaudio.errors import AudioFileError, TfaudioError
from tfaudio.spec import RunSpec

from tests.fixtures import instrument, noise, write_audio, write_bad_files

SR = 16000
FEAT = FeatureConfig(kind="log_mel", sr=SR, n_fft=512, hop_length=256, n_mels=16, fmax=SR / 2)
FRAMES = 8
WINDOW = FEAT.window_samples(FRAMES)  # 1792 samples
CLASSES = ("piano", "violin", "flute")


@pytest.fixture(scope="module")
def act():
    keras.utils.set_random_seed(1)
    model = models.build("activation_cnn", n_instruments=3, n_frames=FRAMES, features=FEAT, filters=(2, 2, 2))
    return model, RunSpec("activation", CLASSES, FEAT, WINDOW)


@pytest.fixture(scope="module")
def clf():
    keras.utils.set_random_seed(2)
    model = models.build("cnn_small", n_classes=3, n_frames=FRAMES, n_bins=16, features=FEAT)
    return model, RunSpec("single_label", CLASSES, FEAT, WINDOW)


def constant_model(value: float, n: int = 3, frames: int = FRAMES, bins: int = 16) -> keras.Model:
    """(batch, frames, bins) -> (batch, n, frames) all equal to `value`."""
    x = keras.Input((frames, bins))
    y = keras.layers.Flatten()(x)
    logit = math.log(value / (1 - value))
    y = keras.layers.Dense(n * frames, kernel_initializer="zeros",
                           bias_initializer=keras.initializers.Constant(logit))(y)
    y = keras.layers.Reshape((n, frames))(y)
    return keras.Model(x, keras.layers.Activation("sigmoid")(y))


# ---------------------------------------------------------------------------------------------- plan


def test_seed_plan_and_weights():
    spec = RunSpec("activation", CLASSES, FeatureConfig(), 15360)
    plan = window_plan(spec)
    assert (plan.window, plan.frames, plan.frame_hop, plan.hop) == (15360, 16, 8, 8192)
    w = ola_weights(16)
    assert np.all(w > 0) and np.allclose(w, w[::-1])
    # at a hop of F/2 the weights of overlapping windows sum to 1 (constant overlap-add)
    assert np.allclose(w[:8] + w[8:], 1.0, atol=1e-6)
    clip = window_plan(RunSpec("single_label", CLASSES, FeatureConfig(), 132300))
    assert clip.hop == 66150 and clip.n_windows(1) == 1 and clip.n_windows(132301) == 2
    # windows reach the last frame of the signal (activation) / the last sample (clips)
    for n in (1, 15360, 15361, 100_000):
        k = plan.n_windows(n)
        assert (k - 1) * plan.frame_hop + plan.frames >= plan.n_frames(n)
        assert k == 1 or (k - 2) * plan.frame_hop + plan.frames < plan.n_frames(n)


def test_constant_prediction_stays_constant():
    spec = RunSpec("activation", CLASSES, FEAT, WINDOW)
    model = constant_model(0.7)
    for n in (1, 1000, WINDOW, 12345):
        r = predict_audio(model, spec, noise(n / SR, SR))
        assert r.activations.shape == (3, 1 + n // 256)
        np.testing.assert_allclose(r.activations, 0.7, atol=1e-6)
        np.testing.assert_allclose(np.diff(r.frame_times), 256 / SR)


def test_overlap_add_matches_numpy_reference(act):
    model, spec = act
    y = instrument("violin", 1.3, SR)
    r = predict_audio(model, spec, y)
    plan = window_plan(spec)
    n = plan.n_windows(len(y))
    padded = np.pad(y, (0, (n - 1) * plan.hop + WINDOW))
    windows = np.stack([padded[j * plan.hop: j * plan.hop + WINDOW] for j in range(n)])
    preds = np.asarray(model(FEAT.compute(windows), training=False))  # (n, 3, F)
    w = ola_weights(FRAMES)
    total = plan.n_frames(len(y))
    num = np.zeros((3, (n - 1) * plan.frame_hop + FRAMES))
    den = np.zeros(num.shape[1])
    for j in range(n):
        num[:, j * plan.frame_hop: j * plan.frame_hop + FRAMES] += preds[j] * w
        den[j * plan.frame_hop: j * plan.frame_hop + FRAMES] += w
    expected = (num / den)[:, :total]
    np.testing.assert_allclose(r.activations, expected, atol=1e-5)


def test_clip_scores_are_mean_of_windows(clf):
    model, spec = clf
    y = instrument("flute", 0.5, SR)  # 8000 samples: 8 windows at hop 896
    r = predict_audio(model, spec, y)
    plan = window_plan(spec)
    n = plan.n_windows(len(y))
    assert r.window_scores.shape == (n, 3) and n == 1 + math.ceil((len(y) - WINDOW) / (WINDOW // 2))
    padded = np.pad(y, (0, WINDOW))
    direct = np.asarray(model(FEAT.compute(np.stack([padded[j * plan.hop: j * plan.hop + WINDOW]
                                                     for j in range(n)])), training=False))
    np.testing.assert_allclose(r.window_scores, direct, atol=1e-5)
    np.testing.assert_allclose(r.scores, direct.mean(axis=0), atol=1e-5)
    assert r.label == CLASSES[int(np.argmax(direct.mean(axis=0)))]


def test_audio_input_model():
    keras.utils.set_random_seed(3)
    model = models.build("activation_cnn", n_instruments=3, n_frames=FRAMES, features=FEAT, filters=(2, 2, 2),
                         input="audio")
    spec = RunSpec("activation", CLASSES, FEAT, WINDOW, model_input="audio")
    y = instrument("piano", 0.4, SR)
    r = predict_audio(model, spec, y)
    assert r.activations.shape == (3, 1 + len(y) // 256)
    first = np.asarray(model(y[None, :WINDOW], training=False))[0]
    # frames 0..3 come from the first window only (the second starts at frame 4)
    np.testing.assert_allclose(r.activations[:, :4], first[:, :4], atol=1e-5)


# ---------------------------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("orig,target,block", [(44100, 16000, 0.37), (22050, 16000, 1.0), (16000, 22050, 0.5),
                                               (16000, 16000, 0.3)])
def test_stream_resampler_equals_whole(orig, target, block):
    x = noise(2.1, orig, seed=orig)
    whole = resample.resample(x, orig, target).numpy()
    r = resample.StreamResampler(orig, target)
    size = int(block * orig)
    parts, peak = [], 0
    for i in range(0, len(x), size):
        parts.append(r.push(x[i:i + size]))
        peak = max(peak, len(r._buf))
    parts.append(r.flush())
    out = np.concatenate(parts)
    assert out.shape == whole.shape
    np.testing.assert_allclose(out, whole, atol=1e-6)
    # memory: the pending block plus the filter context on both sides
    assert peak <= size + 2 * r.context + r.down


def test_predict_file_streams_and_equals_whole(act, tmp_path, monkeypatch):
    model, spec = act
    # ~40 s of stereo 44.1 kHz music, read in 1.3-s blocks
    left = np.concatenate([instrument(n, 10.0, 44100, seed=i) for i, n in enumerate(("piano", "violin"))] * 2)
    right = np.roll(left, 5000) * 0.5
    path = write_audio(tmp_path / "long.wav", np.stack([left, right], 1), 44100, "FLOAT")
    whole_audio, _ = audio.load(path, sr=SR)
    whole = predict_audio(model, spec, whole_audio, source=str(path))

    def no_whole_load(*a, **k):
        raise AssertionError("predict_file must stream, not load the whole file")

    monkeypatch.setattr(audio, "load", no_whole_load)
    chunked = predict_file(model, spec, path, block_seconds=1.3)
    assert chunked.activations.shape == whole.activations.shape == (3, 1 + len(whole_audio) // 256)
    err = np.abs(chunked.activations - whole.activations).max()
    assert err < 1e-4, err
    assert chunked.source == str(path) and chunked.samples == len(whole_audio)


def test_predict_file_clip_mono_same_rate(clf, tmp_path):
    model, spec = clf
    y = instrument("flute", 3.3, SR)
    path = write_audio(tmp_path / "a.flac", y, SR, "PCM_16")
    chunked = predict_file(model, spec, path, block_seconds=0.25, batch_windows=5)
    whole = predict_audio(model, spec, audio.load(path, sr=SR)[0])
    np.testing.assert_allclose(chunked.window_scores, whole.window_scores, atol=1e-5)
    np.testing.assert_allclose(chunked.scores, whole.scores, atol=1e-5)


def test_bad_input(act, clf, tmp_path):
    model, spec = act
    bad = write_bad_files(tmp_path)
    for key in ("missing", "empty", "not_audio", "nan", "truncated", "header_only"):
        with pytest.raises(AudioFileError) as e:
            predict_file(model, spec, bad[key])
        assert str(bad[key]) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(AudioFileError, match="directory"):
        predict_file(model, spec, tmp_path)
    # the wrong model for the task, or for the classes
    with pytest.raises(TfaudioError, match="activation model"):
        predict_audio(clf[0], spec, np.zeros(100, np.float32))
    with pytest.raises(TfaudioError, match="classifier"):
        predict_audio(model, clf[1], np.zeros(100, np.float32))
    with pytest.raises(TfaudioError, match="takes input"):
        predict_audio(model, RunSpec("activation", CLASSES, FEAT, 2 * WINDOW), np.zeros(100, np.float32))


# ---------------------------------------------------------------------------------------------- writing


def test_write_activation_prediction(act, tmp_path):
    model, spec = act
    r = predict_audio(model, spec, instrument("piano", 1.0, SR), source="x.wav")
    files = write_prediction(r, tmp_path, "x", plot=True)
    assert sorted(p.name for p in files) == ["x.csv", "x.npy", "x.png"]
    a = np.load(tmp_path / "x.npy")
    assert a.dtype == np.float32 and a.shape == r.activations.shape
    rows = list(csv.reader(open(tmp_path / "x.csv")))
    assert rows[0] == ["time", *CLASSES] and len(rows) == 1 + a.shape[1]
    assert float(rows[2][0]) == pytest.approx(256 / SR)
    np.testing.assert_allclose(np.array(rows[1:], float)[:, 1:], a.T, atol=1e-6)
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [outputs.MANIFEST]  # no temporary file


def test_write_clip_prediction(clf, tmp_path):
    model, spec = clf
    r = predict_audio(model, spec, instrument("violin", 0.5, SR))
    write_prediction(r, tmp_path, "single", plot=True)
    d = json.loads((tmp_path / "single.json").read_text())
    assert d["label"] == r.label and set(d["scores"]) == set(CLASSES) and "active" not in d
    assert (tmp_path / "single.png").is_file()
    multi = Prediction("multi_label", CLASSES, SR, 256, 8000, threshold=0.5,
                       scores=np.array([0.9, 0.2, 0.6], np.float32),
                       window_scores=np.array([[0.9, 0.2, 0.6]], np.float32))
    write_prediction(multi, tmp_path, "multi")
    d = json.loads((tmp_path / "multi.json").read_text())
    assert d["active"] == ["piano", "flute"] and d["label"] == "piano" and d["threshold"] == 0.5
