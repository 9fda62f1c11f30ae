"""Networks over log-mel spectrograms (seed 004): Transformer encoder, ResNet-18 and the small CNN
(its SVM baseline is in `svm.py`)."""
from __future__ import annotations

import keras
from keras import layers

from tfaudio.models import blocks
from tfaudio.models.configs import ResNet18Config, SmallCNNConfig, TransformerConfig
from tfaudio.models.layers import SinusoidalPositions


def transformer(cfg: TransformerConfig) -> keras.Model:
    """`(batch, frames, bins)` log-mel (or audio) -> `(batch, n_classes)`.

    Post-norm encoder layers as PyTorch's `nn.TransformerEncoderLayer` (ReLU feed-forward): 3 layers,
    8 heads, d_model 128, feed-forward 256, dropout 0.1; sinusoidal positions (then dropout); mean
    pooling over frames; dense output. The seed feeds 128 mel bins straight in as d_model; a dense
    projection to d_model is added only when `n_bins != d_model`.
    """
    inputs, x = blocks.frames_input(cfg)
    if cfg.n_bins != cfg.d_model:
        x = layers.Dense(cfg.d_model, name="projection")(x)
    x = SinusoidalPositions(cfg.max_length, name="positions")(x)
    x = layers.Dropout(cfg.dropout, name="positions_dropout")(x)
    ln = dict(epsilon=1e-5)
    for i in range(1, cfg.n_layers + 1):
        n = f"encoder{i}"
        a = layers.MultiHeadAttention(cfg.n_heads, cfg.d_model // cfg.n_heads, dropout=cfg.dropout,
                                      name=f"{n}_attention")(x, x)
        a = layers.Dropout(cfg.dropout, name=f"{n}_attention_dropout")(a)
        x = layers.LayerNormalization(**ln, name=f"{n}_norm1")(layers.Add(name=f"{n}_add1")([x, a]))
        f = layers.Dense(cfg.d_ff, activation="relu", name=f"{n}_ff1")(x)
        f = layers.Dropout(cfg.dropout, name=f"{n}_ff_dropout")(f)
        f = layers.Dense(cfg.d_model, name=f"{n}_ff2")(f)
        f = layers.Dropout(cfg.dropout, name=f"{n}_ff2_dropout")(f)
        x = layers.LayerNormalization(**ln, name=f"{n}_norm2")(layers.Add(name=f"{n}_add2")([x, f]))
    x = layers.GlobalAveragePooling1D(name="mean_pool")(x)
    return keras.Model(inputs, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name="transformer")


def resnet18(cfg: ResNet18Config) -> keras.Model:
    """`(batch, frames, bins)` spectrogram (or audio) -> `(batch, n_classes)`, as a one-channel image.

    Stem: 7×7/2 conv (64, no bias), BN, ReLU, 3×3/2 max-pool; stages of two basic blocks at 64,
    128, 256, 512 channels (stride 2 from the second stage); global average pooling; dense output.
    """
    inputs, x = blocks.frames_input(cfg)
    x = blocks.add_channel(x, name="add_channel")
    x = layers.Conv2D(cfg.widths[0], cfg.stem_kernel, strides=cfg.stem_stride, padding="same", use_bias=False,
                      name="stem_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    if cfg.stem_pool:
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for s, (width, n) in enumerate(zip(cfg.widths, cfg.blocks), start=1):
        for b in range(1, n + 1):
            stride = 2 if (s > 1 and b == 1) else 1
            x = blocks.resnet_basic_block(x, width, stride, name=f"stage{s}_block{b}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name="resnet18")


def cnn_small(cfg: SmallCNNConfig) -> keras.Model:
    """`(batch, frames, bins)` spectrogram (or audio) -> `(batch, n_classes)`: three blocks of conv
    3×3 ('same', ReLU) + 2×2 max-pool (16, 32, 64 channels), flatten, dense 128 + ReLU, dropout 0.5,
    dense output.
    """
    inputs, x = blocks.frames_input(cfg)
    x = blocks.add_channel(x, name="add_channel")
    x = blocks.conv2d_pool_stack(x, cfg.filters, cfg.kernel_size, cfg.pool_size, name="block")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(cfg.hidden, activation="relu", name="fc1")(x)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return keras.Model(inputs, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name="cnn_small")
