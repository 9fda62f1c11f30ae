"""`tfaudio train`: one experiment config -> a run folder (checkpoints, logs, resolved config).

Data for each task:
- "activation": on-the-fly mixes of balanced single-instrument windows (seed 001), features in,
  activation matrices out, BCE;
- "single_label": windows of single-label clips, cross-entropy;
- "multi_label": on-the-fly multi-instrument mixes with multi-hot targets (seed 003), BCE.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from tfaudio.config import write_json
from tfaudio.errors import ConfigError, TfaudioError
from tfaudio.experiment import ExperimentConfig, monitor_mode
from tfaudio.spec import RunSpec
from tfaudio.run_folder import checkpoint_path, write_spec
from tfaudio.data.sources import load_splits, validation_carve_out
from tfaudio.training.callbacks import _trim_history, atomic_backup, atomic_checkpoints, atomic_csv_logger
from tfaudio.training.resume import _record_resume, resume_changes
from tfaudio.models.precision import resolve as resolve_precision
from tfaudio.training.strategy import is_chief, make_strategy
from tfaudio import models
from tfaudio.data import mixing, pipeline, windows
from tfaudio.data.datasets import classes_of
from tfaudio.data.device_mixing import DeviceMixing, seed_batches
from tfaudio.evaluation.clips import clip_examples, collect_predictions
from tfaudio.evaluation.metrics import choose_thresholds
from tfaudio.io import outputs
from tfaudio.run_folder import LOCK_NAME
from tfaudio.run_folder import run_lock
from tfaudio.run_folder import svm_checkpoint_path

log = logging.getLogger(__name__)


def window_samples(cfg: ExperimentConfig) -> int:
    """Samples per example: the mix window for activations, the clip length for classification."""
    if cfg.task == "activation":
        return cfg.mix.window
    return int(round(cfg.data.clip_seconds * cfg.features.sr))


def build_model(cfg: ExperimentConfig, n_classes: int):
    """The experiment's model, its input shaped by the data (frames, bins or samples)."""
    name = cfg.model_name
    overrides = {k: v for k, v in cfg.model.items() if k != "name"}
    fields = {f.name for f in dataclasses.fields(models.config_class(name))}
    n = window_samples(cfg)
    derived: dict[str, Any] = {"n_classes": n_classes}
    if "multi_label" in fields and cfg.task != "activation":
        derived["multi_label"] = cfg.task == "multi_label"
    if "features" in fields:
        derived["features"] = cfg.features
    if "n_samples" in fields and "n_frames" not in fields:  # raw-waveform models
        derived["n_samples"] = n
    elif "n_frames" in fields:
        derived["n_frames"] = cfg.features.n_frames(n)
        if overrides.get("input") == "audio":
            derived["n_samples"] = n
    for k, v in derived.items():
        overrides.setdefault(k, v)
    return models.build(name, **overrides)


def warm_start(model, source: str | os.PathLike) -> list[str]:
    """Copy into `model` the weights of every layer of `source` (a `.keras` file, or a run folder's
    `checkpoints/best.keras`, loaded with `safe_mode=True`) that has a layer of the same name and weight
    shapes; returns their names. A source that shares no layer is a `ConfigError`."""
    import keras

    path = Path(source)
    if path.is_dir():
        path = checkpoint_path(path, "best")
    if not path.is_file():
        raise ConfigError(f"train.init_from: {source}: no such .keras file or run folder")
    donor = keras.models.load_model(path, safe_mode=True, compile=False)
    mine = {layer.name: layer for layer in model.layers}
    copied = []
    for layer in donor.layers:
        target = mine.get(layer.name)
        if target is None or not layer.weights:
            continue
        if [tuple(w.shape) for w in layer.weights] != [tuple(w.shape) for w in target.weights]:
            continue
        target.set_weights(layer.get_weights())
        copied.append(layer.name)
    if not copied:
        raise ConfigError(f"train.init_from: {source}: no layer of the same name and shapes as the model's")
    log.info("warm start from %s: %d layers (%s)", path, len(copied), ", ".join(copied[-3:]))
    return copied


