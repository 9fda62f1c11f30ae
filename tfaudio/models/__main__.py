"""`python -m tfaudio.models [PATH]`: the models table (markdown) at the seeds' sizes, to PATH or stdout."""
from __future__ import annotations

import sys
from pathlib import Path

from tfaudio.models import summary_table


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    table = summary_table()
    if argv:
        from tfaudio.io import outputs

        Path(argv[0]).parent.mkdir(parents=True, exist_ok=True)
        outputs.write_text(argv[0], table)
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
