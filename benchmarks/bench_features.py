"""Features per second: tfaudio against librosa and the peer libraries, each timed in its own process.

Features (librosa's parameters, tfaudio.features' defaults): log-mel (128 Slaney mels, n_fft 2048,
hop 1024, 44.1 kHz, 27.5-20000 Hz, power_to_db ref=1, amin=1e-10, 60-dB floor per item), CQT magnitude
(192 bins, 24 per octave, fmin 27.5 Hz, hop 1024) and STFT magnitude (n_fft 2048, hop 1024, periodic
Hann, centred with zero padding). Inputs: 0.348-s windows (15360 samples) and 3-s clips (132300
samples) of rendered instrument phrases (tfaudio.data.corpus, the default TimGM6mb SoundFont), the same
float32 arrays for every row.

Rows, per feature and input: librosa one call per item (as a user would; the mel filterbank is rebuilt
every call), librosa with the filterbank built once, librosa with its own cache (LIBROSA_CACHE_DIR,
level 10: filterbanks and CQT filter FFTs memoised by joblib), librosa batched (one call on the
(items, samples) array); tfaudio eager one item per call (as the README shows), tfaudio eager batched,
tfaudio in a tf.function batched; keras.layers.MelSpectrogram / keras.ops.stft (main venv), kapre,
torchaudio and nnAudio (peer venv, see benchmarks/peers-requirements.txt), each built once, batched
and warmed.

Method: the parent (this script) renders the audio, saves it as .npy in a temporary folder and runs
one worker process per library and input (`--worker`); librosa's never imports TensorFlow, the torch
peers run with the peer venv's Python. A worker builds each row, runs it --warmup times untimed on the
whole input, then --repeats timed runs; the table gives the median items/s and the spread (min-max).
Every row is numpy in -> numpy out. Agreement is measured on the first --check items against librosa's
per-call output: log-mel, max |difference| in dB; CQT and STFT, max |difference| / the item's peak.

    python benchmarks/bench_features.py --out /tmp/bench_features.md      # full run
    python benchmarks/bench_features.py --quick                           # smoke run
    python benchmarks/bench_features.py --peers-python /work/peers-venv/bin/python --out FILE
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))
from _timing import (assert_no_tensorflow, emit, fastest_blas_threads, fmt_rate, machine, rates, report,  # noqa: E402
                     timed)

SR = 44100
N_FFT = 2048
HOP = 1024
N_MELS, FMIN, FMAX = 128, 27.5, 20000.0
TOP_DB, AMIN = 60.0, 1e-10
CQT_BINS, CQT_BPO = 192, 24
INPUTS = {"windows": ("0.348-s windows", 15360), "clips": ("3-s clips", 3 * SR)}
FEATURES = ("log-mel", "CQT", "STFT")
DEFAULT_PEERS_PYTHON = os.environ.get("TFAUDIO_PEERS_PYTHON", "/work/peers-venv/bin/python")

# worker -> (interpreter: "main" or "peers", needs TensorFlow)
WORKERS = {
    "librosa": ("main", False),
    "librosa-cache": ("main", False),
    "tfaudio": ("main", True),
    "keras": ("main", True),
    "kapre": ("peers", True),
    "torchaudio": ("peers", False),
    "nnaudio": ("peers", False),
}


# --------------------------------------------------------------------------- audio


def render_audio(n_items: int, samples: int, seed: int) -> tuple[np.ndarray, str]:
    """(n_items, samples) float32: consecutive cuts of rendered phrases, one instrument after another
    (the 8 Medley-Solos-DB classes), each phrase peak-normalised to 0.8. Falls back to numpy-synthesised
    harmonic notes when the renderer (tinysoundfont) is missing."""
    try:
        from tfaudio.data.phrases import DEFAULT_INSTRUMENTS
        from tfaudio.data.corpus import render_phrase

        names = [i.name for i in DEFAULT_INSTRUMENTS]
        per_phrase = -(-n_items // len(names))
        items = []
        for k, name in enumerate(names):
            y = render_phrase(name, seconds=per_phrase * samples / SR + 0.05, sr=SR, seed=seed + k)
            items += [y[j * samples:(j + 1) * samples] for j in range(per_phrase)]
        return np.stack(items[:n_items]).astype(np.float32), "rendered phrases of the 8 Medley-Solos-DB " \
                                                              "instruments (tfaudio.data.corpus, TimGM6mb)"
    except Exception as exc:  # noqa: BLE001 - the benchmark still runs without the renderer
        print(f"(no rendered audio: {exc}; synthesising harmonic notes)", file=sys.stderr)
        return _synth_notes(n_items, samples, seed), "numpy-synthesised harmonic notes (renderer missing)"


def _synth_notes(n_items: int, samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SR
    out = np.zeros((n_items, samples), np.float32)
    for i in range(n_items):
        pos = 0
        while pos < samples:
            n = int(rng.integers(SR // 8, SR))
            f0 = 27.5 * 2 ** (rng.integers(12, 72) / 12)
            tt = t[:min(n, samples - pos)]
            env = np.exp(-tt * rng.uniform(1, 6)) * np.minimum(1, tt * 200)
            note = sum(np.sin(2 * np.pi * f0 * h * tt) / h ** rng.uniform(1, 2)
                       for h in range(1, 12) if f0 * h < SR / 2)
            out[i, pos:pos + len(tt)] = 0.3 * env * note
            pos += n
    return out


# --------------------------------------------------------------------------- rows
# A row: (feature, row id, description, note, build) where build() -> (fn, to_check); fn() computes the
# feature of every item (the timed region), to_check(output, k) -> (k, frames, bins) float32 of the first k.


def _per_item_db(db: np.ndarray) -> np.ndarray:
    return np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - TOP_DB)


def librosa_rows(x: np.ndarray, cached: bool) -> list:
    import librosa

    mel_kw = dict(sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, fmin=FMIN, fmax=FMAX)
    cqt_kw = dict(sr=SR, hop_length=HOP, fmin=FMIN, n_bins=CQT_BINS, bins_per_octave=CQT_BPO)
    T = lambda a: np.swapaxes(a, -1, -2)  # noqa: E731 - librosa is (..., bins, frames)
    items = lambda out, k: np.stack([T(o) for o in out[:k]]).astype(np.float32)  # noqa: E731
    batch = lambda out, k: T(out[:k]).astype(np.float32)  # noqa: E731

    def log_mel(y):
        return librosa.power_to_db(librosa.feature.melspectrogram(y=y, **mel_kw), ref=1.0, amin=AMIN, top_db=TOP_DB)

    def cqt(y):
        return np.abs(librosa.cqt(y, **cqt_kw))

    def stft(y):
        return np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))

    if cached:  # LIBROSA_CACHE_DIR is set in this process: librosa memoises filterbanks and CQT filter FFTs
        how = "librosa, one call per item, its own cache (`LIBROSA_CACHE_DIR`, level 10)"
        return [("log-mel", "librosa-cache", how, "", lambda: (lambda: [log_mel(y) for y in x], items)),
                ("CQT", "librosa-cache", how, "", lambda: (lambda: [cqt(y) for y in x], items))]

    def basis_rows():
        basis = librosa.filters.mel(**{k: v for k, v in mel_kw.items() if k != "hop_length"})

        def one(y):
            S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
            return librosa.power_to_db(basis @ S, ref=1.0, amin=AMIN, top_db=TOP_DB)

        return lambda: [one(y) for y in x], items

    def batched_mel():
        return _per_item_db(librosa.power_to_db(librosa.feature.melspectrogram(y=x, **mel_kw), ref=1.0, amin=AMIN,
                                                top_db=None))

    per_call = "librosa, one call per item"
    batched = "librosa, one call on the (items, samples) array"
    return [
        ("log-mel", "librosa", per_call + " (`melspectrogram` + `power_to_db`: filterbank rebuilt each call)", "",
         lambda: (lambda: [log_mel(y) for y in x], items)),
        ("log-mel", "librosa-basis", "librosa, mel filterbank built once (`basis @ abs(stft)**2`)", "", basis_rows),
        ("log-mel", "librosa-batched", batched, "60-dB floor per item", lambda: (batched_mel, batch)),
        ("CQT", "librosa", per_call + " (`abs(cqt)`)", "", lambda: (lambda: [cqt(y) for y in x], items)),
        ("CQT", "librosa-batched", batched, "", lambda: (lambda: np.abs(librosa.cqt(x, **cqt_kw)), batch)),
        ("STFT", "librosa", per_call + " (`abs(stft)`)", "", lambda: (lambda: [stft(y) for y in x], items)),
        ("STFT", "librosa-batched", batched, "",
         lambda: (lambda: np.abs(librosa.stft(x, n_fft=N_FFT, hop_length=HOP)), batch)),
    ]


def librosa_extra_reference(x: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Untimed: librosa's HTK, unnormalised log-mel (the variant keras.layers.MelSpectrogram computes)."""
    import librosa

    S = librosa.feature.melspectrogram(y=x[:k], sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, fmin=FMIN,
                                       fmax=FMAX, htk=True, norm=None)
    return {"log-mel-htk": np.swapaxes(_per_item_db(librosa.power_to_db(S, ref=1.0, amin=AMIN, top_db=None)),
                                       -1, -2).astype(np.float32)}