def model_input(model) -> str:
    """"audio" when the model takes `(batch, samples)`, else "features"."""
    return "audio" if len(model.inputs[0].shape) == 2 else "features"


def datasets_for(cfg: ExperimentConfig, train_recs, val_recs, classes: Sequence[str], input_kind: str,
                 input_context=None):
    """(train, validation) tf.data datasets of (x, y) batches for keras fit."""


    t, d = cfg.train, cfg.data
    feats = cfg.features if input_kind == "features" else dataclasses.replace(cfg.features, kind="none")
    sr = cfg.features.sr
    if d.balance and all(len(r.labels) == 1 for r in train_recs):
        train_recs = windows.balance(train_recs, d.max_oversample, seed=t.seed)
    if cfg.task in ("activation", "multi_label"):
        mix = cfg.mix if cfg.task == "activation" else dataclasses.replace(cfg.mix, window=window_samples(cfg))
        y_key = "activations" if cfg.task == "activation" else "labels"
        x_key = "features" if feats.kind != "none" else "audio"
        pool_train = mixing.window_pool(train_recs, classes, sr, mix, cache=d.cache, split="training")
        train = pipeline.mixtures(train_recs, classes, mix, seed=t.seed, features=feats, batch_size=t.batch_size,
                              augment=cfg.augment, pool=pool_train, input_context=input_context)
        train = pipeline.for_training(train, x_key, y_key)
        val = None
        if val_recs:
            val_steps = t.validation_steps or 20
            pool_val = mixing.window_pool(val_recs, classes, sr, mix, cache=d.cache, split="validation")
            val = pipeline.mixtures(val_recs, classes, mix, seed=t.seed + 1, features=feats, batch_size=t.batch_size,
                                num_mixes=val_steps * t.batch_size, pool=pool_val, rerandomize=False)
            val = pipeline.for_training(val, x_key, y_key).cache()
        return train, val
    window = window_samples(cfg)
    hop = int(round(d.clip_hop_seconds * sr)) if d.clip_hop_seconds else window
    fc = feats if feats.kind != "none" else None
    train = pipeline.class_dataset(train_recs, classes, sr=sr, window=window, hop=hop, min_rms_db=d.min_rms_db,
                               features=fc, batch_size=t.batch_size, shuffle=t.shuffle_buffer, seed=t.seed,
                               label_mode="int", cache=d.cache, augment=cfg.augment, input_context=input_context)
    val = None
    if val_recs:
        val = pipeline.class_dataset(val_recs, classes, sr=sr, window=window, hop=hop, min_rms_db=d.min_rms_db,
                                 features=fc, batch_size=t.batch_size, shuffle=None, label_mode="int",
                                 cache=d.cache)
    if t.steps_per_epoch:
        train = train.repeat()
    return train, val


def device_mixing_for(cfg: ExperimentConfig, model, train_recs, val_recs, classes: Sequence[str], input_kind: str):
    """`train.mixing: device`: (model wrapped in `tfaudio.data.device_mixing.DeviceMixing`, training seed batches,
    validation seed batches or None). The same mixes as `datasets_for` makes for the same seeds."""
    t, d = cfg.train, cfg.data
    feats = cfg.features if input_kind == "features" else dataclasses.replace(cfg.features, kind="none")
    mix = cfg.mix if cfg.task == "activation" else dataclasses.replace(cfg.mix, window=window_samples(cfg))
    if d.balance and all(len(r.labels) == 1 for r in train_recs):
        train_recs = windows.balance(train_recs, d.max_oversample, seed=t.seed)
    x_key = "features" if feats.kind != "none" else "audio"
    y_key = "activations" if cfg.task == "activation" else "labels"
    pool = mixing.window_pool(train_recs, classes, cfg.features.sr, mix, cache=d.cache, split="training")
    wrapped = DeviceMixing(model, pool, mix, feats, cfg.augment, x_key, y_key, sr=cfg.features.sr)
    train = seed_batches(t.seed, t.batch_size)
    val = None
    if val_recs:  # a fixed validation set, made once by the tf.data path as in `datasets_for`
        pool_val = mixing.window_pool(val_recs, classes, cfg.features.sr, mix, cache=d.cache, split="validation")
        val_steps = t.validation_steps or 20
        val = pipeline.mixtures(val_recs, classes, mix, seed=t.seed + 1, features=feats, batch_size=t.batch_size,
                            num_mixes=val_steps * t.batch_size, pool=pool_val, rerandomize=False)
        val = pipeline.for_training(val, x_key, y_key).cache()
    return wrapped, train, val


