"""CNNs over images of the waveform (seed 000): the N×N stacked waveform, the multi-resolution recurrence
plot, and the MRP CNN whose embedding starts an LSTM over frames (its (h0, c0) state)."""
from __future__ import annotations

import keras
from keras import layers

from tfaudio.features import MultiresolutionRecurrencePlot, StackedImage
from tfaudio.models import blocks
from tfaudio.models.configs import CNNLSTMConfig, MRPCNNConfig, StackedCNNConfig


def cnn_stacked(cfg: StackedCNNConfig) -> keras.Model:
    """`(batch, N, N)` stacked image (or `(batch, n_samples)` audio, zero-padded to N² and stacked
    row by row) -> `(batch, n_classes)`: the image CNN (conv 3×3 + ReLU + 2×2 pool blocks of
    16, 32, 64, 128), global average pooling, dense 128 ReLU embedding, dropout 0.5, dense output.
    """
    n = cfg.image_size
    if cfg.input == "features":
        inputs = x = keras.Input((n, n), name="features")
    else:
        inputs = blocks.audio_input(cfg.n_samples)
        x = StackedImage(dtype="float32", name="frontend")(inputs)
    x = blocks.add_channel(x, name="add_channel")
    x = blocks.image_encoder(x, cfg.filters, cfg.kernel_size, cfg.pool_size, cfg.embedding, name="cnn")
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return keras.Model(inputs, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name="cnn_stacked")


def _mrp(cfg, audio=None, name: str = "mrp"):
    """(model input or None, `(batch, size, size, len(window_sizes))` plot)."""
    if audio is None:
        x = keras.Input((cfg.size, cfg.size, len(cfg.window_sizes)), name=name)
        return x, x
    layer = MultiresolutionRecurrencePlot(window_sizes=cfg.window_sizes, size=cfg.size, dtype="float32",
                                          name=f"{name}_frontend")
    return None, layer(audio)


def cnn_mrp(cfg: MRPCNNConfig) -> keras.Model:
    """`(batch, size, size, windows)` multi-resolution recurrence plot (or `(batch, n_samples)`
    audio) -> `(batch, n_classes)`: the image CNN of `cnn_stacked` with one channel a window size.
    """
    if cfg.input == "features":
        inputs, x = _mrp(cfg, name="features")
    else:
        inputs = blocks.audio_input(cfg.n_samples)
        _, x = _mrp(cfg, audio=inputs)
    x = blocks.image_encoder(x, cfg.filters, cfg.kernel_size, cfg.pool_size, cfg.embedding, name="cnn")
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return keras.Model(inputs, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name="cnn_mrp")


def cnn_lstm(cfg: CNNLSTMConfig) -> keras.Model:
    """`{"mrp": (batch, size, size, windows), "frames": (batch, frames, bins)}` (or one
    `(batch, n_samples)` audio input giving both) -> `(batch, n_classes)`.

    The image CNN embeds the plot; dense projections of the embedding give the LSTM's initial
    state (h0: tanh, c0: linear); the LSTM (128 units) reads the frames; its last output, dropout
    0.3, dense output.
    """
    if cfg.input == "features":
        mrp_in, mrp = _mrp(cfg, name="mrp")
        frames_in = frames = keras.Input((cfg.n_frames, cfg.n_bins), name="frames")
        inputs = {"mrp": mrp_in, "frames": frames_in}
    else:
        inputs, frames = blocks.frames_input(cfg)
        _, mrp = _mrp(cfg, audio=inputs)
    e = blocks.image_encoder(mrp, cfg.filters, cfg.kernel_size, cfg.pool_size, cfg.embedding, name="cnn")
    h0 = layers.Dense(cfg.units, activation="tanh", name="h0")(e)
    c0 = layers.Dense(cfg.units, name="c0")(e)
    x = blocks.rnn_stack(frames, "lstm", (cfg.units,), name="lstm", initial_state=[h0, c0])
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return keras.Model(inputs, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name="cnn_lstm")
