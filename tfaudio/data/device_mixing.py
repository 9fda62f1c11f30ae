"""Mixing on the accelerator: the window pool lives on the device, and mixing, activation labels and
features run inside the compiled training step; tf.data feeds only seeds `(batch, 2)`.

Every example is `tfaudio.data.pipeline.make_batch` of its seed, the function the tf.data path maps, so for the same
seed both paths give the same examples (within float tolerance: XLA may fuse and reorder arithmetic).
Select it with `train.mixing: device` (`tfaudio train CONFIG --set train.mixing=device`).
"""
from __future__ import annotations

import functools
from typing import Any

import keras
import tensorflow as tf

from tfaudio.data import mixing, pipeline
from tfaudio.config import AugmentConfig, FeatureConfig, MixConfig


class DeviceMixing(keras.Model):
    """Trains `inner` on mixes made inside `train_step`/`test_step` from a batch of seeds `(batch, 2)`.

    Not saved itself: `save`, `save_weights` and `load_weights` act on `inner`, so checkpoints and
    exports hold the plain model. `examples(seeds)` gives the (x, y) a step trains on.
    """

    def __init__(self, inner: keras.Model, pool: mixing.WindowPool, mix: MixConfig,
                 features: FeatureConfig | None, augment: AugmentConfig = AugmentConfig(),
                 x_key: str = "features", y_key: str = "activations", sr: int = 44100, **kwargs: Any):
        super().__init__(name=f"{inner.name}_device_mixing", **kwargs)
        self.inner = inner
        self.built = inner.built  # it has no weights of its own
        self.x_key, self.y_key = x_key, y_key
        feats = features if x_key == "features" else None
        self._make = functools.partial(pipeline.make_batch, pool, mix, feats, augment, sr=sr,
                                       keep_audio=x_key == "audio")
        with tf.device(_device()):  # the pool on the accelerator, once
            pool.frame_rms(features.n_fft if features else 2048, features.hop_length if features else 1024)

    def call(self, x, training: bool = False):
        return self.inner(x, training=training)

    def examples(self, seeds: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(x, y) of the mixes of `seeds` `(batch, 2)`."""
        ex = self._make(seeds)
        return ex[self.x_key], ex[self.y_key]

    def train_step(self, seeds):
        return super().train_step(self.examples(seeds))

    def test_step(self, data):
        """Validation: seeds, or (x, y) batches made beforehand (a fixed validation set)."""
        return super().test_step(data if isinstance(data, (tuple, list)) else self.examples(data))

    def save(self, *args: Any, **kwargs: Any):
        return self.inner.save(*args, **kwargs)

    def save_weights(self, *args: Any, **kwargs: Any):
        return self.inner.save_weights(*args, **kwargs)

    def load_weights(self, *args: Any, **kwargs: Any):
        return self.inner.load_weights(*args, **kwargs)


def _device() -> str:
    """The first accelerator, else the CPU (TensorFlow also puts the pool's variable there by default)."""
    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name if gpus else "/CPU:0"


def seed_batches(seed: int, batch_size: int, num_batches: int | None = None,
                 rerandomize: bool = True) -> tf.data.Dataset:
    """What the tf.data side feeds: batches of per-mix seeds `(batch, 2)`, as `pipeline.mixtures` draws them
    (the same mixes for the same `seed`)."""
    num = None if num_batches is None else num_batches * batch_size
    return mixing.mix_seeds(seed, num, rerandomize).batch(batch_size, drop_remainder=True).prefetch(2)
