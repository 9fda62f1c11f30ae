"""`tfaudio info`: what a model is (any saved form)."""
from __future__ import annotations

import argparse
import json

from tfaudio.cli.common import MODEL_HELP, TRUST_HELP

# The commands import TensorFlow-backed modules inside their functions: `tfaudio --help` imports no TensorFlow.


def add_parser(sub: argparse._SubParsersAction) -> None:
    i = sub.add_parser("info", help="what a model is (any saved form): classes, rate, window, features, task, "
                                    "thresholds, version, training data")
    i.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    i.add_argument("--json", action="store_true", help="print the whole metadata as JSON")
    i.add_argument("--latency", action="store_true", help="also measure the time per window on this machine")
    i.add_argument("--which", default="best", help="checkpoint: best, last or a .keras path (default: best)")
    i.add_argument("--trust-model", action="store_true", help=TRUST_HELP)


def cmd_info(args: argparse.Namespace) -> int:
    from tfaudio.deploy.loading import open_model

    loaded = open_model(args.model, args.which, trust=args.trust_model)
    meta = dict(loaded.metadata)
    if args.latency:
        from tfaudio.deploy.export import latency

        meta["latency"] = latency(loaded.model, loaded.spec)
    if args.json:
        print(json.dumps(meta, indent=2, sort_keys=True))
        return 0
    print(_info_text(loaded, meta))
    return 0


def _info_text(loaded, meta: dict) -> str:
    """`tfaudio info`'s summary of a model's metadata."""
    f = meta.get("features") or {}
    lines = [f"model:       {loaded.description}",
             f"task:        {meta['task']}",
             f"classes:     {len(meta['classes'])}: {', '.join(meta['classes'])}",
             f"sample rate: {meta['sr']} Hz",
             f"window:      {meta['window']} samples ({meta['window'] / meta['sr']:.3f} s), hop {meta['hop']} samples"]
    if meta.get("frames_per_window"):
        lines.append(f"frames:      {meta['frames_per_window']} per window, every {meta['hop_length']} samples "
                     f"({meta['hop_length'] / meta['sr'] * 1000:.1f} ms); windows stitched by {meta['aggregation']}")
    else:
        lines.append(f"clip scores: {meta['aggregation']}")
    keys = {"log_mel": ("n_fft", "hop_length", "n_mels", "fmin", "fmax", "top_db"),
            "log10_mel": ("n_fft", "hop_length", "n_mels", "fmin", "fmax"),
            "mel": ("n_fft", "hop_length", "n_mels", "fmin", "fmax"),
            "mfcc": ("n_fft", "hop_length", "n_mels", "n_mfcc", "fmin", "fmax"),
            "stft": ("n_fft", "hop_length", "scale", "top_db"),
            "cqt": ("hop_length", "n_bins", "bins_per_octave", "fmin", "scale", "top_db")}.get(f.get("kind"), ())
    feats = ", ".join(f"{k} {f[k]}" for k in keys if k in f)
    lines.append(f"features:    {f.get('kind')} ({feats}); model input {meta.get('model_input')}"
                 + (f"; front end {meta['front_end']}" if meta.get("front_end") else ""))
    if meta["task"] == "multi_label":
        th = ", ".join(f"{c} {t:.3f}" for c, t in zip(meta["classes"], meta.get("thresholds") or []))
        lines.append(f"thresholds:  {th} ({meta.get('threshold_source') or 'default'})")
    else:
        lines.append(f"threshold:   {meta.get('threshold')}")
    if meta.get("quantize") is not None:
        ops = f"needs select TF ops {meta.get('flex_ops')}" if meta.get("select_tf_ops") else "builtin ops only"
        lines.append(f"quantize:    {meta['quantize']}: {meta.get('quantization', '')}; {ops}")
    if meta.get("front_end_note"):
        lines.append(f"front end:   {meta['front_end_note']}")
    if (meta.get("check") or {}).get("max_abs_diff") is not None:
        lines.append(f"check:       max |difference| from the Keras model {meta['check']['max_abs_diff']:.2g} "
                     f"({meta['check'].get('probe', '')})")
    if loaded.path.is_file():
        lines.append(f"file size:   {loaded.path.stat().st_size / 2**20:.2f} MB")
    lines.append(f"tfaudio:     {meta.get('tfaudio_version')} ({meta.get('format')})")
    t = meta.get("training_data")
    if t:
        corpus = t.get("corpus") or {}
        data = f"{t.get('data_root')} ({t.get('data_format')})"
        if corpus:
            data += (f": {corpus.get('per_class')} clips per class, SoundFonts {', '.join(corpus.get('soundfonts') or [])}"
                     + (f", validation on {', '.join(corpus['val_soundfonts'])}" if corpus.get("val_soundfonts") else "")
                     + (f", test on {', '.join(corpus['test_soundfonts'])}" if corpus.get("test_soundfonts") else ""))
        lines.append(f"trained on:  {data}; pipeline {t.get('pipeline')}, model {t.get('model')}, "
                     f"{t.get('epochs')} epochs" + (f"; card {t['pretrained']['card']}" if t.get("pretrained") else ""))
        if t.get("backbone"):
            b = t["backbone"]
            lines.append(f"backbone:    {b['name']}: {b['network']}, trained on {b['trained_on']}; "
                         f"licence {b['licence']}")
    else:
        lines.append("trained on:  unknown (exported without its run folder)")
    if meta.get("latency"):
        lat = meta["latency"]
        lines.append(f"latency:     {lat['median_ms']:.2f} ms per window (median of {lat['repeats']}, "
                     f"p90 {lat['p90_ms']:.2f} ms) on this machine")
    return "\n".join(lines)