def tfaudio_rows(x: np.ndarray) -> list:
    import tensorflow as tf

    import tfaudio.features

    sr = SR
    funcs = {"log-mel": lambda y: tfaudio.features.log_mel(y, sr=sr),
             "CQT": lambda y: tfaudio.features.cqt(y, sr=sr),
             "STFT": lambda y: tfaudio.features.stft_magnitude(y)}
    names = {"log-mel": "log_mel(y, sr=sr)", "CQT": "cqt(y, sr=sr)", "STFT": "stft_magnitude(y)"}
    items = lambda out, k: np.stack(out[:k]).astype(np.float32)  # noqa: E731
    batch = lambda out, k: out[:k].astype(np.float32)  # noqa: E731
    spec = [tf.TensorSpec([None, x.shape[1]], tf.float32)]
    rows = []
    for feature, f in funcs.items():
        rows += [
            (feature, "tfaudio-eager-item", f"tfaudio eager, one call per item (`tfaudio.features.{names[feature]}`"
             ", as the README shows)", "", lambda f=f: (lambda: [f(y).numpy() for y in x], items)),
            (feature, "tfaudio-eager-batch", "tfaudio eager, one call on the batch", "",
             lambda f=f: (lambda: f(x).numpy(), batch)),
            (feature, "tfaudio-function", "tfaudio in a `tf.function`, one call on the batch", "",
             lambda f=f: _function_row(tf.function(f, input_signature=spec), x)),
        ]
    return rows


