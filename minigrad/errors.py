"""Exceptions that name what was wrong with an input, raised at the public API."""
import errno as _errno


class DeviceError(RuntimeError):
    """A device was asked for that cannot be used, or tensors on two devices were mixed."""


class ShapeError(ValueError):
    """Operand shapes that do not fit the operation; the message names every shape."""


class CheckpointError(RuntimeError):
    """A file that ``mg.load`` cannot give back: missing, a directory, empty, truncated,
    corrupt, not written by ``mg.save``, or holding pickled objects (which are refused).
    The message names the file and says which. A RuntimeError, as PyTorch raises for a bad
    checkpoint archive; a missing file is also a FileNotFoundError and a directory an
    IsADirectoryError, so code written for ``torch.load`` catches them as before."""

    def __init__(self, message: str, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """``mg.load`` was given a path where there is no file."""

    def __init__(self, message: str, path: object = None) -> None:
        CheckpointError.__init__(self, message, path)
        self.errno, self.strerror, self.filename = _errno.ENOENT, message, path

    def __str__(self) -> str:
        return str(self.args[0])


class CheckpointIsADirectoryError(CheckpointError, IsADirectoryError):
    """``mg.load`` was given a directory."""

    def __init__(self, message: str, path: object = None) -> None:
        CheckpointError.__init__(self, message, path)
        self.errno, self.strerror, self.filename = _errno.EISDIR, message, path

    def __str__(self) -> str:
        return str(self.args[0])
