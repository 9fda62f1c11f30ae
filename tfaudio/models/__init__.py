"""Model zoo: one functional Keras builder per model, one frozen config per family, one registry.

    model = tfaudio.models.build("activation_cnn", n_bins=192)          # features in
    model = tfaudio.models.build("lstm", input="audio", features=FeatureConfig(kind="mfcc"))
    tfaudio.models.available()        # every name build() knows
    tfaudio.models.model_config("transformer")   # the defaults, a frozen dataclass (JSON: config.to_dict)

Models take features `(batch, frames, bins)` by default; `input="audio"` puts the feature layers of
`tfaudio.features` inside, so the model (and its SavedModel) takes `(batch, samples)` audio. Seed 003's
raw-waveform models take audio always. Every output activation is float32 under mixed precision.
`build("svm")` returns an `SVMBaseline` (scikit-learn), not a Keras model, with the same
fit/evaluate/predict interface.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, NamedTuple

from tfaudio.config import check_fields, from_dict
from tfaudio.errors import ConfigError
from tfaudio.models import (activation, compact_cnn, configs, image_cnn, layers, musicnn, raw_waveform, recurrent,
                            spectrogram)
from tfaudio.models import svm as _svm
from tfaudio.models.configs import (ActivationCNNConfig, BiGRURawConfig, CNNLSTMConfig, CompactCNNConfig,
                                    DCNNRawConfig, MusicnnConfig, MusicnnHeadConfig, MusicnnVGGConfig,
                                    FramesConfig, ImageCNNConfig, ModelConfig, MRPCNNConfig, RawCNNConfig,
                                    RawConfig, RCNNRawConfig, ResNet18Config, RNNConfig, SmallCNNConfig,
                                    StackedCNNConfig, SVMConfig, TransformerConfig)
from tfaudio.models.svm import SVMBaseline
from tfaudio.config import FeatureConfig


class Entry(NamedTuple):
    paper: str  # the seed document (paper) the model comes from: "000" ... "004", or "—"
    config: type
    builder: Callable[[Any], Any]
    description: str


_REGISTRY: dict[str, Entry] = {
    "simple_rnn": Entry("000", RNNConfig, recurrent.simple_rnn, "vanilla RNN over frames"),
    "gru": Entry("000", RNNConfig, recurrent.gru, "GRU over frames"),
    "lstm": Entry("000", RNNConfig, recurrent.lstm, "LSTM over frames"),
    "bilstm": Entry("000", RNNConfig, recurrent.bilstm, "bidirectional LSTM over frames"),
    "cnn_stacked": Entry("000", StackedCNNConfig, image_cnn.cnn_stacked, "CNN over the N×N stacked waveform"),
    "cnn_mrp": Entry("000", MRPCNNConfig, image_cnn.cnn_mrp, "CNN over the multi-resolution recurrence plot"),
    "cnn_lstm": Entry("000", CNNLSTMConfig, image_cnn.cnn_lstm, "MRP CNN embedding -> LSTM (h0, c0) over frames"),
    "activation_cnn": Entry("001", ActivationCNNConfig, activation.activation_cnn,
                            "Neuroment frame-wise activation CNN"),
    "bigru_raw": Entry("003", BiGRURawConfig, raw_waveform.bigru_raw, "BiGRU over waveform frames"),
    "dcnn_raw": Entry("003", DCNNRawConfig, raw_waveform.dcnn_raw, "1-D conv cells + two dense layers"),
    "fcn_raw": Entry("003", RawCNNConfig, raw_waveform.fcn_raw, "1-D conv cells, fully convolutional"),
    "rfcn_raw": Entry("003", RawCNNConfig, raw_waveform.rfcn_raw, "residual 1-D conv cells, fully convolutional"),
    "rcnn_raw": Entry("003", RCNNRawConfig, raw_waveform.rcnn_raw, "residual 1-D conv cells + BiGRU"),
    "transformer": Entry("004", TransformerConfig, spectrogram.transformer, "Transformer encoder over log-mel frames"),
    "resnet18": Entry("004", ResNet18Config, spectrogram.resnet18, "ResNet-18, one-channel spectrogram"),
    "cnn_small": Entry("004", SmallCNNConfig, spectrogram.cnn_small, "three-conv CNN"),
    "svm": Entry("004", SVMConfig, _svm.svm, "linear SVM on MFCC statistics (scikit-learn)"),
    "cnn_compact": Entry("—", CompactCNNConfig, compact_cnn.cnn_compact,
                         "compact VGG-style CNN with BN, mean+max pooling (pretrained msdb, irmas)"),
    "musicnn": Entry("—", MusicnnConfig, musicnn.musicnn,
                     "musicnn (Pons & Serra 2019), weights MTT_musicnn / MSD_musicnn ported"),
    "musicnn_vgg": Entry("—", MusicnnVGGConfig, musicnn.musicnn_vgg,
                         "musicnn's VGG baseline, weights MTT_vgg / MSD_vgg ported"),
    "musicnn_head": Entry("—", MusicnnHeadConfig, musicnn.musicnn_head,
                          "clip or frame head on the pretrained musicnn front and mid end"),
}


def available() -> list[str]:
    """Every model name `build` knows, in seed order."""
    return list(_REGISTRY)


def _entry(name: str) -> Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(_REGISTRY)}") from None


def config_class(name: str) -> type:
    """The config dataclass of model `name`."""
    return _entry(name).config


#: Other names for config keys, per model: the activation CNN's classes are its instruments.
ALIASES: dict[str, dict[str, str]] = {"activation_cnn": {"n_instruments": "n_classes"}}


def _unalias(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(overrides)
    for alias, key in ALIASES.get(name, {}).items():
        if alias in out:
            if key in out and out[key] != out[alias]:
                raise ConfigError(f"model {name!r}: {alias}={out[alias]} and {key}={out[key]} disagree")
            out[key] = out.pop(alias)
    return out


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The config of model `name`: its defaults, with `overrides` applied (unknown keys: ConfigError).

    The activation CNN also takes `n_instruments` for `n_classes`. Values are checked as `config.from_dict`.
    """
    cls, overrides = config_class(name), _unalias(name, overrides)
    try:
        kwargs = check_fields(cls, overrides)
        if issubclass(cls, FramesConfig) and kwargs.get("n_samples") is not None and "n_frames" not in kwargs:
            kwargs["n_frames"] = kwargs.get("features", cls.features).n_frames(kwargs["n_samples"])  # n_samples alone
        return from_dict(cls, kwargs)
    except ConfigError as e:
        raise ConfigError(f"model {name!r}: {e}") from None