def _function_row(fn, x):
    return (lambda: fn(x).numpy()), (lambda out, k: out[:k].astype(np.float32))


def keras_rows(x: np.ndarray) -> list:
    import keras
    import tensorflow as tf

    spec = [tf.TensorSpec([None, x.shape[1]], tf.float32)]

    def mel():
        layer = keras.layers.MelSpectrogram(fft_length=N_FFT, sequence_stride=HOP, sequence_length=N_FFT,
                                            window="hann", sampling_rate=SR, num_mel_bins=N_MELS, min_freq=FMIN,
                                            max_freq=FMAX, power_to_db=False, mag_exp=2.0)

        @tf.function(input_signature=spec)
        def f(y):
            db = 10.0 * tf.math.log(tf.maximum(layer(y), AMIN)) / tf.math.log(10.0)  # (batch, mels, frames)
            return tf.maximum(db, tf.reduce_max(db, axis=[1, 2], keepdims=True) - TOP_DB)

        return (lambda: f(x).numpy()), (lambda out, k: np.swapaxes(out[:k], -1, -2).astype(np.float32))

    def stft():
        @tf.function(input_signature=spec)
        def f(y):
            re, im = keras.ops.stft(y, sequence_length=N_FFT, sequence_stride=HOP, fft_length=N_FFT, window="hann",
                                    center=True)
            return tf.sqrt(re * re + im * im)

        return (lambda: f(x).numpy()), (lambda out, k: out[:k].astype(np.float32))

    return [("log-mel", "keras", "`keras.layers.MelSpectrogram` in a `tf.function`, batched",
             "HTK mel, unnormalised filters, reflect padding; dB and 60-dB floor per item added (the layer's "
             "`top_db` floors over the whole batch)", mel),
            ("STFT", "keras", "`keras.ops.stft` in a `tf.function`, batched", "reflect padding at the edges", stft)]


