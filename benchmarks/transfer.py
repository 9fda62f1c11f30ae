"""Leave-one-SoundFont-out (LOSO) transfer of instrument recognition: baselines against the shipped models.

The protocol (issue 21, items 3 and 4). The corpus is rendered with every non-reserved SoundFont
(timgm6mb, gmbank, opl3, merlin). For each SoundFont in turn, a linear probe is fitted on every clip of the
other three (all their splits) and scored on every clip of the held-out one. Models are compared by the
**worst** held-out SoundFont, and every held-out SoundFont is reported, with the mean.

Methods (rows of the table):

* an embedder + a linear probe: the audio is cut into windows of `--window-seconds` (3 s) at a 50 % hop, the
  last zero-padded (a 2.97-s corpus clip is one zero-padded window), each window is embedded once and cached
  (`--cache`, .npy keyed by embedder, corpus and files), and a scikit-learn pipeline (StandardScaler, then
  LogisticRegression(C=0.1)) is fitted on the training windows;
  - ``stats``: MFCC + log-mel mean/std statistics at 22.05 kHz with librosa's defaults (n_fft 2048, hop 512,
    128 Slaney mels 0-11025 Hz, power_to_db with an 80-dB floor; 20 MFCCs): 296 values;
  - ``musicnn:MSD_musicnn``, ``musicnn:MTT_musicnn``: the frozen backbone (`tfaudio.models.musicnn.load`) at
    16 kHz, max and mean temporal pools of its last mid-end feature map concatenated (1,506 values);
* ``shipped:NAME``: the shipped pretrained model, scored with the project's clip protocol
  (`tfaudio.evaluate.clip_examples` + `evaluate_run`: its own windows at a 50 % hop, probabilities averaged per
  file). It is not refitted: folds whose SoundFont it trained on (its config's `data.soundfonts`) are marked
  ``trained`` and the one it was selected on (`data.val_soundfonts`) ``selected``; its worst and mean are over
  the folds it never trained on.

Tasks:

* ``--task msdb`` (`--clips`: the 8 Medley-Solos-DB classes rendered with all four SoundFonts): multinomial
  probe; accuracy, balanced accuracy and per-class accuracy of whole clips.
* ``--task irmas`` (`--clips`: solo clips of IRMAS's 11 classes with all four SoundFonts; `--excerpts`: a folder
  holding one folder per SoundFont, named by it, of multi-instrument excerpts in IRMAS's testing layout):
  one-vs-rest probe fitted on the solo clips of three SoundFonts, scored on the held-out SoundFont's excerpts,
  window probabilities averaged per excerpt; LRAP (`sklearn.metrics.label_ranking_average_precision_score`)
  and mAP.

Data (rendered outside the repository)::

    tfaudio corpus render /work/data/msdb4 --per-class 40 --soundfont timgm6mb --soundfont gmbank \\
        --soundfont opl3 --soundfont merlin
    tfaudio corpus render /work/data/irmas4 --classes irmas --per-class 30 --soundfont timgm6mb \\
        --soundfont gmbank --soundfont opl3 --soundfont merlin
    for sf in timgm6mb gmbank opl3 merlin; do
        tfaudio corpus render /work/data/irmas_excerpts/$sf --songs 30 --classes irmas --excerpts irmas --soundfont $sf
    done

Run::

    python benchmarks/transfer.py --task msdb --clips /work/data/msdb4 --out benchmarks/results/transfer_msdb.json
    python benchmarks/transfer.py --task irmas --clips /work/data/irmas4 --excerpts /work/data/irmas_excerpts \\
        --out benchmarks/results/transfer_irmas.json
    python benchmarks/transfer.py --task msdb --clips /work/data/msdb4 --embedders stats --no-shipped  # quick
    # a trained recipe's own LOSO: one run per held-out SoundFont, then its row beside the baselines
    for sf in timgm6mb gmbank opl3 merlin; do
        tfaudio train musicnn_msdb --out runs/msdb-$sf --set "data.test_soundfonts=[$sf]"
    done
    python benchmarks/transfer.py --task msdb --clips /work/data/msdb4 --recipe 'musicnn_msdb=runs/msdb-{sf}'
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))
from _timing import machine  # noqa: E402

log = logging.getLogger("transfer")

SOUNDFONTS = ("timgm6mb", "gmbank", "opl3", "merlin")
DEFAULT_EMBEDDERS = ("stats", "musicnn:MSD_musicnn", "musicnn:MTT_musicnn")
SHIPPED = {"msdb": "shipped:msdb", "irmas": "shipped:irmas"}
METRIC = {"msdb": "accuracy", "irmas": "lrap"}
C = 0.1
MAX_ITER = 5000


# ---------------------------------------------------------------------------------------------
# embedders: batches of windows (n, window) at `sr` -> features (n, d)


@dataclasses.dataclass(frozen=True)
class Embedder:
    """An audio embedder. name: as on the command line. sr: its sample rate. window: samples per window.
    fn: float32 windows `(n, window)` -> features `(n, d)`, batched inside. fingerprint: what changes the
    numbers (settings, weights), part of the cache key."""

    name: str
    sr: int
    window: int
    fn: Callable[[np.ndarray], np.ndarray]
    fingerprint: str


def probe_digest(fn: Callable[[np.ndarray], np.ndarray], sr: int, window: int, *extra: str) -> str:
    """A digest of what `fn` computes: its output on two fixed test windows (a chirp and seeded noise, rounded
    to 1e-3) and `extra` (settings, weights), so that a changed front end or weight invalidates the cache."""
    t = np.arange(window) / sr
    chirp = 0.3 * np.sin(2 * np.pi * (110 * t + 400 * t ** 2))
    noise = 0.05 * np.random.default_rng(0).standard_normal(window)
    out = np.round(fn(np.stack([chirp, noise]).astype(np.float32)), 3)
    return hashlib.sha256(out.tobytes() + "\n".join(extra).encode()).hexdigest()


STATS = dict(sr=22050, n_fft=2048, hop_length=512, n_mels=128, fmin=0.0, fmax=11025.0, n_mfcc=20, top_db=80.0)


def stats_embedder(window_seconds: float, batch: int = 64) -> Embedder:
    """MFCC + log-mel mean and std over frames (librosa defaults at 22.05 kHz): `(n, 2 * (20 + 128))`."""
    import tensorflow as tf

    from tfaudio import features

    s = STATS

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def stats(y):
        mel = features.log_mel(y, sr=s["sr"], n_fft=s["n_fft"], hop_length=s["hop_length"], n_mels=s["n_mels"],
                               fmin=s["fmin"], fmax=s["fmax"], top_db=s["top_db"])
        mfcc = features.mfcc(y, sr=s["sr"], n_mfcc=s["n_mfcc"], n_fft=s["n_fft"], hop_length=s["hop_length"],
                             n_mels=s["n_mels"], fmin=s["fmin"], fmax=s["fmax"], top_db=s["top_db"])
        x = tf.concat([mfcc, mel], axis=-1)  # (n, frames, 148)
        return tf.concat([tf.reduce_mean(x, axis=1), tf.math.reduce_std(x, axis=1)], axis=-1)

    def fn(windows: np.ndarray) -> np.ndarray:
        return np.concatenate([stats(windows[i:i + batch]).numpy() for i in range(0, len(windows), batch)])

    window = round(window_seconds * s["sr"])
    return Embedder("stats", s["sr"], window, fn, probe_digest(fn, s["sr"], window, json.dumps(s, sort_keys=True)))


def musicnn_backbone(model_name: str):
    """The frozen musicnn checkpoint `model_name` taking 16-kHz audio `(batch, samples)` and returning a dict
    with "max_pool" and "mean_pool" `(batch, 753)`: `tfaudio.models.musicnn.load` where it exists, else the
    registered model with its audio front end and `musicnn.intermediate`."""
    import tfaudio.models
    from tfaudio.models import musicnn

    if hasattr(musicnn, "load"):
        return musicnn.load(model_name)
    model = tfaudio.models.build("musicnn", weights=model_name, input="audio")
    return musicnn.intermediate(model, ["max_pool", "mean_pool"])


def musicnn_embedder(model_name: str, window_seconds: float, batch: int = 32) -> Embedder:
    """The frozen musicnn backbone `model_name`: concat(max_pool, mean_pool) of each 16-kHz window, `(n, 1506)`.
    The window is the model's own input length where it has one (187 frames, 47,616 samples: musicnn's 3-s
    patch), else `window_seconds`."""
    import tensorflow as tf

    model = musicnn_backbone(model_name)
    model.trainable = False
    digest = hashlib.sha256()
    for w in model.weights:
        digest.update(np.ascontiguousarray(w.numpy()).tobytes())
    window = model.inputs[0].shape[-1] or round(window_seconds * 16000)

    @tf.function(input_signature=[tf.TensorSpec([None, window], tf.float32)])
    def pools(y):
        out = model([y], training=False)
        return tf.concat([out["max_pool"], out["mean_pool"]], axis=-1)

    def fn(windows: np.ndarray) -> np.ndarray:
        return np.concatenate([pools(windows[i:i + batch]).numpy() for i in range(0, len(windows), batch)])

    fingerprint = probe_digest(fn, 16000, window, digest.hexdigest())
    return Embedder(f"musicnn:{model_name}", 16000, int(window), fn, fingerprint)


def make_embedder(name: str, window_seconds: float) -> Embedder:
    if name == "stats":
        return stats_embedder(window_seconds)
    if name.startswith("musicnn:"):
        return musicnn_embedder(name.split(":", 1)[1], window_seconds)
    raise SystemExit(f"transfer.py: error: unknown embedder {name!r}; use stats or musicnn:MODEL")


# ---------------------------------------------------------------------------------------------
# windows and the embedding cache


def file_windows(path: str, sr: int, window: int) -> np.ndarray:
    """A file as windows `(n, window)` at `sr`: 50 % hop, the last zero-padded (`tfaudio.inference.plan`)."""
    from tfaudio.audio import load
    from tfaudio.inference.plan import WindowPlan, plan_windows

    y, _ = load(path, sr=sr)
    windows, _ = plan_windows(y[None, :], WindowPlan("multi_label", window, window // 2, 0, 0, 1, sr))
    return windows.numpy()[0]


def _cache_key(embedder: Embedder, corpus: str, records: Sequence[Any]) -> str:
    h = hashlib.sha256(json.dumps([embedder.name, embedder.fingerprint, embedder.sr, embedder.window]).encode())
    for r in records:
        p = Path(r.path)
        h.update(f"{p.name}\t{p.stat().st_size}\t{p.stat().st_mtime_ns}\n".encode())
    slug = embedder.name.replace(":", "-").replace("/", "-")
    return f"{slug}__{corpus}__{h.hexdigest()[:16]}"


def embed(embedder: Embedder, records: Sequence[Any], corpus: str,
          cache: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Window features of `records`, computed once and cached: (features `(windows, d)`, file index `(windows,)`,
    seconds the embedding took, 0 when cached)."""
    from tfaudio.outputs import atomic_write

    key = _cache_key(embedder, corpus, records)
    feats, index = cache / f"{key}.npy", cache / f"{key}.index.npy"
    if feats.is_file() and index.is_file():
        log.info("%s on %s: cached (%s)", embedder.name, corpus, feats)
        return np.load(feats), np.load(index), 0.0
    t = time.perf_counter()
    windows, owner = [], []
    for i, r in enumerate(records):  # decoding and resampling: one graph call per file
        w = file_windows(r.path, embedder.sr, embedder.window)
        windows.append(w)
        owner.append(np.full(len(w), i, np.int32))
    windows, owner = np.concatenate(windows), np.concatenate(owner)
    t_load = time.perf_counter() - t
    x = embedder.fn(windows).astype(np.float32)
    seconds = time.perf_counter() - t
    log.info("%s on %s: %d files, %d windows -> %s in %.1f s (%.1f s reading)", embedder.name, corpus,
             len(records), len(windows), x.shape, seconds, t_load)
    cache.mkdir(parents=True, exist_ok=True)
    atomic_write(index, lambda p: np.save(p, owner), suffix=".npy")
    atomic_write(feats, lambda p: np.save(p, x), suffix=".npy")
    return x, owner, seconds


