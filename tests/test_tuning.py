"""KerasTuner hypermodels (`tuning.hypermodels`) and `tfaudio tune` (`tuning.search`), at tiny sizes."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest

from tfaudio import cli, models
from tfaudio.errors import ConfigError
from tfaudio.experiment import load_experiment
from tfaudio.deploy.loading import open_run
from tfaudio.run_folder import read_spec
from tuning import hypermodels
from tuning import results, search

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))
CLASSES = [f"class{i}" for i in range(8)]
TINY = ["data.per_class=3", "train.epochs=1", "train.steps_per_epoch=2", "train.validation_steps=2",
        "train.batch_size=4", "train.verbose=0"]
# a small activation CNN on log-mel: what the search tests train
SMALL_ACT = {"features": "log_mel", "conv_pairs": 2, "filters": 8}


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TFAUDIO_CACHE", str(tmp_path_factory.getbasetemp() / "tfaudio-cache"))
    for k in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(k, raising=False)
    yield
    keras.mixed_precision.set_global_policy("float32")


def _cfg(name: str, *overrides: str):
    return load_experiment(ROOT / "pipelines" / f"{name}.yaml", [*TINY, *overrides])


def _hm(name: str, *overrides: str, **kw) -> hypermodels.TfaudioHyperModel:
    return hypermodels.hypermodel_for(_cfg(name, *overrides), CLASSES, **kw)


# ---------------------------------------------------------------------------------------------
# hypermodels


def test_every_keras_model_has_a_hypermodel():
    keras_models = [m for m in models.available() if m != "svm"]
    assert sorted(hypermodels.HYPERMODELS) == sorted(keras_models)
    assert {cls.family for cls in hypermodels.FAMILIES} == {"rnn", "image_cnn", "cnn_lstm", "activation_cnn", "bigru_raw",
                                                  "raw_cnn", "transformer", "resnet", "cnn_small", "cnn_compact",
                                                  "musicnn"}
    with pytest.raises(ConfigError, match="scikit-learn baseline"):
        hypermodels.hypermodel_class("svm")
    with pytest.raises(ConfigError, match="no hypermodel for model 'vgg'"):
        hypermodels.hypermodel_class("vgg")


# the seeds' experiments (the pretrained_* recipes are not a seed's settings)
@pytest.mark.parametrize("path", [p for p in PIPELINES if "svm" not in p.stem
                                  and not p.stem.startswith("pretrained_")], ids=lambda p: p.stem)
def test_defaults_are_the_seeds_settings(path):
    """The default trial (an empty HyperParameters) is the seed's model, learning rate, front end and
    mixing; every searched hyperparameter has a default inside its range."""
    cfg = load_experiment(path)
    hm = hypermodels.hypermodel_for(cfg, CLASSES)
    hp = kt.HyperParameters()
    d = hm.config_for(hp)
    seed = models.model_config(cfg.model_name)
    for field, value in hm.model_space(kt.HyperParameters()).items():
        assert d.model[field] == getattr(seed, field), (cfg.model_name, field)
    assert d.train.learning_rate == 1e-3
    if hm.feature_kinds:
        assert d.features.kind == hm.feature_kinds[0]
    if cfg.task in ("activation", "multi_label"):
        assert (d.mix.n_max, d.mix.level_mean, d.mix.level_var) == (4, 0.5, 0.01)  # seed 001 §4.1.3
    else:
        assert d.mix == cfg.mix and not any(n.startswith("mix_") for n in hm.hyperparameter_names())
    for p in hp.space:
        assert p.default is not None and hp.values[p.name] == p.default
    # what the search does not touch stays at the experiment's values
    assert (d.train.epochs, d.train.batch_size, d.data, d.augment) == (cfg.train.epochs, cfg.train.batch_size,
                                                                       cfg.data, cfg.augment)


def test_seed_defaults_spelled_out():
    d = _hm("neuroment_cqt").config_for(kt.HyperParameters())
    m = d.model
    assert (m["filters"], m["kernel_sizes"], m["pools"], m["dropout_after"], m["spatial_dropout"]) == \
        ((16, 32, 64), (3, 5, 7), (2, 2, 4), (1, 2), 0.1)
    assert d.features.kind == "log_mel"  # the seed's front end, though this pipeline trains on CQT
    assert _hm("goel_lstm").config_for(kt.HyperParameters()).model["units"] == (128,)
    assert _hm("avramidis_rcnn_raw").config_for(kt.HyperParameters()).model["gru_units"] == (128,)
    t = _hm("majjiga_transformer").config_for(kt.HyperParameters()).model
    assert (t["n_layers"], t["n_heads"], t["d_model"], t["d_ff"], t["dropout"]) == (3, 8, 128, 256, 0.1)
    r = _hm("majjiga_resnet18").config_for(kt.HyperParameters()).model
    assert (r["widths"], r["blocks"], r["stem_kernel"]) == ((64, 128, 256, 512), (2, 2, 2, 2), 7)
    # the default build is the seed's activation CNN (seed 001: 1.39 M weights on log-mel)
    model = _hm("neuroment_mel").build(kt.HyperParameters())
    assert model.count_params() == 1_390_832 and model.optimizer is not None
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)


def test_search_spaces():
    names = {p.stem: hypermodels.hypermodel_for(load_experiment(p), CLASSES).hyperparameter_names()
             for p in PIPELINES if "svm" not in p.stem}
    for stem, hps in names.items():
        assert "learning_rate" in hps, stem
        if "resnet" not in stem:  # ResNet-18 has no dropout
            assert any("dropout" in n for n in hps), stem
        assert any(n in hps for n in ("rnn_layers", "conv_blocks", "conv_pairs", "conv_cells", "gru_layers",
                                      "n_layers", "stages", "head_layers")), stem  # a depth
    assert {"conv_pairs", "filters", "kernel_size", "kernel_growth", "spatial_dropout", "features", "mix_n_max",
            "mix_level_mean", "mix_level_var"} <= set(names["neuroment_mel"])
    assert {"frame_length", "gru_units", "mix_n_max"} <= set(names["avramidis_bigru_raw"])
    assert "dense_units" in names["avramidis_dcnn_raw"] and "gru_units" in names["avramidis_rcnn_raw"]
    assert "features" not in names["goel_cnn_stacked"] and "features" in names["goel_cnn_lstm"]
    assert {"backbone", "trainable", "representation", "head_layers", "head_units"} <= set(names["musicnn_msdb"])


@pytest.mark.parametrize("name", ["neuroment_mel", "goel_gru", "goel_cnn_mrp", "goel_cnn_lstm", "avramidis_rcnn_raw",
                                  "avramidis_dcnn_raw", "avramidis_bigru_raw", "majjiga_transformer",
                                  "majjiga_resnet18", "majjiga_cnn_small"])
def test_random_trials_are_valid_and_build(name):
    """Random points of every family's space are valid experiments; one of them builds and predicts."""
    hm = _hm(name, "data.clip_seconds=0.5")
    space = kt.HyperParameters()
    hm.config_for(space)
    for i in range(6):
        hp = space.copy()
        for p in space.space:
            hp.values[p.name] = p.random_sample(1000 * i + len(p.name))
        cfg = hm.config_for(hp)
        models.model_config(cfg.model_name, **{k: v for k, v in cfg.model.items() if k != "name"})
    model = hm.build(hp)
    x = np.zeros((1, *model.inputs[0].shape[1:]), np.float32)
    assert np.all(np.isfinite(model.predict(x, verbose=0)))
    keras.backend.clear_session()


