"""Separation (issue 25): SDR/SIR/SAR of plain NMF, guided by predicted activations, guided by true ones.

    python benchmarks/separation.py --songs 8 --out benchmarks/results/separation.json \\
        timgm6mb=songs/act-timgm6mb gmbank=songs/act-gmbank opl3=songs/act-opl3 merlin=songs/act-merlin

Each NAME=FOLDER is a folder of songs with stems (`tfaudio corpus render FOLDER --songs N --soundfont NAME`);
the first `--songs` of each are separated with the model's instruments (default: the pretrained
`activations`, trained on timgm6mb) and scored with `mir_eval.separation` (BSS Eval v3, at the songs' rate).
Prints one markdown table (mean over the (song, instrument) pairs) and writes every number as JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

from tfaudio.separation import SeparationConfig
from tfaudio.separation.metrics import MODES, evaluate_separation

ROWS = {"plain": "plain NMF (same templates, no guidance)", "predicted": "guided by predicted activations",
        "true": "guided by true activations (upper bound)"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sets", nargs="+", metavar="NAME=FOLDER")
    p.add_argument("--model", default="activations")
    p.add_argument("--songs", type=int, default=8, help="songs per folder (default: %(default)s)")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--threshold", type=float, default=SeparationConfig().threshold)
    p.add_argument("--iterations", type=int, default=SeparationConfig().iterations)
    p.add_argument("--dilate", type=float, default=SeparationConfig().dilate_seconds,
                   help="seconds either side an activation counts (default: %(default)s)")
    p.add_argument("--penalty", type=float, default=SeparationConfig().penalty,
                   help="weighted guidance: L1 cost on the gains where the model says silent (default: "
                        "%(default)s); --hard: hard gates instead")
    p.add_argument("--hard", action="store_true", help="hard gates: gains zero where the model says silent")
    p.add_argument("--adapt-templates", action="store_true", help="update the templates on each mix too")
    p.add_argument("--out", default=None, help="JSON of every number")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = dataclasses.replace(SeparationConfig(), threshold=args.threshold, iterations=args.iterations,
                                 adapt_templates=args.adapt_templates,
                                 penalty=None if args.hard else args.penalty,
                                 dilate_seconds=args.dilate)
    modes = args.modes.split(",")
    results = {}
    for item in args.sets:
        name, folder = item.split("=", 1)
        t = time.perf_counter()
        results[name] = evaluate_separation(args.model, folder, config, modes, max_songs=args.songs)
        results[name]["folder"] = folder
        results[name]["seconds_taken"] = time.perf_counter() - t
        print(f"{name}: {results[name]['n_songs']} songs in {results[name]['seconds_taken']:.0f} s", flush=True)
    names = list(results)
    print(f"\nmodel {args.model}, threshold {config.threshold:g}, penalty {config.penalty}, dilate {config.dilate_seconds:g} s, {config.iterations} iterations, "
          f"{config.components} templates per instrument{' (adapted to each mix)' if config.adapt_templates else ''}; SDR / SIR / SAR in dB, mean over (song, instrument)\n")
    print("| mode | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for mode in modes:
        cells = []
        for n in names:
            m = results[n]["modes"][mode]["mean"]
            cells.append(f"{m['sdr']:.2f} / {m['sir']:.2f} / {m['sar']:.2f}")
        print(f"| {ROWS[mode]} | " + " | ".join(cells) + " |")
    if "plain" in modes and "predicted" in modes:
        gains = [results[n]["modes"]["predicted"]["mean"]["sdr"] - results[n]["modes"]["plain"]["mean"]["sdr"]
                 for n in names]
        print("| SDR gain, predicted - plain | " + " | ".join(f"{g:+.2f}" for g in gains) + " |")
    print("\nper instrument, SDR (plain / predicted / true):")
    for n in names:
        per = {mode: results[n]["modes"][mode]["per_instrument"] for mode in modes}
        insts = sorted(per[modes[0]])
        print(f"  {n}: " + "; ".join(f"{i} " + " / ".join(f"{per[m][i]['sdr']:.1f}" for m in modes) +
                                     f" (n={per[modes[0]][i]['n']})" for i in insts))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"model": args.model, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
