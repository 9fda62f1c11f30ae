"""Songs with per-instrument stems: reference activations from the stems (`song_reference`), whole-song
prediction, frame and segment metrics (`evaluate_songs`, `evaluate_songs_and_report`).
"""
from __future__ import annotations

import logging

import dataclasses
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tfaudio.errors import DatasetError
from tfaudio.spec import RunSpec
from tfaudio.evaluation.metrics import activation_metrics, polyphonic_detection, segment_metrics, threshold_free_metrics
from tfaudio.evaluation.report import write_report
from tfaudio.data.labels import activations
from tfaudio.errors import AudioFileError
from tfaudio.inference import predict_audio, predictor
from tfaudio.io import plots
from tfaudio.io.audio import load

log = logging.getLogger(__name__)


def _normalised_name(name: str) -> str:
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


def class_index(name: str, classes: Sequence[str]) -> int | None:
    """The index of instrument `name` among `classes` (exact, else ignoring case, ``_`` and ``-``), or None."""
    if name in classes:
        return list(classes).index(name)
    wanted = _normalised_name(name)
    for i, c in enumerate(classes):
        if _normalised_name(c) == wanted:
            return i
    return None


@dataclasses.dataclass(frozen=True, eq=False)
class Song:
    """One evaluated song: `predicted` and `reference` `(instruments, frames)`, `playing` `(frames,)`
    (the instrument playing alone, counting stems of every instrument, -1 elsewhere), `info` (JSON-able)."""

    name: str
    predicted: np.ndarray
    reference: np.ndarray
    playing: np.ndarray
    samples: int
    info: dict