def build(name: str, config: ModelConfig | None = None, **overrides: Any):
    """Build model `name` -> `keras.Model` (`SVMBaseline` for "svm").

    `config`: a config of the model's family (default: `model_config(name)`); `overrides` replace
    its fields. Unknown names or keys raise `ConfigError`.
    """
    entry = _entry(name)
    overrides = _unalias(name, overrides)
    if config is None:
        config = model_config(name, **overrides)
    else:
        if type(config) is not entry.config:
            raise ConfigError(f"model {name!r} takes a {entry.config.__name__}, got {type(config).__name__}")
        if overrides:
            fields = _fields(config)
            for derived, sources in (("n_samples", ("n_frames", "features")), ("n_bins", ("features",)),
                                     ("n_frames", ("n_samples",))):
                if derived in fields and derived not in overrides and any(k in overrides for k in sources):
                    del fields[derived]  # derive it again from the new values
            config = model_config(name, **{**fields, **overrides})
    return entry.builder(config)


def _fields(config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def paper_of(name: str) -> str:
    """The paper (seed document) a model comes from ("000", "001", "003", "004"; "—" for none)."""
    return _entry(name).paper


# --------------------------------------------------------------------------------------------
# the models table


def _describe_input(cfg: ModelConfig) -> str:
    if isinstance(cfg, RawConfig):
        return f"audio ({cfg.n_samples},)"
    if isinstance(cfg, StackedCNNConfig):
        n = cfg.image_size
        return f"stacked image ({n}, {n})"
    if isinstance(cfg, MRPCNNConfig):
        return f"MRP ({cfg.size}, {cfg.size}, {len(cfg.window_sizes)})"
    frames = "T" if cfg.n_frames is None else cfg.n_frames
    kind = cfg.features.kind.replace("_", "-")
    text = f"{kind} ({frames}, {cfg.n_bins})"
    if isinstance(cfg, CNNLSTMConfig):
        text = f"MRP ({cfg.size}, {cfg.size}, {len(cfg.window_sizes)}) + {text}"
    if isinstance(cfg, SVMConfig):
        text += " → mean, std"
    return text


def _describe_output(cfg: ModelConfig) -> str:
    if isinstance(cfg, ActivationCNNConfig):
        return f"({cfg.n_instruments}, {cfg.n_frames}) sigmoid"
    if isinstance(cfg, MusicnnHeadConfig) and cfg.output == "frames":
        return f"({cfg.n_classes}, {cfg.n_frames}) sigmoid"
    if isinstance(cfg, SVMConfig):
        return f"({cfg.n_classes},) class scores"
    return f"({cfg.n_classes},) {'sigmoid' if cfg.multi_label else 'softmax'}"


def _params(n: int) -> str:
    return f"{n:,}"


def summary_rows(names: list[str] | None = None) -> list[dict[str, Any]]:
    """One row a model at its defaults (the seed's sizes): name, paper, input, output, weights."""
    import keras

    rows = []
    for name in names or available():
        cfg = model_config(name)
        row = dict(name=name, paper=paper_of(name), input=_describe_input(cfg), output=_describe_output(cfg),
                   description=_entry(name).description, params=None, trainable=None)
        if name != "svm":
            model = build(name, cfg)
            row["params"] = model.count_params()
            row["trainable"] = sum(math.prod(w.shape) for w in model.trainable_weights)
            del model
            keras.backend.clear_session()
        rows.append(row)
    return rows


def summary_table(names: list[str] | None = None) -> str:
    """The models table (markdown) at the seeds' sizes (`python -m tfaudio.models` prints it).

    "weights" counts every variable (batch-norm moving statistics included), "trainable" only the
    trained ones (what PyTorch's parameter counts count).
    """
    lines = ["| model | paper | input | output | weights | trainable | what |",
             "|---|---|---|---|---:|---:|---|"]
    for r in summary_rows(names):
        w = "—" if r["params"] is None else _params(r["params"])
        t = "—" if r["trainable"] is None else _params(r["trainable"])
        lines.append(f"| `{r['name']}` | {r['paper']} | {r['input']} | {r['output']} | {w} | {t} | "
                     f"{r['description']} |")
    counts = []
    for kind, paper in (("log_mel", "1.39 M"), ("cqt", "1.92 M"), ("stft", "8.73 M")):
        f = FeatureConfig(kind=kind)
        n = build("activation_cnn", features=f).count_params()
        counts.append(f"{_params(n)} with {kind.replace('_', '-')} ({f.n_features} bins; paper: {paper})")
    note = ("Inputs are `(frames, bins)` features by default; `input=\"audio\"` takes the audio instead "
            "(seed 003's `*_raw` models always do). `activation_cnn` (8 instruments, 16 frames): "
            + ", ".join(counts) + ".")
    return "\n".join(lines) + "\n\n" + note + "\n"


__all__ = ["build", "available", "model_config", "config_class", "paper_of", "summary_table", "summary_rows",
           "SVMBaseline", "ModelConfig", "FramesConfig", "RawConfig", "RNNConfig", "ImageCNNConfig",
           "StackedCNNConfig", "MRPCNNConfig", "CNNLSTMConfig", "ActivationCNNConfig", "BiGRURawConfig",
           "RawCNNConfig", "DCNNRawConfig", "RCNNRawConfig", "TransformerConfig", "ResNet18Config",
           "SmallCNNConfig", "SVMConfig", "CompactCNNConfig", "MusicnnConfig", "MusicnnVGGConfig", "MusicnnHeadConfig"]
