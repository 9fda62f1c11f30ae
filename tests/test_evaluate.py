"""Evaluation: metrics with known answers, seed 001's noise and leakage matrices, evaluate_run, the report."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfaudio.evaluation import clips, metrics, report
import tfaudio.data.labels
from tfaudio import models
from tfaudio.config import FeatureConfig
from tfaudio.errors import DatasetError, TfaudioError
from tfaudio.spec import RunSpec

from tests.fixtures import instrument

SR = 16000
FEAT = FeatureConfig(kind="log_mel", sr=SR, n_fft=512, hop_length=256, n_mels=16, fmax=SR / 2)
FRAMES = 8
WINDOW = FEAT.window_samples(FRAMES)
CLASSES = ("piano", "violin", "flute")


# ---------------------------------------------------------------------------------------------- clip metrics


def test_single_label_known_answers():
    y = np.array([0, 0, 1, 1, 2, 2])
    perfect = np.eye(3)[y] * 0.8 + 0.05
    m = metrics.classification_metrics("single_label", y, perfect, CLASSES)
    assert m["accuracy"] == 1.0 and m["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    pred = np.array([0, 1, 1, 1, 0, 2])  # one piano taken for violin, one flute for piano
    m = metrics.classification_metrics("single_label", y, np.eye(3)[pred], CLASSES)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]  # rows = true
    assert m["per_class_accuracy"] == {"piano": 0.5, "violin": 1.0, "flute": 0.5}
    m = metrics.classification_metrics("single_label", [0, 0], np.eye(3)[[0, 1]], CLASSES)
    assert m["per_class_accuracy"]["flute"] is None


def test_multi_label_known_answers():
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    m = metrics.classification_metrics("multi_label", y, 0.1 + 0.8 * y, CLASSES)
    assert m["f1_micro"] == m["f1_macro"] == m["lrap"] == m["map"] == 1.0
    scores = np.array([[0.9, 0.6, 0.2], [0.1, 0.7, 0.3], [0.8, 0.2, 0.1], [0.3, 0.1, 0.4]])
    m = metrics.classification_metrics("multi_label", y, scores, CLASSES, threshold=0.5)
    # predicted at 0.5: [1,1,0], [0,1,0], [1,0,0], [0,0,0] -> tp 3, fp 1, fn 3
    assert m["f1_micro"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 3))
    # per class: piano tp2 -> 1.0; violin tp1 fp1 fn1 -> 0.5; flute tp0 -> 0
    assert m["per_class_f1"] == pytest.approx({"piano": 1.0, "violin": 0.5, "flute": 0.0})
    assert m["f1_macro"] == pytest.approx(0.5)
    from sklearn.metrics import label_ranking_average_precision_score
    assert m["lrap"] == pytest.approx(label_ranking_average_precision_score(y, scores))
    assert 0 < m["map"] < 1


# ---------------------------------------------------------------------------------------------- activations


def sequence(n: int = 3, seg: int = 10, level: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Each instrument plays alone for `seg` frames in turn at activation `level`: (reference, playing)."""
    ref = np.zeros((n, n * seg), np.float32)
    for i in range(n):
        ref[i, i * seg:(i + 1) * seg] = level
    return ref, np.repeat(np.arange(n), seg)


