"""Mixes per second: tfaudio's mixing paths against the seed's loop, and what training consumes.

Each side runs in its own process, on the same pool of decoded 0.348-s windows at 44.1 kHz
(8 instruments of the built-in corpus):
- the seed's loop (Neuroment): per mix, in Python, numpy mixing, librosa log-mel of the mix and
  librosa RMS of each stem (`benchmarks/seed_loop.py`), warmed up and timed in a process that never
  imports TensorFlow, before any TensorFlow process starts;
- `tfaudio.data.pipeline.mixtures`: the tf.data path (log-mel + activation labels, batch 32);
- the on-device path (`train.mixing: device`): `make_batch` on seed batches in one XLA-compiled function;
- training the activation CNN: fed by the tf.data path or mixing inside the compiled step, at float32
  and mixed_bfloat16;
- `--breakdown`: where one batch's time goes (one thread, stage by stage).
Every row: median and spread (min-max) of `--repeats` timed runs after a warm-up.

    python benchmarks/bench_mixing.py [--repeats 3] [--quick] [--breakdown] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from _timing import report  # noqa: E402

SR = 44100
BATCH = 32


def _stats(rates: list[float]) -> dict:
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def _run_stage(stage: str, folder: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--stage", stage, "--folder", folder,
           "--repeats", str(args.repeats)] + (["--quick"] if args.quick else [])
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- stages (own processes)


def stage_pool(folder: str, args: argparse.Namespace) -> dict:
    """Render the corpus and save its window pool as .npy (a TensorFlow process)."""
    from tfaudio.data import corpus, datasets, mixing
    from tfaudio.config import MixConfig

    with tempfile.TemporaryDirectory() as tmp:
        corpus.render_corpus(tmp, per_class=3 if args.quick else 6, seed=0, sr=SR, n_samples=3 * SR,
                             progress=False)
        records = datasets.medley_solos_db(tmp, subset="training")
        classes = datasets.classes_of(records)
        pool = mixing.window_pool(records, classes, SR, MixConfig())
    np.save(os.path.join(folder, "pool.npy"), pool.audio.numpy())
    np.save(os.path.join(folder, "offsets.npy"), pool.offsets.numpy())
    np.save(os.path.join(folder, "counts.npy"), pool.counts.numpy())
    with open(os.path.join(folder, "classes.json"), "w") as f:
        json.dump(pool.classes, f)
    return {"windows": int(pool.size), "classes": pool.classes}


def _load_pool(folder: str):
    import tensorflow as tf

    from tfaudio.data import mixing

    with open(os.path.join(folder, "classes.json")) as f:
        classes = json.load(f)
    return mixing.WindowPool(tf.Variable(np.load(os.path.join(folder, "pool.npy")), trainable=False),
                           tf.constant(np.load(os.path.join(folder, "offsets.npy"))),
                           tf.constant(np.load(os.path.join(folder, "counts.npy"))), classes)


def _time_iter(it, batches: int, repeats: int, warmup: int = 10) -> dict:
    for _ in range(warmup):
        next(it)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(batches):
            next(it)
        rates.append(batches * BATCH / (time.perf_counter() - t))
    return _stats(rates)


def stage_mixing(folder: str, args: argparse.Namespace) -> dict:
    """The tf.data path and the compiled on-device generator, mixes/s."""
    import tensorflow as tf

    from tfaudio.data import device_mixing, pipeline
    from tfaudio.config import AugmentConfig, FeatureConfig, MixConfig

    pool, mix, feats = _load_pool(folder), MixConfig(), FeatureConfig(kind="log_mel", sr=SR)
    batches = 40 if args.quick else 150
    ds = pipeline.for_training(pipeline.mixtures([], pool.classes, mix, seed=0, features=feats, batch_size=BATCH, pool=pool))
    out = {"pipeline": _time_iter(iter(ds), batches, args.repeats)}
    make = tf.function(lambda s: pipeline.make_batch(pool, mix, feats, AugmentConfig(), s, keep_audio=False),
                       jit_compile=True)
    seeds = iter(device_mixing.seed_batches(0, BATCH))

    class Steps:  # the generator run step after step, each result fetched
        def __next__(self):
            ex = make(next(seeds))
            ex["features"].numpy()

    out["device"] = _time_iter(Steps(), batches, args.repeats)
    return out


def stage_training(folder: str, args: argparse.Namespace) -> dict:
    """Activation-CNN training, mixes/s: tf.data-fed or mixing in the step, float32 and mixed_bfloat16."""
    import keras

    from tfaudio import models
    from tfaudio.data import device_mixing, pipeline
    from tfaudio.config import FeatureConfig, MixConfig

    pool, mix, feats = _load_pool(folder), MixConfig(), FeatureConfig(kind="log_mel", sr=SR)
    steps = 15 if args.quick else 100
    out = {}
    for policy in ("float32", "mixed_bfloat16"):
        for path in ("pipeline", "device"):
            keras.mixed_precision.set_global_policy(policy)
            keras.utils.set_random_seed(0)
            model = models.build("activation_cnn", n_instruments=len(pool.classes), n_frames=16, n_bins=128)
            if path == "device":
                fit_model = device_mixing.DeviceMixing(model, pool, mix, feats)
                ds = device_mixing.seed_batches(0, BATCH)
                fit_model.compile(optimizer="adamw", loss="binary_crossentropy", jit_compile=True)
            else:
                fit_model = model
                ds = pipeline.for_training(pipeline.mixtures([], pool.classes, mix, seed=0, features=feats,
                                                     batch_size=BATCH, pool=pool))
                fit_model.compile(optimizer="adamw", loss="binary_crossentropy")
            fit_model.fit(ds, steps_per_epoch=10, epochs=1, verbose=0)  # warm-up: tracing, compiling
            rates = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                fit_model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
                rates.append(steps * BATCH / (time.perf_counter() - t))
            out[f"{path} {policy}"] = _stats(rates)
            if path == "pipeline":  # the step alone: one batch already in memory, no input pipeline
                x, y = next(iter(ds))
                for _ in range(5):
                    fit_model.train_on_batch(x, y)
                rates = []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    for _ in range(steps):
                        fit_model.train_on_batch(x, y)
                    rates.append(steps * BATCH / (time.perf_counter() - t))
                out[f"step alone {policy}"] = _stats(rates)
    keras.mixed_precision.set_global_policy("float32")
    return out


def stage_breakdown(folder: str, args: argparse.Namespace) -> dict:
    """Milliseconds per batch of 32, one intra-op thread, stage by stage (each its own tf.function)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tfaudio.data import mixing, pipeline
    from tfaudio.features import spectral
    from tfaudio.config import AugmentConfig, FeatureConfig, MixConfig

    pool, mix, feats = _load_pool(folder), MixConfig(), FeatureConfig(kind="log_mel", sr=SR)
    seeds = mixing.mix_seeds(0, BATCH).batch(BATCH).get_single_element()
    audio = mixing.mix_batch(pool, mix, seeds, stems=False)["audio"]
    spectrum = spectral._spectrum(audio, 2048, 1024, True, 2.0)
    blocks = spectral._mel_blocks(*spectral._mel_args(SR, 2048, 128, 27.5, 20000.0, False, "slaney"))
    mel = spectral._mel_project(spectrum, blocks)
    stages = {
        "draws (counts, classes, rows, levels)": (lambda s: mixing._mix_draws(pool, mix, s), seeds),
        "mixing (gather + weighted sum)": (lambda s: mixing.mix_batch(pool, mix, s, stems=False)["audio"], seeds),
        "activation labels (from the pool's RMS)": (
            lambda s: mixing.mix_batch(pool, mix, s, stems=False, activations=(2048, 1024))["activations"], seeds),
        "STFT power (pad, frame, window, FFT, |.|^2)": (lambda y: spectral._spectrum(y, 2048, 1024, True, 2.0), audio),
        "  of which the FFT alone": (lambda y: tf.signal.rfft(tf.signal.frame(y, 2048, 1024)), audio),
        "mel projection (block-sparse)": (lambda s: spectral._mel_project(s, blocks), spectrum),
        "dB and floor": (lambda m: spectral._to_db(m, 10.0, 1.0, 1e-10, 60.0), mel),
        "whole batch (make_batch)": (lambda s: pipeline.make_batch(pool, mix, feats, AugmentConfig(), s,
                                                               keep_audio=False), seeds),
    }
    out = {}
    for name, (fn, arg) in stages.items():
        f = tf.function(fn)
        for _ in range(3):
            f(arg)
        times = []
        for _ in range(max(3, args.repeats)):
            t = time.perf_counter()
            for _ in range(20):
                r = f(arg)
            tf.nest.map_structure(lambda x: x.numpy(), r)
            times.append((time.perf_counter() - t) / 20 * 1e3)
        out[name] = _stats(times)
    return out


