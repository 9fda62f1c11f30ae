"""`tfaudio train`: one experiment config -> a run folder (checkpoints, logs, resolved config).

Data for each task:
- "activation": on-the-fly mixes of balanced single-instrument windows (seed 001), features in,
  activation matrices out, BCE;
- "single_label": windows of single-label clips, cross-entropy;
- "multi_label": on-the-fly multi-instrument mixes with multi-hot targets (seed 003), BCE.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from tfaudio.config import write_json
from tfaudio.errors import ConfigError, DatasetError, TfaudioError
from tfaudio.experiment import ExperimentConfig, monitor_mode
from tfaudio.spec import RunSpec
from tfaudio.run_folder import checkpoint_path, write_spec

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where the built-in corpus is rendered: $TFAUDIO_CACHE or ~/.cache/tfaudio."""
    return Path(os.environ.get("TFAUDIO_CACHE") or Path.home() / ".cache" / "tfaudio")


def corpus_root(cfg: ExperimentConfig) -> Path:
    """The built-in corpus for an experiment: rendered at the features' rate once, then reused.

    It is rendered only into the cache or into a new or empty `data.root`: a folder that holds anything
    else (most likely a real data set with `data.format` left at "corpus") is refused, never touched.
    """
    from tfaudio.data import corpus, datasets
    from tfaudio.io import outputs

    d = cfg.data
    fonts = corpus_soundfonts(cfg)
    if d.root:
        root = Path(d.root)
    else:
        extra = ("" if d.classes == "msdb" else f"-{d.classes}") + \
            ("" if fonts == ("timgm6mb",) else "-" + "+".join(Path(f).stem.lower() for f in fonts))
        # v2: expressive multi-program rendering with soundfont/program columns (an older cache is not reused)
        root = cache_dir() / f"corpus-v2-sr{cfg.features.sr}-n{d.per_class}-seed{d.corpus_seed}{extra}"
    if (root / datasets.MSDB_METADATA).is_file():
        return root
    if root.exists() and not outputs.is_empty_dir(root):
        guess = datasets.guess_format(root)
        hint = (f"it looks like a {guess!r} data set: add --set data.format={guess}" if guess else
                f"to train on a data set there, set data.format (one of {sorted(datasets.LOADERS)})")
        raise ConfigError(f"{root}: data.format is 'corpus' but data.root is not an empty folder or a rendered "
                          f"corpus, and the built-in corpus is never rendered over other files; {hint}")
    n_samples = int(round(max(3.0, d.clip_seconds) * cfg.features.sr))
    log.info("rendering the built-in corpus into %s", root)
    kw: dict[str, Any] = {} if fonts == ("timgm6mb",) else {"soundfonts": list(fonts)}
    try:
        corpus.render_corpus(root, corpus.instrument_set(d.classes), per_class=d.per_class, seed=d.corpus_seed,
                             sr=cfg.features.sr, n_samples=n_samples, **kw)
    except OSError:
        if (root / datasets.MSDB_METADATA).is_file():  # another process rendered it at the same time
            return root
        raise
    return root


SPLIT_ROLES = ("training", "validation", "test")


def corpus_soundfonts(cfg: ExperimentConfig) -> tuple[str, ...]:
    """The SoundFonts the built-in corpus renders: `data.soundfonts`, with the validation and test
    SoundFonts added if missing (default: timgm6mb alone)."""
    d = cfg.data
    fonts = tuple(d.soundfonts) or ("timgm6mb",)
    return fonts + tuple(f for f in (*d.val_soundfonts, *d.test_soundfonts) if f not in fonts)


def _font(record: Any) -> str:
    return str(record.meta.get("soundfont", "")) if getattr(record, "meta", None) else ""