def test_noise_and_leakage_on_a_sequence():
    ref, playing = sequence()
    noise = metrics.noise_matrix_db(ref, ref, playing)
    leak = metrics.leakage_matrix_db(ref, ref, playing)
    assert np.all(noise == -60.0)  # perfect prediction: no deviation anywhere
    assert np.all(np.isnan(np.diag(leak))) and np.all(leak[~np.eye(3, dtype=bool)] == -60.0)
    pred = ref.copy()
    pred[2, 0:10] = 0.5  # flute detected at -30 dB while the piano plays
    pred[1, 20:25] = 2 / 3  # violin at -20 dB during half of the flute's solo
    pred[0, 10:20] = 0.5  # the piano at -30 dB while the violin plays
    pred[1, 10:20] = 0.5  # and the violin itself predicted 30 dB too low
    noise = metrics.noise_matrix_db(pred, ref, playing)
    leak = metrics.leakage_matrix_db(pred, ref, playing)
    assert noise[0, 2] == pytest.approx(-30.0) and leak[0, 2] == pytest.approx(-30.0)
    assert noise[2, 1] == pytest.approx(20 * np.log10(0.5 * 0.1)) and leak[2, 1] == pytest.approx(-26.0206, abs=1e-3)
    assert noise[1, 0] == pytest.approx(-30.0) and leak[1, 0] == pytest.approx(-30.0)
    # diagonal of the noise matrix: the playing instrument's own envelope error |1 - 10^-1.5|
    assert noise[1, 1] == pytest.approx(20 * np.log10(1 - 10 ** -1.5))
    assert noise[0, 1] == -60.0 and leak[0, 1] == -60.0
    # leakage is relative to the playing instrument's level; noise is absolute
    quiet, _ = sequence(level=0.5)
    pred_q = quiet.copy()
    pred_q[2, 0:10] = 0.25  # -45 dB while the piano plays at -30 dB
    assert metrics.leakage_matrix_db(pred_q, quiet, playing)[0, 2] == pytest.approx(-15.0)
    assert metrics.noise_matrix_db(pred_q, quiet, playing)[0, 2] == pytest.approx(-45.0)
    # instruments that never play alone have NaN rows
    assert np.all(np.isnan(metrics.noise_matrix_db(ref, ref, np.where(playing == 2, -1, playing))[2]))


def test_playing_per_frame():
    ref, playing = sequence()
    ref[:, 5] = 0  # a silent frame
    ref[:, 15] = 0.7  # everyone at once
    got = metrics.playing_per_frame(ref)
    assert got[5] == -1 and got[15] == -1 and np.all(np.delete(got, [5, 15]) == np.delete(playing, [5, 15]))
    assert np.all(metrics.playing_per_frame(ref, labels=[0, 1, 0]) == 1)
    assert np.all(metrics.playing_per_frame(ref, playing=2) == 2)


def test_activation_metrics_known_answers():
    ref, playing = sequence()
    m = metrics.activation_metrics([ref], [ref], [playing], CLASSES)
    assert m["frame_f1"] == 1.0 and m["bce"] < 1e-5
    pred = np.full_like(ref, 0.4)
    pred[0] = 0.6  # piano "on" everywhere: 10 true positives, 20 false positives, 20 misses
    m = metrics.activation_metrics([pred], [ref], None, CLASSES)
    assert m["frame_f1"] == pytest.approx(2 * 10 / (2 * 10 + 20 + 20))
    expected_bce = -np.mean(ref * np.log(pred) + (1 - ref) * np.log(1 - pred))
    assert m["bce"] == pytest.approx(expected_bce, rel=1e-4)
    assert m["solo_frames"] == {"piano": 10, "violin": 10, "flute": 10}


# ---------------------------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def act():
    keras.utils.set_random_seed(6)
    model = models.build("activation_cnn", n_instruments=3, n_frames=FRAMES, features=FEAT, filters=(2, 2, 2))
    return model, RunSpec("activation", CLASSES, FEAT, WINDOW)


