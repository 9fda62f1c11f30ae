"""Features per second: tfaudio (batched tf.function) against librosa and keras.layers.MelSpectrogram.

Inputs: 1000 windows of 0.348 s (15360 samples at 44.1 kHz, seed 001's observation
window) and 100 clips of 3 s, cut from rendered instrument phrases (white noise if the
SoundFont renderer is not installed). Every side gets the same float32 arrays, from
numpy to numpy. librosa runs one item per call (its API), timed first, before TensorFlow
starts its thread pool; tfaudio runs batches through one traced tf.function; the keras
layer runs batched too. Each side keeps its best of --repeats runs. On a shared machine
the numbers move a lot between runs (librosa's mel matmul most: it uses threaded BLAS).

    python benchmarks/bench_features.py              # full run (a few minutes, mostly librosa)
    python benchmarks/bench_features.py --quick      # 100 windows, 10 clips
    python benchmarks/bench_features.py --out benchmarks/table.md
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SR = 44100
HOP = 1024
N_FFT = 2048
WINDOW = 15360
CLIP = 3 * SR
MEL = dict(n_mels=128, fmin=27.5, fmax=20000.0)
CQT = dict(fmin=27.5, n_bins=192, bins_per_octave=24)


def make_audio(n_items: int, samples: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """`(n_items, samples)` float32 cut from rendered instrument phrases, or noise."""
    rng = np.random.default_rng(seed)
    try:
        from tfaudio.corpus import DEFAULT_INSTRUMENTS, render_phrase

        names = [i.name for i in DEFAULT_INSTRUMENTS]
        per_phrase = max(1, int(12 * SR // samples))
        phrases = []
        for k in range(-(-n_items // per_phrase)):
            phrases.append(render_phrase(names[k % len(names)], seconds=per_phrase * samples / SR + 0.1, sr=SR,
                                         seed=seed + k))
        items = [p[j * samples:(j + 1) * samples] for p in phrases for j in range(per_phrase)][:n_items]
        return np.stack(items).astype(np.float32), "rendered instrument phrases"
    except Exception as exc:  # noqa: BLE001 - the benchmark still runs without the renderer
        print(f"(no rendered audio: {exc}; using white noise)", file=sys.stderr)
        return (0.1 * rng.standard_normal((n_items, samples))).astype(np.float32), "white noise"


def per_second(fn: Callable[[], object], items: int, repeats: int) -> float:
    """Items per second: the best of `repeats` timed runs of `fn` (which processes all items)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return items / best


def librosa_side(name: str) -> Callable[[np.ndarray], np.ndarray]:
    import librosa

    if name == "log-mel":
        return lambda y: librosa.power_to_db(librosa.feature.melspectrogram(
            y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, **MEL), ref=1.0, top_db=60.0)
    if name == "log-mel (cached filterbank)":
        basis = librosa.filters.mel(sr=SR, n_fft=N_FFT, **MEL)
        return lambda y: librosa.power_to_db(basis @ (np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2),
                                             ref=1.0, top_db=60.0)
    if name == "CQT":
        return lambda y: np.abs(librosa.cqt(y, sr=SR, hop_length=HOP, **CQT))
    if name == "STFT":
        return lambda y: np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    raise KeyError(name)


def tfaudio_side(name: str, xla: bool = False):
    import tensorflow as tf

    from tfaudio import features as F

    fn = {
        "log-mel": lambda x: F.log_mel(x, sr=SR, n_fft=N_FFT, hop_length=HOP, top_db=60.0, **MEL),
        "log-mel (cached filterbank)": lambda x: F.log_mel(x, sr=SR, n_fft=N_FFT, hop_length=HOP, top_db=60.0, **MEL),
        "CQT": lambda x: F.cqt(x, sr=SR, hop_length=HOP, **CQT),
        "STFT": lambda x: F.stft_magnitude(x, n_fft=N_FFT, hop_length=HOP),
    }[name]
    return tf.function(fn, jit_compile=xla)


