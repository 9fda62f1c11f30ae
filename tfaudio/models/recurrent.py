"""Recurrent classifiers over feature frames (seed 000): simple RNN, GRU, LSTM, bidirectional LSTM."""
from __future__ import annotations

import keras
from keras import layers

from tfaudio.models import blocks
from tfaudio.models.configs import RNNConfig


def _rnn(cfg: RNNConfig, cell: str, bidirectional: bool, name: str) -> keras.Model:
    inputs, x = blocks.frames_input(cfg)
    x = blocks.rnn_stack(x, cell, cfg.units, bidirectional=bidirectional, name=cell)
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    return keras.Model(inputs, blocks.classifier_output(x, cfg.n_classes, cfg.multi_label), name=name)


def simple_rnn(cfg: RNNConfig) -> keras.Model:
    """`(batch, frames, bins)` (or audio) -> `(batch, n_classes)`: vanilla tanh RNN layers
    (default one of 128 units), the last state, dropout 0.3, dense output.
    """
    return _rnn(cfg, "simple_rnn", False, "simple_rnn")


def gru(cfg: RNNConfig) -> keras.Model:
    """As `simple_rnn`, with GRU layers."""
    return _rnn(cfg, "gru", False, "gru")


def lstm(cfg: RNNConfig) -> keras.Model:
    """As `simple_rnn`, with LSTM layers."""
    return _rnn(cfg, "lstm", False, "lstm")


def bilstm(cfg: RNNConfig) -> keras.Model:
    """As `simple_rnn`, with bidirectional LSTM layers (`units` a direction, outputs concatenated)."""
    return _rnn(cfg, "lstm", True, "bilstm")