@pytest.fixture(scope="module")
def rendered_sequence():
    """The seed's Sequence1 in miniature: each instrument alone for 0.6 s in turn, and its reference."""
    spec = RunSpec("activation", CLASSES, FEAT, WINDOW)
    ex = clips.sequence_example([instrument(name, 0.6, SR, seed=i) for i, name in enumerate(CLASSES)], [0, 1, 2], spec)
    seg = int(0.6 * SR)
    assert ex["audio"].shape == (3 * seg,) and ex["activations"].shape == (3, 1 + 3 * seg // 256)
    assert np.all(ex["playing"][:seg // 256] == 0) and np.all(ex["playing"][-(seg // 256):] == 2)
    return ex


def test_evaluate_activation_run_and_report(act, rendered_sequence, tmp_path):
    model, spec = act
    ex = rendered_sequence
    history = tmp_path / "history.csv"
    history.write_text("epoch,learning_rate,loss,val_loss\n0,0.001,0.5,0.6\n1,0.001,0.4,0.55\n2,0.0002,0.3,0.5\n")
    metrics, files = clips.evaluate_and_report(model, spec, [ex], tmp_path / "report",
                                           history_csv=history)
    assert metrics["task"] == "activation" and metrics["n_examples"] == 1
    assert metrics["frames"] == ex["activations"].shape[1] and 0 <= metrics["frame_f1"] <= 1 and metrics["bce"] > 0
    noise = np.array(metrics["noise_matrix_db"], float)
    assert noise.shape == (3, 3) and np.all((noise >= -60) & (noise <= 0))
    assert sum(metrics["solo_frames"].values()) == metrics["frames"]  # "playing" given for every frame
    names = sorted(p.name for p in files)
    assert names == ["example_0.png", "leakage_matrix.png", "metrics.json", "noise_matrix.png",
                     "training_curves.png"]
    saved = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert saved["leakage_matrix_db"][0][0] is None and saved["frame_f1"] == metrics["frame_f1"]


def test_evaluate_single_instrument_windows(act):
    """n_min = n_max = 1 mixes as a batched dataset of dicts: features in, "labels" name the instrument."""
    model, spec = act
    windows = np.stack([instrument(n, WINDOW / SR, SR, seed=s)[:WINDOW] for s in range(2) for n in CLASSES])
    labels = np.tile(np.eye(3, dtype=np.float32), (2, 1))
    acts = tfaudio.data.labels.activations(windows[:, None, :] * labels[:, :, None], frame_length=512, hop_length=256).numpy()
    ds = tf.data.Dataset.from_tensor_slices({"features": FEAT.compute(windows).numpy(), "activations": acts,
                                             "labels": labels}).batch(4)
    m = clips.evaluate_run(model, spec, ds)
    assert m["n_examples"] == 6 and m["solo_frames"] == {c: 2 * FRAMES for c in CLASSES}
    # the same through the audio path (one window each: the model's own output)
    m2 = clips.evaluate_run(model, spec, {"audio": windows, "activations": acts, "labels": labels})
    assert m2["bce"] == pytest.approx(m["bce"], abs=1e-5)


def test_evaluate_classifier_run(tmp_path):
    keras.utils.set_random_seed(7)
    model = models.build("cnn_small", n_classes=3, n_frames=FRAMES, n_bins=16, features=FEAT)
    spec = RunSpec("single_label", CLASSES, FEAT, WINDOW)
    x = np.random.default_rng(0).standard_normal((9, FRAMES, 16)).astype(np.float32)
    scores = np.asarray(model(x, training=False))
    y = np.argmax(scores, axis=1)  # labels the model gets right
    m = clips.evaluate_run(model, spec, (x, y))
    assert m["accuracy"] == 1.0 and np.trace(np.array(m["confusion_matrix"])) == 9
    m = clips.evaluate_run(model, spec, (x, np.eye(3)[(y + 1) % 3]))  # one-hot labels, all wrong
    assert m["accuracy"] == 0.0
    files = report.write_report(m, tmp_path)
    assert sorted(p.name for p in files) == ["confusion_matrix.png", "metrics.json"]
    multi = RunSpec("multi_label", CLASSES, FEAT, WINDOW)
    keras.utils.set_random_seed(8)
    mm = models.build("cnn_small", n_classes=3, n_frames=FRAMES, n_bins=16, features=FEAT, multi_label=True)
    audio = np.random.default_rng(1).standard_normal((4, 3000)).astype(np.float32)  # longer than a window
    m = clips.evaluate_run(mm, multi, tf.data.Dataset.from_tensor_slices((audio, np.eye(3)[[0, 1, 2, 0]])).batch(3))
    assert set(m) >= {"f1_micro", "f1_macro", "lrap", "map"} and m["n_examples"] == 4
    assert "per_class_f1.png" in [p.name for p in report.write_report(m, tmp_path / "multi")]


def test_bad_evaluation_input(act):
    model, spec = act
    with pytest.raises(DatasetError, match="empty"):
        clips.evaluate_run(model, spec, [])
    with pytest.raises(DatasetError, match="no 'activations'"):
        clips.evaluate_run(model, spec, {"audio": np.zeros((1, WINDOW), np.float32)})
    with pytest.raises(DatasetError, match="do not match"):
        clips.evaluate_run(model, spec, {"audio": np.zeros((1, WINDOW), np.float32), "activations": np.zeros((1, 3, 5))})
    with pytest.raises(TfaudioError, match="classifier"):
        clips.evaluate_run(model, RunSpec("single_label", CLASSES, FEAT, WINDOW), ([np.zeros(WINDOW)], [0]))
