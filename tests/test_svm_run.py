"""The SVM baseline as a run like any other: saved with skops (never pickle) behind an explicit trusted-types
list, and `tfaudio evaluate` / `predict` on it; `tfaudio export` refuses it in one line."""
from __future__ import annotations

import io
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from tests import fixtures
from tfaudio import cli
from tfaudio.deploy.loading import open_model
from tfaudio.data import multitrack
from tfaudio.errors import TfaudioError
from tfaudio.models.svm import TRUSTED_TYPES, SVMBaseline, skops_types
from tfaudio.deploy.loading import open_run
from tfaudio.run_folder import svm_checkpoint_path

TINY = ["data.per_class=3", "data.clip_seconds=0.5"]
ERR = "tfaudio: error: "


def _sets(items):
    return sum([["--set", s] for s in items], [])


def _error_line(err: str) -> str:
    """The one `tfaudio: error:` line of stderr (and no traceback)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(ERR)]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def svm_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("TFAUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))
    run = tmp_path_factory.mktemp("runs") / "svm"
    assert cli.main(["train", "majjiga_svm", "--out", str(run), *_sets(TINY)]) == 0
    yield run
    mp.undo()


@pytest.fixture(scope="module")
def audio_file(tmp_path_factory):
    """Two seconds at 22.05 kHz, stereo: predict resamples and downmixes it."""
    mix, _, _ = multitrack.render_sequence(["flute", "violin"], seconds_each=1.0, sr=22050, seed=3)
    return fixtures.write_audio(tmp_path_factory.mktemp("audio") / "a.wav", np.stack([mix, 0.5 * mix], 1), 22050,
                                "PCM_16")


def _copy_run(run: Path, to: Path) -> Path:
    """A run folder with `run`'s run.json and config.json and an empty checkpoints/."""
    (to / "checkpoints").mkdir(parents=True)
    for name in ("run.json", "config.json"):
        shutil.copy(run / name, to / name)
    return to


def _features(model: SVMBaseline, n: int = 12, seed: int = 0) -> np.ndarray:
    cfg = model.config
    return np.random.default_rng(seed).normal(size=(n, cfg.n_frames, cfg.n_bins)).astype(np.float32)


def test_saved_with_skops_and_round_trip_is_identical(svm_run, tmp_path):
    path = svm_checkpoint_path(svm_run)
    assert path == svm_run / "checkpoints" / "best.skops" and path.is_file()
    assert not (svm_run / "checkpoints" / "best.svm").exists()
    data = path.read_bytes()
    assert data[:2] == b"PK"  # a zip of JSON and .npy arrays, not a pickle
    # the trusted list is exactly what our pipeline holds, and skops finds nothing beyond its own defaults
    assert skops_types(data) == set(TRUSTED_TYPES)
    assert set(sio.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)

    model, spec = open_run(svm_run)
    assert isinstance(model, SVMBaseline) and spec.task == "single_label"
    x = _features(model)
    copy = SVMBaseline.load(model.save(tmp_path / "copy.skops"))
    assert copy.config == model.config
    p, q = model.predict(x), copy.predict(x)
    assert p.dtype == np.float32 and p.shape == (len(x), len(spec.classes))
    np.testing.assert_array_equal(p, q)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    # saved through tfaudio.io.outputs.write_bytes: no temporary file left beside it
    assert sorted(os.listdir(tmp_path)) == ["copy.skops"]


def test_trusted_list_refuses_another_type(svm_run, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model, _ = open_run(svm_run)
    x = model.summarise(_features(model))
    other = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, np.arange(len(x)) % 2)
    state = {"format": "tfaudio-svm", "version": "1", "config": json.dumps(model.get_config()), "pipeline": other}
    data = sio.dumps(state)
    assert sio.get_untrusted_types(data=data) == []  # skops trusts every sklearn estimator: our list is what refuses
    bad = tmp_path / "other.skops"
    bad.write_bytes(data)
    with pytest.raises(TfaudioError) as e:
        SVMBaseline.load(bad)
    line = str(e.value)
    assert "\n" not in line and "sklearn.linear_model._logistic.LogisticRegression" in line and "refused" in line