# ---------------------------------------------------------------------------------------------
# folds and the linear probe


def soundfont_of(record: Any) -> str:
    sf = record.meta.get("soundfont")
    if not sf:
        raise SystemExit(f"transfer.py: error: {record.path}: no soundfont in the corpus metadata")
    return sf


def loso_folds(records: Sequence[Any], soundfonts: Sequence[str]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Leave-one-SoundFont-out: (held-out SoundFont, indices of the others' records, indices of its own)."""
    sf = np.array([soundfont_of(r) for r in records])
    missing = [s for s in soundfonts if not (sf == s).any()]
    if missing:
        raise SystemExit(f"transfer.py: error: no clips of SoundFont(s) {missing} in the corpus "
                         f"(it has {sorted(set(sf))})")
    for held in soundfonts:
        train = np.flatnonzero(np.isin(sf, [s for s in soundfonts if s != held]))
        yield held, train, np.flatnonzero(sf == held)


def fit_probe(x: np.ndarray, y: np.ndarray, multilabel: bool = False):
    """StandardScaler + LogisticRegression(C=0.1): multinomial on int labels `(n,)`, one-vs-rest on multi-hot
    `(n, classes)`. `predict_proba` gives `(n, classes)` (one-vs-rest: each class's own probability)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    lr = LogisticRegression(C=C, max_iter=MAX_ITER)
    return make_pipeline(StandardScaler(), OneVsRestClassifier(lr) if multilabel else lr).fit(x, y)


def mean_per_file(p: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Window scores `(windows, k)` -> the mean per file `(n, k)`."""
    sums = np.zeros((n, p.shape[1]))
    np.add.at(sums, owner, p)
    return sums / np.bincount(owner, minlength=n)[:, None]


def summarise(task: str, m: dict[str, Any]) -> dict[str, Any]:
    keep = ("accuracy", "balanced_accuracy", "per_class_accuracy") if task == "msdb" else ("lrap", "map")
    return {k: m[k] for k in keep if k in m} | {"n_files": m.get("n_files")}


# ---------------------------------------------------------------------------------------------
# the tasks


def load_clips(root: str):
    from tfaudio import datasets

    records = list(datasets.medley_solos_db(root))
    return records, datasets.classes_of(records)


def load_excerpts(root: str, soundfonts: Sequence[str]) -> dict[str, list]:
    from tfaudio import datasets

    out = {}
    for sf in soundfonts:
        folder = Path(root) / sf
        if not folder.is_dir():
            raise SystemExit(f"transfer.py: error: {folder}: no excerpts of SoundFont {sf} (one folder per SoundFont)")
        out[sf] = list(datasets.irmas(folder, "test"))
    return out


def probe_folds(task: str, embedder: Embedder, clips: list, classes: list[str], excerpts: dict | None,
                soundfonts: Sequence[str], cache: Path, corpus: str) -> dict[str, Any]:
    """One embedder, every LOSO fold: {"folds": {sf: metrics}, "seconds": {...}}."""
    from tfaudio.datasets import encode_labels
    from tfaudio.evaluate import classification_metrics

    x, owner, t_embed = embed(embedder, clips, corpus, cache)
    if not np.array_equal(owner, np.arange(len(clips))):
        raise SystemExit(f"transfer.py: error: {corpus}: a clip is longer than one {embedder.window}-sample window")
    multilabel = task == "irmas"
    y = encode_labels(clips, classes, "multi_hot" if multilabel else "int")
    folds, t_fit = {}, 0.0
    for held, train, test in loso_folds(clips, soundfonts):
        t = time.perf_counter()
        probe = fit_probe(x[train], y[train], multilabel)
        t_fit += time.perf_counter() - t
        if not multilabel:
            m = classification_metrics("single_label", y[test], probe.predict_proba(x[test]), classes)
            m["n_files"] = len(test)
        else:
            ex = excerpts[held]
            xe, oe, t = embed(embedder, ex, f"{corpus}-excerpts-{held}", cache)
            t_embed += t
            scores = mean_per_file(probe.predict_proba(xe), oe, len(ex))
            m = classification_metrics("multi_label", encode_labels(ex, classes, "multi_hot"), scores, classes)
            m["n_files"], m["n_windows"] = len(ex), len(xe)
        folds[held] = summarise(task, m)
        log.info("%s, held out %s: %s %.4f", embedder.name, held, METRIC[task], folds[held][METRIC[task]])
    return {"folds": folds, "seconds": {"embed": round(t_embed, 1), "fit": round(t_fit, 1)},
            "sr": embedder.sr, "window_samples": embedder.window, "features": int(x.shape[1]),
            "n_train_clips": {sf: int(len(tr)) for sf, tr, _ in loso_folds(clips, soundfonts)}}


def shipped_folds(task: str, name: str, clips: list, excerpts: dict | None,
                  soundfonts: Sequence[str]) -> dict[str, Any]:
    """The shipped model `name` on every SoundFont's clips (msdb) or excerpts (irmas), its own clip protocol."""
    from tfaudio.evaluate import clip_examples, evaluate_run
    from tfaudio.run import open_model

    loaded = open_model(name)
    data_cfg = (loaded.config or {}).get("data", {})
    roles = {sf: "trained" for sf in data_cfg.get("soundfonts", [])}
    roles.update({sf: "selected" for sf in data_cfg.get("val_soundfonts", []) if sf not in roles})
    t = time.perf_counter()
    folds = {}
    for sf in soundfonts:
        records = excerpts[sf] if task == "irmas" else [r for r in clips if soundfont_of(r) == sf]
        m = evaluate_run(loaded.model, loaded.spec, clip_examples(records, loaded.spec))
        m["n_files"] = len(records)
        folds[sf] = summarise(task, m) | {"role": roles.get(sf, "held out")}
        log.info("%s on %s (%s): %s %.4f", name, sf, folds[sf]["role"], METRIC[task], folds[sf][METRIC[task]])
    return {"folds": folds, "seconds": {"evaluate": round(time.perf_counter() - t, 1)},
            "model": loaded.description, "trained_on": data_cfg.get("soundfonts"),
            "selected_on": data_cfg.get("val_soundfonts")}


def recipe_folds(task: str, template: str, clips: list, excerpts: dict | None,
                 soundfonts: Sequence[str]) -> dict[str, Any]:
    """A recipe's own LOSO: for each SoundFont, the run `template.format(sf=SF)` (trained with
    `data.test_soundfonts=[SF]`, checked in its config) scored on that SoundFont's clips or excerpts."""
    from tfaudio.evaluate import clip_examples, evaluate_run
    from tfaudio.run import open_model

    t, folds, runs = time.perf_counter(), {}, {}
    for sf in soundfonts:
        run = template.format(sf=sf)
        loaded = open_model(run)
        data_cfg = (loaded.config or {}).get("data", {})
        if sf in data_cfg.get("soundfonts", []) and sf not in data_cfg.get("test_soundfonts", []):
            raise SystemExit(f"transfer.py: error: {run}: trained on {sf}, so it cannot be scored held out on it")
        records = excerpts[sf] if task == "irmas" else [r for r in clips if soundfont_of(r) == sf]
        m = evaluate_run(loaded.model, loaded.spec, clip_examples(records, loaded.spec))
        m["n_files"] = len(records)
        folds[sf], runs[sf] = summarise(task, m), run
        log.info("%s on %s (held out): %s %.4f", run, sf, METRIC[task], folds[sf][METRIC[task]])
    return {"folds": folds, "runs": runs, "seconds": {"evaluate": round(time.perf_counter() - t, 1)}}


def add_worst_mean(task: str, row: dict[str, Any]) -> None:
    """worst / mean of the metric over the folds not trained on (every fold, for a probe)."""
    metric = METRIC[task]
    held = {sf: f[metric] for sf, f in row["folds"].items() if f.get("role") != "trained"}
    worst = min(held, key=held.get)
    row.update(worst=held[worst], worst_soundfont=worst, mean=float(np.mean(list(held.values()))),
               over=sorted(held))


def table(task: str, rows: dict[str, dict], soundfonts: Sequence[str]) -> str:
    metric = METRIC[task]
    head = f"| {task}: {metric} | " + " | ".join(f"held out: {sf}" for sf in soundfonts) + " | worst | mean |"
    lines = [head, "|---|" + "---:|" * (len(soundfonts) + 2)]
    for name, row in rows.items():
        cells = []
        for sf in soundfonts:
            f = row["folds"][sf]
            role = f.get("role")
            cells.append(f"{f[metric]:.3f}" + (f" ({role})" if role and role != "held out" else ""))
        worst = f"{row['worst']:.3f} ({row['worst_soundfont']})"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {worst} | {row['mean']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("msdb", "irmas"), required=True)
    p.add_argument("--clips", required=True,
                   help="solo corpus rendered with every SoundFont (its metadata CSV has a soundfont column)")
    p.add_argument("--excerpts", help="irmas: folder of one IRMAS-test-layout folder per SoundFont")
    p.add_argument("--soundfonts", nargs="+", default=list(SOUNDFONTS), help="the LOSO SoundFonts (default: all four)")
    p.add_argument("--embedders", nargs="+", default=list(DEFAULT_EMBEDDERS),
                   help="stats, musicnn:MSD_musicnn, musicnn:MTT_musicnn (default: all three)")
    p.add_argument("--no-shipped", action="store_true", help="skip the shipped model's row")
    p.add_argument("--recipe", action="append", default=[], metavar="NAME=RUN_TEMPLATE",
                   help="a trained recipe's LOSO row: RUN_TEMPLATE holds {sf}, the run trained without that "
                        "SoundFont (tfaudio train ... --set data.test_soundfonts=[SF]); repeatable")
    p.add_argument("--window-seconds", type=float, default=3.0, help="probe window (default: 3 s, musicnn's)")
    p.add_argument("--cache", default="/work/data/cache", help="embedding cache folder")
    p.add_argument("--out", help="JSON file for the numbers (its .md sibling gets the table)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    if args.task == "irmas" and not args.excerpts:
        p.error("--task irmas needs --excerpts")

    t0 = time.perf_counter()
    clips, classes = load_clips(args.clips)
    excerpts = load_excerpts(args.excerpts, args.soundfonts) if args.task == "irmas" else None
    corpus = Path(args.clips).resolve().name
    rows: dict[str, dict] = {}
    for name in args.embedders:
        embedder = make_embedder(name, args.window_seconds)
        rows[name] = probe_folds(args.task, embedder, clips, classes, excerpts, args.soundfonts,
                                 Path(args.cache), corpus)
    for recipe in args.recipe:
        name, _, template = recipe.partition("=")
        if not template or "{sf}" not in template:
            p.error(f"--recipe {recipe!r}: give NAME=RUN_TEMPLATE with {{sf}} in the template")
        rows[name] = recipe_folds(args.task, template, clips, excerpts, args.soundfonts)
    if not args.no_shipped:
        rows[SHIPPED[args.task]] = shipped_folds(args.task, args.task, clips, excerpts, args.soundfonts)
    for row in rows.values():
        add_worst_mean(args.task, row)

    md = table(args.task, rows, args.soundfonts)
    result = {"task": args.task, "metric": METRIC[args.task], "command": " ".join(sys.argv),
              "clips": str(args.clips), "n_clips": len(clips), "classes": classes,
              "excerpts": str(args.excerpts) if args.excerpts else None,
              "n_excerpts": {sf: len(v) for sf, v in excerpts.items()} if excerpts else None,
              "soundfonts": args.soundfonts, "window_seconds": args.window_seconds,
              "probe": f"StandardScaler + LogisticRegression(C={C}, max_iter={MAX_ITER})"
                       + (", one-vs-rest" if args.task == "irmas" else ", multinomial"),
              "stats_features": STATS, "machine": machine(), "seconds": round(time.perf_counter() - t0, 1),
              "rows": rows, "table": md}
    if args.out:
        from tfaudio.outputs import write_text

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_text(args.out, json.dumps(result, indent=1) + "\n")
        write_text(Path(args.out).with_suffix(".md"), md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
