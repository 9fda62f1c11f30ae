from tfaudio.cli import run

run()