def _by_soundfont(cfg: ExperimentConfig, fmt: str, root: Path, train, val, test, with_test: bool):
    """Cross-SoundFont splits: every clip of `data.val_soundfonts` is validation, of `data.test_soundfonts`
    test; training (and, where no held-out SoundFont is named, validation and test) keeps the others."""
    from tfaudio.data import datasets

    d = cfg.data
    held_val, held_test = set(d.val_soundfonts), set(d.test_soundfonts)
    everything = datasets.load_records(fmt, root, strict=d.strict, verify=d.verify)
    fonts = {_font(r) for r in everything}
    if "" in fonts:
        raise DatasetError(root, "data.val_soundfonts/test_soundfonts need records that name their SoundFont "
                                 "(a corpus rendered by tfaudio corpus render has a soundfont column)")
    unknown = sorted((held_val | held_test) - fonts)
    if unknown:
        raise DatasetError(root, f"no clips of SoundFont(s) {unknown} here; the data has {sorted(fonts)}")
    held = held_val | held_test
    train = [r for r in train if _font(r) not in held]
    val = [r for r in everything if _font(r) in held_val] if held_val else \
        [r for r in (val or []) if _font(r) not in held]
    if with_test:
        test = [r for r in everything if _font(r) in held_test] if held_test else \
            [r for r in (test or []) if _font(r) not in held]
    log.info("cross-SoundFont splits: training on %s, validating on %s, testing on %s",
             sorted(fonts - held), sorted(held_val) or "the training SoundFonts", sorted(held_test) or
             "the training SoundFonts")
    return train, val, test


def data_source(cfg: ExperimentConfig) -> tuple[str, Path]:
    """(format, root) of an experiment's data; the built-in corpus is rendered on first use."""
    d = cfg.data
    if d.format == "corpus":
        return "medley_solos_db", corpus_root(cfg)
    return d.format, Path(d.root)


def _read_split(cfg: ExperimentConfig, fmt: str, root: Path, role: str, name: str):
    from tfaudio.data import datasets

    try:
        return datasets.load_records(fmt, root, split=name, strict=cfg.data.strict, verify=cfg.data.verify)
    except DatasetError as e:
        raise DatasetError(e.path, f"{role} split (data.{_SPLIT_KEYS[role]}={name!r}): {e.problem}") from None


_SPLIT_KEYS = {"training": "train_split", "validation": "val_split", "test": "test_split"}
#: A format's own split names, used where the config keeps the generic defaults (IRMAS has no validation split).
FORMAT_SPLITS = {"irmas": ("train", None, "test"), "nsynth": ("train", "valid", "test")}


def split_names(cfg: ExperimentConfig) -> tuple[str | None, str | None, str | None]:
    """(training, validation, test) split names of an experiment's data: `data.*_split`, where left at
    the generic defaults ("training", "validation", "test") the format's own names."""
    from tfaudio.experiment import DataConfig

    d, generic = cfg.data, DataConfig()
    own = FORMAT_SPLITS.get(d.format)
    names = (d.train_split, d.val_split, d.test_split)
    if own is None:
        return names
    defaults = (generic.train_split, generic.val_split, generic.test_split)
    return tuple(o if n == g else n for n, g, o in zip(names, defaults, own))  # type: ignore[return-value]


