"""``c071emu`` and ``python -m emulator``: the CLI, with Ctrl-C during start-up (importing
Unicorn, numpy and the models takes a few tenths of a second) ending as Ctrl-C does later:
one line and status 130, not a traceback."""
import sys

EXIT_INTERRUPTED = 130          # as emulator/cli.py: 128 + SIGINT


def run() -> int:
    try:
        from .cli import main
    except KeyboardInterrupt:
        print("\nc071emu: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return main()


if __name__ == "__main__":
    sys.exit(run())
