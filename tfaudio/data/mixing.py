"""On-the-fly mixing (seed 001): a pool of windows per class and stateless, seeded mixes of 1-4 instruments
with their activation labels (`window_pool`, `mix_batch`, `mix_seeds`).
"""
from __future__ import annotations

import logging

import dataclasses
import math
from typing import Sequence

import numpy as np
import tensorflow as tf

from tfaudio.data import draws
from tfaudio.data.labels import activations_from_rms
from tfaudio.config import MixConfig
from tfaudio.data.records import Record
from tfaudio.errors import DatasetError
from tfaudio.data.windows import AUTOTUNE, decode, windows
from tfaudio import features

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# the pool of decoded windows that mixes draw from


@dataclasses.dataclass
class WindowPool:
    """Decoded windows held in memory: `audio` `(windows, length)` and the class of each.

    Windows are grouped by class: class k owns rows `offsets[k] : offsets[k] + counts[k]`.
    """

    audio: tf.Variable
    offsets: tf.Tensor
    counts: tf.Tensor
    classes: list[str]
    _frame_rms: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        return int(self.audio.shape[0])

    def frame_rms(self, frame_length: int, hop_length: int, chunk: int = 512) -> tf.Tensor:
        """Each window's framed RMS `(windows, frames)` (`tfaudio.data.labels.activations`' framing,
        centred), computed once: a mix's activations are its stems' levels times these."""
        key = (int(frame_length), int(hop_length))
        if key not in self._frame_rms:
            with tf.init_scope():  # computed eagerly, once, even when first asked for inside a graph
                parts = [features.rms(self.audio[i:i + chunk], frame_length, hop_length)[..., 0]
                         for i in range(0, self.size, chunk)]
                self._frame_rms[key] = tf.concat(parts, 0)
        return self._frame_rms[key]


def window_pool(records: Sequence[Record], classes: Sequence[str], sr: int, mix: MixConfig,
                cache: str | None = None, batch: int = 256, split: str | None = None) -> WindowPool:
    """Decode single-label `records` once (parallel, in the graph) into a `WindowPool`.

    `split`: what the records are (e.g. "validation"), named in errors.
    """
    classes = list(classes)
    where = f"{split} split: " if split else ""
    ds = decode(records, classes, sr=sr, label_mode="int", cache=cache)
    ds = windows(ds, mix.window, mix.window_hop, mix.min_rms_db).batch(batch).prefetch(AUTOTUNE)
    chunks, ids = [], []
    for w, y in ds.as_numpy_iterator():
        chunks.append(w.astype(np.float32))
        ids.append(y)
    if not chunks:
        raise DatasetError(None, f"{where}no audible windows to mix in {len(records)} file(s): are they silent "
                                 f"or shorter than a window ({mix.window} samples at {sr} Hz)?")
    audio = np.concatenate(chunks)
    ids = np.concatenate(ids)
    order = np.argsort(ids, kind="stable")
    audio, ids = audio[order], ids[order]
    counts = np.bincount(ids, minlength=len(classes)).astype(np.int32)
    missing = [c for c, n in zip(classes, counts) if n == 0]
    if missing:
        raise DatasetError(None, f"{where}no audible windows for class(es) {missing} (of {len(records)} file(s); "
                                 "each class needs at least one file there)")
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
    log.info("window pool: %d windows of %d samples (%.1f MiB), per class %s", len(audio), mix.window,
             audio.nbytes / 2**20, dict(zip(classes, counts.tolist())))
    return WindowPool(tf.Variable(audio, trainable=False, name="window_pool"), tf.constant(offsets),
                      tf.constant(counts), classes)


# ---------------------------------------------------------------------------------------------
# mixing: every mix a function of its stateless seed `(2,)`, computed for a whole batch of seeds at once


