"""musicnn and its VGG baseline (Pons & Serra 2019), ported from the TF1 checkpoints of the `musicnn` wheel.

    model = tfaudio.models.build("musicnn", weights="MSD_musicnn", input="audio")   # 16-kHz audio -> 50 tags
    features = tfaudio.models.musicnn.intermediate(model)          # -> dict: timbral, ..., taggram
    tfaudio.models.musicnn.TAGS["MSD_musicnn"]                     # the 50 tag names

The networks were trained on real music (MagnaTagATune: `MTT_*`, the Million Song Dataset: `MSD_*`); tfaudio
uses them as backbones that transfer to timbres it never trained on. Weights are float32, without optimizer
slots, converted once by `python -m tfaudio.models.musicnn_convert MUSICNN_WHEEL` (reads the checkpoints with
TensorFlow's checkpoint reader; musicnn's code is never imported) and shipped in `weights/` with musicnn's
copyright and ISC licence notice (`weights/LICENSE.musicnn`).

Layer names give the intermediate representations the way musicnn's `extractor` names them: `timbral`
`(batch, frames, 408)`, `temporal` `(batch, frames, 153)`, `cnn1`…`cnn3` `(batch, frames, 64)`, `mean_pool`
and `max_pool` `(batch, 753)`, `penultimate` `(batch, 200)`; the VGG: `pool1`…`pool5`. The `taggram`
`(batch, 50)` is the model's output (the layer named "output", as in every tfaudio model).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
from keras import layers

from tfaudio.errors import ConfigError, TfaudioError
from tfaudio.models import blocks
from tfaudio.models.configs import MUSICNN_WEIGHTS, VGG_POOLS, MusicnnConfig, MusicnnHeadConfig, MusicnnVGGConfig

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
_MTT = ["guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
        "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals",
        "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft",
        "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
        "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral"]
_MSD = ["rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
        "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
        "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock",
        "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
        "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
        "indie pop", "sad", "House", "happy"]
#: The 50 tags of each checkpoint, in output order.
TAGS = {"MTT_musicnn": _MTT, "MTT_vgg": _MTT, "MSD_musicnn": _MSD, "MSD_vgg": _MSD}
#: The intermediate representations `intermediate` returns, per architecture.
OUTPUTS = {"musicnn": ("timbral", "temporal", "cnn1", "cnn2", "cnn3", "mean_pool", "max_pool", "penultimate",
                       "taggram"),
           "vgg": ("pool1", "pool2", "pool3", "pool4", "pool5", "taggram")}

# --------------------------------------------------------------------------------------------
# the networks


def _max_over_frequency(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """`(batch, frames, bins, c)` -> `(batch, frames, c)`: max over all bins (musicnn's pool + squeeze)."""
    x = layers.MaxPooling2D((1, x.shape[2]), name=f"{name}_pool")(x)
    return layers.Reshape((-1, x.shape[-1]), name=name)(x)


def _time_padded_conv(x: keras.KerasTensor, filters: int, kernel: tuple[int, int], name: str) -> keras.KerasTensor:
    x = layers.ZeroPadding2D(((kernel[0] // 2, kernel[0] // 2), (0, 0)), name=f"{name}_pad")(x)
    x = layers.Conv2D(filters, kernel, activation="relu", name=f"{name}_conv")(x)
    return _max_over_frequency(layers.BatchNormalization(name=f"{name}_bn")(x), name)


def frontend(x: keras.KerasTensor, cfg: MusicnnConfig) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """`(batch, frames, mel)` -> (timbral `(batch, frames, 2·⌊204⌋)`, temporal `(batch, frames, 3·51)`)."""
    x = layers.BatchNormalization(name="input_bn")(blocks.add_channel(x, name="add_channel"))
    n_bins, wide, narrow = x.shape[2], int(cfg.frontend_filters * 128), int(cfg.frontend_filters * 32)
    timbral = [_time_padded_conv(x, wide, (7, int(share * n_bins)), name)
               for share, name in ((0.4, "timbral_74"), (0.7, "timbral_77"))]
    temporal = []
    for length in (128, 64, 32):
        t = layers.Conv2D(narrow, (length, 1), padding="same", activation="relu", name=f"temporal_{length}_conv")(x)
        temporal.append(_max_over_frequency(layers.BatchNormalization(name=f"temporal_{length}_bn")(t),
                                            f"temporal_{length}"))
    return (layers.Concatenate(name="timbral")(timbral), layers.Concatenate(name="temporal")(temporal))


def midend(x: keras.KerasTensor, filters: int) -> tuple[keras.KerasTensor, list[keras.KerasTensor]]:
    """Front-end features `(batch, frames, c)` -> (their concatenation with cnn1…cnn3 `(batch, frames, c + 3·64)`,
    [the input, cnn1, cnn2, cnn3]): three 7-frame convolutions across all channels, the last two residual."""
    maps, h = [x], x
    for i in (1, 2, 3):
        y = layers.ZeroPadding1D(3, name=f"midend{i}_pad")(h)
        y = layers.Conv1D(filters, 7, activation="relu", name=f"midend{i}_conv")(y)
        y = layers.BatchNormalization(name="cnn1" if i == 1 else f"midend{i}_bn")(y)
        h = y if i == 1 else layers.Add(name=f"cnn{i}")([y, h])
        maps.append(h)
    return layers.Concatenate(name="midend_features")(maps), maps


def backend(x: keras.KerasTensor, cfg: MusicnnConfig) -> keras.KerasTensor:
    """`(batch, frames, c)` -> logits `(batch, n_classes)`: max and mean over time (interleaved as musicnn
    flattens them), batch norm, dropout, dense ReLU + BN (`penultimate`), dropout, dense."""
    c = x.shape[-1]
    pools = [layers.Reshape((c, 1), name=f"{name}_col")(pool(name=name)(x))
             for pool, name in ((layers.GlobalMaxPooling1D, "max_pool"), (layers.GlobalAveragePooling1D, "mean_pool"))]
    x = layers.Reshape((2 * c,), name="pools")(layers.Concatenate(name="pools_pairs")(pools))
    x = layers.Dropout(cfg.dropout, name="pool_dropout")(layers.BatchNormalization(name="pool_bn")(x))
    x = layers.Dense(cfg.backend_units, activation="relu", name="penultimate_dense")(x)
    x = layers.Dropout(cfg.dropout, name="penultimate_dropout")(layers.BatchNormalization(name="penultimate")(x))
    return layers.Dense(cfg.n_classes, name="logits")(x)


def musicnn(cfg: MusicnnConfig) -> keras.Model:
    """`(batch, frames, 96)` log10 mel (or 16-kHz audio) -> `(batch, n_classes)` sigmoid tags (`taggram`)."""
    inputs, x = blocks.frames_input(cfg)
    timbral, temporal = frontend(x, cfg)
    x, _ = midend(layers.Concatenate(name="frontend_features")([timbral, temporal]), cfg.midend_filters)
    out = blocks.final_activation(backend(x, cfg), cfg.multi_label)
    model = keras.Model(inputs, out, name="musicnn")
    return load_weights(model, cfg.weights) if cfg.weights else model


def musicnn_vgg(cfg: MusicnnVGGConfig) -> keras.Model:
    """`(batch, 187, 96)` log10 mel (or audio) -> `(batch, n_classes)` sigmoid tags: musicnn's VGG baseline."""
    inputs, x = blocks.frames_input(cfg)
    x = layers.BatchNormalization(name="input_bn")(blocks.add_channel(x, name="add_channel"))
    for i, (size, strides) in enumerate(VGG_POOLS[cfg.pools], start=1):
        if i > 1:
            x = layers.Dropout(cfg.dropout, name=f"dropout{i - 1}")(x)
        x = layers.Conv2D(cfg.filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(size, strides, name=f"pool{i}")(layers.BatchNormalization(name=f"bn{i}")(x))
    x = layers.Dropout(cfg.dense_dropout, name="dense_dropout")(layers.Flatten(name="flatten")(x))
    out = blocks.final_activation(layers.Dense(cfg.n_classes, name="logits")(x), cfg.multi_label)
    model = keras.Model(inputs, out, name="musicnn_vgg")
    return load_weights(model, cfg.weights) if cfg.weights else model


def intermediate(model: keras.Model, names: Sequence[str] | None = None) -> keras.Model:
    """A model on the same layers that returns a dict of the named representations (default: all of
    `OUTPUTS` for the model's architecture)."""
    architecture = "vgg" if model.name == "musicnn_vgg" or _has(model, "pool5") else "musicnn"
    names = OUTPUTS[architecture] if names is None else tuple(names)
    layer = {n: "output" if n == "taggram" else n for n in names}  # the taggram is the model's output
    missing = [n for n in names if not _has(model, layer[n])]
    if missing:
        raise ConfigError(f"model {model.name!r} has no layer(s) {missing}; choose from {OUTPUTS[architecture]}")
    return keras.Model(model.inputs, {n: model.get_layer(layer[n]).output for n in names},
                       name=f"{model.name}_features")


def _has(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


# --------------------------------------------------------------------------------------------
# weights


def weights_file(name: str) -> Path:
    """The shipped `.npz` of checkpoint `name` (one of `TAGS`)."""
    if name not in TAGS:
        raise ConfigError(f"unknown musicnn checkpoint {name!r}; choose one of {list(TAGS)}")
    path = WEIGHTS_DIR / f"{name}.npz"
    if not path.is_file():
        raise TfaudioError(f"{path}: the musicnn weights {name!r} are not in this installation; write them with "
                           "`python -m tfaudio.models.musicnn_convert musicnn-0.1.0-py3-none-any.whl`")
    return path


def load_weights(model: keras.Model, name: str, skip: Sequence[str] = ()) -> keras.Model:
    """Set every layer of `model` named as in checkpoint `name` (all but `skip`) to the shipped weights;
    a layer the checkpoint has but `model` lacks, or a shape that differs, is an error."""
    with np.load(weights_file(name), allow_pickle=False) as data:
        by_layer: dict[str, list[np.ndarray]] = {}
        for key in sorted(data.files, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
            by_layer.setdefault(key.rsplit("/", 1)[0], []).append(data[key])
    for layer_name, values in by_layer.items():
        if layer_name in skip:
            continue
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            raise ConfigError(f"model {model.name!r} has no layer {layer_name!r} of checkpoint {name!r}") from None
        shapes = [tuple(w.shape) for w in layer.weights]
        if shapes != [v.shape for v in values]:
            raise ConfigError(f"layer {layer_name!r}: checkpoint {name!r} has shapes {[v.shape for v in values]}, "
                              f"the model {shapes}")
        layer.set_weights(values)
    return model




# --------------------------------------------------------------------------------------------
# heads on the backbone

_FRONTEND = ("input_bn", "timbral_74_conv", "timbral_74_bn", "timbral_77_conv", "timbral_77_bn", "temporal_128_conv",
             "temporal_128_bn", "temporal_64_conv", "temporal_64_bn", "temporal_32_conv", "temporal_32_bn")
_MIDEND = ("midend1_conv", "cnn1", "midend2_conv", "midend2_bn", "midend3_conv", "midend3_bn")
_BACKEND = ("pool_bn", "penultimate_dense", "penultimate", "logits")


def musicnn_head(cfg: MusicnnHeadConfig) -> keras.Model:
    """`(batch, frames, 96)` log10 mel (or 16-kHz audio) -> `(batch, n_classes)` clip scores ("clip") or
    `(batch, n_classes, frames)` sigmoid activations ("frames"), on musicnn's front and mid end with the
    weights of `cfg.backbone`, frozen up to `cfg.trainable`."""
    inputs, x = blocks.frames_input(cfg)
    backbone = MusicnnConfig(features=cfg.features, n_frames=cfg.n_frames, n_bins=cfg.n_bins)
    timbral, temporal = frontend(x, backbone)
    x, maps = midend(layers.Concatenate(name="frontend_features")([timbral, temporal]), backbone.midend_filters)
    if cfg.representation == "cnn":  # the mid end's own maps, without the front end's
        x = layers.Concatenate(name="cnn_features")([maps[1], maps[2], maps[3]])
    if cfg.output == "clip":
        x = layers.Concatenate(name="pools")([layers.GlobalMaxPooling1D(name="max_pool")(x),
                                              layers.GlobalAveragePooling1D(name="mean_pool")(x)])
    x = layers.Dropout(cfg.dropout, name="head_input_dropout")(layers.BatchNormalization(name="head_bn")(x))
    for i in range(cfg.head_layers):
        suffix = "" if i == 0 else f"_{i + 1}"
        x = layers.Dense(cfg.head_units, activation="relu", name=f"head_dense{suffix}")(x)
        x = layers.Dropout(cfg.dropout, name=f"head_dropout{suffix}")(x)
    if cfg.output == "clip":
        out = blocks.classifier_output(x, cfg.n_classes, cfg.multi_label)
    else:
        x = layers.Permute((2, 1), name="classes_first")(layers.Dense(cfg.n_classes, name="logits")(x))
        out = blocks.final_activation(x, multi_label=True)
    model = keras.Model(inputs, out, name="musicnn_head")
    load_weights(model, cfg.backbone, skip=_BACKEND)
    frozen = {"none": _FRONTEND + _MIDEND, "midend": _FRONTEND, "all": ()}[cfg.trainable]
    for name in frozen:
        model.get_layer(name).trainable = False
    return model


__all__ = ["TAGS", "OUTPUTS", "MUSICNN_WEIGHTS", "musicnn", "musicnn_vgg", "musicnn_head", "intermediate",
           "load_weights", "weights_file"]


#: Where the ported weights a model starts from come from, and their licence (`tfaudio.models.musicnn`).
BACKBONES = {name: {"name": name, "network": "musicnn (Pons & Serra 2019), musicnn 0.1.0 wheel",
                    "trained_on": "MagnaTagATune" if name.startswith("MTT") else "the Million Song Dataset",
                    "licence": "ISC, (c) Music Technology Group, Universitat Pompeu Fabra 2019 "
                               "(tfaudio/models/weights/LICENSE.musicnn)"}
             for name in ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")}


def backbone_of(model_config: dict[str, Any]) -> dict[str, Any] | None:
    """The ported backbone a model config starts from (`BACKBONES` entry), None for models trained from scratch."""
    name = model_config.get("name")
    if name == "musicnn_head":
        return BACKBONES[model_config.get("backbone", "MSD_musicnn")]
    if name in ("musicnn", "musicnn_vgg") and model_config.get("weights"):
        return BACKBONES[model_config["weights"]]
    return None
