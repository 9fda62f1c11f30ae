"""The fixed cost of `tfaudio predict` in a fresh process, broken down, and the marginal cost per file.

Measures, each in fresh processes, median and spread (min-max) over --repeats runs:

1. `tfaudio predict activations short.wav --out DIR` on a 1-s file (the shipped pretrained
   activation model), wall time from spawning the process to its exit;
2. the same, broken down inside one fresh process that does what `tfaudio.cli.predict.cmd_predict` does, step
   by step: interpreter start, `import tfaudio.cli`, `import tensorflow` (as the CLI does it), the
   keras + tfaudio model/feature imports, loading the model, the first prediction (tracing included),
   writing the outputs, then each further file of the N (warm: the steady per-file cost), exit;
3. `python -c pass`, `python -c "import tfaudio.cli"`, `python -c "import tensorflow"` alone;
4. `tfaudio predict activations f1.wav ... fN.wav` (N 1-s files in one call): the marginal cost per
   file is (T_N - T_1) / (N - 1);
5. `python -X importtime` of the one-file command: the top imports by cumulative time.

    python benchmarks/bench_startup.py --out /tmp/bench_startup.md        # full (5 repeats, N = 10)
    python benchmarks/bench_startup.py --quick                            # smoke (3 repeats, N = 4)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _timing import fmt_seconds, machine, report, seconds_summary  # noqa: E402

SR = 44100
MODEL = "activations"
ONE = f"`tfaudio predict {MODEL} short.wav --out DIR` (1 file)"
MANY = "`tfaudio predict " + MODEL + " f1.wav … f{n}.wav --out DIR` ({n} files)"

# Runs in a fresh process: the steps of `tfaudio predict MODEL FILE --out DIR` as tfaudio.cli.predict.cmd_predict takes
# them (2026-11), each timed (wall clock). If cmd_predict changes its path (say, no TensorFlow import), update
# this; the end-to-end rows of the table always time the real command.
PROBE = r"""
import json, sys, time
marks = [("start", time.time())]
FURTHER = "each further 1-s file: predict + write (mean)"
def mark(name):
    marks.append((name, time.time()))
import tfaudio.cli as cli
mark("import tfaudio.cli")
getattr(cli.common, "import_tensorflow_quietly", lambda: __import__("tensorflow"))()
mark("import tensorflow (+ device discovery, as the CLI does it)")
import keras, tfaudio.features, tfaudio.models
mark("import keras + tfaudio features/models")
from tfaudio.deploy.loading import open_run
model, spec = open_run(sys.argv[1])
mark("load the model (open_run)")
from tfaudio.inference import predict_file, write_prediction
mark("import tfaudio.inference")
result = predict_file(model, spec, sys.argv[2])
mark("first prediction (1-s file, tracing included)")
write_prediction(result, sys.argv[3], "short", overwrite=True)
mark("write the outputs")
for i, other in enumerate(sys.argv[4:]):
    write_prediction(predict_file(model, spec, other), sys.argv[3], "other%d" % i, overwrite=True)
