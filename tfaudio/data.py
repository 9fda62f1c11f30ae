"""tf.data input pipelines: windows, class balancing, on-the-fly mixing and augmentation.

Per-example work runs in tf.data graphs (no Python in the hot path). Randomness is
stateless and counter-based: the same seed gives the same mixes, run after run,
and every epoch gives new ones.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from typing import Sequence

import numpy as np
import tensorflow as tf

from tfaudio.config import AugmentConfig, FeatureConfig, MixConfig
from tfaudio.datasets import Record, ScanResult, classes_of, encode_labels
from tfaudio.errors import DatasetError

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE


# ---------------------------------------------------------------------------------------------
# decoding and windows


def decode(records: Sequence[Record], classes: Sequence[str] | None = None, sr: int = 44100,
           label_mode: str = "auto", cache: str | None = None, deterministic: bool = True) -> tf.data.Dataset:
    """(audio `(samples,)`, label) pairs, decoded and resampled in the graph.

    `cache`: None, "memory", or a file prefix for an on-disk cache of the decoded audio.
    """
    from tfaudio.datasets import to_dataset

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


def frame_windows(audio: tf.Tensor, length: int, hop: int | None = None, pad_end: bool = False) -> tf.Tensor:
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
        w = frame_windows(audio, length, hop, pad_end)
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

    @property
    def size(self) -> int:
        return int(self.audio.shape[0])


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
# mixing


def mix_from_seed(pool: WindowPool, mix: MixConfig, seed: tf.Tensor) -> dict[str, tf.Tensor]:
    """One mix from a stateless seed `(2,)`: audio `(samples,)`, stems `(classes, samples)`,
    labels and levels `(classes,)`, n_instruments."""
    k = len(pool.classes)
    m = min(mix.n_max, k)
    n_min = min(mix.n_min, m)
    s = tf.random.experimental.stateless_split(seed, num=5)
    n = tf.random.stateless_uniform([], s[0], minval=n_min, maxval=m + 1, dtype=tf.int32)
    perm = tf.argsort(tf.random.stateless_uniform([k], s[1]))[:m]  # m distinct classes
    active = tf.cast(tf.range(m) < n, tf.float32)
    counts = tf.gather(pool.counts, perm)
    offsets = tf.gather(pool.offsets, perm)
    u = tf.random.stateless_uniform([m], s[2])
    pick = offsets + tf.minimum(tf.cast(u * tf.cast(counts, tf.float32), tf.int32), counts - 1)
    clips = tf.gather(pool.audio, pick)  # (m, samples)
    levels = tf.random.stateless_normal([m], s[3], mean=mix.level_mean, stddev=math.sqrt(mix.level_var))
    levels = (tf.maximum(levels, 0.0) + mix.eps) * active
    total = tf.reduce_sum(levels)
    levels = tf.where(total > 1.0, levels / total, levels)
    stems_m = clips * levels[:, None]
    index = perm[:, None]
    return {
        "audio": tf.reduce_sum(stems_m, axis=0),
        "stems": tf.scatter_nd(index, stems_m, [k, mix.window]),
        "labels": tf.scatter_nd(index, active, [k]),
        "levels": tf.scatter_nd(index, levels, [k]),
        "n_instruments": n,
    }


def mix_seeds(seed: int, num_mixes: int | None = None, rerandomize: bool = True) -> tf.data.Dataset:
    """Per-mix stateless seeds `(2,)` int64: the same per run; new every epoch when `rerandomize`
    (training), the same every epoch otherwise (a fixed validation set)."""
    ds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=rerandomize)
    if num_mixes is not None:
        ds = ds.take(num_mixes)
    return ds.map(lambda s: tf.stack([s, tf.constant(seed, tf.int64)]))


def augment_mix(example: dict[str, tf.Tensor], aug: AugmentConfig, seed: tf.Tensor) -> dict[str, tf.Tensor]:
    """Waveform augmentation of a mix that keeps its labels true: gain and time shift act on the
    stems (so activations follow), noise on the mix only (noise is no instrument)."""
    s = tf.random.experimental.stateless_split(seed, num=3)
    stems, audio = example["stems"], example["audio"]
    if aug.gain_db:
        g = tf.random.stateless_uniform([], s[0], aug.gain_db[0], aug.gain_db[1])
        g = tf.pow(10.0, g / 20.0)
        stems, audio = stems * g, audio * g
    if aug.max_shift:
        shift = tf.random.stateless_uniform([], s[1], -aug.max_shift, aug.max_shift + 1, dtype=tf.int32)
        stems, audio = tf.roll(stems, shift, axis=-1), tf.roll(audio, shift, axis=-1)
    if aug.snr_db:
        audio = add_noise(audio, aug.snr_db, s[2])
    return dict(example, stems=stems, audio=audio)


def add_noise(audio: tf.Tensor, snr_db: tuple[float, float], seed: tf.Tensor) -> tf.Tensor:
    """White noise at an SNR drawn uniformly from `snr_db` (dB) relative to `audio`'s power `(..., samples)`."""
    s = tf.random.experimental.stateless_split(seed, num=2)
    snr = tf.random.stateless_uniform(tf.shape(audio)[:-1], s[0], snr_db[0], snr_db[1])
    power = tf.reduce_mean(tf.square(audio), axis=-1)
    noise_power = power / tf.pow(10.0, snr / 10.0)
    noise = tf.random.stateless_normal(tf.shape(audio), s[1])
    return audio + noise * tf.sqrt(noise_power)[..., None]