STAGES = {"pool": stage_pool, "mixing": stage_mixing, "training": stage_training, "breakdown": stage_breakdown}


# --------------------------------------------------------------------------- the table


def _cell(s: dict, digits: int = 0) -> str:
    return f"{s['median']:,.{digits}f} ({s['min']:,.{digits}f}–{s['max']:,.{digits}f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a smoke run: fewer clips, batches and steps")
    ap.add_argument("--breakdown", action="store_true", help="also time one batch stage by stage")
    ap.add_argument("--no-training", action="store_true", help="skip the training rows")
    ap.add_argument("--out", default=None, help="also write the tables (markdown) here")
    ap.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        print(json.dumps(STAGES[args.stage](args.folder, args)))
        return

    from seed_loop import measure_in_subprocess

    with tempfile.TemporaryDirectory() as folder:
        info = _run_stage("pool", folder, args)
        pool = np.load(os.path.join(folder, "pool.npy"))
        offsets, counts = np.load(os.path.join(folder, "offsets.npy")), np.load(os.path.join(folder, "counts.npy"))
        seed = measure_in_subprocess(pool, offsets, counts, mixes=150 if args.quick else 500,
                                     repeats=args.repeats, warmup=20, sr=SR)
        mixing = _run_stage("mixing", folder, args)
        training = {} if args.no_training else _run_stage("training", folder, args)
        breakdown = _run_stage("breakdown", folder, args) if args.breakdown else {}

    import platform

    base = seed["median"]
    rows = [("seed's loop: numpy + librosa, one mix at a time (warmed, no TensorFlow in the process)", seed),
            ("tfaudio.data.pipeline.mixtures: tf.data, whole batches (log-mel + activations)", mixing["pipeline"]),
            ("on-device path: make_batch in one XLA-compiled function (log-mel + activations)", mixing["device"])]
    rows += [(f"activation CNN training, {name}", s) for name, s in training.items()]
    lines = ["| what | mixes/s, median (min–max) | × seed's loop (median) |", "|---|---:|---:|"]
    lines += [f"| {name} | {_cell(s)} | {s['median'] / base:.1f}× |" for name, s in rows]
    header = (f"Mixing: log-mel (128 bins) + activation labels, 1-4 of {len(info['classes'])} instruments, "
              f"0.348-s windows at 44.1 kHz, batch {BATCH}, pool {info['windows']} windows; {os.cpu_count()} CPUs "
              f"({platform.processor() or platform.machine()}), {args.repeats} repeats")
    table = header + "\n\n" + "\n".join(lines)
    if breakdown:
        table += ("\n\nOne batch of 32, one thread, stage by stage (ms, median (min–max)):\n\n| stage | ms |\n|---|---:|\n"
                  + "\n".join(f"| {name} | {_cell(s, 2)} |" for name, s in breakdown.items()))
    report(table, args.out)


if __name__ == "__main__":
    main()
