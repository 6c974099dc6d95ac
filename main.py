"""Even/Odd Studio entry point: the app by default, the `evenodd` CLI with a command.

    python main.py                 open the desktop app
    python main.py run ...         any `evenodd` command (pretrain, finetune, evaluate, ...)
    python main.py --self-test     check the shipped model without opening a window

The same file is the PyInstaller entry point, so it prepares what frozen apps lack
before anything heavy is imported.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile

CLI_COMMANDS = {"pretrain", "finetune", "evaluate", "predict", "run", "compare"}


def prepare_environment() -> None:
    """Make a windowed/frozen start safe: streams, matplotlib config dir and backend."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:  # a windowed app on Windows has no console
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the app
    if getattr(sys, "frozen", False) and "MPLCONFIGDIR" not in os.environ:
        folder = os.path.join(tempfile.gettempdir(), "evenodd-studio-matplotlib")
        os.makedirs(folder, exist_ok=True)
        os.environ["MPLCONFIGDIR"] = folder
    os.environ.setdefault("MPLBACKEND", "Agg")  # the only backend: the GUI shows Agg images


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prepare_environment()
    if argv and argv[0] == "--self-test":
        from engine.cli.selftest import main as self_test

        return self_test(argv[1:])
    if argv and (argv[0] in CLI_COMMANDS or argv[0] in ("-h", "--help", "--version")):
        from engine.cli.commands import main as cli

        return cli(argv)
    from gui.app import main as app

    return app(argv)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
