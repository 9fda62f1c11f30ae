"""`tfaudio corpus render`: the built-in SoundFont corpus (solo clips, songs with stems, excerpts)."""
from __future__ import annotations

import argparse

from tfaudio._checks import positive_int_arg
from tfaudio.cli.common import print_counts

# The commands import TensorFlow-backed modules inside their functions: `tfaudio --help` imports no TensorFlow.


def add_parser(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("corpus", help="the built-in SoundFont corpus")
    csub = c.add_subparsers(dest="corpus_command", metavar="ACTION")
    r = csub.add_parser("render", help="render a solo-instrument corpus in the Medley-Solos-DB layout")
    r.add_argument("out", help="output folder")
    r.add_argument("--soundfont", action="append", default=None, metavar="NAME_OR_PATH",
                   help="a General MIDI SoundFont: timgm6mb (pretty_midi's TimGM6mb.sf2, the default), gmbank, "
                        "opl3, merlin, freepats (GUS patches), or an .sf2/.sf3 path or patch folder; repeat it to render "
                        "every class with each "
                        "(--per-class clips per class and SoundFont)")
    r.add_argument("--per-class", type=positive_int_arg, default=20,
                   help="clips per class and SoundFont (default: %(default)s)")
    r.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    r.add_argument("--programs", type=_programs, default=None,
                   help="comma-separated GM programs (0-127) instead of the 8 Medley-Solos-DB classes")
    r.add_argument("--sr", type=positive_int_arg, default=22050, help="sample rate (default: %(default)s)")
    r.add_argument("--samples", type=positive_int_arg, default=65536, help="samples per clip (default: %(default)s)")
    r.add_argument("--songs", type=positive_int_arg, default=None,
                   help="render N songs with per-instrument stems (format stems: SONG/mix.wav, SONG/stems/*.wav) "
                        "instead of the solo corpus")
    r.add_argument("--song-seconds", type=float, default=20.0, help="seconds per song (default: %(default)s)")
    r.add_argument("--classes", choices=["msdb", "irmas"], default="msdb",
                   help="the instrument classes: Medley-Solos-DB's 8 or IRMAS's 11 by code (default: %(default)s)")
    r.add_argument("--excerpts", choices=["irmas"], default=None,
                   help="with --songs: cut the songs into multi-instrument excerpts in IRMAS's testing layout "
                        "(WAV + tab-separated label .txt, 1-4 labels) instead of keeping the stems")


def _programs(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated GM program numbers, got {text!r}") from None


def cmd_corpus_render(args: argparse.Namespace) -> int:
    from tfaudio.data import corpus, datasets, multitrack, phrases

    from tfaudio.errors import TfaudioError

    instruments = corpus.instrument_set(args.classes)
    if args.programs:
        instruments = tuple(phrases.gm_instrument(p) for p in args.programs)
    fonts = args.soundfont or [corpus.DEFAULT_SOUNDFONT]
    if args.excerpts and not args.songs:
        raise TfaudioError("--excerpts cuts rendered songs: give --songs N too")
    if args.songs and args.excerpts == "irmas":  # multi-label excerpts, for `tfaudio evaluate --format irmas`
        if len(fonts) > 1:
            raise TfaudioError(f"--songs renders with one SoundFont, got {len(fonts)}: {', '.join(fonts)}")
        n = multitrack.render_irmas_excerpts(args.out, args.songs, args.song_seconds, instruments, seed=args.seed,
                                         sr=args.sr, soundfont=fonts[0], progress=not args.quiet)
        records = datasets.irmas(args.out, "test")
        print(f"rendered {n} multi-instrument excerpts of {args.songs} songs in IRMAS's testing layout into "
              f"{args.out}")
        print_counts(datasets.summary(records))
        return 0
    if args.songs:  # songs with stems, for `tfaudio evaluate --format stems`
        if len(fonts) > 1:
            raise TfaudioError(f"--songs renders with one SoundFont, got {len(fonts)}: {', '.join(fonts)}")
        multitrack.render_songs(args.out, args.songs, args.song_seconds, instruments, seed=args.seed, sr=args.sr,
                            soundfont=fonts[0], progress=not args.quiet)
        records = datasets.from_stems(args.out)
        print(f"rendered {args.songs} songs of {args.song_seconds:g} s with stems into {args.out}")
        print_counts(datasets.summary(records))
        return 0
    meta = corpus.render_corpus(args.out, instruments, per_class=args.per_class, seed=args.seed,
                                soundfonts=fonts, sr=args.sr, n_samples=args.samples, progress=not args.quiet)
    records = datasets.medley_solos_db(args.out)
    counts = datasets.summary(records)
    print(f"rendered {len(records)} clips into {args.out} (metadata: {meta})")
    print_counts(counts)
    # clips per SoundFont (each has --per-class clips of every class) and the GM programs that played them
    subsets = list(counts)
    names = list(dict.fromkeys(str(r.meta.get("soundfont", "")) for r in records))
    width = max([len(n) for n in names] + [9])
    print(f"\n{'soundfont':<{width}}  " + "  ".join(f"{s:>10}" for s in subsets) + f"  {'total':>7}  programs")
    for name in names:
        mine = [r for r in records if r.meta.get("soundfont") == name]
        row = [sum(r.subset == s for r in mine) for s in subsets]
        programs = sorted({int(r.meta["program"]) for r in mine if str(r.meta.get("program", "")).isdigit()})
        print(f"{name:<{width}}  " + "  ".join(f"{n:>10}" for n in row) + f"  {sum(row):>7}  "
              + ",".join(str(p) for p in programs))
    return 0
