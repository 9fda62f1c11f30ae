"""Experiment configs and `tfaudio train`, at tiny sizes on the built-in corpus."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from tfaudio import cli
from tfaudio.errors import ConfigError
from tfaudio.experiment import apply_overrides, experiment_from_dict, load_experiment, read_yaml
from tfaudio.deploy.loading import open_run
from tfaudio.run_folder import read_spec

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))

TINY = ["data.per_class=3", "train.epochs=2", "train.steps_per_epoch=3", "train.validation_steps=2",
        "train.batch_size=4", "train.verbose=0"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TFAUDIO_CACHE", str(tmp_path_factory.getbasetemp() / "tfaudio-cache"))
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_every_pipeline_validates():
    names = {p.stem for p in PIPELINES}
    assert {"neuroment_mel", "neuroment_cqt", "neuroment_stft"} <= names
    for prefix in ("goel_", "avramidis_", "majjiga_"):
        assert any(n.startswith(prefix) for n in names)
    for path in PIPELINES:
        cfg = load_experiment(path)
        assert cfg.data.format == "corpus" and cfg.data.root is None, path  # runs on the built-in corpus
        assert cfg.name == path.stem


def test_seed001_defaults():
    cfg = load_experiment(ROOT / "pipelines" / "neuroment_mel.yaml")
    t = cfg.train
    assert (t.learning_rate, t.weight_decay, t.lr_factor, t.lr_patience, t.min_lr, t.batch_size) == \
        (1e-3, 1e-3, 0.2, 8, 1e-5, 32)
    assert (cfg.mix.n_min, cfg.mix.n_max, cfg.mix.level_mean, cfg.mix.level_var) == (1, 4, 0.5, 0.01)
    assert cfg.features.n_frames(cfg.mix.window) == 16


def test_overrides_and_clear_errors():
    path = ROOT / "pipelines" / "neuroment_mel.yaml"
    cfg = load_experiment(path, ["train.epochs=3", "data.root=/data/x", "data.format=medley_solos_db",
                                 "model.name=activation_cnn", "train.batch_size=8", "features.kind=cqt"])
    assert (cfg.train.epochs, cfg.data.root, cfg.train.batch_size, cfg.features.kind) == (3, "/data/x", 8, "cqt")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['train.epoch'\]"):
        load_experiment(path, ["train.epoch=3"])
    with pytest.raises(ConfigError, match="train.epochs: expected int, got 'many'"):
        load_experiment(path, ["train.epochs=many"])
    with pytest.raises(ConfigError, match="train.batch_size must be >= 1"):
        load_experiment(path, ["train.batch_size=0"])
    with pytest.raises(ConfigError, match="data.format 'wav' is not one of"):
        load_experiment(path, ["data.format=wav"])
    with pytest.raises(ConfigError, match="model.name 'vgg' is not one of"):
        load_experiment(path, ["model.name=vgg"])
    with pytest.raises(ConfigError, match="unknown config key"):
        load_experiment(path, ["model.units=3"])
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides(read_yaml(path), ["train.epochs"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_experiment(ROOT / "pipelines" / "nope.yaml")


@pytest.mark.parametrize("section, words", [
    ({"features": {"n_mels": "many"}}, "features.n_mels: expected int, got 'many'"),
    ({"model": {"name": "activation_cnn", "features": {"n_mels": "many"}}},
     "model 'activation_cnn': features.n_mels: expected int, got 'many'"),  # a nested dataclass from a mapping
    ({"augment": {"reverb_rt60": [0.3]}}, "augment.reverb_rt60: expected tuple[float, float], got [0.3]"),
    ({"model": {"name": "activation_cnn", "pools": [2, True, 4]}},
     "model 'activation_cnn': pools: expected tuple[int, ...], got [2, True, 4]"),
    ({"train": {"epochs": True}}, "train.epochs: expected int, got True"),
    ({"train": {"steps_per_epoch": False}}, "train.steps_per_epoch: expected int | None, got False"),
    ({"features": {"n_mel": 64}}, "unknown key(s) ['features.n_mel']; features has"),
    ({"model": {"name": "activation_cnn", "features": {"n_mel": 64}}}, "unknown key(s) ['features.n_mel']"),
    ({"mix": {"n_min": None}}, "mix.n_min: null is not allowed here (expected int)"),
])
def test_the_validator_names_the_key_in_one_line(section, words):
    with pytest.raises(ConfigError) as e:
        experiment_from_dict({"name": "x", "task": "activation", "model": {"name": "activation_cnn"}, **section})
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_validator_coerces_mildly():
    cfg = experiment_from_dict({"name": "x", "task": "activation", "train": {"learning_rate": 1, "epochs": 2.0},
                                "model": {"name": "activation_cnn", "pools": [2.0, 2, 4], "features": {"n_mels": 64}},
                                "augment": {"reverb_rt60": [1, 2]}, "data": {"soundfonts": ["a", "b"]}})
    assert type(cfg.train.learning_rate) is float and type(cfg.train.epochs) is int and cfg.train.epochs == 2
    assert cfg.augment.reverb_rt60 == (1.0, 2.0) and cfg.data.soundfonts == ("a", "b")
    from tfaudio import models

    model = models.model_config("activation_cnn", **{k: v for k, v in cfg.model.items() if k != "name"})
    assert model.pools == (2, 2, 4) and type(model.pools[0]) is int and model.features.n_mels == 64


def test_cli_refuses_bad_config_before_any_work(tmp_path, capsys):
    rc = cli.main(["train", "neuroment_mel", "--out", str(tmp_path / "run"), "--set", "train.epochs=-1"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.epochs" in err[0]
    assert not (tmp_path / "run").exists()


def _history(run: Path) -> list[dict]:
    return list(csv.DictReader((run / "history.csv").open()))


def test_train_activation_cnn_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    rc = cli.main(["train", "neuroment_mel", "--out", str(run), *sum([["--set", s] for s in TINY], []),
                   "--set", "mix.n_max=2"])
    assert rc == 0
    assert "run written to" in capsys.readouterr().out
    for name in ("run.json", "config.json", "history.csv", "checkpoints/best.keras", "checkpoints/last.keras"):
        assert (run / name).is_file(), name
    assert any((run / "logs").rglob("events.out.tfevents*"))
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["epochs"] == 2 and cfg["model"]["name"] == "activation_cnn"
    spec = read_spec(run)
    assert spec.task == "activation" and len(spec.classes) == 8 and spec.window == 15360
    model, _ = open_run(run)
    assert model.output.shape == (None, 8, 16)
    assert [int(r["epoch"]) for r in _history(run)] == [0, 1]
    # a second train into the same folder is refused; --resume extends it
    assert cli.main(["train", "neuroment_mel", "--out", str(run), *sum([["--set", s] for s in TINY], [])]) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli.main(["train", "neuroment_mel", "--out", str(run), "--resume",
                     *sum([["--set", s] for s in TINY], []), "--set", "mix.n_max=2", "--set", "train.epochs=3"]) == 0
    assert [int(r["epoch"]) for r in _history(run)] == [0, 1, 2]


def test_train_single_label_and_multi_label(tmp_path):
    tiny = sum([["--set", s] for s in TINY], [])
    run = tmp_path / "lstm"
    assert cli.main(["train", "goel_lstm", "--out", str(run), *tiny, "--set", "data.clip_seconds=0.5",
                     "--set", "model.units=[8]"]) == 0
    spec = read_spec(run)
    assert spec.task == "single_label" and spec.model_input == "features"
    hist = _history(run)
    assert "accuracy" in hist[0] and "val_accuracy" in hist[0]
    run = tmp_path / "fcn"
    assert cli.main(["train", "avramidis_fcn_raw", "--out", str(run), *tiny, "--set", "data.clip_seconds=0.5",
                     "--set", "model.filters=[4,4]"]) == 0
    spec = read_spec(run)
    assert spec.task == "multi_label" and spec.model_input == "audio" and spec.window == 11025
    model, _ = open_run(run)
    assert model.output.shape == (None, 8)


def test_train_svm_baseline(tmp_path):
    run = tmp_path / "svm"
    assert cli.main(["train", "majjiga_svm", "--out", str(run), "--set", "data.per_class=3",
                     "--set", "data.clip_seconds=0.5"]) == 0
    metrics = json.loads((run / "svm_metrics.json").read_text())
    assert 0 <= metrics["val_accuracy"] <= 1 and metrics["train_accuracy"] > 0.5
    assert (run / "checkpoints" / "best.skops").exists()


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_epoch(tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    args = [sys.executable, "-m", "tfaudio", "train", "neuroment_mel", "--out", str(run),
            *sum([["--set", s] for s in TINY], []), "--set", "train.epochs=40", "--set", "mix.n_max=2"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            if (run / "history.csv").is_file() and len(_history(run)) >= 3:
                break
            if proc.poll() is not None:
                pytest.fail("training ended before it could be killed")
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    before = _history(run)
    done = len(before)
    assert 3 <= done < 40 and (run / "backup").exists()
    resume = args[:-4] + ["--set", f"train.epochs={done + 2}", "--set", "mix.n_max=2", "--resume"]
    subprocess.run(resume, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = _history(run)
    assert [int(r["epoch"]) for r in after] == list(range(done + 2))  # contiguous: no gap, no repeat
    # it went on from where it was killed (the last epoch may be redone), not from 0
    assert after[:done - 1] == before[:done - 1]
    assert not np.isnan(float(_history(run)[-1]["loss"]))


def test_backup_is_written_atomically(tmp_path):
    """A run killed while its backup is being saved keeps the previous, intact backup."""
    from tfaudio.training.callbacks import atomic_backup

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    cb = atomic_backup(tmp_path / "backup")
    cb.set_model(model)
    cb.on_epoch_end(0)
    good = (tmp_path / "backup" / "latest.weights.h5").read_bytes()

    def dies_midway(filepath, overwrite=True):
        Path(filepath).write_bytes(b"\x89HDF half a file")
        raise KeyboardInterrupt

    model.save_weights = dies_midway
    with pytest.raises(KeyboardInterrupt):
        cb.on_epoch_end(1)
    assert (tmp_path / "backup" / "latest.weights.h5").read_bytes() == good
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text())["epoch"] == 1


def test_backup_subclass_relies_only_on_what_this_keras_has(tmp_path):
    """`atomic_backup` subclasses `keras.callbacks.BackupAndRestore` and replaces how it writes (Keras writes
    the backup in place; its public `double_checkpoint` keeps a copy but still writes in place, and is not in
    every Keras of the supported range). The subclass uses these private names: if a Keras release renames
    them, this fails before any run does."""
    import inspect

    cb = keras.callbacks.BackupAndRestore(str(tmp_path / "b"))
    for name in ("_weights_path", "_training_metadata_path", "_current_epoch", "_last_batch_seen", "backup_dir"):
        assert hasattr(cb, name), name
    assert "_save_model" in inspect.getsource(keras.callbacks.BackupAndRestore.on_epoch_end)
    assert "_weights_path" in inspect.getsource(keras.callbacks.BackupAndRestore._load_model)
