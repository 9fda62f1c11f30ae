"""Mixes per second: the tf.data activation pipeline vs the seed's approach, on the same decoded inputs.

The seed's approach (Neuroment): per mix, in a Python loop, numpy mixing, librosa log-mel and
librosa RMS per stem. tfaudio: `tfaudio.data.mixtures` (stateless mixing, batched in-graph
log-mel and activation labels). Both draw up to 4 instruments from the same pool of decoded
0.348-s windows at 44.1 kHz. Also prints the training-step rate of the activation CNN, when the
models package has it, so a user can see whether training is input-bound.

    python benchmarks/bench_mixing.py [--mixes 2000] [--baseline-mixes 200] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def seed_approach(pool: np.ndarray, offsets: np.ndarray, counts: np.ndarray, n_mixes: int, sr: int,
                  seed: int = 0) -> float:
    """The seed's loop: numpy mixing + librosa log-mel + librosa RMS activations, one mix at a time."""
    import librosa

    rng = np.random.default_rng(seed)
    k = len(counts)
    t = time.perf_counter()
    for _ in range(n_mixes):
        n = rng.integers(1, 5)
        cls = rng.permutation(k)[:n]
        levels = np.maximum(rng.normal(0.5, 0.1, n), 0) + 1e-8
        if levels.sum() > 1:
            levels /= levels.sum()
        stems = np.zeros((k, pool.shape[1]), np.float32)
        for c, lv in zip(cls, levels):
            stems[c] = pool[offsets[c] + rng.integers(counts[c])] * lv
        mix = stems.sum(0)
        mel = librosa.feature.melspectrogram(y=mix, sr=sr, n_fft=2048, hop_length=1024, n_mels=128,
                                             fmin=27.5, fmax=20000.0)
        librosa.power_to_db(mel, ref=np.max, top_db=60.0)
        act = np.zeros((k, 16), np.float32)
        for c in cls:
            rms = librosa.feature.rms(y=stems[c], frame_length=2048, hop_length=1024)[0]
            db = 20 * np.log10(np.maximum(rms, 1e-10))
            act[c] = np.clip((db + 60.0) / 60.0, 0, 1)
    return n_mixes / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mixes", type=int, default=2000, help="mixes timed for tfaudio")
    ap.add_argument("--baseline-mixes", type=int, default=200, help="mixes timed for the seed's loop")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--per-class", type=int, default=6, help="rendered 3-s clips per class")
    ap.add_argument("--train-steps", type=int, default=60, help="activation-CNN steps timed (0 skips)")
    ap.add_argument("--out", default=None, help="also write the table (markdown) here")
    args = ap.parse_args()

    import tensorflow as tf

    from tfaudio import corpus, data, datasets
    from tfaudio.config import FeatureConfig, MixConfig

    sr = 44100
    with tempfile.TemporaryDirectory() as tmp:
        corpus.render_corpus(tmp, per_class=args.per_class, seed=0, sr=sr, n_samples=3 * sr, progress=False)
        records = datasets.medley_solos_db(tmp, subset="training")
        classes = datasets.classes_of(records)
        mix = MixConfig()
        pool = data.window_pool(records, classes, sr, mix)
    audio = pool.audio.numpy()
    offsets, counts = pool.offsets.numpy(), pool.counts.numpy()

    base = seed_approach(audio, offsets, counts, args.baseline_mixes, sr)

    feats = FeatureConfig(kind="log_mel", sr=sr)
    ds = data.mixtures(records, classes, mix, seed=0, features=feats, batch_size=args.batch, pool=pool)
    it = iter(ds)
    for _ in range(3):  # warm up: trace and fill the prefetch buffer
        next(it)
    n_batches = max(1, args.mixes // args.batch)
    t = time.perf_counter()
    for _ in range(n_batches):
        next(it)
    ours = n_batches * args.batch / (time.perf_counter() - t)

    rows = [("seed approach (numpy + librosa, Python loop)", base, 1.0),
            ("tfaudio.data.mixtures (tf.data, batched in-graph)", ours, ours / base)]
    train_rate = None
    if args.train_steps:
        try:
            from tfaudio import models

            model = models.build("activation_cnn", n_instruments=len(classes), n_frames=16, n_bins=128)
        except Exception as e:  # the models package may not have it yet
            print(f"(activation CNN not available: {e})")
        else:
            model.compile(optimizer="adamw", loss="binary_crossentropy")
            train = data.for_training(ds)
            model.fit(train, steps_per_epoch=3, epochs=1, verbose=0)
            t = time.perf_counter()
            model.fit(train, steps_per_epoch=args.train_steps, epochs=1, verbose=0)
            train_rate = args.train_steps * args.batch / (time.perf_counter() - t)
            x, y = next(iter(train))  # the bare step: one batch already in memory, no input pipeline
            for _ in range(3):
                model.train_on_batch(x, y)
            t = time.perf_counter()
            for _ in range(args.train_steps):
                model.train_on_batch(x, y)
            step_only = args.train_steps * args.batch / (time.perf_counter() - t)
            rows.append(("activation CNN training, fed by the pipeline", train_rate, train_rate / base))
            rows.append(("activation CNN training step alone (one cached batch)", step_only, step_only / base))

    lines = ["| what | mixes/s | × seed approach |", "|---|---:|---:|"]
    lines += [f"| {name} | {rate:,.0f} | {ratio:.1f}× |" for name, rate, ratio in rows]
    table = "\n".join(lines)
    cpu = os.cpu_count()
    header = (f"Activation pipeline: log-mel (128 bins) + activation labels, 1-4 instruments of {len(classes)}, "
              f"0.348-s windows at 44.1 kHz, batch {args.batch}, {cpu} CPUs, TF {tf.__version__}")
    print(header)
    print(table)
    if train_rate is not None:
        print(f"training consumes {train_rate:,.0f} mixes/s; the pipeline makes {ours:,.0f}/s: "
              + ("input-bound" if ours < 1.2 * train_rate else "not input-bound"))
    if args.out:
        with open(args.out, "w") as f:
            f.write(header + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
