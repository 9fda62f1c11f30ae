"""Does an added source help because of its timbres or only because it adds clips? An equal-size control for
`transfer.py --extra-clips` (issue 21, item 5).

For each leave-one-SoundFont-out fold of the msdb task, the linear probe of `transfer.py` is fitted on

* ``full3``: every clip of the other three SoundFonts (960: `transfer.py`'s own fold);
* ``3q``: 30 of the 40 clips per class and SoundFont of those three (720), drawn at random;
* ``3q+extra``: the same 720 plus 30 clips per class of the extra corpus (240): as many clips as ``full3``, a
  quarter of them replaced by the extra source,

and scored on every clip of the held-out SoundFont; ``3q`` and ``3q+extra`` are the mean and standard deviation
over `--draws` seeded draws. Embeddings come from `transfer.py`'s cache.

    python benchmarks/transfer_equal_size.py --clips /work/data/msdb4 --extra-clips /work/data/msdb-freepats \\
        --out benchmarks/results/transfer_msdb_freepats_equal_size.json
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _transfer():
    spec = importlib.util.spec_from_file_location("transfer", HERE / "transfer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["transfer"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", required=True)
    p.add_argument("--extra-clips", required=True)
    p.add_argument("--embedders", nargs="+",
                   default=["stats", "musicnn:MTT_musicnn:cnn", "musicnn:MTT_musicnn", "musicnn:MSD_musicnn"])
    p.add_argument("--per-class", type=int, default=30, help="clips per class and source drawn (default 30)")
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--cache", default="/work/data/cache")
    p.add_argument("--out")
    args = p.parse_args(argv)
    from tfaudio.data.datasets import encode_labels

    t = _transfer()
    clips, classes = t.load_clips(args.clips)
    more, _ = t.load_clips(args.extra_clips)
    records = clips + more
    parts = [(Path(args.clips).resolve().name, len(clips)), (Path(args.extra_clips).resolve().name, len(more))]
    sf = np.array([t.soundfont_of(r) for r in records])
    y = encode_labels(records, classes, "int")
    extra = np.arange(len(records)) >= len(clips)
    rows: dict[str, dict] = {}
    for name in args.embedders:
        x, _, _ = t.embed_parts(t.make_embedder(name, 3.0), records, parts, Path(args.cache))
        for held in t.SOUNDFONTS:
            test = np.flatnonzero(sf == held)
            three = np.isin(sf, [s for s in t.SOUNDFONTS if s != held]) & ~extra

            def score(train: np.ndarray) -> float:
                return float((t.fit_probe(x[train], y[train]).predict(x[test]) == y[test]).mean())

            def draw(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
                return np.concatenate([rng.choice(np.flatnonzero(mask & (y == c) & (sf == s)), args.per_class,
                                                  replace=False)
                                       for c in range(len(classes)) for s in sorted(set(sf[mask]))])

            q, qe = [], []
            for seed in range(args.draws):
                rng = np.random.default_rng(seed)
                base = draw(three, rng)
                q.append(score(base))
                qe.append(score(np.concatenate([base, draw(extra, rng)])))
            rows[f"{name} | {held}"] = {"full3": score(np.flatnonzero(three)),
                                        "3q": [float(np.mean(q)), float(np.std(q))],
                                        "3q+extra": [float(np.mean(qe)), float(np.std(qe))]}
            r = rows[f"{name} | {held}"]
            print(f"| {name} | {held} | {r['full3']:.3f} | {r['3q'][0]:.3f} ± {r['3q'][1]:.3f} | "
                  f"{r['3q+extra'][0]:.3f} ± {r['3q+extra'][1]:.3f} |", flush=True)
    if args.out:
        from tfaudio.io.outputs import write_text

        write_text(args.out, json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
