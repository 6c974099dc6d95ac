"""One user-error type: the CLI and the app tell "plain message" from "bug" the same way."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import signal

import pytest

import engine
from engine.errors import CheckpointError, DataError, UserError


def _engine_modules():
    for info in pkgutil.walk_packages(engine.__path__, "engine."):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def test_every_engine_error_is_a_user_error():
    """An error class the engine defines for people to read must be a UserError, or the
    front ends would show its message as a crash with a traceback."""
    found = set()
    for module in _engine_modules():
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, Exception)
                and name.endswith("Error")
                and value.__module__.startswith("engine")
            ):
                found.add(value)
                assert issubclass(value, UserError), f"{module.__name__}.{name}"
    names = {cls.__name__ for cls in found}
    assert {"DataError", "CheckpointError", "ConfigError", "ArchError", "StudyError"} <= names


def test_old_import_places_still_name_the_same_classes():
    from engine.config import ArchError, ConfigError
    from engine.data.mnist import DataError as from_data
    from engine.store.checkpoint import CheckpointError as from_checkpoint

    assert from_checkpoint is CheckpointError and from_data is DataError
    assert issubclass(ArchError, UserError) and issubclass(ConfigError, UserError)


def test_app_classifies_by_type_not_by_module():
    from gui.state.errors import UNEXPECTED, describe

    assert describe(DataError("no MNIST here")) == ("no MNIST here", "")

    class Outside(UserError):  # a user error defined outside engine/ is still plain
        pass

    assert describe(Outside("plain words")) == ("plain words", "")
    message, details = describe(ValueError("math domain error"))  # a bug, not a user error
    assert message.startswith(UNEXPECTED) and "ValueError" in details


@pytest.mark.parametrize(
    ("error", "plain"),
    [(CheckpointError("model.pt: damaged"), True), (ValueError("shapes differ"), False)],
)
def test_cli_prints_user_errors_plainly_and_others_as_unexpected(
    monkeypatch, capsys, tmp_path, error, plain
):
    from engine.cli import commands as cli

    def failing(args, report, stop):
        raise error

    monkeypatch.setitem(cli.COMMANDS, "predict", failing)
    handler = signal.getsignal(signal.SIGINT)
    try:
        status = cli.main(["predict", "--quiet", str(tmp_path / "x.png")])
    finally:
        signal.signal(signal.SIGINT, handler)
    err = capsys.readouterr().err.strip()
    assert status == cli.EXIT_FAILURE and len(err.splitlines()) == 1
    assert err.startswith("evenodd: error: " if plain else "evenodd: unexpected error: ")
    assert str(error) in err
