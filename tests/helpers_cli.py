"""Running `evenodd` in the test's own process."""

from __future__ import annotations

import signal

from engine.cli.commands import main


def cli(args: list) -> int:
    """main() in-process; argparse's SystemExit becomes a return code. Restores SIGINT."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.signal(signal.SIGINT, handler)