def test_fixed_arguments_are_validated():
    cfg = _cfg("neuroment_mel")
    with pytest.raises(ConfigError, match="cfg must be an ExperimentConfig"):
        hypermodels.ActivationCNNHyperModel(cfg.to_dict(), CLASSES)
    with pytest.raises(ConfigError, match=r"RNNHyperModel tunes \['simple_rnn', 'gru', 'lstm', 'bilstm'\], "
                                          r"not model 'activation_cnn'"):
        hypermodels.RNNHyperModel(cfg, CLASSES)
    with pytest.raises(ConfigError, match="does not do task 'single_label'"):
        hypermodels.hypermodel_for(dataclasses.replace(cfg, task="single_label"), CLASSES)
    for bad in ([], "piano", ["a", "a"], ["a", ""]):
        with pytest.raises(ConfigError, match="classes must be"):
            hypermodels.hypermodel_for(cfg, bad)
    with pytest.raises(ConfigError, match="data must be"):
        hypermodels.hypermodel_for(cfg, CLASSES, data=([], None))
    with pytest.raises(ConfigError, match=r"unknown hyperparameter\(s\) \['units'\] to fix; activation_cnn searches"):
        hypermodels.hypermodel_for(cfg, CLASSES, fixed={"units": 8})
    with pytest.raises(ConfigError, match="must be a bool, int, float or string"):
        hypermodels.hypermodel_for(cfg, CLASSES, fixed={"filters": [8, 16]})
    with pytest.raises(ConfigError, match="the default trial .* is not a valid experiment"):
        hypermodels.hypermodel_for(_cfg("majjiga_transformer"), CLASSES, fixed={"n_heads": 3})  # 128 % 3
    with pytest.raises(ConfigError, match="needs data"):
        hm = hypermodels.hypermodel_for(cfg, CLASSES, fixed=SMALL_ACT)
        hm.fit(kt.HyperParameters(), hm.build(kt.HyperParameters()))
    # fixing holds the value even outside the searched values, and only for that hyperparameter
    hm = hypermodels.hypermodel_for(_cfg("goel_gru"), CLASSES, fixed={"units": 8, "features": "log_mel"})
    d = hm.config_for(kt.HyperParameters())
    assert d.model["units"] == (8,) and d.features.kind == "log_mel" and d.model["dropout"] == 0.3


