"""KerasTuner hypermodels, one per tfaudio model family.

    hm = hypermodel_for(cfg, classes, data=(train_records, val_records))
    model = hm.build(keras_tuner.HyperParameters())   # the seed's model, compiled
    hm.config_for(hp)                                  # the ExperimentConfig of a trial

A hypermodel searches the architecture (widths, depths, kernel sizes, dropout), the learning rate,
the feature type (models over spectral frames) and the mixing parameters (tasks trained on mixes:
"activation" and "multi_label"). Every hyperparameter's default is the seed's setting: the
architecture defaults are the model family's config defaults (`tfaudio/models/configs.py`), the
learning rate is 1e-3 (all seeds), the feature type is the family's seed front end and the mixing
defaults are seed 001's (`MixConfig()`). So `build(HyperParameters())` is the seed's model.
Whatever the hypermodel does not search stays at the experiment config's value.

Widths double from block to block, as in every seed CNN (16, 32, 64, ...): the search picks the
first block's width and the number of blocks. `fixed={"name": value}` holds a hyperparameter at a
value (it need not be one of the searched values).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar, Mapping, Sequence

import keras_tuner as kt

from tfaudio.config import MixConfig
from tfaudio.errors import ConfigError
from tfaudio.experiment import ExperimentConfig, TrainConfig

log = logging.getLogger(__name__)

MIX_TASKS = ("activation", "multi_label")


def _doubling(base: int, n: int) -> tuple[int, ...]:
    return tuple(int(base) * 2 ** i for i in range(int(n)))


class TfaudioHyperModel(kt.HyperModel):
    """Base class: a tfaudio model family as a `keras_tuner.HyperModel`.

    `cfg`: the experiment (its model must be one of the family's `models`); `classes`: the class
    names (the output size); `data`: `(train_records, val_records)` to build the tf.data pipelines
    from in `fit` (needed when `fit` is given no data, or when a trial changes the feature type or
    the mixing); `fixed`: hyperparameters held at a value; `search_features` / `search_mix`: whether
    to search the feature type / mixing parameters (where the family and task have them).
    `build(hp)` returns a compiled model; `fit(hp, model, ...)` trains it on the trial's data.
    """

    family: ClassVar[str] = ""
    models: ClassVar[tuple[str, ...]] = ()
    #: feature types searched; the first is the seed's. Empty: the family reads raw audio.
    feature_kinds: ClassVar[tuple[str, ...]] = ()
    tasks: ClassVar[tuple[str, ...]] = ("single_label", "multi_label")

    def __init__(self, cfg: ExperimentConfig, classes: Sequence[str], *, data: tuple[Sequence, Sequence | None] |
                 None = None, fixed: Mapping[str, Any] | None = None, search_features: bool = True,
                 search_mix: bool = True, name: str | None = None):
        if not isinstance(cfg, ExperimentConfig):
            raise ConfigError(f"{type(self).__name__}: cfg must be an ExperimentConfig, got {type(cfg).__name__}")
        if cfg.model_name not in self.models:
            raise ConfigError(f"{type(self).__name__} tunes {list(self.models)}, not model {cfg.model_name!r}")
        if cfg.task not in self.tasks:
            raise ConfigError(f"{type(self).__name__}: model {cfg.model_name!r} does not do task {cfg.task!r} "
                              f"(it does {list(self.tasks)})")
        if isinstance(classes, str) or not isinstance(classes, Sequence) or not classes:
            raise ConfigError(f"{type(self).__name__}: classes must be a non-empty sequence of names, got {classes!r}")
        if len(set(classes)) != len(classes) or not all(isinstance(c, str) and c for c in classes):
            raise ConfigError(f"{type(self).__name__}: classes must be distinct non-empty strings, got {list(classes)}")
        if data is not None:
            if not (isinstance(data, (tuple, list)) and len(data) == 2 and data[0]):
                raise ConfigError(f"{type(self).__name__}: data must be (train_records, val_records or None) "
                                  "with at least one training record")
        if fixed is not None and not isinstance(fixed, Mapping):
            raise ConfigError(f"{type(self).__name__}: fixed must be a mapping of hyperparameter names to values")
        super().__init__(name=name or cfg.model_name, tunable=True)
        self.cfg = cfg
        self.classes = tuple(classes)
        self.data = None if data is None else (list(data[0]), list(data[1]) if data[1] else None)
        self.search_features = bool(search_features) and bool(self.feature_kinds)
        self.search_mix = bool(search_mix) and cfg.task in MIX_TASKS
        self.fixed: dict[str, Any] = {}
        self._cache: dict[str, tuple[Any, Any]] = {}  # "train"/"val": (settings, tf.data pipeline)
        known = self.hyperparameter_names()
        unknown = sorted(set(fixed or {}) - set(known))
        if unknown:
            raise ConfigError(f"{type(self).__name__}: unknown hyperparameter(s) {unknown} to fix; "
                              f"{cfg.model_name} searches {known}")
        for k, v in (fixed or {}).items():
            if not isinstance(v, (bool, int, float, str)):
                raise ConfigError(f"{type(self).__name__}: fixed {k}={v!r} must be a bool, int, float or string")
        self.fixed = dict(fixed or {})
        try:
            self.config_for(kt.HyperParameters())  # the default trial must be a valid experiment
        except ConfigError as e:
            raise ConfigError(f"{type(self).__name__}: the default trial (fixed {self.fixed}) is not a valid "
                              f"experiment: {e}") from None

    # ---------------------------------------------------------------------------------------
    # the search space

    def _seed(self) -> Any:
        """The model's config at its defaults: the seed's settings."""
        from tfaudio import models

        return models.config_class(self.cfg.model_name)()

    def _hp(self, hp: kt.HyperParameters, kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """`hp.Int`/`hp.Float`/`hp.Choice`, or `hp.Fixed` for a fixed hyperparameter."""
        if name in self.fixed:
            return hp.Fixed(name, self.fixed[name])
        return getattr(hp, kind)(name, *args, **kwargs)

    def model_space(self, hp: kt.HyperParameters) -> dict[str, Any]:
        """The model config fields a trial sets (family-specific)."""
        raise NotImplementedError

    def config_for(self, hp: kt.HyperParameters) -> ExperimentConfig:
        """The experiment of a trial: the config with the trial's hyperparameters applied.
        Raises ConfigError when the combination is not a valid experiment."""
        cfg = self.cfg
        model = {**cfg.model, **self.model_space(hp)}
        features = cfg.features
        if self.search_features:
            kind = self._hp(hp, "Choice", "features", list(self.feature_kinds), default=self.feature_kinds[0])
            features = dataclasses.replace(features, kind=kind)
        mix = cfg.mix
        if self.search_mix:
            seed_mix = MixConfig()
            top = max(cfg.mix.n_min, min(6, len(self.classes)))
            mix = dataclasses.replace(
                mix,
                n_max=self._hp(hp, "Int", "mix_n_max", cfg.mix.n_min, top,
                               default=min(max(seed_mix.n_max, cfg.mix.n_min), top)),
                level_mean=self._hp(hp, "Float", "mix_level_mean", 0.3, 0.7, step=0.1, default=seed_mix.level_mean),
                level_var=self._hp(hp, "Float", "mix_level_var", 0.0025, 0.04, sampling="log",
                                   default=seed_mix.level_var))
        lr = self._hp(hp, "Float", "learning_rate", 1e-4, 1e-2, sampling="log", default=TrainConfig().learning_rate)
        train = dataclasses.replace(cfg.train, learning_rate=float(lr))
        try:
            return dataclasses.replace(cfg, model=model, features=features, mix=mix, train=train)
        except (TypeError, ValueError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(str(e)) from None

    def hyperparameter_names(self) -> list[str]:
        """Names of the hyperparameters this hypermodel searches (for this config and task)."""
        hp = kt.HyperParameters()
        fixed, self.fixed = self.fixed, {}
        try:
            self.config_for(hp)
        except ConfigError:
            pass  # names are registered before the config is validated
        finally:
            self.fixed = fixed
        return [p.name for p in hp.space]

    # ---------------------------------------------------------------------------------------
    # keras_tuner.HyperModel

    def build(self, hp: kt.HyperParameters):
        """The trial's model, compiled (AdamW at the trial's learning rate, the task's loss)."""
        import keras

        from tfaudio.training.train import build_model, compile_model

        try:
            cfg = self.config_for(hp)
            keras.utils.set_random_seed(cfg.train.seed)
            model = build_model(cfg, len(self.classes))
        except ConfigError as e:
            raise kt.errors.FailedTrialError(f"{self.cfg.model_name}: {e}") from None
        compile_model(model, cfg)
        return model

    def fit(self, hp: kt.HyperParameters, model, *args: Any, **kwargs: Any):
        """Train `model` on the trial's data. Given data (`x`, `validation_data`) is used when the
        trial keeps the experiment's features and mixing; otherwise (or when none is given) the
        tf.data pipelines are built from `data` for the trial's config."""
        cfg = self.config_for(hp)
        x = args[0] if args else kwargs.pop("x", None)
        args = args[1:]
        if x is None or self._data_key(cfg, model) != self._data_key(self.cfg, model):
            train_ds, val_ds = self.datasets(cfg, model)
            x = train_ds
            kwargs["validation_data"] = val_ds
        return model.fit(x, *args, **kwargs)

    # ---------------------------------------------------------------------------------------
    # data

    @staticmethod
    def _data_key(cfg: ExperimentConfig, model) -> tuple:
        from tfaudio.training.train import model_input

        kind = model_input(model)
        return (kind, cfg.features if kind == "features" else cfg.features.sr, cfg.mix, cfg.augment,
                cfg.train.batch_size, cfg.train.validation_steps, cfg.train.seed)

    def datasets(self, cfg: ExperimentConfig, model) -> tuple[Any, Any]:
        """(train, validation) tf.data pipelines of a trial's config, for `model`'s input.

        The validation mixes always use the experiment's mixing (only the training mixes follow the
        trial's), so every trial is scored on the same task. Pipelines are reused from the last
        trial when their settings are the same; older ones are dropped."""
        from tfaudio.data.datasets import classes_of
        from tfaudio.training.train import datasets_for, model_input

        if self.data is None:
            raise ConfigError(f"{type(self).__name__}: this trial needs data (its features or mixing differ "
                              "from the experiment's); pass data=(train_records, val_records)")
        train_recs, val_recs = self.data
        if list(classes_of(train_recs)) != list(self.classes):
            raise ConfigError(f"{type(self).__name__}: the training records' classes differ from classes")
        kind = model_input(model)
        val_cfg = dataclasses.replace(cfg, mix=self.cfg.mix)
        keys = {"train": self._data_key(cfg, model), "val": self._data_key(val_cfg, model)}
        cache = {k: v for k, v in self._cache.items() if v[0] == keys[k]}
        self._cache = cache  # drop stale pipelines (and the audio they hold) before building new ones
        if not cache and keys["train"] == keys["val"]:
            train, val = datasets_for(cfg, train_recs, val_recs, self.classes, kind)
            cache.update(train=(keys["train"], train), val=(keys["val"], val))
        if "train" not in cache:
            cache["train"] = (keys["train"], datasets_for(cfg, train_recs, None, self.classes, kind)[0])
        if "val" not in cache:
            val = datasets_for(val_cfg, val_recs, val_recs, self.classes, kind)[1] if val_recs else None
            cache["val"] = (keys["val"], val)
        return cache["train"][1], cache["val"][1]


# -------------------------------------------------------------------------------------------
# the families


class RNNHyperModel(TfaudioHyperModel):
    """Seed 000 RNNs (`simple_rnn`, `gru`, `lstm`, `bilstm`) over feature frames.

    rnn_layers 1-3 (seed 1), units 32-256 a layer (seed 128), dropout 0-0.5 (seed 0.3), features
    mfcc/log_mel/cqt (seed: MFCC frames), learning rate.
    """

    family = "rnn"
    models = ("simple_rnn", "gru", "lstm", "bilstm")
    feature_kinds = ("mfcc", "log_mel", "cqt")

    def model_space(self, hp):
        s = self._seed()
        layers = self._hp(hp, "Int", "rnn_layers", 1, 3, default=len(s.units))
        units = self._hp(hp, "Choice", "units", [32, 64, 128, 256], default=s.units[0])
        dropout = self._hp(hp, "Float", "dropout", 0.0, 0.5, step=0.1, default=s.dropout)
        return {"units": (int(units),) * int(layers), "dropout": float(dropout)}


class _ImageCNNSpace:
    """Conv 2-D blocks of the seed 000 image CNN: blocks, first width (doubling), kernel, embedding."""

    def _image_cnn(self, hp, s) -> dict[str, Any]:
        blocks = self._hp(hp, "Int", "conv_blocks", 2, 5, default=len(s.filters))
        width = self._hp(hp, "Choice", "filters", [8, 16, 32], default=s.filters[0])
        kernel = self._hp(hp, "Choice", "kernel_size", [3, 5, 7], default=s.kernel_size)
        embedding = self._hp(hp, "Choice", "embedding", [64, 128, 256], default=s.embedding)
        return {"filters": _doubling(width, blocks), "kernel_size": int(kernel), "embedding": int(embedding)}


class ImageCNNHyperModel(_ImageCNNSpace, TfaudioHyperModel):
    """Seed 000 image CNNs over the stacked waveform (`cnn_stacked`) and the multi-resolution
    recurrence plot (`cnn_mrp`); both read raw audio, so no feature type.

    conv_blocks 2-5 (seed 4), filters 8/16/32 in the first block, doubling (seed 16, 32, 64, 128),
    kernel_size 3/5/7 (seed 3), embedding 64-256 (seed 128), dropout 0-0.6 (seed 0.5), learning rate.
    """

    family = "image_cnn"
    models = ("cnn_stacked", "cnn_mrp")

    def model_space(self, hp):
        s = self._seed()
        out = self._image_cnn(hp, s)
        out["dropout"] = float(self._hp(hp, "Float", "dropout", 0.0, 0.6, step=0.1, default=s.dropout))
        return out


class CNNLSTMHyperModel(_ImageCNNSpace, TfaudioHyperModel):
    """Seed 000 `cnn_lstm`: the image CNN's space, LSTM units 64-256 (seed 128), dropout 0-0.5
    (seed 0.3), features log_mel/mfcc/cqt (seed log-mel), learning rate."""

    family = "cnn_lstm"
    models = ("cnn_lstm",)
    feature_kinds = ("log_mel", "mfcc", "cqt")

    def model_space(self, hp):
        s = self._seed()
        out = self._image_cnn(hp, s)
        out["units"] = int(self._hp(hp, "Choice", "units", [64, 128, 256], default=s.units))
        out["dropout"] = float(self._hp(hp, "Float", "dropout", 0.0, 0.5, step=0.1, default=s.dropout))
        return out


class ActivationCNNHyperModel(TfaudioHyperModel):
    """Seed 001 activation CNN (`activation_cnn`), trained on mixes.

    conv_pairs 2-4 (seed 3; frequency pools 2, ..., 2, 4, spatial dropout after all but the last),
    filters 8/16/32 in the first pair, doubling (seed 16, 32, 64), kernel_size 3/5 in the first
    pair growing by kernel_growth 0/2 a pair (seed 3, 5, 7), spatial_dropout 0-0.3 (seed 0.1),
    features log_mel/cqt/stft (seed log-mel; the seed compares all three), mixing (mix_n_max seed 4,
    mix_level_mean seed 0.5, mix_level_var seed 0.01), learning rate.
    """

    family = "activation_cnn"
    models = ("activation_cnn",)
    feature_kinds = ("log_mel", "cqt", "stft")
    tasks = ("activation",)

    def model_space(self, hp):
        s = self._seed()
        pairs = int(self._hp(hp, "Int", "conv_pairs", 2, 4, default=len(s.filters)))
        width = self._hp(hp, "Choice", "filters", [8, 16, 32], default=s.filters[0])
        kernel = int(self._hp(hp, "Choice", "kernel_size", [3, 5], default=s.kernel_sizes[0]))
        growth = int(self._hp(hp, "Choice", "kernel_growth", [0, 2], default=s.kernel_sizes[1] - s.kernel_sizes[0]))
        dropout = self._hp(hp, "Float", "spatial_dropout", 0.0, 0.3, step=0.05, default=s.spatial_dropout)
        pools = (s.pools[0],) * (pairs - 1) + (s.pools[-1],)
        return {"filters": _doubling(width, pairs), "kernel_sizes": tuple(kernel + growth * i for i in range(pairs)),
                "pools": pools, "dropout_after": tuple(range(1, pairs)), "spatial_dropout": float(dropout)}


class _GRUSpace:
    """Seed 003's BiGRU settings: one layer of 128 or 256 units, or two of 128 and 64."""

    def _gru(self, hp, seed_units: tuple[int, ...], prefix: str = "") -> tuple[int, ...]:
        layers = int(self._hp(hp, "Int", f"{prefix}gru_layers", 1, 2, default=len(seed_units)))
        units = int(self._hp(hp, "Choice", f"{prefix}gru_units", [64, 128, 256], default=seed_units[0]))
        return (units,) if layers == 1 else (units, max(1, units // 2))


class BiGRURawHyperModel(_GRUSpace, TfaudioHyperModel):
    """Seed 003 `bigru_raw` (raw audio, mixes).

    gru_layers 1-2 and gru_units 64/128/256 (the second layer has half: the seed's 128, 256 and
    128+64; seed 128), frame_length 256-2048 samples a step (seed 1024), dropout 0-0.6 (seed 0.5),
    mixing, learning rate.
    """

    family = "bigru_raw"
    models = ("bigru_raw",)

    def model_space(self, hp):
        s = self._seed()
        frame = self._hp(hp, "Choice", "frame_length", [256, 512, 1024, 2048], default=s.frame_length)
        dropout = self._hp(hp, "Float", "dropout", 0.0, 0.6, step=0.1, default=s.dropout)
        return {"units": self._gru(hp, s.units), "frame_length": int(frame), "dropout": float(dropout)}


class RawCNNHyperModel(_GRUSpace, TfaudioHyperModel):
    """Seed 003 raw-waveform 1-D CNNs (`fcn_raw`, `rfcn_raw`, `dcnn_raw`, `rcnn_raw`; mixes).

    conv_cells 3-6 (seed 5), filters 8/16/32 in the first cell, doubling (seed 16 ... 256),
    kernel_size 3/5/7/9 (seed 3), dropout 0-0.6 (seed 0.5), mixing, learning rate; `dcnn_raw`
    also dense_units 64-512 (seed 256), `rcnn_raw` also gru_layers/gru_units (seed one layer of 128).
    """

    family = "raw_cnn"
    models = ("fcn_raw", "rfcn_raw", "dcnn_raw", "rcnn_raw")

    def model_space(self, hp):
        s = self._seed()
        cells = self._hp(hp, "Int", "conv_cells", 3, 6, default=len(s.filters))
        width = self._hp(hp, "Choice", "filters", [8, 16, 32], default=s.filters[0])
        kernel = self._hp(hp, "Choice", "kernel_size", [3, 5, 7, 9], default=s.kernel_size)
        dropout = self._hp(hp, "Float", "dropout", 0.0, 0.6, step=0.1, default=s.dropout)
        out = {"filters": _doubling(width, cells), "kernel_size": int(kernel), "dropout": float(dropout)}
        if self.cfg.model_name == "dcnn_raw":
            out["dense_units"] = int(self._hp(hp, "Choice", "dense_units", [64, 128, 256, 512],
                                              default=s.dense_units))
        if self.cfg.model_name == "rcnn_raw":
            out["gru_units"] = self._gru(hp, s.gru_units)
        return out


class TransformerHyperModel(TfaudioHyperModel):
    """Seed 004 `transformer`: n_layers 1-6 (seed 3), d_model 64/128/256 (seed 128), n_heads
    2/4/8 (seed 8), d_ff 128-1024 (seed 256), dropout 0-0.5 (seed 0.1), features
    log_mel/mfcc/cqt (seed log-mel), learning rate."""

    family = "transformer"
    models = ("transformer",)
    feature_kinds = ("log_mel", "mfcc", "cqt")

    def model_space(self, hp):
        s = self._seed()
        return {
            "n_layers": int(self._hp(hp, "Int", "n_layers", 1, 6, default=s.n_layers)),
            "d_model": int(self._hp(hp, "Choice", "d_model", [64, 128, 256], default=s.d_model)),
            "n_heads": int(self._hp(hp, "Choice", "n_heads", [2, 4, 8], default=s.n_heads)),
            "d_ff": int(self._hp(hp, "Choice", "d_ff", [128, 256, 512, 1024], default=s.d_ff)),
            "dropout": float(self._hp(hp, "Float", "dropout", 0.0, 0.5, step=0.05, default=s.dropout)),
        }


class ResNetHyperModel(TfaudioHyperModel):
    """Seed 004 `resnet18`: stages 2-4 (seed 4), widths 16/32/64 in the first stage, doubling
    (seed 64 ... 512), blocks 1/2 a stage (seed 2: ResNet-18; 1: ResNet-10), stem_kernel 3/5/7
    (seed 7), features log_mel/cqt/stft (seed log-mel), learning rate. The model has no dropout."""

    family = "resnet"
    models = ("resnet18",)
    feature_kinds = ("log_mel", "cqt", "stft")

    def model_space(self, hp):
        s = self._seed()
        stages = int(self._hp(hp, "Int", "stages", 2, 4, default=len(s.widths)))
        width = self._hp(hp, "Choice", "widths", [16, 32, 64], default=s.widths[0])
        blocks = int(self._hp(hp, "Choice", "blocks", [1, 2], default=s.blocks[0]))
        stem = int(self._hp(hp, "Choice", "stem_kernel", [3, 5, 7], default=s.stem_kernel))
        return {"widths": _doubling(width, stages), "blocks": (blocks,) * stages, "stem_kernel": stem}


class SmallCNNHyperModel(TfaudioHyperModel):
    """Seed 004 `cnn_small`: conv_blocks 2-4 (seed 3), filters 8/16/32 in the first block, doubling
    (seed 16, 32, 64), kernel_size 3/5/7 (seed 3), hidden 64-256 (seed 128), dropout 0-0.6
    (seed 0.5), features log_mel/mfcc/cqt (seed log-mel), learning rate."""

    family = "cnn_small"
    models = ("cnn_small",)
    feature_kinds = ("log_mel", "mfcc", "cqt")

    def model_space(self, hp):
        s = self._seed()
        blocks = self._hp(hp, "Int", "conv_blocks", 2, 4, default=len(s.filters))
        width = self._hp(hp, "Choice", "filters", [8, 16, 32], default=s.filters[0])
        return {
            "filters": _doubling(width, blocks),
            "kernel_size": int(self._hp(hp, "Choice", "kernel_size", [3, 5, 7], default=s.kernel_size)),
            "hidden": int(self._hp(hp, "Choice", "hidden", [64, 128, 256], default=s.hidden)),
            "dropout": float(self._hp(hp, "Float", "dropout", 0.0, 0.6, step=0.1, default=s.dropout)),
        }


class CompactCNNHyperModel(TfaudioHyperModel):
    """`cnn_compact` (the pretrained msdb/irmas model, not from a seed): conv_blocks 2-5 (default 4), a width
    multiplier 0.5/1/1.5 of its channels (default 1: 24, 48, 96, 144, then x1.5), dropout 0-0.6 (default 0.3),
    features log_mel/cqt/mfcc (default log-mel), learning rate."""

    family = "cnn_compact"
    models = ("cnn_compact",)
    feature_kinds = ("log_mel", "cqt", "mfcc")

    def model_space(self, hp):
        s = self._seed()
        blocks = int(self._hp(hp, "Int", "conv_blocks", 2, 5, default=len(s.filters)))
        width = float(self._hp(hp, "Choice", "width", [0.5, 1.0, 1.5], default=1.0))
        series = list(s.filters)
        while len(series) < blocks:
            series.append(int(series[-1] * 1.5))
        return {
            "filters": tuple(max(1, int(round(f * width))) for f in series[:blocks]),
            "dropout": float(self._hp(hp, "Float", "dropout", 0.0, 0.6, step=0.1, default=s.dropout)),
        }


class MusicnnHyperModel(TfaudioHyperModel):
    """The musicnn family (ported, not from a seed; its log10-mel front end is fixed). `musicnn_head`: the
    backbone MSD_musicnn/MTT_musicnn (default MSD), which part trains (none/midend, default none), what the head
    reads (all/cnn, default all), head_layers 0-2 (default 1; 0 is a linear head), head_units 128/256/512
    (default 256), dropout 0-0.6 (default 0.5); `musicnn`: midend_filters 32/64/128 (64), backend_units
    100/200/400 (200), dropout; `musicnn_vgg`: filters 32/64/128 (128), dropout; learning rate."""

    family = "musicnn"
    models = ("musicnn", "musicnn_vgg", "musicnn_head")
    tasks = ("single_label", "multi_label", "activation")

    def model_space(self, hp):
        s = self._seed()
        out: dict[str, Any] = {}
        if self.cfg.model_name == "musicnn_head":
            out["backbone"] = self._hp(hp, "Choice", "backbone", ["MSD_musicnn", "MTT_musicnn"], default=s.backbone)
            out["trainable"] = self._hp(hp, "Choice", "trainable", ["none", "midend"], default=s.trainable)
            out["representation"] = self._hp(hp, "Choice", "representation", ["all", "cnn"],
                                             default=s.representation)
            out["head_layers"] = int(self._hp(hp, "Int", "head_layers", 0, 2, default=s.head_layers))
            out["head_units"] = int(self._hp(hp, "Choice", "head_units", [128, 256, 512], default=s.head_units))
        elif self.cfg.model_name == "musicnn":
            out["midend_filters"] = int(self._hp(hp, "Choice", "midend_filters", [32, 64, 128],
                                                 default=s.midend_filters))
            out["backend_units"] = int(self._hp(hp, "Choice", "backend_units", [100, 200, 400],
                                                default=s.backend_units))
        else:
            out["filters"] = int(self._hp(hp, "Choice", "filters", [32, 64, 128], default=s.filters))
        out["dropout"] = float(self._hp(hp, "Float", "dropout", 0.0, 0.6, step=0.1, default=s.dropout))
        return out


FAMILIES: tuple[type[TfaudioHyperModel], ...] = (
    RNNHyperModel, ImageCNNHyperModel, CNNLSTMHyperModel, ActivationCNNHyperModel, BiGRURawHyperModel,
    RawCNNHyperModel, TransformerHyperModel, ResNetHyperModel, SmallCNNHyperModel, CompactCNNHyperModel,
    MusicnnHyperModel)

#: model name -> its hypermodel class
HYPERMODELS: dict[str, type[TfaudioHyperModel]] = {m: cls for cls in FAMILIES for m in cls.models}


def hypermodel_class(model_name: str) -> type[TfaudioHyperModel]:
    """The hypermodel class of a tfaudio model name."""
    if model_name == "svm":
        raise ConfigError("model 'svm' is a scikit-learn baseline, not a Keras model: KerasTuner's Keras "
                          "tuners cannot tune it (its only setting is C)")
    try:
        return HYPERMODELS[model_name]
    except KeyError:
        raise ConfigError(f"no hypermodel for model {model_name!r}; tunable: {sorted(HYPERMODELS)}") from None


def hypermodel_for(cfg: ExperimentConfig, classes: Sequence[str], **kwargs: Any) -> TfaudioHyperModel:
    """The hypermodel of `cfg`'s model family (keyword arguments as `TfaudioHyperModel`)."""
    if not isinstance(cfg, ExperimentConfig):
        raise ConfigError(f"hypermodel_for: cfg must be an ExperimentConfig, got {type(cfg).__name__}")
    return hypermodel_class(cfg.model_name)(cfg, classes, **kwargs)


__all__ = ["TfaudioHyperModel", "RNNHyperModel", "ImageCNNHyperModel", "CNNLSTMHyperModel",
           "ActivationCNNHyperModel", "BiGRURawHyperModel", "RawCNNHyperModel", "TransformerHyperModel",
           "ResNetHyperModel", "SmallCNNHyperModel", "CompactCNNHyperModel", "MusicnnHyperModel", "FAMILIES",
           "HYPERMODELS", "hypermodel_class",
           "hypermodel_for"]