def test_old_pickle_is_refused_without_unpickling(svm_run, tmp_path, audio_file, capsys):
    marker = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    payload = pickle.dumps({"config": {}, "pipeline": Trap()})
    run = _copy_run(svm_run, tmp_path / "old")
    (run / "checkpoints" / "best.svm").write_bytes(payload)
    with pytest.raises(TfaudioError) as e:
        open_run(run)
    assert "saved with pickle by an older tfaudio" in str(e.value) and "retrain" in str(e.value)
    assert "\n" not in str(e.value)
    assert cli.main(["predict", str(run), str(audio_file), "--out", str(tmp_path / "pred")]) == 2
    assert "pickle" in _error_line(capsys.readouterr().err)
    assert not marker.exists()
    # under another name too: a pickle is recognised by its bytes, not its suffix
    (run / "checkpoints" / "best.svm").unlink()
    (run / "checkpoints" / "best.skops").write_bytes(payload)
    with pytest.raises(TfaudioError, match="pickle"):
        open_run(run)
    assert not marker.exists()
    pickle.loads(payload)  # the trap is real: unpickling it would have made the marker
    assert marker.is_dir()


def test_evaluate_and_predict_an_svm_run(svm_run, audio_file, tmp_path, capsys):
    capsys.readouterr()
    n = len(open_run(svm_run)[1].classes)
    for extra, name in (([], "report"), (["--split", "test"], "report_test")):
        out = tmp_path / name
        assert cli.main(["evaluate", str(svm_run), "--out", str(out), *extra]) == 0
        assert "accuracy" in capsys.readouterr().out
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["task"] == "single_label" and metrics["n_examples"] > 0
        assert 0 <= metrics["accuracy"] <= 1
        assert np.array(metrics["confusion_matrix"]).shape == (n, n)
        assert (out / "confusion_matrix.png").is_file()

    out = tmp_path / "pred"
    assert cli.main(["predict", str(svm_run), str(audio_file), "--out", str(out)]) == 0
    result = json.loads((out / "a.json").read_text())
    scores = np.array(list(result["scores"].values()))
    assert result["label"] == max(result["scores"], key=result["scores"].get)
    assert result["windows"] == 7  # 2 s, 0.5-s windows at 50 % hop
    assert abs(scores.sum() - 1) < 1e-4


def test_inference_is_the_window_plan_and_evaluation_takes_feature_batches(svm_run):
    """Window scores are the SVM's scores of each window's features, averaged; `collect_predictions` also
    takes `(batch, frames, bins)` feature batches (pipeline.class_dataset) like a Keras classifier's."""
    from tfaudio.data import pipeline
    from tfaudio.evaluation.clips import collect_predictions
    from tfaudio.inference import predict_audio, window_plan

    model, spec = open_run(svm_run)
    y = np.random.default_rng(1).normal(scale=0.1, size=int(1.3 * spec.window)).astype(np.float32)
    result = predict_audio(model, spec, y)
    plan = window_plan(spec)
    starts = range(0, plan.n_windows(len(y)) * plan.hop, plan.hop)
    windows = np.stack([np.pad(y[s:s + spec.window], (0, max(0, s + spec.window - len(y)))) for s in starts])
    want = model.predict(np.asarray(spec.features.compute(windows)))
    np.testing.assert_allclose(result.window_scores, want, atol=1e-5)
    np.testing.assert_allclose(result.scores, want.mean(axis=0), atol=1e-5)

    from tfaudio.data.sources import split_records

    cfg = open_model(svm_run).experiment()
    ds = pipeline.class_dataset(split_records(cfg, "test"), spec.classes, sr=spec.sr, window=spec.window,
                            min_rms_db=cfg.data.min_rms_db, features=spec.features, batch_size=32, shuffle=None,
                            label_mode="int", cache=None)
    collected = collect_predictions(model, spec, ds)
    x, labels = map(np.concatenate, zip(*ds.as_numpy_iterator()))
    np.testing.assert_array_equal(collected.predicted, model.predict(x))
    np.testing.assert_array_equal(collected.reference, labels)


def test_export_refuses_in_one_line(svm_run, tmp_path, capsys):
    out = tmp_path / "sm"
    assert cli.main(["export", str(svm_run), "--out", str(out)]) == 2
    line = _error_line(capsys.readouterr().err)
    assert "SavedModel needs a Keras model" in line
    assert not out.exists() and os.listdir(tmp_path) == []


def test_skops_types_refuses_a_file_that_is_not_skops(tmp_path):
    with pytest.raises(TfaudioError, match="not a tfaudio SVM file"):
        SVMBaseline.from_bytes(b"PK\x03\x04 broken zip", "x.skops")
    with pytest.raises(TfaudioError, match="not a skops file"):
        skops_types(io.BytesIO(b"not a zip").getvalue())
