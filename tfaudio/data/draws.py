"""Counter-based random draws, vectorised over per-example seeds.

`tf.random.stateless_*` takes one seed per call, so drawing for a batch of examples, each from its own
seed, needs a loop. These functions hash each example's seed `(2,)` int64 with a counter (SplitMix64's
finaliser, Steele et al. 2014) in a few element-wise uint64 ops, so a batch of seeds `(batch, 2)` gives
`(batch, n)` draws in one pass, the same for an example whatever batch it is in, on CPU, GPU and under
XLA alike. Used by the mixing pipeline, where every mix is a function of its seed alone.
"""
from __future__ import annotations

import math

import tensorflow as tf

_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def _u64(value: int) -> tf.Tensor:
    return tf.constant(value, tf.uint64)


def _mix64(z: tf.Tensor) -> tf.Tensor:
    """SplitMix64's finaliser: a bijection of uint64 with full avalanche."""
    z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, _u64(30))) * _u64(_M1)
    z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, _u64(27))) * _u64(_M2)
    return tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, _u64(31)))


def _keys(seeds: tf.Tensor) -> tf.Tensor:
    """One uint64 key per seed: `(..., 2)` int64 -> `(...,)`."""
    seeds = tf.bitcast(tf.cast(seeds, tf.int64), tf.uint64)
    return _mix64(tf.bitwise.bitwise_xor(seeds[..., 0], _mix64(seeds[..., 1] + _u64(_GOLDEN))))


def bits(seeds: tf.Tensor, n: int, stream: int = 0) -> tf.Tensor:
    """`n` random uint64 per seed: `(..., 2)` -> `(..., n)`. `stream` picks an independent sequence."""
    key = _keys(seeds)[..., None] + _u64(((stream << 32) * _GOLDEN) % (1 << 64))
    counter = tf.cast(tf.range(1, n + 1, dtype=tf.int64), tf.uint64) * _u64(_GOLDEN)
    return _mix64(key + counter)


def uniform(seeds: tf.Tensor, n: int, stream: int = 0) -> tf.Tensor:
    """`n` float32 uniform in [0, 1) per seed (24 random bits each): `(..., 2)` -> `(..., n)`."""
    top = tf.bitwise.right_shift(bits(seeds, n, stream), _u64(40))
    return tf.cast(tf.cast(top, tf.int32), tf.float32) * (1.0 / (1 << 24))


def normal(seeds: tf.Tensor, n: int, stream: int = 0) -> tf.Tensor:
    """`n` float32 standard normals per seed (Box-Muller): `(..., 2)` -> `(..., n)`."""
    u = uniform(seeds, 2 * n, stream)
    radius = tf.sqrt(-2.0 * tf.math.log(1.0 - u[..., :n]))  # 1 - u in (0, 1]
    return radius * tf.cos((2.0 * math.pi) * u[..., n:])


def fold_in(seeds: tf.Tensor, tag: int) -> tf.Tensor:
    """A new seed per seed, independent for each `tag`: `(..., 2)` -> `(..., 2)` int64."""
    return tf.bitcast(bits(seeds, 2, stream=(1 << 16) + tag), tf.int64)
