"""Separation measured as the field measures it: SDR, SIR and SAR (BSS Eval v3, `mir_eval.separation`).

    metrics = evaluate_separation("activations", "songs/act-gmbank")     # songs with stems
    metrics["modes"]["predicted"]["mean"]                                # {"sdr": ..., "sir": ..., "sar": ...}

Three modes, the same templates and masks: "plain" (NMF with no activation guidance, the baseline),
"predicted" (gated by the model's activations) and "true" (gated by the activations of the song's own stems,
`tfaudio.evaluation.songs.song_reference`: the upper bound the model's errors leave).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tfaudio.errors import DatasetError
from tfaudio.data.datasets import from_stems
from tfaudio.evaluation.songs import class_index, song_reference
from tfaudio.io.audio import load
from tfaudio.io.resample import resample
from tfaudio.separation.config import SeparationConfig
from tfaudio.separation.separate import Separator

log = logging.getLogger(__name__)

MODES = ("plain", "predicted", "true")
METRICS = ("sdr", "sir", "sar")


def separation_metrics(references: np.ndarray, estimates: np.ndarray) -> dict[str, np.ndarray]:
    """SDR, SIR, SAR (dB) `(sources,)` of `estimates` against `references`, both `(sources, samples)`, in the
    same order (no permutation search). A silent source gets a faint noise floor (1e-9) so that it scores
    very low instead of failing (`mir_eval` refuses silent sources)."""
    from mir_eval.separation import bss_eval_sources  # lazy: separation metrics only

    ref = np.asarray(references, np.float64)
    est = np.array(estimates, np.float64, copy=True)
    n = min(ref.shape[1], est.shape[1])
    ref, est = ref[:, :n], est[:, :n]
    rng = np.random.default_rng(0)
    for x in (ref, est):
        for row in x:
            if not np.any(row):
                row += 1e-9 * rng.standard_normal(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mir_eval 0.8 marks bss_eval deprecated (museval's v4 next)
        sdr, sir, sar, _ = bss_eval_sources(ref, est, compute_permutation=False)
    return {"sdr": sdr, "sir": sir, "sar": sar}


def _stems(record: Any, classes: Sequence[str], sr: int, samples: int) -> tuple[list[int], np.ndarray, list[str]]:
    """The song's stems of the model's instruments: (class indices, `(k, samples)` at `sr`, unknown names)."""
    groups: dict[int, np.ndarray] = {}
    unknown = []
    for inst, paths in dict(record.meta.get("stems") or {}).items():
        k = class_index(inst, classes)
        if k is None:
            unknown.append(inst)
            continue
        for path in paths:
            y, _ = load(path, sr=sr)
            y = np.pad(y, (0, max(0, samples - len(y))))[:samples]
            groups[k] = groups.get(k, 0) + y
    if not groups:
        raise DatasetError(record.path, "song has no stems of the model's instruments")
    order = sorted(groups)
    return order, np.stack([groups[k] for k in order]), unknown


def evaluate_separation(model: Any, songs: str | os.PathLike | Sequence[Any],
                        config: SeparationConfig = SeparationConfig(), modes: Sequence[str] = MODES,
                        max_songs: int | None = None, cache: str | os.PathLike | None = None) -> dict[str, Any]:
    """SDR/SIR/SAR per instrument of each mode in `modes` (of `MODES`) on songs with stems (a folder in the
    layout `tfaudio corpus render DIR --songs N` writes, or `tfaudio.data.datasets.from_stems` records).

    Each song's mix is separated into the model's instruments; the estimates of the instruments the song has
    are scored against its stems (summed per instrument) with `separation_metrics`, at the mix's rate.
    Returns a JSON-able dict: "modes" {mode: {"per_instrument": {name: {"sdr", "sir", "sar", "n"}},
    "mean": {"sdr", "sir", "sar"} over all (song, instrument) pairs}}, "per_song", "config", "n_songs".
    """
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise DatasetError(None, f"separation modes must be among {MODES}, got {list(modes)}")
    records = from_stems(songs) if isinstance(songs, (str, os.PathLike)) else list(songs)
    records = records[:max_songs] if max_songs else records
    if not records:
        raise DatasetError(songs if isinstance(songs, (str, os.PathLike)) else None, "no songs with stems")
    sep = Separator(model, config, cache=cache)
    spec = sep.model.spec
    classes = sep.classes
    guidance = {"plain": "none", "predicted": "given", "true": "given"}
    per_song = []
    for rec in records:
        name = str(rec.meta.get("song") or Path(rec.path).parent.name)
        mix, sr = load(rec.path)
        order, refs, unknown = _stems(rec, classes, sr, len(mix))
        acts: dict[str, tuple[Any, Any]] = {"plain": (None, None)}
        if "predicted" in modes:
            acts["predicted"] = sep.predict(path=rec.path)
        if "true" in modes:
            at_spec = mix if sr == spec.sr else np.asarray(resample(np.asarray(mix, np.float32), int(sr), int(spec.sr)))
            reference, _, _ = song_reference(rec, spec, len(at_spec))
            acts["true"] = (reference, np.arange(reference.shape[1]) * spec.features.hop_length / spec.sr)
        for mode in modes:
            sep.config = dataclasses.replace(config, guidance=guidance[mode])
            result = sep.separate(mix, sr, *acts[mode])
            m = separation_metrics(refs, result.stems[order])
            per_song.append({"song": name, "path": str(rec.path), "mode": mode,
                             "instruments": [classes[k] for k in order], "unknown_instruments": unknown,
                             **{k: [float(v) for v in m[k]] for k in METRICS}})
            log.info("%s %s: SDR %s", name, mode, " ".join(f"{v:.1f}" for v in m["sdr"]))
    sep.config = config
    return {"modes": {mode: _summary([s for s in per_song if s["mode"] == mode], classes) for mode in modes},
            "per_song": per_song, "config": dataclasses.asdict(config), "n_songs": len(records),
            "classes": list(classes)}


def _summary(rows: list[dict[str, Any]], classes: Sequence[str]) -> dict[str, Any]:
    per: dict[str, Any] = {}
    for c in classes:
        vals = {k: [r[k][r["instruments"].index(c)] for r in rows if c in r["instruments"]] for k in METRICS}
        if vals["sdr"]:
            per[c] = {**{k: float(np.mean(v)) for k, v in vals.items()}, "n": len(vals["sdr"])}
    mean = {k: float(np.mean([v for r in rows for v in r[k]])) for k in METRICS}
    median = {k: float(np.median([v for r in rows for v in r[k]])) for k in METRICS}
    return {"per_instrument": per, "mean": mean, "median": median, "n": sum(len(r["sdr"]) for r in rows)}