def song_reference(record: Any, spec: RunSpec, samples: int | None = None, ref: float = 1.0,
                   range_db: float = 60.0, mix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Reference activations of a "stems" record (`tfaudio.data.datasets.from_stems`) at the run's rate and hop.

    Each instrument's stems, as they are in the mix (no level scaling: they are the reference), are
    loaded at `spec.sr`, summed, padded or cut to `samples` (default: the first stem's length) and
    turned into `tfaudio.data.labels.activations` with the features' `n_fft` / `hop_length`, `ref` and
    `range_db`, as training labels its mixes. Returns (reference `(classes, frames)`, playing
    `(frames,)`, info): stems of instruments outside the run's classes get no row but count for
    `playing` (a frame is an instrument's solo frame only if no other stem is active: activation > 0)
    and are listed in info["unknown_instruments"]; info["mix_residual_db"] (with `mix`) is the level
    of ``mix - sum(stems)`` relative to the mix.
    """
    classes = list(spec.classes)
    f = spec.features
    groups: dict[Any, list[str]] = {}
    unknown: list[str] = []
    for inst, paths in dict(record.meta.get("stems") or {}).items():
        k = class_index(inst, classes)
        if k is None:
            unknown.append(inst)
            k = f"?{inst}"
        groups.setdefault(k, []).extend(paths)
    if not groups:
        raise DatasetError(record.path, "song has no stems")
    reference = None
    rows: list[np.ndarray] = []
    total = None
    info: dict[str, Any] = {"instruments": sorted(classes[k] for k in groups if isinstance(k, int)),
                            "unknown_instruments": sorted(unknown)}
    for key, paths in groups.items():
        y = None
        for path in paths:
            s, _ = load(path, sr=spec.sr)
            if samples is None:
                samples = len(s)
            if abs(len(s) - samples) > f.hop_length:
                log.warning("%s: %d samples at %d Hz, the mix has %d; padded or cut to the mix", path, len(s),
                            spec.sr, samples)
            s = np.pad(s, (0, max(0, samples - len(s))))[:samples]
            y = s if y is None else y + s
        total = y.copy() if total is None else total + y
        a = activations(y[None], frame_length=f.n_fft, hop_length=f.hop_length, ref=ref, top_db=range_db).numpy()[0]
        if reference is None:
            reference = np.zeros((len(classes), a.shape[0]), np.float32)
        if isinstance(key, int):
            reference[key] = a
        rows.append(a)
    on = np.stack(rows) > 0
    solo = on.sum(axis=0) == 1
    owner = np.argmax(on, axis=0)
    index = np.array([k if isinstance(k, int) else -1 for k in groups])
    playing = np.where(solo, index[owner], -1).astype(np.int64)
    if mix is not None:
        m = np.asarray(mix, np.float64)[:samples]
        rms_mix = float(np.sqrt(np.mean(m ** 2))) if m.size else 0.0
        rms_res = float(np.sqrt(np.mean((m - total[:len(m)]) ** 2))) if m.size else 0.0
        info["mix_residual_db"] = (max(-200.0, 20 * math.log10(max(rms_res, 1e-30) / rms_mix)) if rms_mix > 0
                                   else None)
        if info["mix_residual_db"] is not None and info["mix_residual_db"] > -20:
            log.warning("%s: the stems do not add up to the mix (residual %.1f dB re the mix)", record.path,
                        info["mix_residual_db"])
    return reference, playing, info


def collect_songs(model: Any, spec: RunSpec, records: Sequence[Any], ref: float = 1.0, range_db: float = 60.0,
                  strict: bool = False, batch_windows: int = 64) -> tuple[list[Song], list[tuple[str, str]]]:
    """Predict every song of `records` (format "stems") whole and compute its reference from its stems.

    The mix is loaded at `spec.sr` and predicted with `tfaudio.inference.predict_audio` (sliding windows,
    overlap-add); the reference is `song_reference`. A song whose audio cannot be decoded is skipped
    (logged, returned in the skipped list) or, with `strict`, raises its AudioFileError.
    Returns (songs, skipped (path, problem) pairs).
    """
    if spec.task != "activation":
        raise DatasetError(None, f"songs with stems evaluate activation runs, not {spec.task} runs")
    p = predictor(model, spec, batch_windows)
    songs: list[Song] = []
    skipped: list[tuple[str, str]] = []
    for rec in records:
        name = str(rec.meta.get("song") or Path(rec.path).parent.name)
        try:
            mix, _ = load(rec.path, sr=spec.sr)
            pred = predict_audio(p, None, mix, source=rec.path).activations
            reference, playing, info = song_reference(rec, spec, len(mix), ref, range_db, mix=mix)
        except AudioFileError as e:
            if strict:
                raise
            log.warning("skipped song %s: %s", name, e)
            skipped.append((e.path or rec.path, e.problem))
            continue
        t = pred.shape[1]
        if reference.shape[1] != t:  # both are 1 + samples // hop_length: only a mismatch of lengths
            reference = np.pad(reference, ((0, 0), (0, max(0, t - reference.shape[1]))))[:, :t]
            playing = np.pad(playing, (0, max(0, t - len(playing))), constant_values=-1)[:t]
        info.update(song=name, path=rec.path, subset=rec.subset, seconds=len(mix) / spec.sr, frames=t)
        songs.append(Song(name, pred, reference, playing, len(mix), info))
    return songs, skipped


def song_metrics(songs: Sequence[Song], spec: RunSpec, threshold: float | None = None, range_db: float = 60.0,
                 segment_seconds: float = 1.0) -> dict[str, Any]:
    """All metrics of evaluated songs: `activation_metrics` (BCE, frame F1, seed 001's noise and leakage
    matrices), `threshold_free_metrics` (AUC-ROC, AP, LRAP), `segment_metrics` (segment-based F1 and
    error rate) and "polyphony_frames" (frames by the number of instruments with a reference activation
    >= threshold), plus "per_song" details."""
    if not songs:
        raise DatasetError(None, "no songs to evaluate")
    t = spec.threshold if threshold is None else float(threshold)
    classes = list(spec.classes)
    hop_s = spec.features.hop_length / spec.sr
    p = np.concatenate([s.predicted for s in songs], axis=1)
    r = np.concatenate([s.reference for s in songs], axis=1)
    out: dict[str, Any] = {"task": "activation", "data_format": "stems", "classes": classes,
                           "n_examples": len(songs), "sr": spec.sr, "hop_length": spec.features.hop_length,
                           "seconds": float(sum(s.samples for s in songs) / spec.sr)}
    out.update(activation_metrics([s.predicted for s in songs], [s.reference for s in songs],
                                  [s.playing for s in songs], classes, t, range_db))
    out.update(threshold_free_metrics(p, r, classes, t))
    out.update(segment_metrics([s.predicted for s in songs], [s.reference for s in songs], classes, hop_s, t,
                               segment_seconds, durations=[s.samples / spec.sr for s in songs]))
    poly = (r >= t).sum(axis=0)
    out["polyphony_frames"] = {str(k): int(np.sum(poly == k)) for k in range(int(poly.max()) + 1)}
    out.update(polyphonic_detection(p, r, t))
    per_song = []
    for s in songs:
        eps = 1e-7
        q = np.clip(s.predicted.astype(np.float64), eps, 1 - eps)
        bce = -np.mean(s.reference * np.log(q) + (1 - s.reference) * np.log(1 - q))
        per_song.append({**s.info, "bce": float(bce),
                         "max_polyphony": int((s.reference >= t).sum(axis=0).max(initial=0))})
    out["per_song"] = per_song
    unknown = sorted({u for s in songs for u in s.info.get("unknown_instruments", [])})
    if unknown:
        out["unknown_instruments"] = unknown
    return out


def evaluate_songs(model: Any, spec: RunSpec, records: Sequence[Any], threshold: float | None = None,
                   ref: float = 1.0, range_db: float = 60.0, segment_seconds: float = 1.0,
                   strict: bool = False) -> dict[str, Any]:
    """Evaluate an activation run on songs with per-instrument stems (`tfaudio.data.datasets.from_stems`
    records): `collect_songs` then `song_metrics`. JSON-able metrics dict."""
    songs, skipped = collect_songs(model, spec, records, ref, range_db, strict)
    metrics = song_metrics(songs, spec, threshold, range_db, segment_seconds)
    metrics["skipped"] = [{"path": p, "problem": m} for p, m in skipped]
    return metrics


def evaluate_songs_and_report(model: Any, spec: RunSpec, records: Sequence[Any], out_dir: str | os.PathLike,
                              threshold: float | None = None, ref: float = 1.0, range_db: float = 60.0,
                              segment_seconds: float = 1.0, strict: bool = False, n_examples: int = 3,
                              history_csv: str | os.PathLike | None = None,
                              split: str | None = None) -> tuple[dict[str, Any], list[Path]]:
    """`evaluate_songs` + `write_report` (metrics.json, noise/leakage matrices, the first `n_examples`
    songs' reference vs predicted activations, training curves) + "per_class_auc.png" and
    "per_class_ap.png". Returns (metrics, written files)."""
    songs, skipped = collect_songs(model, spec, records, ref, range_db, strict)
    metrics = song_metrics(songs, spec, threshold, range_db, segment_seconds)
    metrics["skipped"] = [{"path": p, "problem": m} for p, m in skipped]
    metrics["split"] = split
    examples = [{"reference": s.reference, "predicted": s.predicted, "title": s.name} for s in songs[:n_examples]]
    files = write_report(metrics, out_dir, history_csv=history_csv, examples=examples)
    classes = metrics["classes"]
    out = Path(out_dir)
    for key, name, what, avg in (("auc_roc", "per_class_auc.png", "AUC-ROC", "auc_roc_macro"),
                                 ("ap", "per_class_ap.png", "average precision", "map")):
        vals = [np.nan if metrics[key][c] is None else metrics[key][c] for c in classes]
        mean = metrics[avg]
        files.append(plots.plot_scores(vals, classes, out / name, title=f"{what} per instrument (mean "
                                       f"{'n/a' if mean is None else f'{mean:.3f}'})"))
    return metrics, files


def songs_summary(metrics: dict[str, Any], split: str | None = None) -> str:
    """A few lines for the command line: what was evaluated, and the key song metrics."""
    def f(key: str) -> str:
        v = metrics.get(key)
        return "n/a" if v is None else f"{v:.3f}"

    poly = metrics.get("polyphony_frames", {})
    lines = [f"evaluated {metrics['n_examples']} song(s), {metrics['seconds']:.1f} s, split "
             f"{split if split is not None else 'all songs'} (stems):",
             f"  AUC-ROC macro {f('auc_roc_macro')}  mAP {f('map')}  LRAP {f('lrap')}",
             f"  segment ({metrics['segment_seconds']:g} s) F1 {f('segment_f1')}  ER {f('segment_error_rate')}"
             f"  (S {f('segment_substitution_rate')}, D {f('segment_deletion_rate')}, "
             f"I {f('segment_insertion_rate')})",
             f"  bce {f('bce')}  frame F1 {f('frame_f1')}  (threshold {metrics['threshold']:g})",
             "  frames by instruments playing: " + ", ".join(f"{k}: {v}" for k, v in poly.items())]
    for key, what in (("noise_matrix_db", "noise"), ("leakage_matrix_db", "leakage")):
        m = np.array([[np.nan if v is None else v for v in row] for row in metrics.get(key, [])], dtype=float)
        if m.size and np.isfinite(m).any():
            lines.append(f"  {what}: mean {np.nanmean(m):.1f} dB over {int(np.isfinite(m).sum())} cells "
                         f"(-{metrics['range_db']:g} dB = none)")
        else:
            lines.append(f"  {what}: n/a (no instrument plays alone)")
    if metrics.get("unknown_instruments"):
        lines.append(f"  stems outside the run's classes (mixed in, no reference row): "
                     f"{', '.join(metrics['unknown_instruments'])}")
    if metrics.get("skipped"):
        lines.append(f"  skipped {len(metrics['skipped'])} song(s): " +
                     "; ".join(f"{s['path']}: {s['problem']}" for s in metrics["skipped"]))
    return "\n".join(lines)
