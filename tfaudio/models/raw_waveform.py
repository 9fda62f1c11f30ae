"""Multi-label models on the raw waveform (seed 003): BiGRU, DCNN, FCN, RFCN, RCNN."""
from __future__ import annotations

import keras
from keras import layers

from tfaudio.models import blocks
from tfaudio.models.configs import BiGRURawConfig, DCNNRawConfig, RawCNNConfig, RCNNRawConfig
from tfaudio.models.layers import FrameSignal


def bigru_raw(cfg: BiGRURawConfig) -> keras.Model:
    """`(batch, n_samples)` audio -> `(batch, n_classes)`.

    The waveform is cut into `frame_length`-sample steps (66150 -> 64 × 1024), read by one BiGRU
    layer (128 units a direction by default; (256,) and (128, 64) are the seed's other settings),
    dropout 0.5, dense output (sigmoid).
    """
    audio = blocks.audio_input(cfg.n_samples)
    x = FrameSignal(cfg.frame_length, name="frames")(audio)
    x = blocks.rnn_stack(x, "gru", cfg.units, bidirectional=True, name="bigru")
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return keras.Model(audio, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name="bigru_raw")


def _cells(cfg: RawCNNConfig, residual: bool) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Audio input and the output of the conv cells, `(batch, n_samples / pool^cells, filters[-1])`."""
    audio = blocks.audio_input(cfg.n_samples)
    x = layers.Reshape((cfg.n_samples, 1), name="add_channel")(audio)
    for i, f in enumerate(cfg.filters, start=1):
        x = blocks.conv1d_cell(x, f, cfg.kernel_size, cfg.pool_size, cfg.leaky_slope, residual=residual,
                               name=f"cell{i}")
    return audio, x


def dcnn_raw(cfg: DCNNRawConfig) -> keras.Model:
    """`(batch, n_samples)` audio -> `(batch, n_classes)`: conv cells (16…256 channels, kernel 3,
    pool 4), flatten, dense `dense_units` + LeakyReLU, dropout 0.5, dense output (sigmoid).
    """
    audio, x = _cells(cfg, residual=False)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(cfg.dense_units, name="dense")(x)
    x = layers.LeakyReLU(negative_slope=cfg.leaky_slope, name="dense_act")(x)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return keras.Model(audio, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name="dcnn_raw")


def _fully_convolutional(cfg: RawCNNConfig, residual: bool, name: str) -> keras.Model:
    audio, x = _cells(cfg, residual=residual)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    x = layers.Conv1D(cfg.n_classes, 1, name="logits_conv")(x)
    x = layers.GlobalAveragePooling1D(name="logits")(x)
    return keras.Model(audio, blocks.final_activation(x, cfg.multi_label), name=name)


def fcn_raw(cfg: RawCNNConfig) -> keras.Model:
    """`(batch, n_samples)` audio -> `(batch, n_classes)` with no dense layers: conv cells, dropout,
    a 1×1 conv to one channel a class, global average pooling over time, sigmoid.
    """
    return _fully_convolutional(cfg, residual=False, name="fcn_raw")


def rfcn_raw(cfg: RawCNNConfig) -> keras.Model:
    """`fcn_raw` with a residual skip in every cell (the cell input, 1×1-projected, added before the
    activation).
    """
    return _fully_convolutional(cfg, residual=True, name="rfcn_raw")


def rcnn_raw(cfg: RCNNRawConfig) -> keras.Model:
    """`(batch, n_samples)` audio -> `(batch, n_classes)`: the RFCN's residual cells, then a BiGRU
    (`gru_units`, default 128 a direction) over the pooled time steps, dropout 0.5, dense sigmoid.
    """
    audio, x = _cells(cfg, residual=True)
    x = blocks.rnn_stack(x, "gru", cfg.gru_units, bidirectional=True, name="bigru")
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return keras.Model(audio, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name="rcnn_raw")