def _per_worker_input(cfg: ExperimentConfig, dist: Any, train_recs, classes: Sequence[str], input_kind: str,
                      device: bool):
    """The training input of a multi-worker run, each worker making only its own share: its slice of the
    mix seeds (or of the files, decoded only there), batched per replica (`distribute_datasets_from_function`
    with the workers' `tf.distribute.InputContext`)."""
    import tensorflow as tf

    t = cfg.train
    replicas = dist.num_replicas_in_sync
    if t.batch_size % replicas:
        raise ConfigError(f"train.batch_size {t.batch_size} must be a multiple of the {replicas} replicas")

    def make(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = dataclasses.replace(cfg, train=dataclasses.replace(t, batch_size=ctx.get_per_replica_batch_size(
            t.batch_size)))
        if device:
            from tfaudio.data import mixing

            seeds = mixing.mix_seeds(t.seed).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
            return seeds.batch(per_replica.train.batch_size, drop_remainder=True).prefetch(2)
        return datasets_for(per_replica, train_recs, [], classes, input_kind, input_context=ctx)[0]

    return dist.distribute_datasets_from_function(make)


def compile_model(model, cfg: ExperimentConfig, jit_compile: bool | str = "auto") -> None:
    """AdamW and the task's loss and metrics. `jit_compile=True`: the train step through XLA."""
    import keras

    t = cfg.train
    opt = keras.optimizers.AdamW(learning_rate=t.learning_rate, weight_decay=t.weight_decay)
    if cfg.task == "single_label":
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    elif cfg.task == "multi_label":
        loss = "binary_crossentropy"
        metrics = [keras.metrics.BinaryAccuracy(name="binary_accuracy"),
                   keras.metrics.AUC(multi_label=True, name="auc")]
    else:
        loss, metrics = "binary_crossentropy", [keras.metrics.MeanAbsoluteError(name="mae")]
    model.compile(optimizer=opt, loss=loss, metrics=metrics, jit_compile=jit_compile)


def train(cfg: ExperimentConfig, out: str | os.PathLike, resume: bool = False,
          strategy: str | None = None, keep_worker_dir: bool = False) -> Path:
    """Train `cfg` into run folder `out`; returns it. `resume` continues a killed run from its
    last epoch. `strategy` overrides `cfg.train.strategy`. `keep_worker_dir`: a non-chief
    multi-worker process keeps its scratch folder `out/.worker-PID` (history.csv, logs/ and its
    final model, final.keras) instead of deleting it, e.g. to check that the workers agree.

    `out` must be new, an empty folder, or (with `resume`) a run. A run that fails before its first
    epoch is saved leaves nothing behind; one that fails later keeps its checkpoints for `--resume`
    and is marked by `failed.json`.
    """
    if strategy:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, strategy=strategy))
    dist = make_strategy(cfg.train.strategy)  # before any other TF op (multi-worker needs it first)
    run_dir = Path(out)
    if not is_chief():  # a worker writes only its scratch folder RUN/.worker-PID; the chief owns the run
        return _fit(cfg, run_dir, resume, False, dist, keep_worker_dir, {})
    with run_lock(run_dir, "resume" if resume else "train"):  # before any check or write
        return _train_locked(cfg, run_dir, resume, dist)