def load_splits(cfg: ExperimentConfig, with_test: bool = False):
    """(train, validation, test) records of an experiment's data.

    training: `data.train_split` (folder and csv data with no subsets at all: every file). validation:
    `data.val_split`; where the data has no such split, `data.val_fraction` of the training files is
    held out, stratified by class and seeded by `train.seed` (`validation_carve_out` says how).
    test: `data.test_split` when `with_test` (a missing one is an error naming it), else None.
    """
    from tfaudio.data import datasets

    d = cfg.data
    train_name, val_name, test_name = split_names(cfg)
    fmt, root = data_source(cfg)
    kw = dict(strict=d.strict, verify=d.verify)
    everything = datasets.load_records(fmt, root, **kw) if fmt in ("folder", "csv") else None
    if everything is not None and not datasets.subsets_of(everything):
        train = everything  # no subsets at all: everything is training data
        if val_name or test_name:
            log.info("%s has no subsets: every file is training data", root)
        val = test = None
    else:
        if not train_name:
            raise ConfigError("data.train_split is not set")
        train = _read_split(cfg, fmt, root, "training", train_name)
        val = test = None
        if val_name:
            try:
                val = _read_split(cfg, fmt, root, "validation", val_name)
            except DatasetError as e:
                log.info("%s; holding out part of the training files instead", e)
        if with_test:
            if not test_name:
                raise ConfigError("data.test_split is not set: name the split to evaluate on")
            test = _read_split(cfg, fmt, root, "test", test_name)
    if d.val_soundfonts or d.test_soundfonts:
        train, val, test = _by_soundfont(cfg, fmt, root, train, val, test, with_test)
    if not train:
        raise DatasetError(root, f"no training records (split {train_name!r})")
    if not val and d.val_fraction > 0:
        train, val = datasets.stratified_split(train, d.val_fraction, cfg.train.seed)
        log.info("validation: %d of %d training files held out (%.0f%%, stratified by class, seed %d)",
                 len(val), len(train) + len(val), 100 * d.val_fraction, cfg.train.seed)
    return list(train), (list(val) if val else None), (list(test) if test else None)


def validation_carve_out(cfg: ExperimentConfig, train_recs, val_recs) -> dict[str, Any] | None:
    """What `RUN/splits.json` records of a held-out validation set (None when the data has its own)."""
    val_name = split_names(cfg)[1]
    if not val_recs or (val_name and any(r.subset == val_name for r in val_recs)):
        return None
    return {"validation": "held out of the training files, stratified by class",
            "fraction": cfg.data.val_fraction, "seed": cfg.train.seed,
            "training_files": len(train_recs), "validation_files": [r.path for r in val_recs]}


def split_records(cfg: ExperimentConfig, role: str):
    """Records of one split of an experiment's data by role: "training", "validation" or "test"
    (or the data's own name for it, e.g. IRMAS "train"; with `data.test_soundfonts`, "test" is the held-out
    SoundFonts and "test_in_distribution" the test clips of the trained ones). Raises DatasetError naming
    the split and the choices when it has no records."""
    names = dict(zip(SPLIT_ROLES, split_names(cfg)))
    role = next((r for r, n in names.items() if n and role == n), role)
    roles = SPLIT_ROLES + (("test_in_distribution",) if cfg.data.test_soundfonts else ())
    if role not in roles:
        choices = list(roles) + sorted({n for n in names.values() if n and n not in SPLIT_ROLES})
        raise DatasetError(None, f"unknown split {role!r}; choose one of {choices}")
    if role == "test_in_distribution":  # the test clips of the SoundFonts it was trained on
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, test_soundfonts=()))
        role = "test"
    train, val, test = load_splits(cfg, with_test=role == "test")
    recs = {"training": train, "validation": val, "test": test}[role]
    if not recs:
        raise DatasetError(None, f"the {role} split has no records")
    return recs


