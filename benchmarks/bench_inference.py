"""End-to-end `tfaudio predict` on a long file: real-time factor at float32 and mixed_bfloat16, and how far
the bfloat16 activations are from the float32 ones.

The file: `--minutes` minutes (default 60) of the built-in corpus's instruments at 44.1 kHz, 16-bit mono
(rendered clips, mixed in twos and threes and tiled). Each precision runs `tfaudio predict activations FILE
--precision P` in a fresh process, `--repeats` times; the wall time counts everything (start-up, decoding,
features, the CNN, overlap-add, writing). Peak RSS from the child's rusage. Then the two activation
matrices are compared. `--model` (repeatable) names the models to time side by side, each MODEL argument of
`tfaudio predict` (default: the pretrained `activations`); their runs are interleaved, so that every model
sees the same machine.

    python benchmarks/bench_inference.py [--minutes 60] [--repeats 3] [--model M ...] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from _timing import report  # noqa: E402
SR = 44100


def make_file(path: str, minutes: float) -> None:
    """A long 16-bit WAV of rendered instruments (in a child process: TensorFlow stays out of this one)."""
    code = f"""
import numpy as np, soundfile as sf, tempfile
from tfaudio.data import corpus, datasets
from tfaudio.io import audio
with tempfile.TemporaryDirectory() as tmp:
    corpus.render_corpus(tmp, per_class=4, seed=1, sr={SR}, n_samples=3 * {SR}, progress=False)
    clips = [audio.load(r.path, sr={SR})[0] for r in datasets.medley_solos_db(tmp, subset="training")]
rng = np.random.default_rng(0)
parts = []
for _ in range(64):
    k = rng.integers(1, 4)
    parts.append(sum(clips[i] * rng.uniform(0.2, 0.5) for i in rng.choice(len(clips), k, replace=False)))
block = np.concatenate(parts).astype(np.float32)
n = int({minutes} * 60 * {SR})
y = np.resize(block, n)
sf.write({path!r}, np.clip(y, -1, 1), {SR}, subtype="PCM_16")
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(HERE))


def run_predict(wav: str, out: str, precision: str, model: str = "activations") -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `tfaudio predict` call (that child's own, from wait4)."""
    cmd = [sys.executable, "-m", "tfaudio", "predict", model, wav, "--out", out, "--overwrite",
           "--precision", precision]
    t = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.path.dirname(HERE))
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {child.returncode}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--wav", default=None, help="use this file instead of making one (44.1 kHz)")
    ap.add_argument("--model", action="append", default=None,
                    help="a model to time (any MODEL of tfaudio predict; repeatable; default: activations)")
    args = ap.parse_args()
    seconds = args.minutes * 60
    models = args.model or ["activations"]
    precisions = ("float32", "mixed_bfloat16")
    walls = {(m, p): [] for m in models for p in precisions}
    peaks = {(m, p): 0.0 for m in models for p in precisions}
    outputs = {}
    with tempfile.TemporaryDirectory() as tmp:
        wav = args.wav or os.path.join(tmp, "long.wav")
        if not args.wav:
            make_file(wav, args.minutes)
        for _ in range(args.repeats):  # interleaved: each model and precision once per round
            for i, model in enumerate(models):
                for precision in precisions:
                    out = os.path.join(tmp, f"{i}-{precision}")
                    wall, peak = run_predict(wav, out, precision, model)
                    walls[model, precision].append(wall)
                    peaks[model, precision] = max(peaks[model, precision], peak)
                    outputs[model, precision] = np.load(os.path.join(out, "long.npy"))
    lines = [f"`tfaudio predict MODEL` on a {args.minutes:g}-min 44.1-kHz file, {os.cpu_count()} CPUs, "
             f"{args.repeats} runs each (fresh processes, interleaved)", "",
             "| model | precision | wall s, median (min–max) | × real time | peak RSS (MiB, largest of the runs) |",
             "|---|---|---:|---:|---:|"]
    for (model, precision), w in walls.items():
        med = statistics.median(w)
        lines.append(f"| `{model}` | {precision} | {med:.1f} ({min(w):.1f}–{max(w):.1f}) | {seconds / med:,.0f}× | "
                     f"{peaks[model, precision]:,.0f} |")
    lines.append("")
    for model in models:
        a, b = outputs[model, "float32"], outputs[model, "mixed_bfloat16"]
        diff = np.abs(a - b)
        agree = float(((a >= 0.5) == (b >= 0.5)).mean())
        fp32, bf16 = (statistics.median(walls[model, p]) for p in precisions)
        lines.append(f"- `{model}`: bfloat16 / float32 speed {fp32 / bf16:.2f}×; activations ({a.shape[0]} "
                     f"instruments × {a.shape[1]:,} frames): max |bf16 − fp32| = {diff.max():.4f}, mean "
                     f"{diff.mean():.5f}; cells on the same side of 0.5: {agree:.4%}.")
    report("\n".join(lines), args.out)


if __name__ == "__main__":
    main()