def _entries(run_dir: Path) -> set[str]:
    """What a run folder holds, but its lock file."""
    return {p.name for p in run_dir.iterdir() if p.name != LOCK_NAME} if run_dir.is_dir() else set()


def _train_locked(cfg: ExperimentConfig, run_dir: Path, resume: bool, dist: Any) -> Path:
    """`train` of the chief, which holds the run's lock: the checks, the training, the cleanup of a failure."""
    is_run = (run_dir / "run.json").is_file() or (run_dir / "checkpoints").exists()
    if is_run and not resume:
        raise TfaudioError(f"{run_dir}: a run is already there; pass --resume to continue it or choose "
                           "another --out")
    if resume and not (run_dir / "run.json").is_file():
        raise TfaudioError(f"{run_dir}: nothing to resume (no run.json)")
    before = _entries(run_dir)
    if not resume and before:
        raise outputs.OutputError(f"{run_dir}: exists and is not empty; a run is written only into a new or empty "
                                  "folder (or pass --resume to continue a run there)")
    changes = resume_changes(run_dir, cfg) if resume else {}  # refuses a change of what the run is
    outputs.output_dir(run_dir, "run folder")
    try:
        if cfg.model_name == "svm":
            if resume:
                raise TfaudioError(f"{run_dir}: an SVM run is fitted in one go; there is nothing to resume")
            result = _train_svm(cfg, run_dir)
        else:
            result = _fit(cfg, run_dir, resume, True, dist, False, changes)
    except BaseException as e:
        _after_failure(run_dir, resume, before, e)
        if run_dir.is_dir() and (run_dir / "run.json").is_file():
            _write_run_manifest(run_dir, before)  # a run kept for --resume
        raise
    (run_dir / "failed.json").unlink(missing_ok=True)
    _write_run_manifest(run_dir, before)
    return result


def _write_run_manifest(run_dir: Path, before: set[str]) -> None:
    """List the files this run wrote in ``RUN/.tfaudio-manifest.json`` (`tfaudio.io.outputs.MANIFEST`): every
    file under the run but hidden entries (the lock, temporaries, worker scratch), and, on a resume of a run
    that has a manifest, no entry that was there before and that it does not list (a user's file)."""
    old = outputs.MANIFEST
    try:
        listed = {rel.split("/")[0] for rel in json.loads((run_dir / old).read_text(encoding="utf-8"))["files"]}
        foreign = before - listed
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        foreign = set()  # a run from before manifests: all of it is the run's
    files = [p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink()
             and not p.relative_to(run_dir).parts[0].startswith(".") and p.relative_to(run_dir).parts[0] not in foreign]
    try:
        outputs.write_manifest(run_dir, files, "train")
    except OSError as e:
        log.warning("%s: could not write %s: %s", run_dir, old, e)


def _after_failure(run_dir: Path, resume: bool, before: set[str], error: BaseException) -> None:
    """A failed run is never mistaken for a run: before its first saved epoch what this process created
    goes (only the entries that were not in the folder when it took the lock: `before`); after it, the run
    stays for `--resume`, marked by `failed.json`."""
    saved = checkpoint_path(run_dir, "last").is_file() or svm_checkpoint_path(run_dir).is_file()
    if not resume and not saved:
        for name in sorted(_entries(run_dir) - before):
            p = run_dir / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        log.info("%s: the run failed before its first epoch; removed what it wrote", run_dir)
        return
    if isinstance(error, Exception):
        try:
            write_json({"error": f"{type(error).__name__}: {error}"}, run_dir / "failed.json")
        except OSError:
            pass
        log.warning("%s: the run failed; its checkpoints are kept (tfaudio train ... --resume continues it)",
                    run_dir)


