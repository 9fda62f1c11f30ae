"""Decoding records in tf.data, cutting windows, dropping silent ones, and class balancing."""
from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Sequence

import numpy as np
import tensorflow as tf

from tfaudio.data.records import Record, ScanResult
from tfaudio.errors import DatasetError
from tfaudio.data.datasets import to_dataset

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE


# ---------------------------------------------------------------------------------------------
# decoding and windows


def decode(records: Sequence[Record], classes: Sequence[str] | None = None, sr: int = 44100,
           label_mode: str = "auto", cache: str | None = None, deterministic: bool = True) -> tf.data.Dataset:
    """(audio `(samples,)`, label) pairs, decoded and resampled in the graph.

    `cache`: None, "memory", or a file prefix for an on-disk cache of the decoded audio.
    """
    ds = to_dataset(records, classes, sr=sr, mono=True, label_mode=label_mode)
    if not deterministic:
        opts = tf.data.Options()
        opts.deterministic = False
        ds = ds.with_options(opts)
    if cache == "memory":
        ds = ds.cache()
    elif cache:
        ds = ds.cache(cache)
    return ds


def cut_windows(audio: tf.Tensor, length: int, hop: int | None = None, pad_end: bool = False) -> tf.Tensor:
    """Cut `(samples,)` into `(windows, length)`; a clip shorter than one window is zero-padded to one."""
    hop = hop or length
    audio = tf.convert_to_tensor(audio, tf.float32)
    short = tf.maximum(length - tf.shape(audio)[-1], 0)
    audio = tf.pad(audio, [[0, short]])
    return tf.signal.frame(audio, length, hop, pad_end=pad_end)


def rms_db(x: tf.Tensor, axis: int = -1) -> tf.Tensor:
    """RMS level in dBFS along `axis` (-inf for silence is floored at -200)."""
    rms = tf.sqrt(tf.reduce_mean(tf.square(x), axis=axis))
    return 20.0 * tf.math.log(tf.maximum(rms, 1e-10)) / math.log(10.0)


def windows(ds: tf.data.Dataset, length: int, hop: int | None = None, min_rms_db: float | None = None,
            pad_end: bool = False) -> tf.data.Dataset:
    """Split (audio, label) elements into (window `(length,)`, label) elements.

    3-s clips: `length=3 * sr`; activation windows: `FeatureConfig.window_samples(16)` (15360);
    raw-waveform windows: any length. Windows quieter than `min_rms_db` dBFS are dropped.
    """

    def split(audio, label):
        w = cut_windows(audio, length, hop, pad_end)
        labels = tf.repeat(tf.expand_dims(label, 0), tf.shape(w)[0], axis=0)
        return tf.data.Dataset.from_tensor_slices((w, labels))

    out = ds.flat_map(split)
    if min_rms_db is not None:
        out = out.filter(lambda w, _: rms_db(w) > min_rms_db)
    return out


# ---------------------------------------------------------------------------------------------
# balancing


def balance(records: Sequence[Record], max_oversample: float = 2.0, seed: int = 0) -> list[Record]:
    """Balance single-label records as seed 001 §4.1.2.

    Every class gets T = min(largest class, max_oversample × smallest class) records: rarer classes
    are oversampled (records repeated, at most `max_oversample` times over), commoner ones
    undersampled (a random subset). Logs the per-class counts before and after.
    """
    if max_oversample < 1:
        raise DatasetError(None, f"max_oversample must be >= 1, got {max_oversample}")
    by_class: dict[str, list[Record]] = {}
    for r in records:
        by_class.setdefault(r.label, []).append(r)
    if not by_class:
        return []
    counts = {c: len(v) for c, v in by_class.items()}
    target = min(max(counts.values()), int(math.floor(max_oversample * min(counts.values()))))
    rng = np.random.default_rng(seed)
    out: list[Record] = []
    for cls in sorted(by_class):
        recs = by_class[cls]
        n = len(recs)
        if n >= target:
            pick = rng.permutation(n)[:target]
        else:
            pick = np.concatenate([np.tile(np.arange(n), target // n), rng.permutation(n)[: target % n]])
        out.extend(recs[i] for i in np.sort(pick))
    after = Counter(r.label for r in out)
    log.info("class balance before: %s", dict(sorted(counts.items())))
    log.info("class balance after (target %d, max oversampling %.3g): %s", target, max_oversample,
             dict(sorted(after.items())))
    return ScanResult(out, getattr(records, "skipped", []))