def test_search_settings_are_validated(monkeypatch):
    with pytest.raises(ConfigError, match="tuner 'grid' is not one of"):
        search.SearchConfig(tuner="grid")
    with pytest.raises(ConfigError, match="max_trials must be a positive integer"):
        search.SearchConfig(max_trials=0)
    assert search.parse_fixed(["units=8", "features=log_mel", "dropout=0.25"]) == \
        {"units": 8, "features": "log_mel", "dropout": 0.25}
    with pytest.raises(ConfigError, match="expected NAME=VALUE"):
        search.parse_fixed(["units"])
    with pytest.raises(ConfigError, match="must be a number, a boolean or a string"):
        search.parse_fixed(["units=[8, 16]"])
    cfg = _cfg("neuroment_mel")
    assert search.objective_for(cfg).name == "val_loss" and search.objective_for(cfg).direction == "min"
    single = _cfg("goel_gru")
    assert search.objective_for(single, "val_accuracy").direction == "max"
    assert search.objective_for(single, validation=False).name == "loss"
    with pytest.raises(ConfigError, match="objective 'val_accuracy' is not a metric of task 'activation'"):
        search.objective_for(cfg, "val_accuracy")
    assert search.role() == "single"
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    with pytest.raises(ConfigError, match="KERASTUNER_TUNER_ID"):
        search.role()
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert search.role() == "chief"
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner1")
    assert search.role() == "worker"