def _policy(name: str) -> str:
    from tfaudio.models.precision import resolve

    return resolve(name)


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
    import tensorflow as tf

    from tfaudio.data import pipeline
    from tfaudio.config import FeatureConfig

    t, d = cfg.train, cfg.data
    feats = cfg.features if input_kind == "features" else dataclasses.replace(cfg.features, kind="none")
    sr = cfg.features.sr
    if d.balance and all(len(r.labels) == 1 for r in train_recs):
        train_recs = pipeline.balance(train_recs, d.max_oversample, seed=t.seed)
    if cfg.task in ("activation", "multi_label"):
        mix = cfg.mix if cfg.task == "activation" else dataclasses.replace(cfg.mix, window=window_samples(cfg))
        y_key = "activations" if cfg.task == "activation" else "labels"
        x_key = "features" if feats.kind != "none" else "audio"
        pool_train = pipeline.window_pool(train_recs, classes, sr, mix, cache=d.cache, split="training")
        train = pipeline.mixtures(train_recs, classes, mix, seed=t.seed, features=feats, batch_size=t.batch_size,
                              augment=cfg.augment, pool=pool_train, input_context=input_context)
        train = pipeline.for_training(train, x_key, y_key)
        val = None
        if val_recs:
            val_steps = t.validation_steps or 20
            pool_val = pipeline.window_pool(val_recs, classes, sr, mix, cache=d.cache, split="validation")
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
    from tfaudio.data import pipeline
    from tfaudio.data.device_mixing import DeviceMixing, seed_batches

    t, d = cfg.train, cfg.data
    feats = cfg.features if input_kind == "features" else dataclasses.replace(cfg.features, kind="none")
    mix = cfg.mix if cfg.task == "activation" else dataclasses.replace(cfg.mix, window=window_samples(cfg))
    if d.balance and all(len(r.labels) == 1 for r in train_recs):
        train_recs = pipeline.balance(train_recs, d.max_oversample, seed=t.seed)
    x_key = "features" if feats.kind != "none" else "audio"
    y_key = "activations" if cfg.task == "activation" else "labels"
    pool = pipeline.window_pool(train_recs, classes, cfg.features.sr, mix, cache=d.cache, split="training")
    wrapped = DeviceMixing(model, pool, mix, feats, cfg.augment, x_key, y_key, sr=cfg.features.sr)
    train = seed_batches(t.seed, t.batch_size)
    val = None
    if val_recs:  # a fixed validation set, made once by the tf.data path as in `datasets_for`
        pool_val = pipeline.window_pool(val_recs, classes, cfg.features.sr, mix, cache=d.cache, split="validation")
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
            from tfaudio.data import pipeline

            seeds = pipeline.mix_seeds(t.seed).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
            return seeds.batch(per_replica.train.batch_size, drop_remainder=True).prefetch(2)
        return datasets_for(per_replica, train_recs, [], classes, input_kind, input_context=ctx)[0]

    return dist.distribute_datasets_from_function(make)


def atomic_checkpoints(run_dir: str | os.PathLike, monitor: str, write: bool = True, mode: str = "auto"):
    """A `keras.callbacks.Callback` (class `AtomicCheckpoints`) that saves `checkpoints/last.keras` every
    epoch and `checkpoints/best.keras` when `monitor` improves, each to a temporary name and then renamed.

    `mode` is "min", "max" or "auto" (inferred from the monitor's name, see `tfaudio.experiment.monitor_mode`).
    The best value, the monitor and the resolved mode survive `--resume` in `checkpoints/state.json`; a resumed
    run whose monitor or mode changed starts its best afresh (+inf for "min", -inf for "max"). `write=False`
    (a non-chief worker) writes nothing. A monitor missing from an epoch's logs is an error, never a
    silent fall-back to another metric.
    """
    return _atomic_checkpoints_class()(run_dir, monitor, write=write, mode=mode)


