"""Even/Odd Studio engine: data, models, training, checkpoints and evaluation.

Everything here runs without Qt so that the same code serves the desktop app, the
`evenodd` command line and the tests. Heavy modules (torch) are imported by the
submodules that need them, never here, so `import engine` stays cheap.
"""

__version__ = "0.1.0"