def kapre_rows(x: np.ndarray) -> list:
    import tensorflow as tf
    from kapre import ApplyFilterbank, Magnitude, MagnitudeToDecibel, STFT

    spec = [tf.TensorSpec([None, x.shape[1]], tf.float32)]
    pad = lambda y: tf.pad(y, [[0, 0], [N_FFT // 2, N_FFT // 2]])[:, :, None]  # noqa: E731 - librosa's centring

    def mel():
        stft, mag = STFT(n_fft=N_FFT, hop_length=HOP, input_data_format="channels_last",
                         output_data_format="channels_last"), Magnitude()
        fb = ApplyFilterbank(type="mel", data_format="channels_last",
                             filterbank_kwargs=dict(sample_rate=SR, n_freq=N_FFT // 2 + 1, n_mels=N_MELS, f_min=FMIN,
                                                    f_max=FMAX, htk=False, norm="slaney"))
        db = MagnitudeToDecibel(ref_value=1.0, amin=AMIN, dynamic_range=TOP_DB)

        @tf.function(input_signature=spec)
        def f(y):
            m = mag(stft(pad(y)))
            return db(fb(m * m))[..., 0]  # (batch, frames, mels)

        return (lambda: f(x).numpy()), (lambda out, k: out[:k].astype(np.float32))

    def stft():
        s, mag = STFT(n_fft=N_FFT, hop_length=HOP, input_data_format="channels_last",
                      output_data_format="channels_last"), Magnitude()

        @tf.function(input_signature=spec)
        def f(y):
            return mag(s(pad(y)))[..., 0]

        return (lambda: f(x).numpy()), (lambda out, k: out[:k].astype(np.float32))

    return [("log-mel", "kapre", "kapre layers (`STFT`, `Magnitude`, squared, `ApplyFilterbank`, "
             "`MagnitudeToDecibel`) in a `tf.function`, batched",
             "input zero-padded by n_fft/2 (kapre does not centre); power mel composed from kapre's layers "
             "(`get_melspectrogram_layer` applies the mel filters to the magnitude, not the power)", mel),
            ("STFT", "kapre", "kapre `STFT` + `Magnitude` in a `tf.function`, batched",
             "input zero-padded by n_fft/2 (kapre does not centre)", stft)]


def _torch_threads(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Set torch's intra-op threads to the faster of its default and 1 for `fn` (on a busy 2-core machine
    OpenMP's barrier can make 2 threads 20x slower than 1; on a quiet one 2 usually win), as a user
    tuning for speed would. The choice is recorded in the report."""
    import torch

    default = torch.get_num_threads()
    best = None
    for n in sorted({default, 1}, reverse=True):
        torch.set_num_threads(n)
        fn()
        t = time.perf_counter()
        fn()
        fn()
        s = time.perf_counter() - t
        if best is None or s < best[1]:
            best = (n, s)
    torch.set_num_threads(best[0])
    _TORCH_THREADS.append(best[0])
    return fn


_TORCH_THREADS: list[int] = []


def torchaudio_rows(x: np.ndarray) -> list:
    import torch
    from torchaudio.transforms import MelSpectrogram, Spectrogram

    def mel():
        m = MelSpectrogram(sample_rate=SR, n_fft=N_FFT, hop_length=HOP, f_min=FMIN, f_max=FMAX, n_mels=N_MELS,
                           power=2.0, norm="slaney", mel_scale="slaney", center=True, pad_mode="constant")

        def f():
            with torch.inference_mode():
                db = 10.0 * torch.log10(torch.clamp(m(torch.from_numpy(x)), min=AMIN))
                return torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - TOP_DB).numpy()

        return _torch_threads(f), (lambda out, k: np.swapaxes(out[:k], -1, -2).astype(np.float32))

    def stft():
        s = Spectrogram(n_fft=N_FFT, hop_length=HOP, power=1.0, center=True, pad_mode="constant")

        def f():
            with torch.inference_mode():
                return s(torch.from_numpy(x)).numpy()

        return _torch_threads(f), (lambda out, k: np.swapaxes(out[:k], -1, -2).astype(np.float32))

    return [("log-mel", "torchaudio", "torchaudio `MelSpectrogram` (Slaney scale and norm), batched",
             "dB and 60-dB floor per item in torch ops (`AmplitudeToDB` floors a 3-D batch as a whole)", mel),
            ("STFT", "torchaudio", "torchaudio `Spectrogram(power=1)`, batched", "", stft)]


def nnaudio_rows(x: np.ndarray) -> list:
    import torch
    from nnAudio import features as nf

    def run(layer, post=None):
        def f():
            with torch.inference_mode():
                out = layer(torch.from_numpy(x))
                return (post(out) if post else out).numpy()

        return _torch_threads(f), (lambda out, k: np.swapaxes(out[:k], -1, -2).astype(np.float32))

    def db(S):
        d = 10.0 * torch.log10(torch.clamp(S, min=AMIN))
        return torch.maximum(d, d.amax(dim=(-2, -1), keepdim=True) - TOP_DB)

    def mel():
        return run(nf.MelSpectrogram(sr=SR, n_fft=N_FFT, n_mels=N_MELS, hop_length=HOP, window="hann", center=True,
                                     pad_mode="constant", power=2.0, htk=False, fmin=FMIN, fmax=FMAX,
                                     trainable_mel=False, trainable_STFT=False, verbose=False), db)

    def cqt():
        return run(nf.CQT2010v2(sr=SR, hop_length=HOP, fmin=FMIN, n_bins=CQT_BINS, bins_per_octave=CQT_BPO,
                                pad_mode="constant", output_format="Magnitude", verbose=False))

    def stft():
        return run(nf.STFT(n_fft=N_FFT, hop_length=HOP, window="hann", freq_scale="no", center=True,
                           pad_mode="constant", output_format="Magnitude", sr=SR, verbose=False))

    return [("log-mel", "nnaudio", "nnAudio `MelSpectrogram` (conv1d STFT), batched",
             "dB and 60-dB floor per item in torch ops", mel),
            ("CQT", "nnaudio", "nnAudio `CQT2010v2` (librosa's recursive downsampling), batched",
             "nnAudio's own filters and downsampling", cqt),
            ("STFT", "nnaudio", "nnAudio `STFT` (conv1d), batched", "", stft)]


def versions(worker: str) -> dict[str, str]:
    mods = {"librosa": ["numpy", "scipy", "librosa"], "librosa-cache": ["numpy", "librosa", "joblib"],
            "tfaudio": ["numpy", "tensorflow", "keras", "tfaudio"], "keras": ["tensorflow", "keras"],
            "kapre": ["tensorflow", "keras", "kapre"], "torchaudio": ["torch", "torchaudio"],
            "nnaudio": ["torch", "nnAudio"]}[worker]
    out = {}
    for m in mods:
        mod = sys.modules.get(m)
        if mod is None:
            try:
                mod = __import__(m)
            except Exception:  # noqa: BLE001
                continue
        out[m] = getattr(mod, "__version__", "?")
    if worker in ("torchaudio", "nnaudio"):
        out["torch default threads"] = str(os.cpu_count())
    return out


def run_worker(worker: str, input_file: Path, out_dir: Path, repeats: int, warmup: int, check: int,
               features: list[str]) -> None:
    """One library on one input: time its rows, save the first `check` outputs, write a JSON report."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore")  # librosa: "n_fft too large" on short octaves; nnAudio's padding notes
    if worker == "librosa-cache":
        cache = out_dir / "librosa-cache"
        cache.mkdir(exist_ok=True)
        os.environ["LIBROSA_CACHE_DIR"] = str(cache)
        os.environ["LIBROSA_CACHE_LEVEL"] = "10"  # filterbanks and filter FFTs only; 20 would memoise cqt()'s output
    x = np.load(input_file)
    tag = input_file.stem
    tf_threads = int(os.environ.get("BENCH_TF_THREADS", "0"))
    if tf_threads and WORKERS[worker][1]:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(tf_threads)
        tf.config.threading.set_inter_op_parallelism_threads(tf_threads)
    builders: dict[str, Callable[[np.ndarray], list]] = {
        "librosa": lambda a: librosa_rows(a, cached=False), "librosa-cache": lambda a: librosa_rows(a, cached=True),
        "tfaudio": tfaudio_rows, "keras": keras_rows, "kapre": kapre_rows, "torchaudio": torchaudio_rows,
        "nnaudio": nnaudio_rows}
    report: dict[str, Any] = {"worker": worker, "input": tag, "items": len(x), "rows": [], "errors": []}
    for feature, row, how, note, build in builders[worker](x):
        if feature not in features:
            continue
        try:
            n_tuned = len(_TORCH_THREADS)
            fn, to_check = build()
            if worker.startswith("librosa") and feature == "log-mel":  # the mel projection is a BLAS matmul
                fn, blas = fastest_blas_threads(fn)
                note = "; ".join(filter(None, [note, blas]))
            if len(_TORCH_THREADS) > n_tuned:
                note = "; ".join(filter(None, [note, f"torch threads {_TORCH_THREADS[-1]} (the faster of 1 and "
                                                     f"the default at warm-up)"]))
            seconds, first = timed(fn, repeats, warmup)
            path = out_dir / f"{worker}__{row}__{feature}__{tag}.npy"
            np.save(path, to_check(first, check))
            del first
        except Exception as exc:  # noqa: BLE001 - report the failure, go on with the other rows
            report["errors"].append(f"{feature} / {row}: {type(exc).__name__}: {str(exc)[:300]}")
            print(f"{worker} {feature} {row} {tag}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        r = rates(seconds, len(x))
        report["rows"].append({"feature": feature, "row": row, "how": how, "note": note, "rates": r,
                               "output": path.name})
        print(f"  {worker:13s} {tag:7s} {feature:7s} {row:20s} {r['median']:10,.1f} items/s "
              f"({r['min']:,.1f}-{r['max']:,.1f})", file=sys.stderr)
    if worker == "librosa":
        for name, arr in librosa_extra_reference(x, check).items():
            np.save(out_dir / f"ref__{name}__{tag}.npy", arr)
    if worker.startswith("librosa"):
        assert_no_tensorflow(f"worker {worker}")
    report["versions"] = versions(worker)
    report["machine"] = machine()
    emit(report, str(out_dir / f"report__{worker}__{tag}.json"))


# --------------------------------------------------------------------------- parent


def agreement(feature: str, a: np.ndarray, ref: np.ndarray) -> str:
    if a.shape != ref.shape:
        return f"shape {a.shape[1:]} vs {ref.shape[1:]}"
    if feature == "log-mel":
        return f"{np.max(np.abs(a.astype(np.float64) - ref)):.2g} dB"
    peak = np.max(np.abs(ref), axis=(1, 2), keepdims=True)
    return f"{np.max(np.abs(a.astype(np.float64) - ref) / np.maximum(peak, 1e-30)):.1e}"


def run_parent(args: argparse.Namespace) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="bench_features_"))
    try:
        return _run_parent(args, tmp)
    finally:
        if args.keep:
            print(f"(kept {tmp})", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _run_parent(args: argparse.Namespace, tmp: Path) -> str:
    counts = {"windows": args.windows, "clips": args.clips}
    source = ""
    for key, (_, samples) in INPUTS.items():
        if counts[key] > 0:
            t = time.perf_counter()
            x, source = render_audio(counts[key], samples, seed=args.seed)
            np.save(tmp / f"{key}.npy", x)
            print(f"{key}: {x.shape} rendered in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    peers_python = args.peers_python if args.peers_python and Path(args.peers_python).exists() else None
    skipped: list[str] = []
    reports = []
    for worker in args.libraries:
        venv, _ = WORKERS[worker]
        python = sys.executable if venv == "main" else peers_python
        if python is None:
            skipped.append(f"{worker}: no peer venv at {args.peers_python!r} (see benchmarks/peers-requirements.txt)")
            continue
        for key in INPUTS:
            if counts[key] <= 0:
                continue
            cmd = [python, str(Path(__file__).resolve()), "--worker", worker, "--input-file", str(tmp / f"{key}.npy"),
                   "--dir", str(tmp), "--repeats", str(args.repeats), "--warmup", str(args.warmup),
                   "--check", str(args.check), "--features", ",".join(args.features)]
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT) if venv == "main" else "",
                       BENCH_TF_THREADS=str(args.tf_threads or 0))
            t = time.perf_counter()
            done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            sys.stderr.write("".join(ln + "\n" for ln in done.stderr.splitlines() if ln.startswith("  ")))
            rep = tmp / f"report__{worker}__{key}.json"
            if done.returncode != 0 or not rep.exists():
                last = (done.stderr.strip().splitlines() or ["?"])[-1]
                skipped.append(f"{worker} ({key}): worker failed: {last[:200]}")
                continue
            print(f"{worker} {key}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
            report = json.loads(rep.read_text())
            skipped += [f"{worker} ({key}): {e}" for e in report["errors"]]
            reports.append(report)
    return table(reports, tmp, args, source, skipped)


ORDER = ["librosa", "librosa-basis", "librosa-cache", "librosa-batched", "tfaudio-eager-item", "tfaudio-eager-batch",
         "tfaudio-function", "keras", "kapre", "torchaudio", "nnaudio"]


def table(reports: list[dict], tmp: Path, args: argparse.Namespace, source: str, skipped: list[str]) -> str:
    rows = {}
    for rep in reports:
        for r in rep["rows"]:
            rows[r["feature"], rep["input"], r["row"]] = (rep, r)
    lines = ["| Feature | Input | Items | Row | items/s (median) | spread (min–max) | × librosa batched "
             "| × librosa per call | agreement with librosa | note |",
             "|---|---|---:|---|---:|---:|---:|---:|---|---|"]
    for feature in FEATURES:
        for key, (label, _) in INPUTS.items():
            base = rows.get((feature, key, "librosa-batched"))
            per_call = rows.get((feature, key, "librosa"))
            ref_path = tmp / per_call[1]["output"] if per_call else None
            ref = np.load(ref_path).astype(np.float64) if ref_path and ref_path.exists() else None
            for row in ORDER:
                if (feature, key, row) not in rows:
                    continue
                rep, r = rows[feature, key, row]
                med, spread = fmt_rate(r["rates"])
                ratio = lambda other: (f"{r['rates']['median'] / other[1]['rates']['median']:,.2f}×"  # noqa: E731
                                       if other else "–")
                if ref is None:
                    agree = "–"
                elif row == "librosa":
                    agree = "(reference)"
                else:
                    out = np.load(tmp / r["output"])
                    agree = agreement(feature, out, ref)
                    htk = tmp / f"ref__log-mel-htk__{key}.npy"
                    if row == "keras" and feature == "log-mel" and htk.exists():
                        agree += f" (vs librosa htk=True, norm=None: {agreement(feature, out, np.load(htk))})"
                lines.append(f"| {feature} | {label} | {rep['items']} | {r['how']} | {med} | {spread} | {ratio(base)} "
                             f"| {ratio(per_call)} | {agree} | {r['note']} |")
    vers: dict[str, dict[str, str]] = {}
    for rep in reports:
        vers.setdefault(rep["worker"], rep["versions"])
    ver_text = "; ".join(f"{w}: " + ", ".join(f"{k} {v}" for k, v in d.items()) for w, d in vers.items())
    head = [
        f"Machine: {machine()}.",
        f"Versions (per worker process): {ver_text}.",
        f"Audio: {source}, 44.1 kHz, float32. Each library in its own process (librosa's never imports "
        f"TensorFlow); every row warmed up with {args.warmup} untimed run(s) over all items, then "
        f"{args.repeats} timed runs; items/s is the median, the spread min–max. numpy in, numpy out. "
        f"Agreement on the first {args.check} items against librosa per call: log-mel max |Δ| in dB, "
        f"CQT and STFT max |Δ| / the item's peak magnitude. Threads: TensorFlow "
        f"{args.tf_threads or 'default'}; numpy's BLAS (librosa log-mel rows) and torch: the faster of 1 and the "
        f"default, chosen per row at warm-up (see notes).",
        "",
    ]
    tail = ["", "Not measured:"] + [f"- {s}" for s in skipped] if skipped else []
    if "torchaudio" in args.libraries or "kapre" in args.libraries:
        tail += ["", "No CQT in torchaudio, kapre or Keras; no filterbank cache for STFT (nothing to cache). "
                 "librosa has no public CQT filter cache besides `LIBROSA_CACHE_DIR` (joblib, on disk)."]
    return "\n".join(head + lines + tail) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--quick", action="store_true", help="smoke run: 16 windows, 4 clips, 3 repeats, all libraries")
    ap.add_argument("--out", type=Path, help="also write the markdown table to this file")
    ap.add_argument("--windows", type=int, default=256, help="0.348-s windows (default 256; 0 skips)")
    ap.add_argument("--clips", type=int, default=64, help="3-s clips (default 64; 0 skips)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per row (default 5, at least 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs over all items first (default 1)")
    ap.add_argument("--check", type=int, default=16, help="items compared with librosa (default 16)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--libraries", default=",".join(WORKERS),
                    help=f"comma-separated subset of {','.join(WORKERS)} (default: all)")
    ap.add_argument("--features", default=",".join(FEATURES), help="comma-separated subset of log-mel,CQT,STFT")
    ap.add_argument("--peers-python", default=DEFAULT_PEERS_PYTHON,
                    help="Python of the peer venv (kapre, torchaudio, nnAudio); default $TFAUDIO_PEERS_PYTHON or "
                         "/work/peers-venv/bin/python; peers are skipped when it does not exist")
    ap.add_argument("--tf-threads", type=int, default=0,
                    help="TensorFlow intra- and inter-op threads in the TF workers (default: TensorFlow's own)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (inputs, outputs, reports)")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--input-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.features = [f for f in args.features.split(",") if f]
    if set(args.features) - set(FEATURES):
        ap.error(f"--features: choose from {','.join(FEATURES)}")
    if args.worker:
        run_worker(args.worker, args.input_file, args.dir, args.repeats, args.warmup, args.check, args.features)
        return 0
    args.libraries = [w for w in args.libraries.split(",") if w]
    if set(args.libraries) - set(WORKERS):
        ap.error(f"--libraries: choose from {','.join(WORKERS)}")
    if args.quick:
        args.windows, args.clips, args.repeats, args.check = min(args.windows, 16), min(args.clips, 4), 3, 4
    if args.repeats < 3:
        ap.error("--repeats must be at least 3")
    report(run_parent(args), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
