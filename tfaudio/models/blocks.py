"""Shared functional building blocks: inputs and feature front ends, heads, conv and recurrent stacks.

Every block takes a tensor and a `name` prefix and returns a tensor; layer names are
`{name}_{part}` so a model's summary reads like its description.
"""
from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from tfaudio.config import FeatureConfig
from tfaudio.errors import ConfigError
from tfaudio.features.layers import LAYERS

RNN_CELLS = {"simple_rnn": layers.SimpleRNN, "gru": layers.GRU, "lstm": layers.LSTM}


# --------------------------------------------------------------------------------------------
# inputs


def audio_input(n_samples: int | None, name: str = "audio") -> keras.KerasTensor:
    """`(batch, n_samples)` float32 audio."""
    return keras.Input((n_samples,), name=name, dtype="float32")


def feature_layer(features: FeatureConfig, name: str = "frontend") -> keras.layers.Layer:
    """The registered `tfaudio.features` layer of `features.feature()` (its kind and scale): audio
    `(batch, samples)` -> `(batch, frames, bins)`, computed in float32 whatever the mixed-precision policy;
    the same features as `FeatureConfig.compute`.
    """
    feature = features.feature()
    if feature is None:
        raise ConfigError(f"no feature layer for features.kind {features.kind!r}")
    return LAYERS[feature[0]](**feature[1], name=name, dtype="float32")


def frames_input(cfg, name: str = "frontend") -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """(model input, `(batch, frames, bins)` tensor) for a `FramesConfig`: the features themselves,
    or `(batch, n_samples)` audio through the feature layer.
    """
    if cfg.input == "features":
        x = keras.Input((cfg.n_frames, cfg.n_bins), name="features")
        return x, x
    audio = audio_input(cfg.n_samples)
    return audio, feature_layer(cfg.features, name=name)(audio)


def add_channel(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """`(batch, a, b)` -> `(batch, a, b, 1)`."""
    a, b = x.shape[1], x.shape[2]
    return layers.Reshape((-1 if a is None else a, b, 1), name=name)(x)


# --------------------------------------------------------------------------------------------
# heads


def classifier_output(x: keras.KerasTensor, n_classes: int, multi_label: bool,
                      name: str = "output") -> keras.KerasTensor:
    """Dense logits, then softmax (single-label) or sigmoid (multi-label) in float32."""
    x = layers.Dense(n_classes, name="logits")(x)
    return final_activation(x, multi_label, name)


def final_activation(x: keras.KerasTensor, multi_label: bool, name: str = "output") -> keras.KerasTensor:
    """The output activation, float32 under mixed precision."""
    return layers.Activation("sigmoid" if multi_label else "softmax", dtype="float32", name=name)(x)


# --------------------------------------------------------------------------------------------
# recurrent


def rnn_stack(x: keras.KerasTensor, cell: str, units: Sequence[int], bidirectional: bool = False,
              name: str = "rnn", initial_state=None) -> keras.KerasTensor:
    """Stacked RNN layers over `(batch, steps, dims)`; returns the last layer's final output
    `(batch, units[-1])` (×2 if bidirectional). `initial_state` goes to the first layer.
    """
    cls = RNN_CELLS[cell]
    for i, u in enumerate(units):
        last = i == len(units) - 1
        layer = cls(u, return_sequences=not last, name=f"{name}{i + 1}")
        if bidirectional:
            layer = layers.Bidirectional(layer, name=f"{name}{i + 1}_bidirectional")
        x = layer(x, initial_state=initial_state) if (i == 0 and initial_state is not None) else layer(x)
    return x


# --------------------------------------------------------------------------------------------
# 2-D convolutional


def conv2d_pool_stack(x: keras.KerasTensor, filters: Sequence[int], kernel_size: int, pool_size: int,
                      name: str = "block") -> keras.KerasTensor:
    """Blocks of conv `kernel_size`² ('same', ReLU) + `pool_size`² max-pool."""
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, kernel_size, padding="same", activation="relu", name=f"{name}{i + 1}_conv")(x)
        x = layers.MaxPooling2D(pool_size, name=f"{name}{i + 1}_pool")(x)
    return x


def image_encoder(x: keras.KerasTensor, filters: Sequence[int], kernel_size: int, pool_size: int,
                  embedding: int, name: str = "cnn") -> keras.KerasTensor:
    """`(batch, h, w, c)` -> `(batch, embedding)`: conv/pool blocks, global average pooling, dense ReLU."""
    x = conv2d_pool_stack(x, filters, kernel_size, pool_size, name=f"{name}_block")
    x = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    return layers.Dense(embedding, activation="relu", name=f"{name}_embedding")(x)


def resnet_basic_block(x: keras.KerasTensor, filters: int, stride: int, name: str) -> keras.KerasTensor:
    """ResNet basic block: 3×3 conv/BN/ReLU, 3×3 conv/BN, plus the (projected) input, ReLU."""
    bn = dict(momentum=0.9, epsilon=1e-5)  # PyTorch's defaults
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_down_conv")(x)
        shortcut = layers.BatchNormalization(**bn, name=f"{name}_down_bn")(shortcut)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(**bn, name=f"{name}_bn1")(y)
    y = layers.Activation("relu", name=f"{name}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(**bn, name=f"{name}_bn2")(y)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_relu2")(y)


# --------------------------------------------------------------------------------------------
# 1-D convolutional (seed 003)


def conv1d_cell(x: keras.KerasTensor, filters: int, kernel_size: int, pool_size: int, slope: float,
                residual: bool = False, name: str = "cell") -> keras.KerasTensor:
    """Seed 003 cell: two identical conv1d ('same'), batch norm, LeakyReLU, max-pool.

    `residual`: the cell's input (1×1-projected when the channels differ) is added after the batch
    norm, before the activation.
    """
    y = layers.Conv1D(filters, kernel_size, padding="same", name=f"{name}_conv1")(x)
    y = layers.Conv1D(filters, kernel_size, padding="same", name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn")(y)
    if residual:
        skip = x if x.shape[-1] == filters else layers.Conv1D(filters, 1, name=f"{name}_skip")(x)
        y = layers.Add(name=f"{name}_add")([y, skip])
    y = layers.LeakyReLU(negative_slope=slope, name=f"{name}_act")(y)
    return layers.MaxPooling1D(pool_size, name=f"{name}_pool")(y)