@functools.lru_cache(maxsize=None)
def _atomic_checkpoints_class():
    """The `AtomicCheckpoints` class, defined once and only when Keras is first needed."""
    import keras

    class AtomicCheckpoints(keras.callbacks.Callback):
        def __init__(self, run_dir: str | os.PathLike, monitor: str, write: bool = True, mode: str = "auto"):
            super().__init__()
            self.dir = Path(run_dir) / "checkpoints"
            self.state_path = self.dir / "state.json"
            self.monitor = monitor
            self.mode = monitor_mode(monitor, mode)
            self.write = write
            self.best = math.inf if self.mode == "min" else -math.inf
            state = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
            best = state.get("best")
            # state.json written before modes existed has no "mode": it was always "min"
            if (state.get("monitor") == monitor and state.get("mode", "min") == self.mode and best is not None
                    and math.isfinite(best)):
                self.best = float(best)
            elif state.get("monitor") is not None and (state.get("monitor"), state.get("mode", "min")) != \
                    (monitor, self.mode):
                log.warning("%s: its best checkpoint was chosen by %s (%s); now %s (%s): best.keras will be "
                            "replaced by the next epoch", self.state_path, state.get("monitor"),
                            state.get("mode", "min"), monitor, self.mode)

        def improves(self, value: float) -> bool:
            """Whether `value` is better than the best so far."""
            return value < self.best if self.mode == "min" else value > self.best

        def _save(self, name: str) -> None:
            from tfaudio.io import outputs

            outputs.clean_stale(self.dir / name)  # temporary files of a killed run
            outputs.atomic_write(self.dir / name, self.model.save)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if not self.write:
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            self._save("last.keras")
            if self.monitor not in logs:
                raise ConfigError(f"train.monitor {self.monitor!r} is not among this epoch's logs "
                                  f"{sorted(logs)}")
            value = float(logs[self.monitor])
            if self.improves(value):
                self.best = value
                self._save("best.keras")
                log.info("epoch %d: %s improved to %.5f, saved best.keras", epoch + 1, self.monitor, value)
            write_json({"best": self.best, "epoch": epoch + 1, "monitor": self.monitor, "mode": self.mode},
                       self.state_path)

    return AtomicCheckpoints


def _trim_history(path: Path, start: int) -> None:
    """Keep the rows of `history.csv` for epochs before `start`, where a resumed run goes on."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1] + [ln for ln in lines[1:] if ln.split(",", 1)[0].isdigit() and int(ln.split(",", 1)[0]) < start]
    from tfaudio.io import outputs

    if keep != lines:  # a resume that changes nothing rewrites nothing
        outputs.write_text(path, "".join(keep))


def atomic_csv_logger(path: Path, append: bool):
    """keras.callbacks.CSVLogger whose file is rewritten whole through `tfaudio.io.outputs.atomic_write` at
    every epoch (the same rows and format; Keras appends in place, so a kill could leave half a row)."""
    import io

    import keras

    from tfaudio.io import outputs

    class AtomicCSVLogger(keras.callbacks.CSVLogger):
        def on_train_begin(self, logs=None):
            file = Path(self.filename)
            text = file.read_text() if self.append and file.is_file() else ""
            self.append_header = not text.split("\n", 1)[0]
            self.csv_file = io.StringIO(text)
            self.csv_file.seek(0, io.SEEK_END)
            self.writer = None
            self.keys = None

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            outputs.write_text(self.filename, self.csv_file.getvalue())

        def on_train_end(self, logs=None):
            self.writer = None

    return AtomicCSVLogger(str(path), append=append)


def atomic_backup(backup_dir: Path):
    """keras.callbacks.BackupAndRestore whose files are written to a temporary name and renamed, so a
    run killed while it saves still has an intact backup to `--resume` from (Keras writes in place).
    Both files go through `tfaudio.io.outputs.atomic_write`."""
    import keras

    from tfaudio.io import outputs

    class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
        def _save_model(self):
            os.makedirs(self.backup_dir, exist_ok=True)
            outputs.clean_stale(self._weights_path)  # temporary files of a killed run
            outputs.atomic_write(self._weights_path, lambda tmp: self.model.save_weights(tmp, overwrite=True))
            meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
            outputs.write_text(self._training_metadata_path, json.dumps(meta))

    return AtomicBackupAndRestore(str(backup_dir))


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


#: Config keys a `--resume` may change: the schedule and the callbacks (each change is logged and recorded
#: in `RUN/resumes.json`). Any other change (model, data, features, labels, mixing, ...) is refused.
RESUMABLE_KEYS = ("train.epochs", "train.steps_per_epoch", "train.validation_steps", "train.learning_rate",
                  "train.lr_factor", "train.lr_patience", "train.min_lr", "train.monitor", "train.monitor_mode",
                  "train.verbose", "train.strategy", "description")


def run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The resolved experiment config a run was trained with (`RUN/config.json`), or one line saying why not."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise TfaudioError(f"{run_dir}: nothing to resume (no run.json)")
    path = run_dir / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TfaudioError(f"{path}: missing; a run is resumed only with the config it was trained with") from None
    except (OSError, ValueError) as e:
        raise TfaudioError(f"{path}: unreadable config ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise TfaudioError(f"{path}: malformed config (not a mapping)")
    return data


def resume_config(run_dir: str | os.PathLike, overrides: Sequence[str] = (),
                  experiment: str | None = None) -> ExperimentConfig:
    """The config `train --resume` continues with: the run's own `config.json` with the `--set` `overrides`
    applied (what the pipeline YAML says now does not matter). `experiment`: the experiment name the user
    gave, refused when the run was trained from another one."""
    from tfaudio.experiment import apply_overrides, experiment_from_dict

    saved = run_config(run_dir)
    if experiment is not None and saved.get("name") != experiment:
        raise ConfigError(f"{run_dir}: this run was trained from experiment {saved.get('name')!r}, not "
                          f"{experiment!r}; --resume continues a run with its own config.json")
    try:
        return experiment_from_dict(apply_overrides(saved, overrides))
    except ConfigError as e:
        raise ConfigError(f"{Path(run_dir) / 'config.json'}: {e}") from None


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: data}


def resume_changes(run_dir: str | os.PathLike, cfg: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (saved, new)} of what `cfg` changes in the run's own config; a `ConfigError` listing the
    keys when any of them is outside `RESUMABLE_KEYS` (a resume never changes what the run is)."""
    from tfaudio.experiment import experiment_from_dict

    try:
        saved = _flat(experiment_from_dict(run_config(run_dir)).to_dict())
    except ConfigError as e:
        raise ConfigError(f"{Path(run_dir) / 'config.json'}: {e}") from None
    new = _flat(cfg.to_dict())
    changes = {k: (saved.get(k), new.get(k)) for k in sorted(set(saved) | set(new)) if saved.get(k) != new.get(k)}
    refused = [k for k in changes if k not in RESUMABLE_KEYS]
    if refused:
        raise ConfigError(f"{run_dir}: --resume continues the run as it was trained, and {', '.join(refused)} "
                          f"would change it (a resume may change only {', '.join(RESUMABLE_KEYS)}); train a new "
                          "run into another --out to change the rest")
    return changes


