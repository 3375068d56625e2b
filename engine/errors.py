"""User-facing errors: one clear line, never a traceback."""


class UserError(Exception):
    """Bad input from the user (file, option, data). The message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class MissingSamples(UserError):
    """A lead has missing (NaN) samples. `fillable`: the gaps are short enough for gap filling
    (`fill_gaps=True` / --fill-gaps); callers decide on offering it by this type, not the text."""

    def __init__(self, message: str, n_missing: int = 0, longest_gap_s: float = 0.0,
                 fillable: bool = False) -> None:
        super().__init__(message)
        self.n_missing = int(n_missing)
        self.longest_gap_s = float(longest_gap_s)
        self.fillable = bool(fillable)


class Cancelled(Exception):
    """Raised inside long engine work when the caller asked it to stop."""