def _mix_draws(pool: WindowPool, mix: MixConfig, seeds: tf.Tensor) -> dict[str, tf.Tensor]:
    """A batch of mixes' draws from seeds `(batch, 2)`, each mix from its own seed: per slot `(batch, m)`
    (m = the most instruments a mix can have) the class, the pool row and the level (0 in slots beyond
    the mix's instrument count), and the count `(batch,)`."""
    k = len(pool.classes)
    m = min(mix.n_max, k)
    n_min = min(mix.n_min, m)
    u = draws.uniform(seeds, 1 + k + m)
    choices = m - n_min + 1
    n = n_min + tf.minimum(tf.cast(u[:, 0] * choices, tf.int32), choices - 1)
    slot_class = tf.math.top_k(u[:, 1:1 + k], k=m, sorted=True).indices  # m distinct classes
    counts = tf.gather(pool.counts, slot_class)
    rows = tf.gather(pool.offsets, slot_class) + tf.minimum(
        tf.cast(u[:, 1 + k:] * tf.cast(counts, tf.float32), tf.int32), counts - 1)
    active = tf.cast(tf.range(m)[None, :] < n[:, None], tf.float32)
    levels = mix.level_mean + math.sqrt(mix.level_var) * draws.normal(seeds, m, stream=1)
    levels = (tf.maximum(levels, 0.0) + mix.eps) * active
    total = tf.reduce_sum(levels, axis=1, keepdims=True)
    levels = tf.where(total > 1.0, levels / total, levels)
    return {"n": n, "slot_class": slot_class, "rows": rows, "slot_level": levels,
            "one_hot": tf.one_hot(slot_class, k, dtype=tf.float32) * active[..., None]}


def mix_batch(pool: WindowPool, mix: MixConfig, seeds: tf.Tensor, stems: bool = True,
              activations: tuple[int, int] | None = None) -> dict[str, tf.Tensor]:
    """Mixes from stateless seeds `(batch, 2)`, each mix a function of its own seed (seed 001 §4.1.3).

    Returns audio `(batch, samples)`, labels and levels `(batch, classes)`, n_instruments `(batch,)`;
    with `stems`, stems `(batch, classes, samples)` (absent classes silent); with `activations`
    `(frame_length, hop_length)`, activations `(batch, classes, frames)` computed from the pool's framed
    RMS (a stem's RMS is its level times its window's), as `tfaudio.data.labels.activations` of the stems.
    """
    seeds = tf.reshape(tf.convert_to_tensor(seeds), [-1, 2])
    d = _mix_draws(pool, mix, seeds)
    clips = tf.gather(pool.audio, d["rows"])  # (batch, m, samples)
    out = {
        "audio": tf.einsum("bm,bms->bs", d["slot_level"], clips),
        "labels": tf.reduce_sum(d["one_hot"], axis=1),
        "levels": tf.einsum("bm,bmk->bk", d["slot_level"], d["one_hot"]),
        "n_instruments": d["n"],
    }
    if stems:
        out["stems"] = tf.einsum("bmk,bms->bks", d["one_hot"], clips * d["slot_level"][..., None])
    if activations is not None:
        rms = tf.gather(pool.frame_rms(*activations), d["rows"]) * d["slot_level"][..., None]
        act = activations_from_rms(rms, ref=mix.ref, top_db=mix.range_db)  # (batch, m, frames)
        out["activations"] = tf.einsum("bmk,bmf->bkf", d["one_hot"], act)
    return out


def mix_from_seed(pool: WindowPool, mix: MixConfig, seed: tf.Tensor) -> dict[str, tf.Tensor]:
    """One mix from a stateless seed `(2,)`: audio `(samples,)`, stems `(classes, samples)`,
    labels and levels `(classes,)`, n_instruments. The same mix as in any batch (`mix_batch`)."""
    return {k: v[0] for k, v in mix_batch(pool, mix, tf.reshape(seed, [1, 2])).items()}


def mix_seeds(seed: int, num_mixes: int | None = None, rerandomize: bool = True) -> tf.data.Dataset:
    """Per-mix stateless seeds `(2,)` int64: the same per run; new every epoch when `rerandomize`
    (training), the same every epoch otherwise (a fixed validation set)."""
    ds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=rerandomize)
    if num_mixes is not None:
        ds = ds.take(num_mixes)
    return ds.map(lambda s: tf.stack([s, tf.constant(seed, tf.int64)]))
