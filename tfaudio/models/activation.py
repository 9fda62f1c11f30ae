"""The Neuroment frame-level activation CNN (seed 001, §4.3)."""
from __future__ import annotations

import keras
from keras import layers

from tfaudio.models import blocks
from tfaudio.models.configs import ActivationCNNConfig


def activation_cnn(cfg: ActivationCNNConfig) -> keras.Model:
    """Frame-wise instrument activations.

    `(batch, frames, bins)` features (or `(batch, samples)` audio) -> `(batch, instruments, frames)`
    in [0, 1]. Inside, the features are arranged `(bins, frames, 1)` so the 2×1, 2×1, 4×1 pools act
    on frequency only (floor division: 1025 STFT bins -> 512 -> 256 -> 64). Conv pairs of 16, 32
    and 64 channels with 3×3, 5×5 and 7×7 kernels, stride 1, 'same', ReLU; spatial dropout 0.1
    after the first two pools; flatten; dense to instruments × frames; sigmoid.
    At 16 frames and 8 instruments: 1.39 M weights (mel, 128 bins), 1.92 M (CQT, 192), 8.73 M (STFT, 1025).
    """
    inputs, x = blocks.frames_input(cfg)
    x = layers.Permute((2, 1), name="to_bins_frames")(x)
    x = layers.Reshape((cfg.n_bins, cfg.n_frames, 1), name="add_channel")(x)
    for i, (f, k, p) in enumerate(zip(cfg.filters, cfg.kernel_sizes, cfg.pools), start=1):
        for j in (1, 2):
            x = layers.Conv2D(f, k, padding="same", activation="relu", name=f"block{i}_conv{j}")(x)
        x = layers.MaxPooling2D((p, 1), name=f"block{i}_pool")(x)
        if i in cfg.dropout_after and cfg.spatial_dropout > 0:
            x = layers.SpatialDropout2D(cfg.spatial_dropout, name=f"block{i}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(cfg.n_instruments * cfg.n_frames, name="logits")(x)
    x = layers.Reshape((cfg.n_instruments, cfg.n_frames), name="instruments_frames")(x)
    out = blocks.final_activation(x, multi_label=True)
    return keras.Model(inputs, out, name="activation_cnn")
