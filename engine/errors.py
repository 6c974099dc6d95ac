"""The errors a person can act on: one base class, so every front end tells them apart.

A `UserError`'s message already says in plain words what is wrong and what to do (a file
that is not MNIST, a setting out of range, a damaged checkpoint), so the command line
prints it as one line and the app shows it as-is. Anything else that escapes a job is a
bug: the command line says "unexpected error" and the app folds the traceback away under
"Show details".

`UserError` is a `ValueError` so that code which catches ValueError around a setting or a
file keeps catching these. This module imports nothing, so the app can classify an error
without loading torch.
"""

from __future__ import annotations


class UserError(ValueError):
    """Something the user can fix; the message is meant to be shown as it is."""


class DataError(UserError):
    """MNIST could not be found, read or downloaded; the message says what to do."""


class IdxError(UserError):
    """An IDX file that cannot be used; the message names the file."""


class ConfigError(UserError):
    """Training settings that make no sense; the message names the setting."""


class ArchError(UserError):
    """Settings that do not describe a model this app can build."""


class CheckpointError(UserError):
    """A file that is not a usable checkpoint; the message names the file and the reason."""


class ImageError(UserError):
    """An image that cannot be used; the message says why in plain words (and names the file)."""


class DrawingsError(UserError):
    """A folder of my drawings that cannot be used or written; the message says what to do."""


class NothingDrawnError(ImageError):
    """Blank or near-blank input: classifying it would give a confident answer about nothing."""

    def __init__(self, message: str = "nothing drawn") -> None:
        super().__init__(message)


class DeviceError(UserError):
    """A device the user asked for is not available on this machine."""


class StudyError(UserError):
    """Study settings or a saved study folder that cannot be used; the message says why."""


class PathError(UserError):
    """A path that cannot be used as asked (a file where a folder is needed, no permission,
    a full disk); the message names the path and says why."""


class StoppedError(UserError):
    """The person stopped a job before it had anything to show (e.g. while choosing the
    images to label); the message says where it stopped."""


class SelfTestError(UserError):
    """A reason the self-test failed, in words a person who ran it can act on."""


def is_user_error(exc: BaseException) -> bool:
    """True when `exc`'s message is for the user as it is (no traceback needed)."""
    return isinstance(exc, UserError)