def augment_waveform(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
    """Waveform augmentation of one example `(samples,)` from its stateless seed `(2,)`, as `augment_mix`
    does for a mix: gain (uniform in `gain_db`), time shift (circular, uniform in ±`max_shift` samples),
    then white noise at an SNR uniform in `snr_db`."""
    s = tf.random.experimental.stateless_split(seed, num=3)
    if aug.gain_db:
        g = tf.random.stateless_uniform([], s[0], aug.gain_db[0], aug.gain_db[1])
        audio = audio * tf.pow(10.0, g / 20.0)
    if aug.max_shift:
        shift = tf.random.stateless_uniform([], s[1], -aug.max_shift, aug.max_shift + 1, dtype=tf.int32)
        audio = tf.roll(audio, shift, axis=-1)
    if aug.snr_db:
        audio = add_noise(audio, aug.snr_db, s[2])
    return audio


def _mask_draws(aug: AugmentConfig, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """One example's SpecAugment draws from its seed `(2,)`: widths (int32) and start fractions in [0, 1)
    of its `time_masks` and `freq_masks` bands."""
    s = tf.random.experimental.stateless_split(seed, num=4)
    tw = tf.random.stateless_uniform([aug.time_masks], s[0], 0, aug.time_mask_width + 1, dtype=tf.int32)
    tu = tf.random.stateless_uniform([aug.time_masks], s[1])
    fw = tf.random.stateless_uniform([aug.freq_masks], s[2], 0, aug.freq_mask_width + 1, dtype=tf.int32)
    fu = tf.random.stateless_uniform([aug.freq_masks], s[3])
    return tw, tu, fw, fu


def _bands(widths: tf.Tensor, u: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """Which of `size` positions the bands `(n, masks)` cover: `(n, size)` bool. A band of width w starts
    uniformly in [0, size - w] (`u` in [0, 1) picks where)."""
    widths = tf.minimum(widths, size)
    room = tf.cast(size - widths + 1, tf.float32)
    start = tf.minimum(tf.cast(tf.floor(u * room), tf.int32), size - widths)
    pos = tf.range(size)[None, None, :]
    inside = (pos >= start[..., None]) & (pos < (start + widths)[..., None])  # (n, masks, size)
    return tf.reduce_any(inside, axis=1)


def spec_augment(features: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
    """SpecAugment-style masks on `(frames, bins)` features, or a batch `(..., frames, bins)`:
    `time_masks` bands of 0 to `time_mask_width` frames and `freq_masks` of 0 to `freq_mask_width` bins,
    set to each example's minimum.

    Every example gets its own masks from its own stateless seed: `seed` is `(2,)` for one example, or
    `(..., 2)` with the features' leading (batch) axes. The same seed gives the same masks whatever
    batch the example is in. The draws (a few scalars an example; `tf.random.stateless_*` take one seed
    each) run in an in-graph loop over the batch; the masking itself is vectorised.
    """
    if not (aug.time_masks or aug.freq_masks):
        return features
    features = tf.convert_to_tensor(features)
    seed = tf.convert_to_tensor(seed)
    shape = tf.shape(features)
    frames, bins = shape[-2], shape[-1]
    flat = tf.reshape(features, tf.concat([[-1], shape[-2:]], 0))  # (n, frames, bins)
    seeds = tf.reshape(seed, [-1, 2])
    n = tf.shape(flat)[0]
    tf.debugging.assert_equal(tf.shape(seeds)[0], n, message="spec_augment: one seed (2,) per example needed")
    tw, tu, fw, fu = tf.map_fn(lambda s: _mask_draws(aug, s), seeds,
                               fn_output_signature=(tf.int32, tf.float32, tf.int32, tf.float32))
    masked_t = _bands(tw, tu, frames)  # (n, frames)
    masked_f = _bands(fw, fu, bins)  # (n, bins)
    masked = masked_t[:, :, None] | masked_f[:, None, :]
    floor = tf.reduce_min(flat, axis=[-2, -1], keepdims=True)
    out = tf.where(masked, floor, flat)
    return tf.reshape(out, shape)


def mixtures(records: Sequence[Record], classes: Sequence[str] | None = None, mix: MixConfig = MixConfig(),
             seed: int = 0, features: FeatureConfig | None = FeatureConfig(), batch_size: int | None = None,
             num_mixes: int | None = None, augment: AugmentConfig = AugmentConfig(),
             keep_stems: bool = False, deterministic: bool = True, pool: WindowPool | None = None,
             input_context: tf.distribute.InputContext | None = None, cache: str | None = None,
             rerandomize: bool = True) -> tf.data.Dataset:
    """On-the-fly mixes of single-instrument windows (seed 001 §4.1.3), as a Dataset of dicts.

    Keys: "audio" `(samples,)`, "features" `(frames, bins)` (`features=None` leaves it out),
    "activations" `(classes, frames)` in [0, 1] from the same scaled stems, "labels" multi-hot
    `(classes,)`, "levels" `(classes,)` and "n_instruments". With `batch_size` every tensor gets a
    leading batch axis and features are computed on whole batches. `num_mixes=None` is endless.
    `rerandomize=False` repeats the same mixes every epoch (for validation).
    n_min = n_max = 1 gives plain single-instrument examples; `features=FeatureConfig(kind="none")`
    gives raw-waveform multi-label mixes (seed 003).
    """
    from tfaudio import labels as L

    classes = list(classes) if classes is not None else classes_of(records)
    sr = features.sr if features is not None else 44100
    if pool is None:
        pool = window_pool(records, classes, sr, mix, cache=cache)
    ds = mix_seeds(seed, num_mixes, rerandomize)
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)

    def make(s):
        ex = mix_from_seed(pool, mix, s)
        if augment.active:
            ex = augment_mix(ex, augment, tf.random.experimental.stateless_fold_in(s, 1))
        ex["seed"] = tf.random.experimental.stateless_fold_in(s, 2)  # this mix's SpecAugment seed
        return ex

    ds = ds.map(make, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if batch_size:
        ds = ds.batch(batch_size, drop_remainder=True)
    hop = features.hop_length if features is not None else 1024
    n_fft = features.n_fft if features is not None else 2048

    def featurise(ex):
        ex = dict(ex)
        stems = ex.pop("stems")
        ex["activations"] = L.activations(stems, frame_length=n_fft, hop_length=hop, ref=mix.ref,
                                          top_db=mix.range_db)
        if features is not None and features.kind != "none":
            f = features.compute(ex["audio"])
            if augment.time_masks or augment.freq_masks:
                f = spec_augment(f, augment, ex["seed"])  # each mix its own masks
            ex["features"] = f
        if keep_stems:
            ex["stems"] = stems
        ex.pop("seed")
        return ex

    return ds.map(featurise, num_parallel_calls=AUTOTUNE, deterministic=deterministic).prefetch(AUTOTUNE)


def for_training(ds: tf.data.Dataset, x: str = "features", y: str = "activations") -> tf.data.Dataset:
    """(x, y) pairs from a dict dataset, for keras.Model.fit."""
    return ds.map(lambda ex: (ex[x], ex[y]), num_parallel_calls=AUTOTUNE)


def class_dataset(records: Sequence[Record], classes: Sequence[str] | None = None, sr: int = 22050,
                  window: int | None = None, hop: int | None = None, min_rms_db: float | None = None,
                  features: FeatureConfig | None = None, batch_size: int = 32, shuffle: int | None = 1024,
                  seed: int = 0, label_mode: str = "auto", cache: str | None = "memory",
                  augment: AugmentConfig | None = None, deterministic: bool = True,
                  input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Clip classification input: decode → (cache) → windows → shuffle → (augment) → batch → features →
    (SpecAugment) → prefetch.

    Yields (x, label) batches: x is `(batch, window)` audio or `(batch, frames, bins)` features.
    Shuffling and batching are separate, explicit steps: `shuffle=None` keeps the order.
    `augment` (training only; None or an inactive config leaves the examples as they are) applies what
    `mixtures` does, each example with its own stateless seed (new every epoch, the same for the same
    `seed`): gain, time shift and noise at an SNR on the window (`augment_waveform`), and SpecAugment
    masks on its features (`spec_augment`; not for raw audio).
    """
    classes = list(classes) if classes is not None else classes_of(records)
    ds = decode(records, classes, sr=sr, label_mode=label_mode, cache=cache, deterministic=deterministic)
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if window:
        ds = windows(ds, window, hop, min_rms_db)
    if shuffle:
        ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    compute = features is not None and features.kind != "none"
    wave = augment is not None and bool(augment.gain_db or augment.max_shift or augment.snr_db)
    masks = augment is not None and compute and bool(augment.time_masks or augment.freq_masks)
    if not (wave or masks):
        ds = ds.batch(batch_size, drop_remainder=False)
        if compute:
            ds = ds.map(lambda x, y: (features.compute(x), y), num_parallel_calls=AUTOTUNE,
                        deterministic=deterministic)
        return ds.prefetch(AUTOTUNE)

    seeds = mix_seeds(seed)  # a fresh stateless seed per example, new each epoch
    if input_context is not None:  # each input pipeline its own seeds
        pipeline = input_context.input_pipeline_id
        seeds = seeds.map(lambda s: tf.random.experimental.stateless_fold_in(s, pipeline))

    def augment_one(example, s):
        x, y = example
        s = tf.random.experimental.stateless_split(s, num=2)  # waveform, masks
        if wave:
            x = augment_waveform(x, augment, s[0])
        return x, y, s[1]

    ds = tf.data.Dataset.zip((ds, seeds)).map(augment_one, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    ds = ds.batch(batch_size, drop_remainder=False)

    def prepare(x, y, s):
        if compute:
            x = features.compute(x)
            if masks:
                x = spec_augment(x, augment, s)
        return x, y

    return ds.map(prepare, num_parallel_calls=AUTOTUNE, deterministic=deterministic).prefetch(AUTOTUNE)
