"""Mixes per second of the seed's numpy + librosa mixing loop, warmed up, in a process without TensorFlow.

The loop (`seed_approach`, copied unchanged in what it computes from benchmarks/bench_mixing.py):
per mix, in Python, draw 1-4 of the classes, scale one random window of each, sum, librosa log-mel
of the mix and librosa RMS activations of each stem. Run here on a pool saved as .npy, after
`--warmup` untimed mixes (librosa's numba/FFT caches, imports), `--repeats` times `--mixes` mixes,
each repeat with its own seed. Prints JSON: {"median", "min", "max"} mixes/s (+ the raw rates and
the BLAS thread choice: by default the faster of OpenBLAS's default and 1 thread, see `measure`).

    python benchmarks/seed_loop.py POOL.npy OFFSETS.npy COUNTS.npy --mixes 500 --repeats 5 [--sr 44100]

POOL.npy: float32 (windows, samples), the windows of every class one after the other; OFFSETS.npy and
COUNTS.npy: int (classes,), where each class's windows start in POOL and how many there are (as
`tfaudio.data.mixing.window_pool(...)`'s `.offsets` / `.counts`). From a process that has TensorFlow, call
`measure_in_subprocess(audio, offsets, counts, ...)`: it saves the arrays to a temporary folder and
runs this script with the same interpreter, so the loop never shares a process with TensorFlow.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import assert_no_tensorflow, fastest_blas_threads  # noqa: E402


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


def measure(pool: np.ndarray, offsets: np.ndarray, counts: np.ndarray, mixes: int = 500, repeats: int = 5,
            warmup: int = 20, sr: int = 44100, blas_threads: str = "auto") -> dict:
    """Warm up with `warmup` mixes, then time `repeats` runs of `mixes` mixes (seeds 1..repeats).

    blas_threads: "auto" runs the loop under the faster of OpenBLAS's default thread count and 1 thread
    (decided on the warm-up mixes; the mel projection is a small matmul that threads slow down badly on
    a busy machine), "default" leaves BLAS alone, "1" pins one thread."""
    from threadpoolctl import threadpool_limits  # a librosa dependency (via scikit-learn)

    warm = lambda: seed_approach(pool, offsets, counts, max(warmup, 1), sr, seed=0)  # noqa: E731
    note = "default"
    one = False
    if blas_threads == "auto":
        _, note = fastest_blas_threads(warm)
        one = note.startswith("BLAS threads 1")
    elif blas_threads == "1":
        one, note = True, "BLAS threads 1 (pinned)"
        with threadpool_limits(1, user_api="blas"):
            warm()
    elif warmup > 0:
        warm()
    if one:
        with threadpool_limits(1, user_api="blas"):
            per_s = [seed_approach(pool, offsets, counts, mixes, sr, seed=r + 1) for r in range(repeats)]
    else:
        per_s = [seed_approach(pool, offsets, counts, mixes, sr, seed=r + 1) for r in range(repeats)]
    assert_no_tensorflow("seed_loop")
    return {"median": statistics.median(per_s), "min": min(per_s), "max": max(per_s),
            "rates": [round(r, 2) for r in per_s], "mixes": mixes, "repeats": repeats, "warmup": warmup,
            "pool_shape": list(pool.shape), "sr": sr, "blas": note or "default"}


def measure_in_subprocess(pool, offsets, counts, mixes: int = 500, repeats: int = 5, warmup: int = 20,
                          sr: int = 44100, blas_threads: str = "auto", python: str | None = None) -> dict:
    """`measure` in a fresh process (never TensorFlow): the arrays go through .npy files."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, arr in (("pool", np.asarray(pool, np.float32)), ("offsets", np.asarray(offsets)),
                          ("counts", np.asarray(counts))):
            paths.append(os.path.join(tmp, f"{name}.npy"))
            np.save(paths[-1], arr)
        cmd = [python or sys.executable, os.path.abspath(__file__), *paths, "--mixes", str(mixes),
               "--repeats", str(repeats), "--warmup", str(warmup), "--sr", str(sr), "--blas-threads", blas_threads]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pool", help="float32 (windows, samples) .npy")
    ap.add_argument("offsets", help="int (classes,) .npy: first window of each class in POOL")
    ap.add_argument("counts", help="int (classes,) .npy: windows of each class")
    ap.add_argument("--mixes", type=int, default=500, help="mixes per timed repeat (default 500)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats (default 5)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed mixes first (default 20)")
    ap.add_argument("--sr", type=int, default=44100)
    ap.add_argument("--blas-threads", choices=("auto", "default", "1"), default="auto",
                    help="auto (default): the faster of OpenBLAS's default and 1 thread, decided on the warm-up")
    args = ap.parse_args(argv)
    pool = np.load(args.pool)
    offsets, counts = np.load(args.offsets), np.load(args.counts)
    if pool.ndim != 2 or offsets.shape != counts.shape or len(counts) == 0:
        ap.error(f"POOL must be (windows, samples) and OFFSETS/COUNTS (classes,): got {pool.shape}, "
                 f"{offsets.shape}, {counts.shape}")
    if int((offsets + counts).max()) > len(pool) or int(counts.min()) < 1:
        ap.error("OFFSETS + COUNTS run past the end of POOL, or a class has no window")
    print(json.dumps(measure(pool, offsets, counts, args.mixes, args.repeats, args.warmup, args.sr, args.blas_threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
