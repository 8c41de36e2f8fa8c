"""The exceptions and warnings kwarg_guard raises, so callers can catch them by name."""

__all__ = ["NotGuardedError", "UnexpectedKeywordError", "UnexpectedKeywordWarning"]


class UnexpectedKeywordError(TypeError):
    """A guarded forward in ``on_unknown="raise"`` mode received a keyword it does not take.

    It is a ``TypeError`` so code that already catches Python's own
    "got an unexpected keyword argument" keeps working.

    >>> from kwarg_guard import kwarg_guard
    >>> @kwarg_guard(on_unknown="raise")
    ... def forward(x):
    ...     return x
    >>> try:
    ...     forward(1, lables=2)
    ... except UnexpectedKeywordError as error:
    ...     print(type(error).__name__, isinstance(error, TypeError))
    UnexpectedKeywordError True
    """


class UnexpectedKeywordWarning(UserWarning):
    """A keyword that carried a value was dropped (``on_unknown="warn"``) or will be ignored.

    >>> import warnings
    >>> from kwarg_guard import kwarg_guard
    >>> @kwarg_guard(on_unknown="warn")
    ... def forward(x):
    ...     return x
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = forward(1, junk=2)
    >>> [w.category.__name__ for w in caught]
    ['UnexpectedKeywordWarning']
    """


class NotGuardedError(ValueError):
    """``unguard`` was asked to undo a guard that is not there.

    >>> import torch
    >>> from kwarg_guard import unguard
    >>> try:
    ...     unguard(torch.nn.Linear(2, 2))
    ... except NotGuardedError:
    ...     print("nothing to undo")
    nothing to undo
    """