def keras_mel():
    import keras
    import tensorflow as tf

    layer = keras.layers.MelSpectrogram(fft_length=N_FFT, sequence_stride=HOP, sequence_length=N_FFT,
                                        window="hann", sampling_rate=SR, num_mel_bins=128, min_freq=27.5,
                                        max_freq=20000.0, power_to_db=True, top_db=60.0, mag_exp=2.0,
                                        min_power=1e-10, ref_power=1.0)
    return tf.function(lambda x: layer(x))


def batched(fn, x: np.ndarray, batch: int) -> Callable[[], list]:
    import tensorflow as tf

    chunks = [x[i:i + batch] for i in range(0, len(x), batch)]
    return lambda: [fn(tf.constant(c)).numpy() for c in chunks]


def relative_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def run(quick: bool, batch_windows: int, batch_clips: int, repeats: int, xla: bool = False) -> str:
    """Time librosa first, before TensorFlow is imported: TF's spinning thread pool would
    otherwise slow numpy's BLAS calls down (several-fold on 2 cores)."""
    import librosa

    n_windows, n_clips = (100, 10) if quick else (1000, 100)
    inputs = {label: make_audio(n, samples)
              for label, n, samples in (("0.348-s windows", n_windows, WINDOW), ("3-s clips", n_clips, CLIP))}
    source = inputs["0.348-s windows"][1]
    features = ("log-mel", "log-mel (cached filterbank)", "CQT", "STFT")
    reference: dict[tuple[str, str], tuple[float, np.ndarray]] = {}
    for label, (x, _) in inputs.items():
        for feature in features:
            ref = librosa_side(feature)
            first = ref(x[0])  # warm-up (numba, caches) and item 0 for the comparison
            rate = per_second(lambda: [ref(y) for y in x], len(x), repeats)
            reference[label, feature] = rate, first
            print(f"librosa {feature}, {label}: {rate:,.1f}/s", file=sys.stderr)

    import keras
    import tensorflow as tf

    rows = []
    for label, (x, _) in inputs.items():
        batch = batch_windows if label.startswith("0.348") else batch_clips
        for feature in features:
            ours = tfaudio_side(feature, xla)
            t0 = ours(tf.constant(x[:batch])).numpy()  # trace
            ref_rate, first = reference[label, feature]
            our_rate = per_second(batched(ours, x, batch), len(x), repeats)
            rows.append((feature, label, len(x), "librosa", ref_rate, our_rate, f"{relative_diff(t0[0].T, first):.1e}"))
            print(f"tfaudio {feature}, {label}: {our_rate:,.1f}/s", file=sys.stderr)
        km = keras_mel()
        km(tf.constant(x[:batch])).numpy()
        our = tfaudio_side("log-mel", xla)
        k_rate = per_second(batched(km, x, batch), len(x), repeats)
        o_rate = per_second(batched(our, x, batch), len(x), repeats)
        rows.append(("log-mel", label, len(x), "keras.layers.MelSpectrogram", k_rate, o_rate, "(HTK mel, unnormalised)"))

    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, librosa {librosa.__version__}, numpy {np.__version__}.",
        f"Audio: {source}, 44.1 kHz. tfaudio: one traced tf.function{' (XLA)' if xla else ''}, "
        f"batches of {batch_windows} windows / {batch_clips} clips; librosa: one call per "
        f"item, timed before TensorFlow starts; best of {repeats} runs each. Rates include numpy -> numpy.",
        "",
        "| Feature | Input | Items | Reference | Reference (items/s) | tfaudio (items/s) | tfaudio / reference "
        "| Rel. diff (item 0) |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    for feature, label, n, who, ref_rate, our_rate, diff in rows:
        lines.append(f"| {feature} | {label} | {n} | {who} | {ref_rate:,.1f} | {our_rate:,.1f} | "
                     f"{our_rate / ref_rate:,.1f}x | {diff} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 windows and 10 clips instead of 1000 and 100")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument("--batch-windows", type=int, default=250, help="windows per tfaudio batch (default 250)")
    parser.add_argument("--batch-clips", type=int, default=25, help="clips per tfaudio batch (default 25)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side (the best is kept)")
    parser.add_argument("--xla", action="store_true", help="compile the tfaudio side with XLA (jit_compile=True)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", category=UserWarning)  # librosa: "n_fft too large" on short octaves
    table = run(args.quick, args.batch_windows, args.batch_clips, args.repeats, args.xla)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
