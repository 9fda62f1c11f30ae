"""Evaluation a reviewer would accept: whole files scored with windows and aggregation, multi-label IRMAS test
excerpts, thresholds chosen on the validation split at training time, and no silent split substitution."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests import fixtures
from tfaudio import cli
from tfaudio.evaluation.metrics import choose_thresholds, classification_metrics

IRMAS_NAMES = {"vio": "violin", "flu": "flute", "pia": "piano"}
TINY = ["train.epochs=1", "train.steps_per_epoch=2", "train.validation_steps=1", "train.batch_size=4",
        "train.verbose=0"]


def _sets(items):
    return sum([["--set", s] for s in items], [])


@pytest.fixture(scope="module")
def irmas_root(tmp_path_factory) -> Path:
    """IRMAS layout with rendered instruments: training excerpts per class, and test excerpts of 1.3-3.1 s
    (stereo, 44.1 kHz) with 1-3 labels in tab-separated .txt files."""
    root = tmp_path_factory.mktemp("IRMAS")
    for code, inst in IRMAS_NAMES.items():
        for k in range(4):
            y = fixtures.instrument(inst, 1.2, 44100, seed=k)
            fixtures.write_audio(root / "IRMAS-TrainingData" / code / f"{k:03d}__[{code}][nod][cla]0{k}__1.wav", y,
                                 44100, "PCM_16")
    tests = {"a-1": (["vio", "pia"], 2.5), "b-1": (["flu"], 1.3), "c-2": (["pia", "flu", "vio"], 3.1)}
    for stem, (labels, secs) in tests.items():
        y = sum(fixtures.instrument(IRMAS_NAMES[c], secs, 44100, seed=9) for c in labels) / len(labels)
        p = fixtures.write_audio(root / "IRMAS-TestingData-Part1" / "Part1" / f"{stem}.wav", np.stack([y, y], 1),
                                 44100, "PCM_16")
        p.with_suffix(".txt").write_text("".join(f"{c}\t\n" for c in labels))
    return root


@pytest.fixture(scope="module")
def irmas_run(irmas_root, tmp_path_factory, cache):
    """Seed 003's residual FCN trained with only the format and root set (IRMAS's own split names)."""
    run = tmp_path_factory.mktemp("runs") / "rfcn"
    assert cli.main(["train", "avramidis_rfcn_raw", "--out", str(run), "--set", "data.format=irmas",
                     "--set", f"data.root={irmas_root}", "--set", "data.clip_seconds=1.0", *_sets(TINY)]) == 0
    return run


def test_irmas_training_carves_and_records_a_stratified_validation(irmas_run):
    carve = json.loads((irmas_run / "splits.json").read_text())
    held = sorted(Path(p).parent.name for p in carve["validation_files"])
    assert held == ["flu", "pia", "vio"] and carve["training_files"] == 9


def test_thresholds_are_chosen_on_validation_at_training_time(irmas_run):
    spec = json.loads((irmas_run / "run.json").read_text())
    assert len(spec["thresholds"]) == 3 and all(0 <= t <= 1 for t in spec["thresholds"])
    assert "validation split" in spec["threshold_source"]


def test_evaluate_scores_irmas_test_excerpts_whole(irmas_run, irmas_root, tmp_path, capsys):
    out = tmp_path / "rep"
    assert cli.main(["evaluate", str(irmas_run), "--data", str(irmas_root), "--format", "irmas", "--split", "test",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test split" in printed and "lrap" in printed and "validation split" in printed
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_examples"] == 3 and m["n_files"] == 3  # one example per file, however long
    # 22050-sample windows with 50% hop at 22050 Hz, n = 1 + ceil((samples - 22050) / 11025):
    # 2.5 s -> 4, 1.3 s -> 2, 3.1 s -> 6 windows
    assert m["n_windows"] == 4 + 2 + 6
    for k in ("lrap", "map", "f1_micro", "f1_macro"):
        assert 0 <= m[k] <= 1, k
    spec = json.loads((irmas_run / "run.json").read_text())
    assert list(m["thresholds"].values()) == pytest.approx(spec["thresholds"])  # never refitted on test
    assert m["threshold_source"] == spec["threshold_source"]
    assert set(m["per_class"]["pia"]) == {"ap", "f1", "precision", "recall", "support", "threshold"}
    assert m["per_class"]["pia"]["support"] == 2
    for key in ("model", "checkpoint", "data_root", "format", "split", "aggregation", "protocol"):
        assert m[key], key
    assert m["format"] == "irmas" and m["aggregation"].startswith("mean")


def test_max_aggregation_and_a_user_threshold(irmas_run, irmas_root, tmp_path):
    runs = {}
    for agg in ("mean", "max"):
        out = tmp_path / agg
        assert cli.main(["evaluate", str(irmas_run), "--data", str(irmas_root), "--format", "irmas", "--out", str(out),
                         "--aggregate", agg, "--threshold", "0.3"]) == 0
        runs[agg] = json.loads((out / "metrics.json").read_text())
    assert runs["max"]["aggregation"].startswith("max") and runs["mean"]["split"].startswith("test")
    assert runs["max"]["threshold"] == 0.3 and runs["max"]["threshold_source"] == "--threshold"


def test_evaluate_the_test_split_without_data(irmas_run, tmp_path, capsys):
    """--split test reads the run's own test split (IRMAS's "test"), no --data needed."""
    assert cli.main(["evaluate", str(irmas_run), "--split", "test", "--out", str(tmp_path / "r")]) == 0
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["n_files"] == 3
    assert cli.main(["evaluate", str(irmas_run), "--split", "validation", "--out", str(tmp_path / "v")]) == 0
    assert json.loads((tmp_path / "v" / "metrics.json").read_text())["n_files"] == 3  # the recorded carve-out


def test_a_missing_test_split_is_an_error_not_the_validation_split(tmp_path, capsys, cache):
    """Before: evaluate silently fell back to the validation split (the one best.keras was chosen on)."""
    root = tmp_path / "m"
    rows = ["path,label,subset"]
    for i, c in enumerate(("flute", "piano")):
        for k, subset in enumerate(("training", "training", "validation")):
            fixtures.write_audio(root / f"{c}{k}.wav", fixtures.instrument(c, 1.0, 22050, seed=k), 22050, "PCM_16")
            rows.append(f"{c}{k}.wav,{c},{subset}")
    (root / "m.csv").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert cli.main(["train", "goel_lstm", "--out", str(run), *_sets(TINY), "--set", "data.format=csv",
                     "--set", f"data.root={root / 'm.csv'}", "--set", "data.clip_seconds=0.5",
                     "--set", "model.units=[8]"]) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", str(run), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "test split" in err and "'test'" in err and "validation" in err and "\n" not in err
    assert cli.main(["evaluate", str(run), "--split", "validation", "--out", str(tmp_path / "r")]) == 0
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["split"] == "validation split" and m["n_files"] == 2 and "balanced_accuracy" in m


def test_balanced_accuracy_is_the_mean_of_class_recalls():
    y = np.array([0, 0, 0, 0, 1, 2])
    scores = np.eye(3)[[0, 0, 0, 1, 1, 1]]
    m = classification_metrics("single_label", y, scores, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 + 0) / 3)


def test_per_class_thresholds_change_the_decisions():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    s = np.array([[0.4, 0.1], [0.2, 0.9], [0.35, 0.8], [0.1, 0.2]])
    at_half = classification_metrics("multi_label", y, s, ["a", "b"], 0.5)
    per_class = classification_metrics("multi_label", y, s, ["a", "b"], [0.3, 0.5])
    assert at_half["per_class"]["a"]["recall"] == 0 and per_class["per_class"]["a"]["recall"] == 1
    assert per_class["thresholds"] == {"a": 0.3, "b": 0.5} and per_class["threshold"] is None


def test_chosen_thresholds_maximise_f1_between_scores():
    y = np.array([[1], [1], [0], [0], [1]])
    s = np.array([[0.9], [0.6], [0.5], [0.2], [0.7]])
    t = choose_thresholds(y, s)
    assert 0.5 < t[0] <= 0.6  # between the last positive and the first negative score
    assert choose_thresholds(np.zeros((3, 1)), np.ones((3, 1)), default=0.4)[0] == 0.4  # no positives
