import sys

from tfaudio.cli import main

sys.exit(main())
