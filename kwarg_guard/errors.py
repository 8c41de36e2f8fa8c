"""The exceptions and warnings kwarg_guard raises, so callers can catch them by name."""

__all__ = ["UnexpectedKeywordError", "UnexpectedKeywordWarning", "NotGuardedError"]


class UnexpectedKeywordError(TypeError):
    """A guarded forward in ``on_unknown="raise"`` mode received a keyword it does not take.

    It is a ``TypeError`` so code that already catches Python's own
    "got an unexpected keyword argument" keeps working.
    """


class UnexpectedKeywordWarning(UserWarning):
    """A keyword that carried a value was dropped (``on_unknown="warn"``) or will be ignored."""


class NotGuardedError(ValueError):
    """``unguard`` was asked to undo a guard that is not there."""
