"""What counts as accepted: read from the real signature, through __wrapped__ chains."""

import functools
import typing

import pytest
from typing_extensions import TypedDict, Unpack

from kwarg_guard._signature import accepted_keywords


class TestAcceptedKeywords:
    def test_positional_only_names_are_not_keywords(self):
        def f(a, /, b, *, c):
            pass

        accepted = accepted_keywords(f)
        assert accepted.named == {"b", "c"}
        assert not accepted.var_keyword

    def test_plain_var_keyword_takes_anything(self):
        def f(a, **kwargs):
            pass

        accepted = accepted_keywords(f)
        assert accepted.takes_anything
        assert accepted.accepts("whatever")

    def test_follows_wrapped_chain_to_the_real_forward(self):
        def real(input_ids, label_ids=None):
            pass

        @functools.wraps(real)
        def wrapper(*args, **kwargs):
            return real(*args, **kwargs)

        accepted = accepted_keywords(wrapper)
        assert accepted.named == {"input_ids", "label_ids"}
        assert not accepted.var_keyword

    def test_bound_method_drops_self(self):
        class M:
            def forward(self, x, y=None):
                pass

        assert accepted_keywords(M().forward).named == {"x", "y"}

    def test_unpack_typed_dict_declares_its_keys_through_inheritance(self):
        class Base(TypedDict, total=False):
            output_attentions: bool

        class Kwargs(Base, total=False):
            position_ids: object

        def f(input_ids, **kwargs: Unpack[Kwargs]):
            pass

        accepted = accepted_keywords(f)
        assert accepted.var_keyword and not accepted.takes_anything
        assert accepted.declared == {"output_attentions", "position_ids"}
        assert accepted.accepts("position_ids") and not accepted.accepts("labels")

    def test_typing_unpack_works_too(self):
        class Kwargs(TypedDict, total=False):
            seq_idx: int

        def f(**kwargs: typing.Unpack[Kwargs]):
            pass

        assert accepted_keywords(f).declared == {"seq_idx"}

    def test_unreadable_signature_is_a_clear_type_error(self):
        class NoSignature:
            __signature__ = "not a signature"

            def __call__(self):
                pass

        with pytest.raises(TypeError, match="cannot read the signature"):
            accepted_keywords(NoSignature())
