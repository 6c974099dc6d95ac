"""`evenodd`, the command line: the commands (commands) and the self-test (selftest).

`main` is re-exported here because `engine.cli:main` is the console-script entry point.
"""

from engine.cli.commands import main

__all__ = ["main"]