def test_cli_refuses_bad_settings_before_any_work(tmp_path, capsys):
    out = tmp_path / "search"
    for extra, message in ((["--fix", "units=8"], "unknown hyperparameter"),
                           (["--objective", "val_accuracy"], "not a metric of task"),
                           (["--fix", "units"], "expected NAME=VALUE")):
        assert cli.main(["tune", "neuroment_mel", "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert cli.main(["tune", "majjiga_svm", "--out", str(out)]) == 2
    assert "scikit-learn baseline" in capsys.readouterr().err
    assert not out.exists()
    assert not (Path(os.environ["TFAUDIO_CACHE"]) / "corpus-v2-sr44100-n40-seed0").exists()  # nothing rendered
    with pytest.raises(SystemExit):
        cli.main(["tune", "neuroment_mel", "--out", str(out), "--tuner", "grid"])


# ---------------------------------------------------------------------------------------------
# the results table


def _trial(trial_id: str, score, status="COMPLETED", **values):
    hp = kt.HyperParameters()
    for k, v in values.items():
        hp.Fixed(k, v)
    t = kt.engine.trial.Trial(hp, trial_id=trial_id, status=status)
    t.score = score
    t.best_step = 0 if score is not None else None
    return t


def test_results_table_sorted_by_objective(tmp_path):
    trials = [_trial("0", 0.5, lr=0.1), _trial("1", None, status="FAILED", lr=0.2), _trial("2", 0.2, lr=0.3),
              _trial("3", 0.9, lr=0.4, units=8)]
    records = {"2": {"runs": [{"tuner": "tuner1", "seconds": 1.5, "outcome": "completed"}]}}
    rows = results.rows_from_trials(trials, "val_loss", "min", records)
    assert [r["trial"] for r in rows] == ["2", "0", "3", "1"] and [r["rank"] for r in rows] == [1, 2, 3, None]
    assert rows[0]["tuner"] == "tuner1" and rows[0]["best_epoch"] == 1
    assert [r["trial"] for r in results.rows_from_trials(trials, "val_auc", "max")] == ["3", "0", "2", "1"]
    csv_path, md_path = results.write_tables(rows, "val_loss", tmp_path, title="t")
    table = list(csv.DictReader(csv_path.open()))
    assert list(table[0]) == ["rank", "trial", "status", "val_loss", "lr", "units", "best_epoch", "tuner", "seconds"]
    assert [r["trial"] for r in table] == ["2", "0", "3", "1"] and table[3]["val_loss"] == ""
    md = md_path.read_text().splitlines()
    assert md[0] == "# t" and md[2].startswith("| rank | trial | status | val_loss | lr | units |")
    assert md[4].startswith("| 1 | 2 | COMPLETED | 0.2 | 0.3 |") and len(md) == 8


# ---------------------------------------------------------------------------------------------
# searches


def _fix_args(fixed: dict) -> list[str]:
    return sum([["--fix", f"{k}={v}"] for k, v in fixed.items()], [])


def _runs(out: Path) -> dict[str, list[dict]]:
    return {k: v["runs"] for k, v in search.read_records(out / "tuner").items()}


def _counting_clear_session(monkeypatch) -> list:
    calls: list = []
    real = keras.backend.clear_session

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(keras.backend, "clear_session", counting)
    return calls


def test_tune_cli_writes_results_exports_and_resumes(tmp_path, capsys, monkeypatch):
    calls = _counting_clear_session(monkeypatch)
    out = tmp_path / "search"
    args = ["tune", "neuroment_mel", "--out", str(out), "--tuner", "random", *sum([["--set", s] for s in TINY], []),
            *_fix_args(SMALL_ACT)]
    assert cli.main([*args, "--max-trials", "2"]) == 0
    assert "search written to" in capsys.readouterr().out
    assert len(calls) >= 2 * 2  # the Keras session is cleared before and after every trial
    assert all(run["rss_mib"] > 0 for runs in _runs(out).values() for run in runs)
    table = list(csv.DictReader((out / "results.csv").open()))
    assert [r["rank"] for r in table] == ["1", "2"] and all(r["status"] == "COMPLETED" for r in table)
    losses = [float(r["val_loss"]) for r in table]
    assert losses == sorted(losses)
    assert {"conv_pairs", "filters", "kernel_size", "spatial_dropout", "mix_n_max", "learning_rate"} <= set(table[0])
    assert table[0]["conv_pairs"] == "2" and table[0]["tuner"] == "tuner0"
    assert (out / "results.md").read_text().count("| COMPLETED |") == 2
    best = json.loads((out / "best.json").read_text())
    assert best["trial"] == table[0]["trial"] and best["val_loss"] == pytest.approx(losses[0], rel=1e-5)
    assert (out / "best" / "saved_model.pb").is_file() and (out / "best" / "assets" / "classes.txt").is_file()
    model, spec = open_run(out / "best_run")
    assert spec.task == "activation" and len(spec.classes) == 8 and model.output.shape == (None, 8, 16)
    assert read_spec(out / "best_run").features.kind == "log_mel"
    # run again with more trials: the two finished trials are kept, one more runs
    args.append("--no-export")
    assert cli.main([*args, "--max-trials", "3"]) == 0
    runs = _runs(out)
    assert sorted(runs) == ["0", "1", "2"] and all(len(r) == 1 for r in runs.values())
    assert len(list(csv.DictReader((out / "results.csv").open()))) == 3
    # a finished search run again trains nothing
    assert cli.main([*args, "--max-trials", "3"]) == 0
    assert _runs(out) == runs
    # another tuner in the same folder is refused
    assert cli.main([*args, "--tuner", "bayesian"]) == 2
    assert "--overwrite" in capsys.readouterr().err


class _Interrupt(keras.callbacks.Callback):
    """Interrupts the first trial it sees (as Ctrl-C would), once: the marker file remembers."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def on_train_batch_end(self, batch, logs=None):
        if not Path(self.marker).exists():
            Path(self.marker).write_text("x")
            raise KeyboardInterrupt


@pytest.mark.slow
def test_interrupted_search_resumes_the_cut_trial(tmp_path):
    cfg = _cfg("goel_gru", "data.clip_seconds=0.5")
    out = tmp_path / "search"
    fixed = {"units": 8, "features": "mfcc"}
    with pytest.raises(KeyboardInterrupt):
        search.tune(cfg, out, tuner="bayesian", max_trials=2, fixed=fixed, export=False,
                    callbacks=[_Interrupt(str(tmp_path / "marker"))])
    assert [r["outcome"] for r in _runs(out)["0"]] == ["interrupted"]
    assert not (out / "results.csv").exists()
    r = search.tune(cfg, out, tuner="bayesian", max_trials=2, fixed=fixed, export=False)
    runs = _runs(out)
    assert [x["outcome"] for x in runs["0"]] == ["interrupted", "completed"]  # the cut trial ran again
    assert [x["outcome"] for x in runs["1"]] == ["completed"]
    assert [row["status"] for row in r.rows] == ["COMPLETED", "COMPLETED"] and r.best_dir is None
    assert r.objective == "val_loss" and set(r.best_config.model["units"]) == {8}


@pytest.mark.slow
def test_memory_does_not_grow_with_trials_in_child_processes(tmp_path):
    """TensorFlow keeps every traced graph (FuncGraph/Operation cycles through C++ objects that Python's
    gc cannot collect; tensorflow#61791), so RSS creeps up trial by trial even after clear_session.
    With trials_per_process the trials run in fresh processes: RSS after the last trials is where it was
    after the first ones, and the parent process trains nothing."""
    cfg = _cfg("neuroment_mel")
    fixed = {**SMALL_ACT, "mix_n_max": 2, "mix_level_mean": 0.5, "mix_level_var": 0.01}  # one data pipeline
    before = search.rss_mib()
    r = search.tune(cfg, tmp_path / "search", tuner="random", max_trials=4, fixed=fixed, export=False,
                    trials_per_process=2)
    assert len(r.rows) == 4 and all(row["status"] == "COMPLETED" for row in r.rows)
    runs = _runs(tmp_path / "search")
    pids = [runs[k][0]["pid"] for k in sorted(runs)]
    assert len(set(pids)) == 2 and pids[0] == pids[1] != pids[2] == pids[3] != os.getpid()
    rss = [runs[k][0]["rss_mib"] for k in sorted(runs)]
    assert max(rss[2:]) - max(rss[:2]) < 30, rss  # MiB
    assert search.rss_mib() - before < 150  # the parent only reads results


@pytest.mark.slow
def test_hyperband_runs_and_caps_trials(tmp_path):
    cfg = _cfg("goel_gru", "data.clip_seconds=0.5", "train.epochs=3")
    r = search.tune(cfg, tmp_path / "search", tuner="hyperband", max_trials=3, fixed={"units": 8, "features": "mfcc"},
                    export=False)
    assert len(r.rows) == 3 and all(row["status"] == "COMPLETED" for row in r.rows)
    assert all("tuner/epochs" not in row for row in r.rows)