def _record_resume(run_dir: Path, cfg: ExperimentConfig, changes: dict[str, tuple[Any, Any]]) -> None:
    """Log each change of a resume and record it: `config.json` takes the new values, `resumes.json` the list."""
    import datetime

    for key, (old, new) in changes.items():
        log.info("%s: resuming with %s=%r (was %r)", run_dir, key, new, old)
    path = run_dir / "resumes.json"
    try:
        history = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    except (OSError, ValueError):
        history = []
    history = history if isinstance(history, list) else []
    history.append({"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "changes": {k: {"was": old, "now": new} for k, (old, new) in changes.items()}})
    write_json(history, path)
    write_json(cfg.to_dict(), run_dir / "config.json")


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
    from tfaudio.run_folder import run_lock

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
    from tfaudio.run_folder import LOCK_NAME

    return {p.name for p in run_dir.iterdir() if p.name != LOCK_NAME} if run_dir.is_dir() else set()


def _train_locked(cfg: ExperimentConfig, run_dir: Path, resume: bool, dist: Any) -> Path:
    """`train` of the chief, which holds the run's lock: the checks, the training, the cleanup of a failure."""
    from tfaudio.io import outputs

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
    from tfaudio.io import outputs

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
    from tfaudio.run_folder import svm_checkpoint_path

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
    policy = _policy(t.mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    log.info("precision policy %s, strategy %s (%d replica(s))", policy, type(dist).__name__,
             dist.num_replicas_in_sync)

    from tfaudio.data.datasets import classes_of

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

    from tfaudio.evaluation.evaluate import choose_thresholds, clip_examples, collect_predictions

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

    from tfaudio import models
    from tfaudio.data import pipeline
    from tfaudio.data.datasets import classes_of

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
