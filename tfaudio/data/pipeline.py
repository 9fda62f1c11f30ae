"""tf.data input pipelines: windows, class balancing, on-the-fly mixing and augmentation.

Per-example work runs in tf.data graphs (no Python in the hot path). Randomness is
stateless and counter-based: the same seed gives the same mixes, run after run,
and every epoch gives new ones.
"""
from __future__ import annotations

import functools
from typing import Sequence

import tensorflow as tf

from tfaudio.data import draws
from tfaudio.data.labels import activations as stem_activations
from tfaudio.config import AugmentConfig, FeatureConfig, MixConfig
from tfaudio.data.records import Record
from tfaudio.data.datasets import classes_of
from tfaudio.errors import DatasetError
from tfaudio.data.augment import augment_mix, augment_waveform, spec_augment
from tfaudio.data.mixing import WindowPool, mix_batch, mix_seeds, window_pool
from tfaudio.data.windows import AUTOTUNE, decode, windows




def mixtures(records: Sequence[Record], classes: Sequence[str] | None = None, mix: MixConfig = MixConfig(),
             seed: int = 0, features: FeatureConfig | None = FeatureConfig(), batch_size: int | None = None,
             num_mixes: int | None = None, augment: AugmentConfig = AugmentConfig(),
             keep_stems: bool = False, deterministic: bool = True, pool: WindowPool | None = None,
             input_context: tf.distribute.InputContext | None = None, cache: str | None = None,
             rerandomize: bool = True, keep_audio: bool = True) -> tf.data.Dataset:
    """On-the-fly mixes of single-instrument windows (seed 001 §4.1.3), as a Dataset of dicts.

    Keys: "audio" `(samples,)` (`keep_audio=False` leaves it out), "features" `(frames, bins)`
    (`features=None` leaves it out), "activations" `(classes, frames)` in [0, 1] from the same scaled
    stems, "labels" multi-hot `(classes,)`, "levels" `(classes,)` and "n_instruments". With `batch_size`
    every tensor gets a leading batch axis. `num_mixes=None` is endless. `rerandomize=False` repeats the
    same mixes every epoch (for validation). Each mix is a function of its own seed (`mix_seeds`), so it
    is the same whatever the batch size; a whole batch is mixed, labelled and featurised at once
    (`make_batch`). `input_context` gives each input pipeline a disjoint share of the seed stream.
    n_min = n_max = 1 gives plain single-instrument examples; `features=FeatureConfig(kind="none")`
    gives raw-waveform multi-label mixes (seed 003).
    `augment`: `augment_mix` on each mix (the recording chain on its stems and channel, gain, shift,
    noise), then SpecAugment masks on its features; activations come from the stems as augmented.
    """
    classes = list(classes) if classes is not None else classes_of(records)
    sr = features.sr if features is not None else 44100
    if pool is None:
        pool = window_pool(records, classes, sr, mix, cache=cache)
    ds = mix_seeds(seed, num_mixes, rerandomize)
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    make = functools.partial(make_batch, pool, mix, features, augment, sr=sr, keep_stems=keep_stems,
                             keep_audio=keep_audio)
    if batch_size:
        ds = ds.batch(batch_size, drop_remainder=True).map(make, num_parallel_calls=AUTOTUNE,
                                                           deterministic=deterministic)
    else:
        ds = ds.map(lambda s: {k: v[0] for k, v in make(s[None]).items()}, num_parallel_calls=AUTOTUNE,
                    deterministic=deterministic)
    return ds.prefetch(AUTOTUNE)


def make_batch(pool: WindowPool, mix: MixConfig, features: FeatureConfig | None, augment: AugmentConfig,
               seeds: tf.Tensor, sr: int = 44100, keep_stems: bool = False,
               keep_audio: bool = True) -> dict[str, tf.Tensor]:
    """A batch of `mixtures`' examples from seeds `(batch, 2)`: mixes, augmentation, activations and
    features, all vectorised over the batch, each example a function of its own seed alone. Pure
    TensorFlow: `tf.data` maps it, and the on-device path (`tfaudio.data.device_mixing`) runs it inside
    the compiled training step. Without waveform augmentation the activations come from the pool's
    framed RMS (no stems are built)."""
    hop = features.hop_length if features is not None else 1024
    n_fft = features.n_fft if features is not None else 2048
    wave = augment.waveform_active
    ex = mix_batch(pool, mix, seeds, stems=wave or keep_stems, activations=None if wave else (n_fft, hop))
    if wave:
        ex = augment_mix(ex, augment, draws.fold_in(seeds, 1), sr)
        ex["activations"] = stem_activations(ex["stems"], frame_length=n_fft, hop_length=hop, ref=mix.ref,
                                             top_db=mix.range_db)
    if features is not None and features.kind != "none":
        f = features.compute(ex["audio"])
        if augment.time_masks or augment.freq_masks:
            f = spec_augment(f, augment, draws.fold_in(seeds, 2))  # each mix its own masks
        ex["features"] = f
    if not keep_stems:
        ex.pop("stems", None)
    if not keep_audio:
        ex.pop("audio")
    return ex


def shard_records(records: Sequence[Record], input_context: tf.distribute.InputContext) -> list[Record]:
    """Input pipeline `input_pipeline_id`'s share of `records` (every `num_input_pipelines`-th file),
    so each worker decodes only its own files."""
    n, i = input_context.num_input_pipelines, input_context.input_pipeline_id
    share = list(records)[i::n]
    if not share:
        raise DatasetError(None, f"{len(records)} file(s) cannot be split among {n} input pipelines: "
                                 "each needs at least one")
    return share


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
    `seed`): the recording chain (reverb, EQ, compressor, drive, band-limiting), gain, time shift and
    noise at an SNR on the window (`augment_waveform`; with the chain on, on whole batches, each example
    as it would be alone), and SpecAugment masks on its features (`spec_augment`; not for raw audio).
    """
    classes = list(classes) if classes is not None else classes_of(records)
    if input_context is not None:  # each input pipeline decodes its own share of the files
        records = shard_records(records, input_context)
    ds = decode(records, classes, sr=sr, label_mode=label_mode, cache=cache, deterministic=deterministic)
    if window:
        ds = windows(ds, window, hop, min_rms_db)
    if shuffle:
        ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    compute = features is not None and features.kind != "none"
    wave = augment is not None and augment.waveform_active
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

    # the recording chain runs on whole batches (the same examples as one by one, many times faster)
    batched_chain = wave and augment.chain_active

    def augment_one(example, s):
        x, y = example
        s = tf.random.experimental.stateless_split(s, num=2)  # waveform, masks
        if batched_chain:
            return x, y, s[0], s[1]
        if wave:
            x = augment_waveform(x, augment, s[0], sr)
        return x, y, s[1]

    ds = tf.data.Dataset.zip((ds, seeds)).map(augment_one, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    ds = ds.batch(batch_size, drop_remainder=False)
    if batched_chain:
        ds = ds.map(lambda x, y, s_wave, s: (augment_waveform(x, augment, s_wave, sr), y, s),
                    num_parallel_calls=AUTOTUNE, deterministic=deterministic)

    def prepare(x, y, s):
        if compute:
            x = features.compute(x)
            if masks:
                x = spec_augment(x, augment, s)
        return x, y

    return ds.map(prepare, num_parallel_calls=AUTOTUNE, deterministic=deterministic).prefetch(AUTOTUNE)
