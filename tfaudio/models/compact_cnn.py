"""A compact VGG-style CNN for clip recognition that transfers across timbres (not from a seed paper).

Built for the pretrained `msdb` and `irmas` models (issue 12): small enough to train on a CPU and to ship in
the wheel, with batch normalisation after every convolution and pooling that makes the clip decision
independent of where in the window a note sits.
"""
from __future__ import annotations

import keras
from keras import layers

from tfaudio.models import blocks
from tfaudio.models.configs import CompactCNNConfig


def cnn_compact(cfg: CompactCNNConfig) -> keras.Model:
    """`(batch, frames, bins)` log-mel (or audio) -> `(batch, n_classes)`.

    Per-bin input batch normalisation; blocks of two 3×3 convs (no bias, BN, ReLU) and a 2×2 max-pool at
    `filters` channels; the last feature map pooled over time and frequency by both mean and max
    (concatenated); dropout; dense output (softmax or sigmoid).
    """
    inputs, x = blocks.frames_input(cfg)
    x = layers.BatchNormalization(name="input_norm")(x)  # per mel bin, over batch and frames
    x = blocks.add_channel(x, name="add_channel")
    for i, f in enumerate(cfg.filters, start=1):
        for j in (1, 2):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"block{i}_conv{j}")(x)
            x = layers.BatchNormalization(name=f"block{i}_bn{j}")(x)
            x = layers.Activation("relu", name=f"block{i}_relu{j}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"block{i}_pool")(x)
    x = layers.Concatenate(name="pool")([layers.GlobalAveragePooling2D(name="mean_pool")(x),
                                         layers.GlobalMaxPooling2D(name="max_pool")(x)])
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return keras.Model(inputs, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name="cnn_compact")