mark(FURTHER)
print("PROBE " + json.dumps({"marks": marks, "further": len(sys.argv[4:])}))
sys.stdout.flush()
"""


def write_wavs(folder: Path, n: int) -> list[Path]:
    """n one-second 44.1-kHz mono WAVs: consecutive seconds of a rendered piano/violin phrase (a sine
    chord when the renderer is missing)."""
    import numpy as np
    import soundfile as sf

    try:
        from tfaudio.data.corpus import render_phrase

        y = np.concatenate([render_phrase(name, seconds=n / 2 + 1, sr=SR, seed=3) for name in ("piano", "violin")])
    except Exception as exc:  # noqa: BLE001
        print(f"(no rendered audio: {exc}; using sines)", file=sys.stderr)
        t = np.arange(n * SR) / SR
        y = (0.2 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 330 * t))).astype(np.float32)
    paths = []
    for i in range(n):
        p = folder / f"f{i + 1:03d}.wav"
        sf.write(p, y[i * SR:(i + 1) * SR], SR, subtype="PCM_16")
        paths.append(p)
    return paths


def tfaudio_command() -> list[str]:
    """The `tfaudio` console script next to this Python, else `python -m tfaudio`."""
    script = Path(sys.executable).with_name("tfaudio")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tfaudio"]


def wall(cmd: list[str], env: dict, cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    s = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {done.returncode}: {done.stderr.strip()[-600:]}")
    return s, done


FURTHER = "each further 1-s file: predict + write (mean)"


def probe_once(env: dict, cwd: Path, wav: Path, out: Path, others: list[Path]) -> dict[str, float]:
    """Step durations (s) of one fresh process running PROBE."""
    cmd = [sys.executable, "-c", PROBE, MODEL, str(wav), str(out), *map(str, others)]
    t0 = time.time()
    _, done = wall(cmd, env, cwd)
    t_end = time.time()
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("PROBE "))
    probe = json.loads(line[6:])
    marks = probe["marks"]
    steps = {"interpreter start (to the first line)": marks[0][1] - t0}
    for (_, a), (name, b) in zip(marks, marks[1:]):
        steps[name] = b - a
    steps[FURTHER] /= max(probe["further"], 1)
    steps["exit (interpreter and TensorFlow teardown)"] = t_end - marks[-1][1]
    steps["total"] = t_end - t0
    return steps


IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_times(stderr: str) -> tuple[list, list, list]:
    """From `-X importtime` output: (what the program imported directly, by cumulative s; packages, by
    the self time of all their modules summed; modules, by self s)."""
    top: dict[str, float] = {}
    self_t: dict[str, float] = {}
    pkg: dict[str, float] = {}
    for ln in stderr.splitlines():
        m = IMPORT_LINE.match(ln)
        if not m:
            continue
        own, cum, indent, name = int(m[1]) / 1e6, int(m[2]) / 1e6, len(m[3]), m[4]
        self_t[name] = self_t.get(name, 0.0) + own
        pkg[name.split(".")[0]] = pkg.get(name.split(".")[0], 0.0) + own
        if indent == 1:  # imported directly by the program, with everything it pulled in
            top[name] = top.get(name, 0.0) + cum
    by = lambda d: sorted(d.items(), key=lambda kv: -kv[1])  # noqa: E731
    return by(top), by(pkg), by(self_t)


def import_chains(stderr: str, packages: int = 10) -> list[tuple[str, float, str]]:
    """For the `packages` heaviest top-level packages (own time of their modules), the chain of modules
    through which the program first imported them, outermost first: (package, self s, chain)."""
    entries = []
    for ln in stderr.splitlines():
        m = IMPORT_LINE.match(ln)
        if m:
            entries.append((len(m[3]), m[4], int(m[1]) / 1e6))
    own: dict[str, float] = {}
    first: dict[str, int] = {}
    for i, (_, name, t) in enumerate(entries):
        p = name.split(".")[0]
        own[p] = own.get(p, 0.0) + t
        first.setdefault(p, i)
    out = []
    for p, t in sorted(own.items(), key=lambda kv: -kv[1])[:packages]:
        i = first[p]
        chain, level = [entries[i][1]], entries[i][0]
        for depth, name, _ in entries[i + 1:]:  # -X importtime prints a module after everything it imported
            if depth < level:
                chain.append(name)
                level = depth
                if depth <= 1:
                    break
        if len(chain) > 6:
            chain = chain[:2] + ["…"] + chain[-3:]
        out.append((p, t, " ← ".join(f"`{c}`" if c != "…" else c for c in chain)))
    return out


def run(args: argparse.Namespace) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    try:
        return _run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace, tmp: Path) -> str:
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell: the CLI keeps TF's start-up lines quiet itself
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    wavs = write_wavs(tmp, max(args.files, 1))
    out = tmp / "out"
    tf_cmd = tfaudio_command()
    one = tf_cmd + ["predict", MODEL, str(wavs[0]), "--out", str(out), "--overwrite", "-q"]
    many = tf_cmd + ["predict", MODEL, *map(str, wavs), "--out", str(out), "--overwrite", "-q"]
    R = args.repeats

    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import tfaudio.cli"': [sys.executable, "-c", "import tfaudio.cli"],
        'python -c "import tensorflow"': [sys.executable, "-c", "import tensorflow"],
        ONE: one,
    }
    if len(wavs) > 1:
        commands[MANY.format(n=len(wavs))] = many
    # warm the OS file cache (site-packages, the model) once, untimed: every later run starts equally warm
    wall(one, env, tmp)
    # interleaved: repeat r runs every measurement once, so a change of machine load hits them all alike
    samples: dict[str, list[float]] = {k: [] for k in commands}
    probes = []
    for r in range(R):
        for k, cmd in commands.items():
            samples[k].append(wall(cmd, env, tmp)[0])
        probes.append(probe_once(env, tmp, wavs[0], out, wavs[1:] or wavs[:1]))
        print(f"  repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in samples.items()), file=sys.stderr)
    results = {k: seconds_summary(v) for k, v in samples.items()}
    steps = {k: seconds_summary([p[k] for p in probes]) for k in probes[0]}
    _, traced = wall([sys.executable, "-X", "importtime", "-m", "tfaudio", *one[len(tf_cmd):]], env, tmp)
    top, _, own = import_times(traced.stderr)

    lines = [f"Machine: {machine()}.", f"Model: pretrained `{MODEL}`; audio: 1-s 44.1-kHz mono WAV(s). Every "
             f"number is wall-clock time of fresh processes, median and (min–max) over {R} runs (interleaved), "
             f"after one untimed run that warms the OS file cache.", "",
             "| command | wall time |", "|---|---:|"]
    lines += [f"| {k} | {fmt_seconds(v)} |" for k, v in results.items()]
    if len(wavs) > 1:
        n = len(wavs)
        paired = [(m - o) / (n - 1) for m, o in zip(samples[MANY.format(n=n)], samples[ONE])]
        marginal = seconds_summary(paired)["median"]
        lines += ["", f"Marginal cost per additional 1-s file in one call: **{marginal:.3f} s** "
                      f"({min(paired):.3f}–{max(paired):.3f}; (T_{n} − T_1) / {n - 1} within each repeat). "
                      f"Measured inside one process (steps below), each further 1-s file takes "
                      f"{steps[FURTHER]['median']:.3f} s; the end-to-end difference is within the noise of "
                      f"whole-process timings unless N is large."]
    lines += ["", "Steps of one `tfaudio predict` process (what `cmd_predict` does, timed inside a fresh process):",
              "", "| step | median | min–max |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['median']:.3f} s | {v['min']:.3f}–{v['max']:.3f} |" for k, v in steps.items()]
    lines += ["", "Imports of the one-file command (`python -X importtime -m tfaudio predict ...`, one run):", "",
              "| imported by the program (with all it pulls in) | cumulative |", "|---|---:|"]
    lines += [f"| `{k}` | {v:.3f} s |" for k, v in top[:args.top]]
    lines += ["", "| package (own time of all its modules) | self | first imported via (← importer) |",
              "|---|---:|---|"]
    lines += [f"| `{k}` | {v:.3f} s | {chain} |" for k, v, chain in import_chains(traced.stderr, args.top)]
    lines += ["", "A chain ends at a module imported at the top level: by the program's own top-level code or, "
              "as tfaudio imports most things, from inside a function at run time (importtime cannot say which "
              "function).", "", "| module (own time only) | self |", "|---|---:|"]
    lines += [f"| `{k}` | {v:.3f} s |" for k, v in own[:args.top]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes per measurement (default 5, >= 3)")
    ap.add_argument("--files", type=int, default=10, help="N: 1-s files in the many-files call (default 10)")
    ap.add_argument("--top", type=int, default=15, help="imports listed (default 15)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 repeats, 4 files")
    ap.add_argument("--out", type=Path, help="also write the markdown to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.files = 3, min(args.files, 4)
    if args.repeats < 3:
        ap.error("--repeats must be at least 3")
    report(run(args), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
