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
  (`tfaudio.evaluation.clips.clip_examples` + `evaluate_run`: its own windows at a 50 % hop, probabilities averaged per
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
* ``--task activations`` (`--clips`: the msdb corpus; `--songs`: songs with per-instrument stems of each
  SoundFont, `tfaudio evaluate --format stems`'s layout): frame-level detection. Per fold, a fixed, seeded set
  of `--mixes` (1,500) mixes of 1-4 instruments is drawn from the other three SoundFonts' clips with the
  project's own mixing and labels (`tfaudio.data.mixing.window_pool` + `mix_batch`, `MixConfig`'s defaults, no
  augmentation) in 47,616-sample windows at 16 kHz (187 frames of 256 samples; activations in [0, 1] from the
  stems' framed RMS in a 60-dB range); `--frames-per-mix` (40) random frames of each are embedded and a
  one-vs-rest probe is fitted on targets activation >= 0.5 (60,000 frames a fold). Frame embedders:
  ``stats`` (20 MFCC + 96-band Slaney log-mel in dB, n_fft 512, hop 256, of the frame, and their mean over
  the frames within ±3 of it: 232 values) and ``musicnn:MODEL`` (the frozen backbone's cnn1, cnn2, cnn3 maps
  per frame: 192 values). The held-out SoundFont's songs are resampled to 16 kHz, cut into the project's
  activation windows (47,616 samples every 23,808, the last zero-padded), embedded, scored per frame by the
  probe and stitched by `tfaudio.inference.plan.overlap_add`; reference activations come from the stems at
  the same frames (`tfaudio.evaluation.songs.song_reference`) and every metric from `tfaudio.evaluation.songs.song_metrics`,
  as `tfaudio evaluate --format stems` computes them. Reported: frame LRAP and ``polyphonic_recall`` (playing
  instruments found >= 0.5 in frames where two or more play), worst by LRAP. Shipped and recipe runs are
  scored with `tfaudio.evaluation.songs.evaluate_songs` at their own rate and hop.

Extra sources (issue 21, item 5): ``--extra-clips DIR`` (msdb, irmas; repeatable) adds a corpus of the same
classes, e.g. one rendered with ``--soundfont freepats``. Its sources named in ``--soundfonts`` are folds like the
others; the rest are training data in every fold and never held out. Each corpus is embedded and cached on its own.
``benchmarks/transfer_equal_size.py`` checks whether such a source helps by its timbres or by its number of clips.

Data (rendered outside the repository)::

    tfaudio corpus render /work/data/msdb4 --per-class 40 --soundfont timgm6mb --soundfont gmbank \\
        --soundfont opl3 --soundfont merlin
    tfaudio corpus render /work/data/irmas4 --classes irmas --per-class 30 --soundfont timgm6mb \\
        --soundfont gmbank --soundfont opl3 --soundfont merlin
    for sf in timgm6mb gmbank opl3 merlin; do
        tfaudio corpus render /work/data/irmas_excerpts/$sf --songs 30 --classes irmas --excerpts irmas --soundfont $sf
    done
    # activations: 16 songs of 20 s with stems per SoundFont (format stems), e.g.
    for sf in timgm6mb gmbank opl3 merlin; do
        tfaudio corpus render /work/data/songs/act-$sf --songs 16 --song-seconds 20 --soundfont $sf --sr 44100 --seed 5
    done

Run::

    python benchmarks/transfer.py --task msdb --clips /work/data/msdb4 --out benchmarks/results/transfer_msdb.json
    python benchmarks/transfer.py --task irmas --clips /work/data/irmas4 --excerpts /work/data/irmas_excerpts \\
        --out benchmarks/results/transfer_irmas.json
    python benchmarks/transfer.py --task msdb --clips /work/data/msdb4 --embedders stats --no-shipped  # quick
    tfaudio corpus render /work/data/msdb-freepats --per-class 40 --soundfont freepats
    python benchmarks/transfer.py --task msdb --clips /work/data/msdb4 --extra-clips /work/data/msdb-freepats \\
        --soundfonts timgm6mb gmbank opl3 merlin freepats --no-shipped \\
        --out benchmarks/results/transfer_msdb_freepats.json
    python benchmarks/transfer.py --task activations --clips /work/data/msdb4 --songs '/work/data/songs/act-{sf}' \\
        --out benchmarks/results/transfer_activations.json
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
SHIPPED = {"msdb": "shipped:msdb", "irmas": "shipped:irmas", "activations": "shipped:activations"}
METRIC = {"msdb": "accuracy", "irmas": "lrap", "activations": "lrap"}
SECOND = {"activations": "polyphonic_recall"}  # a second number in each cell of the table
KEEP = {"msdb": ("accuracy", "balanced_accuracy", "per_class_accuracy"), "irmas": ("lrap", "map"),
        "activations": ("lrap", "polyphonic_recall", "polyphonic_frames_all_found", "solo_recall", "map",
                        "auc_roc_macro", "frame_f1", "segment_f1", "lrap_frames")}
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


def musicnn_backbone(model_name: str, representation: str = "all"):
    """The frozen musicnn checkpoint `model_name` taking 16-kHz audio `(batch, samples)` and returning a dict:
    "max_pool" and "mean_pool" `(batch, 753)` (representation "all", musicnn's own pools), or "cnn1"..."cnn3"
    `(batch, frames, 64)` (representation "cnn", what the `musicnn_head` pipelines read)."""
    import tfaudio.models
    from tfaudio.models import musicnn

    model = tfaudio.models.build("musicnn", weights=model_name, input="audio")
    names = ["max_pool", "mean_pool"] if representation == "all" else ["cnn1", "cnn2", "cnn3"]
    return musicnn.intermediate(model, names)


def musicnn_embedder(model_name: str, window_seconds: float, batch: int = 32,
                     representation: str = "all") -> Embedder:
    """The frozen musicnn backbone `model_name`: concat(max_pool, mean_pool) of each 16-kHz window, `(n, 1506)`;
    representation "cnn": the max and mean over time of cnn1-3 concatenated, `(n, 384)`. The window is the
    model's own input length where it has one (187 frames, 47,616 samples: musicnn's 3-s patch), else
    `window_seconds`."""
    import tensorflow as tf

    model = musicnn_backbone(model_name, representation)
    model.trainable = False
    digest = hashlib.sha256()
    for w in model.weights:
        digest.update(np.ascontiguousarray(w.numpy()).tobytes())
    window = model.inputs[0].shape[-1] or round(window_seconds * 16000)

    @tf.function(input_signature=[tf.TensorSpec([None, window], tf.float32)])
    def pools(y):
        out = model([y], training=False)
        if representation == "cnn":
            maps = tf.concat([out["cnn1"], out["cnn2"], out["cnn3"]], axis=-1)
            return tf.concat([tf.reduce_max(maps, axis=1), tf.reduce_mean(maps, axis=1)], axis=-1)
        return tf.concat([out["max_pool"], out["mean_pool"]], axis=-1)

    def fn(windows: np.ndarray) -> np.ndarray:
        return np.concatenate([pools(windows[i:i + batch]).numpy() for i in range(0, len(windows), batch)])

    fingerprint = probe_digest(fn, 16000, window, digest.hexdigest())
    name = f"musicnn:{model_name}" + (":cnn" if representation == "cnn" else "")
    return Embedder(name, 16000, int(window), fn, fingerprint)


def make_embedder(name: str, window_seconds: float) -> Embedder:
    if name == "stats":
        return stats_embedder(window_seconds)
    if name.startswith("musicnn:"):
        _, model_name, *rest = name.split(":")
        if rest not in ([], ["cnn"]):
            raise SystemExit(f"transfer.py: error: unknown embedder {name!r}; use musicnn:MODEL or musicnn:MODEL:cnn")
        return musicnn_embedder(model_name, window_seconds, representation=rest[0] if rest else "all")
    raise SystemExit(f"transfer.py: error: unknown embedder {name!r}; use stats, musicnn:MODEL or musicnn:MODEL:cnn")


# ---------------------------------------------------------------------------------------------
# windows and the embedding cache


def file_windows(path: str, sr: int, window: int) -> np.ndarray:
    """A file as windows `(n, window)` at `sr`: 50 % hop, the last zero-padded (`tfaudio.inference.plan`)."""
    from tfaudio.io.audio import load
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
    from tfaudio.io.outputs import atomic_write

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


def loso_folds(records: Sequence[Any], soundfonts: Sequence[str],
               train_only: Sequence[str] = ()) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Leave-one-SoundFont-out: (held-out SoundFont, indices of the others' records, indices of its own).
    Records of the `train_only` sources (never held out) join the training side of every fold."""
    sf = np.array([soundfont_of(r) for r in records])
    missing = [s for s in soundfonts if not (sf == s).any()]
    if missing:
        raise SystemExit(f"transfer.py: error: no clips of SoundFont(s) {missing} in the corpus "
                         f"(it has {sorted(set(sf))})")
    for held in soundfonts:
        train = np.flatnonzero(np.isin(sf, [s for s in (*soundfonts, *train_only) if s != held]))
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
    return {k: m[k] for k in KEEP[task] if k in m} | {"n_files": m.get("n_files", m.get("n_examples"))}


# ---------------------------------------------------------------------------------------------
# the tasks


def load_clips(root: str):
    from tfaudio.data import datasets

    records = list(datasets.medley_solos_db(root))
    return records, datasets.classes_of(records)


def load_excerpts(root: str, soundfonts: Sequence[str]) -> dict[str, list]:
    from tfaudio.data import datasets

    out = {}
    for sf in soundfonts:
        folder = Path(root) / sf
        if not folder.is_dir():
            raise SystemExit(f"transfer.py: error: {folder}: no excerpts of SoundFont {sf} (one folder per SoundFont)")
        out[sf] = list(datasets.irmas(folder, "test"))
    return out


def embed_parts(embedder: Embedder, records: Sequence[Any], parts: Sequence[tuple[str, int]],
                cache: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """`embed` over consecutive parts of `records` (corpus name, number of records), each cached on its own (a
    corpus keeps its cache when another is added beside it); file indices count over all of `records`."""
    xs, owners, seconds, at = [], [], 0.0, 0
    for name, n in parts:
        x, owner, t = embed(embedder, records[at:at + n], name, cache)
        xs.append(x)
        owners.append(owner + at)
        seconds += t
        at += n
    return np.concatenate(xs), np.concatenate(owners), seconds


def probe_folds(task: str, embedder: Embedder, clips: list, classes: list[str], excerpts: dict | None,
                soundfonts: Sequence[str], cache: Path, corpus: str | Sequence[tuple[str, int]],
                train_only: Sequence[str] = ()) -> dict[str, Any]:
    """One embedder, every LOSO fold: {"folds": {sf: metrics}, "seconds": {...}}. `corpus`: the name of the
    corpus `clips` come from, or (name, count) of each corpus they come from in turn (`--extra-clips`)."""
    from tfaudio.data.datasets import encode_labels
    from tfaudio.evaluation.metrics import classification_metrics

    parts = [(corpus, len(clips))] if isinstance(corpus, str) else list(corpus)
    corpus = parts[0][0]
    x, owner, t_embed = embed_parts(embedder, clips, parts, cache)
    if not np.array_equal(owner, np.arange(len(clips))):
        raise SystemExit(f"transfer.py: error: {corpus}: a clip is longer than one {embedder.window}-sample window")
    multilabel = task == "irmas"
    y = encode_labels(clips, classes, "multi_hot" if multilabel else "int")
    folds, t_fit = {}, 0.0
    for held, train, test in loso_folds(clips, soundfonts, train_only):
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
            "n_train_clips": {sf: int(len(tr)) for sf, tr, _ in loso_folds(clips, soundfonts, train_only)}}


def score_run(task: str, loaded: Any, sf: str, clips: list, excerpts: dict | None,
              songs: dict | None) -> dict[str, Any]:
    """A loaded run (`tfaudio.deploy.loading.open_model`) on SoundFont `sf`'s clips (msdb) or excerpts (irmas) with the
    project's clip protocol, or on its songs (activations) with `tfaudio evaluate --format stems`'s
    `evaluate_songs`."""
    from tfaudio.evaluation.clips import clip_examples, evaluate_run
    from tfaudio.evaluation.songs import evaluate_songs

    if task == "activations":
        return evaluate_songs(loaded.model, loaded.spec, songs[sf])
    records = excerpts[sf] if task == "irmas" else [r for r in clips if soundfont_of(r) == sf]
    m = evaluate_run(loaded.model, loaded.spec, clip_examples(records, loaded.spec))
    m["n_files"] = len(records)
    return m


def trained_soundfonts(data_cfg: dict[str, Any]) -> list[str]:
    """The SoundFonts a run's config trained on: `data.soundfonts`, or the corpus default when it is empty."""
    from tfaudio.data.corpus import DEFAULT_SOUNDFONT

    sfs = list(data_cfg.get("soundfonts") or [])
    return sfs or ([DEFAULT_SOUNDFONT] if data_cfg.get("format") == "corpus" else [])


def shipped_folds(task: str, name: str, clips: list, excerpts: dict | None, soundfonts: Sequence[str],
                  songs: dict | None = None) -> dict[str, Any]:
    """The shipped model `name` on every SoundFont's clips (msdb), excerpts (irmas) or songs (activations),
    its own protocol (`score_run`)."""
    from tfaudio.deploy.loading import open_model

    loaded = open_model(name)
    data_cfg = (loaded.config or {}).get("data", {})
    roles = {sf: "trained" for sf in trained_soundfonts(data_cfg)}
    roles.update({sf: "selected" for sf in data_cfg.get("val_soundfonts", []) if sf not in roles})
    t = time.perf_counter()
    folds = {}
    for sf in soundfonts:
        folds[sf] = summarise(task, score_run(task, loaded, sf, clips, excerpts, songs)) \
            | {"role": roles.get(sf, "held out")}
        log.info("%s on %s (%s): %s %.4f", name, sf, folds[sf]["role"], METRIC[task], folds[sf][METRIC[task]])
    return {"folds": folds, "seconds": {"evaluate": round(time.perf_counter() - t, 1)},
            "model": loaded.description, "trained_on": trained_soundfonts(data_cfg),
            "selected_on": data_cfg.get("val_soundfonts")}


def recipe_folds(task: str, template: str, clips: list, excerpts: dict | None, soundfonts: Sequence[str],
                 songs: dict | None = None) -> dict[str, Any]:
    """A recipe's own LOSO: for each SoundFont, the run `template.format(sf=SF)` (trained with
    `data.test_soundfonts=[SF]`, checked in its config) scored on that SoundFont's clips, excerpts or songs
    (`score_run`)."""
    from tfaudio.deploy.loading import open_model

    t, folds, runs = time.perf_counter(), {}, {}
    for sf in soundfonts:
        run = template.format(sf=sf)
        loaded = open_model(run)
        data_cfg = (loaded.config or {}).get("data", {})
        if sf in trained_soundfonts(data_cfg) and sf not in data_cfg.get("test_soundfonts", []):
            raise SystemExit(f"transfer.py: error: {run}: trained on {sf}, so it cannot be scored held out on it")
        folds[sf], runs[sf] = summarise(task, score_run(task, loaded, sf, clips, excerpts, songs)), run
        log.info("%s on %s (held out): %s %.4f", run, sf, METRIC[task], folds[sf][METRIC[task]])
    return {"folds": folds, "runs": runs, "seconds": {"evaluate": round(time.perf_counter() - t, 1)}}


# ---------------------------------------------------------------------------------------------
# --task activations: frame-level detection, a probe per frame trained on mixes, scored on songs

#: the frame embedders' and songs' framing: musicnn's (16 kHz, 512-sample frames every 256 samples, centred;
#: 47,616-sample windows of 187 frames), and the `stats` frame features (log-mel in dB, 80-dB floor; MFCC)
FRAMES = dict(sr=16000, window=47616, n_fft=512, hop_length=256, n_mels=96, fmin=0.0, fmax=8000.0, n_mfcc=20,
              top_db=80.0, context=3)
DEFAULT_FRAME_EMBEDDERS = ("stats", "musicnn:MTT_musicnn")
MIX_SEED = 0


def n_window_frames(window: int) -> int:
    """Frames of a `window`-sample window (centred framing): ``1 + window // hop_length``."""
    return 1 + window // FRAMES["hop_length"]


def stats_frames_embedder(window: int = FRAMES["window"], batch: int = 64) -> Embedder:
    """Per frame: 20 MFCC + 96-band Slaney log-mel (dB) of the frame and their mean over the frames within ±3
    of it: 16-kHz windows `(n, window)` -> `(n, frames, 2 * 116)`."""
    import tensorflow as tf

    from tfaudio import features

    s = FRAMES
    k = 2 * s["context"] + 1

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def frames(y):
        kw = dict(sr=s["sr"], n_fft=s["n_fft"], hop_length=s["hop_length"], n_mels=s["n_mels"], fmin=s["fmin"],
                  fmax=s["fmax"], top_db=s["top_db"])
        x = tf.concat([features.mfcc(y, n_mfcc=s["n_mfcc"], **kw), features.log_mel(y, **kw)], axis=-1)
        context = tf.nn.avg_pool1d(x, k, 1, "SAME")  # TF's SAME average counts only the frames inside
        return tf.concat([x, context], axis=-1)

    def fn(windows: np.ndarray) -> np.ndarray:
        return np.concatenate([frames(windows[i:i + batch]).numpy() for i in range(0, len(windows), batch)])

    return Embedder("stats", s["sr"], window, fn,
                    probe_digest(fn, s["sr"], window, "frames", json.dumps(s, sort_keys=True)))


def musicnn_frames_embedder(model_name: str, window: int = FRAMES["window"], batch: int = 32) -> Embedder:
    """The frozen musicnn backbone `model_name`'s cnn1, cnn2 and cnn3 maps concatenated per frame:
    16-kHz windows `(n, window)` -> `(n, 1 + window // 256, 192)`."""
    import tensorflow as tf

    import tfaudio.models
    from tfaudio.models import musicnn

    names = ("cnn1", "cnn2", "cnn3")
    model = musicnn.intermediate(tfaudio.models.build("musicnn", weights=model_name, input="audio", n_frames=None),
                                 names)
    model.trainable = False
    digest = hashlib.sha256()
    for w in model.weights:
        digest.update(np.ascontiguousarray(w.numpy()).tobytes())

    @tf.function(input_signature=[tf.TensorSpec([None, window], tf.float32)])
    def frames(y):
        out = model(y, training=False)
        return tf.concat([out[n] for n in names], axis=-1)

    def fn(windows: np.ndarray) -> np.ndarray:
        return np.concatenate([frames(windows[i:i + batch]).numpy() for i in range(0, len(windows), batch)])

    return Embedder(f"musicnn:{model_name}", 16000, window, fn,
                    probe_digest(fn, 16000, window, "frames", *names, digest.hexdigest()))


def make_frames_embedder(name: str) -> Embedder:
    if name == "stats":
        return stats_frames_embedder()
    if name.startswith("musicnn:"):
        return musicnn_frames_embedder(name.split(":", 1)[1])
    raise SystemExit(f"transfer.py: error: unknown embedder {name!r}; use stats or musicnn:MODEL")


def _cached(path: Path, compute: Callable[[], dict[str, np.ndarray]]) -> tuple[dict[str, np.ndarray], bool]:
    """Arrays saved in one .npz at `path` (atomically), computed once: (arrays, whether they were cached)."""
    from tfaudio.io.outputs import atomic_write

    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}, True
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: np.savez(p, **arrays), suffix=".npz")
    return arrays, False


def mix_config(window: int):
    """The mixes of seed 001 (`MixConfig`'s defaults: 1-4 instruments, levels N(0.5, 0.01), 60-dB activation
    labels) in `window`-sample windows, one per clip (a 2.97-s clip at 16 kHz is zero-padded to one)."""
    from tfaudio.config import MixConfig

    return MixConfig(window=window)


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def frame_training_set(embedder: Embedder, records: Sequence[Any], classes: list[str], n_mixes: int,
                       frames_per_mix: int, seed: int, cache: Path, tag: str,
                       batch: int = 50) -> tuple[np.ndarray, np.ndarray, float]:
    """A fixed, seeded set of `n_mixes` mixes of `records` (`tfaudio.data.mixing.window_pool` + `mix_batch`, stateless
    seeds from `mix_seeds(seed)`, no augmentation), embedded per frame, with `frames_per_mix` frames of each
    drawn at random (seeded): (features `(n_mixes * frames_per_mix, d)`, activations `(same, classes)` in
    [0, 1] from the stems' framed RMS, seconds spent, 0 when cached)."""
    from tfaudio.data import mixing

    hop, n_fft = FRAMES["hop_length"], FRAMES["n_fft"]
    frames = n_window_frames(embedder.window)
    mix = mix_config(embedder.window)
    key = _cache_key(embedder, f"{tag}-mixes{n_mixes}x{frames_per_mix}-seed{seed}-{hash_text(repr(mix))}", records)

    def compute() -> dict[str, np.ndarray]:
        pool = mixing.window_pool(records, classes, embedder.sr, mix)
        seeds = np.stack(list(mixing.mix_seeds(seed, n_mixes, rerandomize=False).as_numpy_iterator()))
        pick = np.random.default_rng(seed).permuted(np.tile(np.arange(frames), (n_mixes, 1)), axis=1)
        pick = pick[:, :frames_per_mix]
        xs, ys = [], []
        for i in range(0, n_mixes, batch):
            ex = mixing.mix_batch(pool, mix, seeds[i:i + batch], stems=False, activations=(n_fft, hop))
            x = embedder.fn(ex["audio"].numpy())  # (b, frames, d)
            if x.shape[1] != frames:
                raise SystemExit(f"transfer.py: error: {embedder.name} gives {x.shape[1]} frames a window, "
                                 f"not {frames}")
            a = np.transpose(ex["activations"].numpy(), (0, 2, 1))  # (b, frames, classes)
            idx = pick[i:i + len(x), :, None]
            xs.append(np.take_along_axis(x, idx, axis=1).reshape(-1, x.shape[-1]))
            ys.append(np.take_along_axis(a, idx, axis=1).reshape(-1, a.shape[-1]))
        return {"x": np.concatenate(xs).astype(np.float32), "y": np.concatenate(ys).astype(np.float32)}

    t = time.perf_counter()
    arrays, cached = _cached(cache / f"{key}.npz", compute)
    seconds = 0.0 if cached else time.perf_counter() - t
    log.info("%s, %s: %d mixes, %s frame features%s (%.1f s)", embedder.name, tag, n_mixes, arrays["x"].shape,
             " cached" if cached else "", seconds)
    return arrays["x"], arrays["y"], seconds


def song_spec(classes: Sequence[str], window: int):
    """The `RunSpec` the probes' songs are scored with: 16 kHz, frames of 512 samples every 256 (centred)."""
    from tfaudio.config import FeatureConfig
    from tfaudio.spec import RunSpec

    s = FRAMES
    feats = FeatureConfig(kind="log10_mel", sr=s["sr"], n_fft=s["n_fft"], hop_length=s["hop_length"],
                          n_mels=s["n_mels"], fmin=s["fmin"], fmax=s["fmax"])
    return RunSpec("activation", tuple(classes), feats, window, model_input="audio")


def song_features(embedder: Embedder, records: Sequence[Any], spec: Any, cache: Path,
                  tag: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Every song's mix at 16 kHz in the project's activation windows (`tfaudio.inference.plan`: 187-frame
    windows every 93 frames, the last zero-padded), embedded per frame: (features `(windows, frames, d)`,
    song index `(windows,)`, seconds spent, 0 when cached)."""
    from tfaudio.io.audio import load
    from tfaudio.inference.plan import plan_windows, window_plan

    plan = window_plan(spec)

    def compute() -> dict[str, np.ndarray]:
        xs, owner = [], []
        for i, r in enumerate(records):
            y, _ = load(r.path, sr=spec.sr)
            w = plan_windows(y[None], plan)[0].numpy()[0]
            xs.append(embedder.fn(w).astype(np.float32))
            owner.append(np.full(len(w), i, np.int32))
        return {"x": np.concatenate(xs), "owner": np.concatenate(owner)}

    t = time.perf_counter()
    arrays, cached = _cached(cache / f"{_cache_key(embedder, tag, records)}.npz", compute)
    return arrays["x"], arrays["owner"], 0.0 if cached else time.perf_counter() - t


def probe_songs(probe: Any, x: np.ndarray, owner: np.ndarray, records: Sequence[Any], spec: Any) -> dict[str, Any]:
    """Score a frame probe on songs as `tfaudio evaluate --format stems` scores a run (`collect_songs`):
    each window's per-frame probabilities are stitched with the project's overlap-add
    (`tfaudio.inference.plan.overlap_add`) over the whole song, the reference activations come from its stems
    (`song_reference`, at the same frames), and `song_metrics` computes every metric."""
    import tensorflow as tf

    from tfaudio.io.audio import load
    from tfaudio.evaluation.songs import Song, song_metrics, song_reference
    from tfaudio.inference.plan import overlap_add, window_plan

    plan = window_plan(spec)
    n, frames, d = x.shape
    p = probe.predict_proba(x.reshape(-1, d)).reshape(n, frames, -1).transpose(0, 2, 1)  # (windows, classes, F)
    songs = []
    for i, r in enumerate(records):
        mix, _ = load(r.path, sr=spec.sr)
        total = plan.n_frames(len(mix))
        pred = overlap_add(tf.constant(p[owner == i][None], tf.float32), plan, total).numpy()[0]
        reference, playing, info = song_reference(r, spec, len(mix), mix=mix)
        reference, playing = reference[:, :total], playing[:total]  # both 1 + samples // hop_length frames
        info.update(song=str(r.meta.get("song") or Path(r.path).parent.name), path=r.path,
                    seconds=len(mix) / spec.sr, frames=total)
        songs.append(Song(info["song"], pred, reference, playing, len(mix), info))
    return song_metrics(songs, spec)


def activation_probe_folds(embedder: Embedder, clips: list, classes: list[str], songs: dict[str, list],
                           soundfonts: Sequence[str], cache: Path, corpus: str, n_mixes: int,
                           frames_per_mix: int, seed: int = MIX_SEED) -> dict[str, Any]:
    """One frame embedder, every LOSO fold: a one-vs-rest probe on frames of mixes of the other SoundFonts'
    clips (targets: activation >= 0.5), scored on the held-out SoundFont's songs."""
    spec = song_spec(classes, embedder.window)
    folds, t_embed, t_fit, n_frames = {}, 0.0, 0.0, {}
    for held, train, _ in loso_folds(clips, soundfonts):
        records = [clips[i] for i in train]
        x, y, t = frame_training_set(embedder, records, classes, n_mixes, frames_per_mix, seed, cache,
                                     f"{corpus}-without-{held}")
        t_embed += t
        tf0 = time.perf_counter()
        probe = fit_probe(x, (y >= 0.5).astype(np.int64), multilabel=True)
        t_fit += time.perf_counter() - tf0
        xs, owner, t = song_features(embedder, songs[held], spec, cache, f"songs-{held}")
        t_embed += t
        folds[held] = summarise("activations", probe_songs(probe, xs, owner, songs[held], spec))
        n_frames[held] = {"train_frames": int(len(x)), "positive_rate": np.round((y >= 0.5).mean(0), 3).tolist(),
                          "song_windows": int(len(xs))}
        log.info("%s, held out %s: lrap %.4f, polyphonic recall %s", embedder.name, held, folds[held]["lrap"],
                 folds[held]["polyphonic_recall"])
    return {"folds": folds, "seconds": {"embed": round(t_embed, 1), "fit": round(t_fit, 1)},
            "sr": embedder.sr, "window_samples": embedder.window, "features": int(x.shape[1]),
            "training": n_frames}


def load_songs(template: str, soundfonts: Sequence[str]) -> dict[str, list]:
    """Songs with stems (`tfaudio.data.datasets.from_stems`) of each SoundFont: `template` with {sf}, or a folder
    holding one folder per SoundFont, named by it."""
    from tfaudio.data import datasets

    out = {}
    for sf in soundfonts:
        folder = Path(template.format(sf=sf)) if "{sf}" in template else Path(template) / sf
        if not folder.is_dir():
            raise SystemExit(f"transfer.py: error: {folder}: no songs of SoundFont {sf}")
        out[sf] = datasets.from_stems(folder)
        if not out[sf]:
            raise SystemExit(f"transfer.py: error: {folder}: no songs with stems")
    return out


def add_worst_mean(task: str, row: dict[str, Any]) -> None:
    """worst / mean of the metric over the folds not trained on (every fold, for a probe)."""
    metric = METRIC[task]
    held = {sf: f[metric] for sf, f in row["folds"].items() if f.get("role") != "trained"}
    worst = min(held, key=held.get)
    row.update(worst=held[worst], worst_soundfont=worst, mean=float(np.mean(list(held.values()))),
               over=sorted(held))
    if task in SECOND:  # the second number at the worst fold (by the first), and its mean over the same folds
        second = [row["folds"][sf].get(SECOND[task]) for sf in held]
        row[f"worst_{SECOND[task]}"] = row["folds"][worst].get(SECOND[task])
        row[f"mean_{SECOND[task]}"] = None if None in second else float(np.mean(second))


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def table(task: str, rows: dict[str, dict], soundfonts: Sequence[str]) -> str:
    """A markdown table: a row per method, a column per held-out SoundFont, then worst and mean. Tasks with a
    `SECOND` metric show "first / second" in each cell (worst: the fold worst by the first)."""
    metric, second = METRIC[task], SECOND.get(task)
    what = f"{metric} / {second}" if second else metric
    head = f"| {task}: {what} | " + " | ".join(f"held out: {sf}" for sf in soundfonts) + " | worst | mean |"
    lines = [head, "|---|" + "---:|" * (len(soundfonts) + 2)]
    for name, row in rows.items():
        cells = []
        for sf in soundfonts:
            f = row["folds"][sf]
            role = f.get("role")
            cells.append(_num(f[metric]) + (f" / {_num(f.get(second))}" if second else "")
                         + (f" ({role})" if role and role != "held out" else ""))
        worst, mean = _num(row["worst"]), _num(row["mean"])
        if second:
            worst += f" / {_num(row[f'worst_{second}'])}"
            mean += f" / {_num(row[f'mean_{second}'])}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {worst} ({row['worst_soundfont']}) | {mean} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("msdb", "irmas", "activations"), required=True)
    p.add_argument("--clips", required=True,
                   help="solo corpus rendered with every SoundFont (its metadata CSV has a soundfont column)")
    p.add_argument("--excerpts", help="irmas: folder of one IRMAS-test-layout folder per SoundFont")
    p.add_argument("--songs", help="activations: songs with stems of each SoundFont, a folder template with "
                                   "{sf} (e.g. /work/data/songs/act-{sf}) or a folder of one folder per SoundFont")
    p.add_argument("--mixes", type=int, default=1500, help="activations: training mixes per fold (default 1500)")
    p.add_argument("--frames-per-mix", type=int, default=40,
                   help="activations: frames of each training mix the probe is fitted on (default 40)")
    p.add_argument("--soundfonts", nargs="+", default=list(SOUNDFONTS), help="the LOSO SoundFonts (default: all four)")
    p.add_argument("--extra-clips", action="append", default=[], metavar="DIR",
                   help="msdb, irmas: another corpus of the same classes (e.g. rendered with freepats); its sources "
                        "named in --soundfonts are folds like the others, the rest are training data in every fold "
                        "and never held out; repeatable")
    p.add_argument("--embedders", nargs="+",
                   help="stats, musicnn:MSD_musicnn, musicnn:MTT_musicnn (default: all three; activations: "
                        "stats and musicnn:MTT_musicnn)")
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
    if args.task == "activations" and not args.songs:
        p.error("--task activations needs --songs")
    frames = args.task == "activations"
    if args.embedders is None:
        args.embedders = list(DEFAULT_FRAME_EMBEDDERS if frames else DEFAULT_EMBEDDERS)

    t0 = time.perf_counter()
    clips, classes = load_clips(args.clips)
    parts = [(Path(args.clips).resolve().name, len(clips))]
    if args.extra_clips and frames:
        p.error("--extra-clips is for --task msdb and irmas")
    for extra in args.extra_clips:
        more, more_classes = load_clips(extra)
        if more_classes != classes:
            p.error(f"{extra}: classes {more_classes} differ from {args.clips}'s {classes}")
        clips += more
        parts.append((Path(extra).resolve().name, len(more)))
    train_only = sorted({soundfont_of(r) for r in clips[parts[0][1]:]} - set(args.soundfonts))
    excerpts = load_excerpts(args.excerpts, args.soundfonts) if args.task == "irmas" else None
    songs = load_songs(args.songs, args.soundfonts) if frames else None
    corpus = Path(args.clips).resolve().name
    rows: dict[str, dict] = {}
    for name in args.embedders:
        if frames:
            rows[name] = activation_probe_folds(make_frames_embedder(name), clips, classes, songs, args.soundfonts,
                                                Path(args.cache), corpus, args.mixes, args.frames_per_mix)
            continue
        embedder = make_embedder(name, args.window_seconds)
        rows[name] = probe_folds(args.task, embedder, clips, classes, excerpts, args.soundfonts,
                                 Path(args.cache), parts, train_only)
    for recipe in args.recipe:
        name, _, template = recipe.partition("=")
        if not template or "{sf}" not in template:
            p.error(f"--recipe {recipe!r}: give NAME=RUN_TEMPLATE with {{sf}} in the template")
        rows[name] = recipe_folds(args.task, template, clips, excerpts, args.soundfonts, songs)
    if not args.no_shipped:
        rows[SHIPPED[args.task]] = shipped_folds(args.task, args.task, clips, excerpts, args.soundfonts, songs)
    for row in rows.values():
        add_worst_mean(args.task, row)

    md = table(args.task, rows, args.soundfonts)
    result = {"task": args.task, "metric": METRIC[args.task], "command": " ".join(sys.argv),
              "clips": str(args.clips), "n_clips": len(clips), "classes": classes,
              "extra_clips": args.extra_clips, "train_only": train_only,
              "excerpts": str(args.excerpts) if args.excerpts else None,
              "n_excerpts": {sf: len(v) for sf, v in excerpts.items()} if excerpts else None,
              "soundfonts": args.soundfonts, "window_seconds": args.window_seconds,
              "probe": f"StandardScaler + LogisticRegression(C={C}, max_iter={MAX_ITER})"
                       + (", one-vs-rest" if args.task != "msdb" else ", multinomial"),
              "stats_features": FRAMES if frames else STATS, "machine": machine(),
              "seconds": round(time.perf_counter() - t0, 1), "rows": rows, "table": md}
    if frames:
        result.update(songs=args.songs, n_songs={sf: len(v) for sf, v in songs.items()}, mixes_per_fold=args.mixes,
                      frames_per_mix=args.frames_per_mix, mix_seed=MIX_SEED, mix=repr(mix_config(FRAMES["window"])),
                      frame_targets="activation >= 0.5",
                      song_windows="47,616 samples every 23,808 (93 frames), Hann-weighted overlap-add "
                                   "(tfaudio.inference.plan)")
    if args.out:
        from tfaudio.io.outputs import write_text

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_text(args.out, json.dumps(result, indent=1) + "\n")
        write_text(Path(args.out).with_suffix(".md"), md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
