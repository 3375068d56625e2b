"""User-facing errors: one clear line, never a traceback."""


class UserError(Exception):
    """Bad input from the user (file, option, data). The message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class Cancelled(Exception):
    """Raised inside long engine work when the caller asked it to stop."""
