"""Small registered layers the models need (no Lambda layers anywhere, so `safe_mode=True` loads)."""
from __future__ import annotations

import numpy as np
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfaudio")
class SinusoidalPositions(keras.layers.Layer):
    """Adds sine/cosine positions (Vaswani et al.) to `(batch, steps, d_model)`; steps <= max_length.

    `pe[t, 2i] = sin(t / 10000^(2i/d))`, `pe[t, 2i+1] = cos(t / 10000^(2i/d))`, as PyTorch's
    tutorial PositionalEncoding (the seed's).
    """

    def __init__(self, max_length: int = 5000, **kwargs):
        super().__init__(**kwargs)
        self.max_length = int(max_length)

    def build(self, input_shape):
        d = int(input_shape[-1])
        pos = np.arange(self.max_length, dtype=np.float64)[:, None]
        div = np.exp(np.arange(0, d, 2, dtype=np.float64) * (-np.log(10000.0) / d))
        pe = np.zeros((self.max_length, d), np.float64)
        pe[:, 0::2] = np.sin(pos * div)
        pe[:, 1::2] = np.cos(pos * div)[:, : d // 2]
        self._pe = pe.astype(np.float32)  # a constant, not a weight: nothing to save
        super().build(input_shape)

    def call(self, x):
        steps = ops.shape(x)[1]
        pe = ops.cast(ops.convert_to_tensor(self._pe), x.dtype)
        return x + ops.expand_dims(pe[:steps], 0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


@keras.saving.register_keras_serializable(package="tfaudio")
class FrameSignal(keras.layers.Layer):
    """Cuts `(batch, samples)` into non-overlapping `(batch, samples // frame_length, frame_length)`;
    the samples left over at the end are dropped.
    """

    def __init__(self, frame_length: int, **kwargs):
        super().__init__(**kwargs)
        self.frame_length = int(frame_length)

    def call(self, x):
        steps = ops.shape(x)[1] // self.frame_length
        x = x[:, : steps * self.frame_length]
        return ops.reshape(x, (ops.shape(x)[0], steps, self.frame_length))

    def compute_output_shape(self, input_shape):
        steps = None if input_shape[1] is None else input_shape[1] // self.frame_length
        return (input_shape[0], steps, self.frame_length)

    def get_config(self):
        return {**super().get_config(), "frame_length": self.frame_length}


__all__ = ["SinusoidalPositions", "FrameSignal"]