def _fit(cfg: ExperimentConfig, run_dir: Path, resume: bool, chief: bool, dist: Any,
         keep_worker_dir: bool, changes: dict[str, tuple[Any, Any]] | None = None) -> Path:
    """The Keras training of `train` (after its checks). A resume writes `config.json` only when `changes`
    (recorded by `_record_resume`) and never rewrites `run.json` before training; one with nothing to do
    writes nothing."""
    import keras
    import tensorflow as tf

    t = cfg.train
    keras.utils.set_random_seed(t.seed)
    policy = resolve_precision(t.mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    log.info("precision policy %s, strategy %s (%d replica(s))", policy, type(dist).__name__,
             dist.num_replicas_in_sync)


    train_recs, val_recs, _ = load_splits(cfg)
    classes = classes_of(train_recs)
    work_dir = run_dir if chief else run_dir / f".worker-{os.getpid()}"
    work_dir.mkdir(parents=True, exist_ok=True)
    initial_epoch = 0
    backup = work_dir / "backup"
    with dist.scope():
        model = build_model(cfg, len(classes))
        if t.init_from and not resume:
            warm_start(model, t.init_from)
        compile_model(model, cfg)
        last = checkpoint_path(run_dir, "last")
        if resume and not backup.exists() and last.is_file():
            # the run finished (or its backup is gone): go on from the last checkpoint
            state = json.loads((run_dir / "checkpoints" / "state.json").read_text())
            model = keras.models.load_model(last, safe_mode=True)
            initial_epoch = int(state.get("epoch", 0))
    kind = model_input(model)
    spec = RunSpec(task=cfg.task, classes=tuple(classes), features=cfg.features, window=window_samples(cfg),
                   model_input=kind)
    if resume and initial_epoch >= t.epochs:
        log.warning("%s: already trained for %d epochs (train.epochs=%d); nothing to do", run_dir,
                    initial_epoch, t.epochs)
        return run_dir
    if chief and resume and changes:
        _record_resume(run_dir, cfg, changes)
    elif chief and not resume:
        write_json(cfg.to_dict(), run_dir / "config.json")
        write_spec(spec, run_dir)
        carve = validation_carve_out(cfg, train_recs, val_recs)
        if carve:
            write_json(carve, run_dir / "splits.json")
    fit_model = model
    if t.mixing == "device" and cfg.task in ("activation", "multi_label"):
        with dist.scope():
            fit_model, train_ds, val_ds = device_mixing_for(cfg, model, train_recs, val_recs, classes, kind)
            compile_model(fit_model, cfg, jit_compile=True)  # mixing, features and labels in the compiled step
    else:
        train_ds, val_ds = datasets_for(cfg, train_recs, val_recs, classes, kind)
    if t.strategy == "multi_worker":
        train_ds = _per_worker_input(cfg, dist, train_recs, classes, kind, fit_model is not model)
        if val_ds is not None:  # the small fixed validation set: split by element
            opts = tf.data.Options()
            opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            val_ds = val_ds.with_options(opts)
    steps = t.steps_per_epoch
    if steps is None and cfg.task != "single_label":
        steps = 1680  # seed 001: 53,760 windows per epoch in batches of 32
    monitor = t.monitor if val_ds is not None else t.monitor.removeprefix("val_")
    mode = monitor_mode(monitor, t.monitor_mode)  # "min" or "max", for the checkpoints and the LR schedule
    if resume:
        meta = backup / "training_metadata.json"
        start = json.loads(meta.read_text())["epoch"] if meta.is_file() else initial_epoch
        _trim_history(work_dir / "history.csv", start)
        source = "its backup" if meta.is_file() else ("checkpoints/last.keras" if initial_epoch else "the start")
        log.info("resuming %s at epoch %d of %d (from %s; epochs 1-%d are kept)", run_dir, start + 1, t.epochs,
                 source, start)
    callbacks = [
        atomic_checkpoints(run_dir, monitor, write=chief, mode=mode),
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=t.lr_factor, patience=t.lr_patience,
                                          min_lr=t.min_lr, verbose=1),
        atomic_csv_logger(work_dir / "history.csv", append=resume),
        keras.callbacks.TensorBoard(str(work_dir / "logs"), update_freq="epoch"),
        atomic_backup(backup),  # last: an epoch counts as done once everything above has recorded it
    ]
    fit_model.fit(train_ds, validation_data=val_ds, epochs=t.epochs, steps_per_epoch=steps, shuffle=False,
              initial_epoch=initial_epoch,
              validation_steps=t.validation_steps if val_ds is not None and cfg.task == "single_label" else None,
              callbacks=callbacks, verbose=t.verbose)
    if chief and cfg.task == "multi_label" and val_recs:
        choose_run_thresholds(run_dir, spec, val_recs, model)
    if not chief:
        if keep_worker_dir:
            from tfaudio.io import outputs

            outputs.atomic_write(work_dir / "final.keras", model.save)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    log.info("run written to %s", run_dir)
    return run_dir


