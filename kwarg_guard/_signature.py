"""What a forward accepts, read from its real signature.

The signature is read through ``__wrapped__`` chains (``inspect.signature`` follows them), so a
forward already wrapped by accelerate, ``functools.wraps`` or kwarg_guard itself is judged by the
function that finally runs.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass

__all__ = ["Accepted", "accepted_keywords", "qualified_name"]

# On Python 3.11 typing_extensions has its own Unpack and TypedDict (transformers 5 imports them
# from there), distinct from typing's; accept both.
_UNPACK = {typing.Unpack}
_IS_TYPEDDICT = [typing.is_typeddict]
try:
    import typing_extensions
except ImportError:  # pragma: no cover - transformers always brings it
    pass
else:
    _UNPACK.add(typing_extensions.Unpack)
    _IS_TYPEDDICT.append(typing_extensions.is_typeddict)

_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@dataclass(frozen=True)
class Accepted:
    """The keywords one forward takes.

    Attributes:
        forward: qualified name of the forward, for messages (``HiggsAudioModel.forward``).
        named: parameters that can be passed by keyword.
        var_keyword: the forward has ``**kwargs``.
        declared: when ``**kwargs`` is annotated ``Unpack[SomeTypedDict]`` (transformers 5), the
            TypedDict's keys; ``None`` for a plain ``**kwargs`` or none at all.
    """

    forward: str
    named: frozenset
    var_keyword: bool = False
    declared: frozenset | None = None

    @property
    def takes_anything(self) -> bool:
        """A plain ``**kwargs``: every keyword is accepted and may be used."""
        return self.var_keyword and self.declared is None

    @property
    def known(self) -> frozenset:
        """Keywords the forward names: its parameters plus typed ``**kwargs`` keys."""
        return self.named | (self.declared or frozenset())

    def accepts(self, name: str) -> bool:
        """True when passing ``name`` cannot raise and is declared to be used."""
        return self.takes_anything or name in self.known


def qualified_name(fn) -> str:
    """``Class.forward`` for methods and functions, the type name for other callables."""
    target = inspect.unwrap(fn, stop=lambda f: hasattr(f, "__signature__"))
    target = getattr(target, "__func__", target)
    return getattr(target, "__qualname__", None) or type(target).__qualname__


def accepted_keywords(fn) -> Accepted:
    """Read which keywords ``fn`` accepts.

    Raises:
        TypeError: ``fn`` has no signature Python can read (some builtins).
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"kwarg_guard cannot read the signature of {fn!r} ({exc}); "
            "guard a Python-level forward instead"
        ) from exc
    named = set()
    var_keyword = None
    for parameter in signature.parameters.values():
        if parameter.kind in _KEYWORD_KINDS:
            named.add(parameter.name)
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = parameter
    declared = _typed_kwargs_keys(var_keyword.annotation) if var_keyword is not None else None
    return Accepted(qualified_name(fn), frozenset(named), var_keyword is not None, declared)


def _typed_kwargs_keys(annotation) -> frozenset | None:
    """Keys of ``Unpack[TD]`` (PEP 692), walking TD's bases; ``None`` for anything else.

    transformers 5 writes ``**kwargs: Unpack[TransformersKwargs]``; the TypedDict may inherit keys
    from others, so every class in its MRO contributes its own ``__annotations__``.
    """
    if isinstance(annotation, str):
        return None  # postponed annotations we cannot evaluate safely: treat as plain **kwargs
    if typing.get_origin(annotation) not in _UNPACK:
        return None
    (typed_dict,) = typing.get_args(annotation)
    if not any(is_typeddict(typed_dict) for is_typeddict in _IS_TYPEDDICT):
        return None
    keys = set()
    for cls in getattr(typed_dict, "__mro__", (typed_dict,)):
        keys.update(getattr(cls, "__annotations__", {}))
    keys.update(getattr(typed_dict, "__required_keys__", ()))
    keys.update(getattr(typed_dict, "__optional_keys__", ()))
    return frozenset(keys)
