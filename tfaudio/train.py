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
import math
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from tfaudio.config import write_json
from tfaudio.errors import ConfigError, DatasetError, TfaudioError
from tfaudio.experiment import ExperimentConfig
from tfaudio.run import RunSpec, checkpoint_path, write_spec

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where the built-in corpus is rendered: $TFAUDIO_CACHE or ~/.cache/tfaudio."""
    return Path(os.environ.get("TFAUDIO_CACHE") or Path.home() / ".cache" / "tfaudio")


def corpus_root(cfg: ExperimentConfig) -> Path:
    """The built-in corpus for an experiment: rendered at the features' rate once, then reused."""
    from tfaudio import corpus

    d = cfg.data
    if d.root:
        root = Path(d.root)
    else:
        root = cache_dir() / f"corpus-sr{cfg.features.sr}-n{d.per_class}-seed{d.corpus_seed}"
    if not (root / "Medley-solos-DB_metadata.csv").is_file():
        tmp = root.with_name(root.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        n_samples = int(round(max(3.0, d.clip_seconds) * cfg.features.sr))
        log.info("rendering the built-in corpus into %s", root)
        corpus.render_corpus(tmp, per_class=d.per_class, seed=d.corpus_seed, sr=cfg.features.sr,
                             n_samples=n_samples)
        root.parent.mkdir(parents=True, exist_ok=True)
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    return root


def load_splits(cfg: ExperimentConfig):
    """(train, validation, test) records of an experiment's data."""
    import numpy as np

    from tfaudio import datasets
    from tfaudio.datasets import ScanResult

    d = cfg.data
    fmt = "medley_solos_db" if d.format == "corpus" else d.format
    root = corpus_root(cfg) if d.format == "corpus" else Path(d.root)
    kw = dict(strict=d.strict, verify=d.verify)

    def split(name: str | None):
        if name is None:
            return None
        if fmt in ("folder", "csv"):
            recs = datasets.load_records(fmt, root, **kw)
            sub = [r for r in recs if r.subset == name]
            return ScanResult(sub, recs.skipped) if sub or any(r.subset for r in recs) else None
        return datasets.load_records(fmt, root, split=name, **kw)

    if fmt in ("folder", "csv") and d.train_split:
        train = split(d.train_split)
        if train is None:  # no subset column: everything is training data
            train = datasets.load_records(fmt, root, **kw)
    else:
        train = split(d.train_split)
    if not train:
        raise DatasetError(root, f"no training records (split {d.train_split!r})")
    val = split(d.val_split) if d.val_split else None
    if not val and d.val_fraction > 0:  # hold out part of the training records
        rng = np.random.default_rng(cfg.train.seed)
        order = rng.permutation(len(train))
        n_val = max(1, int(round(d.val_fraction * len(train))))
        val = [train[i] for i in sorted(order[:n_val])]
        train = [train[i] for i in sorted(order[n_val:])]
    try:
        test = split(d.test_split) if d.test_split else None
    except DatasetError:
        test = None
    return list(train), (list(val) if val else None), (list(test) if test else None)


def _policy(name: str) -> str:
    import tensorflow as tf

    if name == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return name


def make_strategy(name: str):
    """tf.distribute strategy: "default" (one device), "mirrored" (all local GPUs) or
    "multi_worker" (MultiWorkerMirroredStrategy, configured by TF_CONFIG)."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError("train.strategy multi_worker needs TF_CONFIG (cluster and task) in the environment")
        return _multi_worker_strategy()
    return tf.distribute.get_strategy()


def _multi_worker_strategy():
    """MultiWorkerMirroredStrategy whose `reduce` takes what Keras 3's `fit` gives it in multi-worker
    mode (keras-team/keras#20585): a nested batch (before the first step) and scalar logs with `axis=0`.
    Each tensor is reduced on its own, scalars across replicas (axis None)."""
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis=None):
            def one(v):
                a = None if axis is not None and len(getattr(v, "shape", ())) == 0 else axis
                return super(MultiWorkerMirroredStrategy, self).reduce(reduce_op, v, a)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirroredStrategy()


def is_chief() -> bool:
    """Whether this process writes the run folder (single process, or the multi-worker chief)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task") or {}
    cluster = tf_config.get("cluster") or {}
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cluster


def window_samples(cfg: ExperimentConfig) -> int:
    """Samples per example: the mix window for activations, the clip length for classification."""
    if cfg.task == "activation":
        return cfg.mix.window
    return int(round(cfg.data.clip_seconds * cfg.features.sr))


def build_model(cfg: ExperimentConfig, n_classes: int):
    """The experiment's model, its input shaped by the data (frames, bins or samples)."""
    from tfaudio import models

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


def model_input(model) -> str:
    """"audio" when the model takes `(batch, samples)`, else "features"."""
    return "audio" if len(model.inputs[0].shape) == 2 else "features"


def datasets_for(cfg: ExperimentConfig, train_recs, val_recs, classes: Sequence[str], input_kind: str,
                 input_context=None):
    """(train, validation) tf.data datasets of (x, y) batches for keras fit."""
    import tensorflow as tf

    from tfaudio import data
    from tfaudio.config import FeatureConfig

    t, d = cfg.train, cfg.data
    feats = cfg.features if input_kind == "features" else dataclasses.replace(cfg.features, kind="none")
    sr = cfg.features.sr
    if d.balance and all(len(r.labels) == 1 for r in train_recs):
        train_recs = data.balance(train_recs, d.max_oversample, seed=t.seed)
    if cfg.task in ("activation", "multi_label"):
        mix = cfg.mix if cfg.task == "activation" else dataclasses.replace(cfg.mix, window=window_samples(cfg))
        y_key = "activations" if cfg.task == "activation" else "labels"
        x_key = "features" if feats.kind != "none" else "audio"
        pool_train = data.window_pool(train_recs, classes, sr, mix, cache=d.cache)
        train = data.mixtures(train_recs, classes, mix, seed=t.seed, features=feats, batch_size=t.batch_size,
                              augment=cfg.augment, pool=pool_train, input_context=input_context)
        train = data.for_training(train, x_key, y_key)
        val = None
        if val_recs:
            val_steps = t.validation_steps or 20
            pool_val = data.window_pool(val_recs, classes, sr, mix, cache=d.cache)
            val = data.mixtures(val_recs, classes, mix, seed=t.seed + 1, features=feats, batch_size=t.batch_size,
                                num_mixes=val_steps * t.batch_size, pool=pool_val, rerandomize=False)
            val = data.for_training(val, x_key, y_key).cache()
        return train, val
    window = window_samples(cfg)
    hop = int(round(d.clip_hop_seconds * sr)) if d.clip_hop_seconds else window
    fc = feats if feats.kind != "none" else None
    train = data.class_dataset(train_recs, classes, sr=sr, window=window, hop=hop, min_rms_db=d.min_rms_db,
                               features=fc, batch_size=t.batch_size, shuffle=t.shuffle_buffer, seed=t.seed,
                               label_mode="int", cache=d.cache, augment=cfg.augment, input_context=input_context)
    val = None
    if val_recs:
        val = data.class_dataset(val_recs, classes, sr=sr, window=window, hop=hop, min_rms_db=d.min_rms_db,
                                 features=fc, batch_size=t.batch_size, shuffle=None, label_mode="int",
                                 cache=d.cache)
    if t.steps_per_epoch:
        train = train.repeat()
    return train, val


class AtomicCheckpoints:
    """Saves `last.keras` every epoch and `best.keras` when the monitored value improves, each to a
    temporary name and then renamed; the best value survives `--resume` in `checkpoints/state.json`."""

    def __new__(cls, run_dir: Path, monitor: str, write: bool):
        import keras

        class _Callback(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.dir = run_dir / "checkpoints"
                self.state_path = self.dir / "state.json"
                self.monitor = monitor
                self.write = write
                state = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
                self.best = state.get("best", math.inf)

            def _save(self, name: str) -> None:
                path = self.dir / name
                tmp = self.dir / f".{name}.tmp.keras"
                self.model.save(tmp)
                os.replace(tmp, path)

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                value = logs.get(self.monitor, logs.get("loss"))
                if not self.write:
                    return
                self.dir.mkdir(parents=True, exist_ok=True)
                self._save("last.keras")
                if value is not None and value < self.best:
                    self.best = float(value)
                    self._save("best.keras")
                    log.info("epoch %d: %s improved to %.5f, saved best.keras", epoch + 1, self.monitor, value)
                write_json({"best": self.best, "epoch": epoch + 1, "monitor": self.monitor}, self.state_path)

        return _Callback()


def _trim_history(path: Path, start: int) -> None:
    """Keep the rows of `history.csv` for epochs before `start`, where a resumed run goes on."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1] + [ln for ln in lines[1:] if ln.split(",", 1)[0].isdigit() and int(ln.split(",", 1)[0]) < start]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(keep))
    os.replace(tmp, path)


def atomic_backup(backup_dir: Path):
    """keras.callbacks.BackupAndRestore whose files are written to a temporary name and renamed, so a
    run killed while it saves still has an intact backup to `--resume` from (Keras writes in place)."""
    import keras

    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        def _save_model(self):
            os.makedirs(self.backup_dir, exist_ok=True)
            tmp = os.path.join(self.backup_dir, ".partial.weights.h5")
            self.model.save_weights(tmp, overwrite=True)
            os.replace(tmp, self._weights_path)
            meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
            tmp_meta = self._training_metadata_path + ".partial"
            with open(tmp_meta, "w") as f:
                f.write(json.dumps(meta))
            os.replace(tmp_meta, self._training_metadata_path)

    return AtomicBackupAndRestore(str(backup_dir))


def compile_model(model, cfg: ExperimentConfig) -> None:
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
    model.compile(optimizer=opt, loss=loss, metrics=metrics)


def train(cfg: ExperimentConfig, out: str | os.PathLike, resume: bool = False,
          strategy: str | None = None, keep_worker_dir: bool = False) -> Path:
    """Train `cfg` into run folder `out`; returns it. `resume` continues a killed run from its
    last epoch. `strategy` overrides `cfg.train.strategy`. `keep_worker_dir`: a non-chief
    multi-worker process keeps its scratch folder `out/.worker-PID` (history.csv, logs/ and its
    final model, final.keras) instead of deleting it, e.g. to check that the workers agree."""
    import keras
    import tensorflow as tf

    if strategy:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, strategy=strategy))
    t = cfg.train
    dist = make_strategy(t.strategy)  # before any other TF op (multi-worker needs it first)
    run_dir = Path(out)
    chief = is_chief()
    if chief and (run_dir / "checkpoints").exists() and not resume:
        raise TfaudioError(f"{run_dir}: a run is already there; pass --resume to continue it or choose "
                           "another --out")
    if resume and not (run_dir / "run.json").is_file():
        raise TfaudioError(f"{run_dir}: nothing to resume (no run.json)")
    if resume:
        saved = json.loads((run_dir / "config.json").read_text())
        if saved != cfg.to_dict():
            log.warning("%s: resuming with a config that differs from the saved one", run_dir)
    if cfg.model_name == "svm":
        return _train_svm(cfg, run_dir)
    keras.utils.set_random_seed(t.seed)
    policy = _policy(t.mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    log.info("precision policy %s, strategy %s (%d replica(s))", policy, type(dist).__name__,
             dist.num_replicas_in_sync)

    from tfaudio.datasets import classes_of

    train_recs, val_recs, _ = load_splits(cfg)
    classes = classes_of(train_recs)
    work_dir = run_dir if chief else run_dir / f".worker-{os.getpid()}"
    work_dir.mkdir(parents=True, exist_ok=True)
    initial_epoch = 0
    backup = work_dir / "backup"
    with dist.scope():
        model = build_model(cfg, len(classes))
        compile_model(model, cfg)
        last = checkpoint_path(run_dir, "last")
        if resume and not backup.exists() and last.is_file():
            # the run finished (or its backup is gone): go on from the last checkpoint
            state = json.loads((run_dir / "checkpoints" / "state.json").read_text())
            model = keras.models.load_model(last, safe_mode=True)
            initial_epoch = int(state.get("epoch", 0))
            log.info("resuming from %s at epoch %d", last, initial_epoch)
    kind = model_input(model)
    spec = RunSpec(task=cfg.task, classes=tuple(classes), features=cfg.features, window=window_samples(cfg),
                   model_input=kind)
    if chief:
        write_json(cfg.to_dict(), run_dir / "config.json")
        write_spec(spec, run_dir)
    train_ds, val_ds = datasets_for(cfg, train_recs, val_recs, classes, kind)
    if t.strategy == "multi_worker":
        opts = tf.data.Options()
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train_ds = train_ds.with_options(opts)
        if val_ds is not None:
            val_ds = val_ds.with_options(opts)
    steps = t.steps_per_epoch
    if steps is None and cfg.task != "single_label":
        steps = 1680  # seed 001: 53,760 windows per epoch in batches of 32
    monitor = t.monitor if val_ds is not None else t.monitor.replace("val_", "")
    if resume:
        meta = backup / "training_metadata.json"
        start = json.loads(meta.read_text())["epoch"] if meta.is_file() else initial_epoch
        _trim_history(work_dir / "history.csv", start)
    callbacks = [
        AtomicCheckpoints(run_dir, monitor, write=chief),
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=t.lr_factor, patience=t.lr_patience,
                                          min_lr=t.min_lr, verbose=1),
        keras.callbacks.CSVLogger(str(work_dir / "history.csv"), append=resume),
        keras.callbacks.TensorBoard(str(work_dir / "logs"), update_freq="epoch"),
        atomic_backup(backup),  # last: an epoch counts as done once everything above has recorded it
    ]
    if initial_epoch >= t.epochs:
        log.warning("%s: already trained for %d epochs (train.epochs=%d); nothing to do", run_dir,
                    initial_epoch, t.epochs)
    model.fit(train_ds, validation_data=val_ds, epochs=t.epochs, steps_per_epoch=steps, shuffle=False,
              initial_epoch=initial_epoch,
              validation_steps=t.validation_steps if val_ds is not None and cfg.task == "single_label" else None,
              callbacks=callbacks, verbose=t.verbose)
    if not chief:
        if keep_worker_dir:
            model.save(work_dir / "final.keras")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    log.info("run written to %s", run_dir)
    return run_dir


def _train_svm(cfg: ExperimentConfig, run_dir: Path) -> Path:
    """Seed 004's SVM baseline: MFCC statistics of each clip window, scikit-learn."""
    import numpy as np

    from tfaudio import data, models
    from tfaudio.datasets import classes_of

    train_recs, val_recs, _ = load_splits(cfg)
    classes = classes_of(train_recs)
    svm = build_model(cfg, len(classes))
    window = window_samples(cfg)
    feats = cfg.features

    def arrays(recs):
        ds = data.class_dataset(recs, classes, sr=feats.sr, window=window, min_rms_db=cfg.data.min_rms_db,
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
    svm.save(checkpoint_path(run_dir, "best").with_suffix(".svm"))
    write_json(cfg.to_dict(), run_dir / "config.json")
    write_spec(RunSpec(task=cfg.task, classes=tuple(classes), features=feats, window=window), run_dir)
    write_json(metrics, run_dir / "svm_metrics.json")
    log.info("SVM: %s", metrics)
    return run_dir