def choose_run_thresholds(run_dir: Path, spec: RunSpec, val_recs: Sequence[Any], model: Any = None) -> RunSpec:
    """Multi-label runs: one decision threshold per class, F1-optimal on the validation files scored whole
    (the evaluation protocol) with the selected checkpoint; stored in `run.json`. Never fitted on the
    data a run is evaluated on."""
    import keras


    best = checkpoint_path(run_dir, "best")
    if best.is_file():
        model = keras.models.load_model(best, safe_mode=True)
    collected = collect_predictions(model, spec, clip_examples(val_recs, spec))
    chosen = choose_thresholds(collected.reference, collected.predicted, spec.threshold)
    spec = dataclasses.replace(
        spec, thresholds=tuple(float(v) for v in chosen),
        threshold_source=f"per class, F1-optimal on the validation split ({len(val_recs)} files scored whole, "
                         f"{best.name if best.is_file() else 'final weights'}), chosen at training time")
    write_spec(spec, run_dir)
    log.info("thresholds per class (validation F1): %s",
             ", ".join(f"{c} {v:.2f}" for c, v in zip(spec.classes, spec.thresholds)))
    return spec


def _train_svm(cfg: ExperimentConfig, run_dir: Path) -> Path:
    """Seed 004's SVM baseline: MFCC statistics of each clip window, scikit-learn."""
    import numpy as np


    train_recs, val_recs, _ = load_splits(cfg)
    classes = classes_of(train_recs)
    svm = build_model(cfg, len(classes))
    window = window_samples(cfg)
    feats = cfg.features

    def arrays(recs):
        ds = pipeline.class_dataset(recs, classes, sr=feats.sr, window=window, min_rms_db=cfg.data.min_rms_db,
                                features=feats, batch_size=64, shuffle=None, label_mode="int",
                                cache=None)
        xs, ys = zip(*[(x, y) for x, y in ds.as_numpy_iterator()])
        return np.concatenate(xs), np.concatenate(ys)

    x, y = arrays(train_recs)
    svm.fit(x, y)
    metrics = {"train_accuracy": float(svm.evaluate(x, y)[1])}
    if val_recs:
        xv, yv = arrays(val_recs)
        metrics["val_accuracy"] = float(svm.evaluate(xv, yv)[1])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    svm.save(checkpoint_path(run_dir, "best").with_suffix(".skops"))  # skops, not pickle (SVMBaseline.save)
    write_json(cfg.to_dict(), run_dir / "config.json")
    write_spec(RunSpec(task=cfg.task, classes=tuple(classes), features=feats, window=window), run_dir)
    write_json(metrics, run_dir / "svm_metrics.json")
    log.info("SVM: %s", metrics)
    return run_dir
