"""Exceptions that name what was wrong with an input, raised at the public API."""


class DeviceError(RuntimeError):
    """A device was asked for that cannot be used, or tensors on two devices were mixed."""


class ShapeError(ValueError):
    """Operand shapes that do not fit the operation; the message names every shape."""
