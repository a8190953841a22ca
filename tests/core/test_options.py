"""The one k=v parser and its coercion rules (harness.options), with the receivers that use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pytest

from harness.options import Min, OptionError, bind, coerce, options_of, parse_kv, split_kv


def test_split_keeps_texts_and_refuses_malformed_pairs():
    assert split_kv("a=1, b = x ,,c=", "--x") == [("a", "1"), ("b", "x"), ("c", "")]
    with pytest.raises(OptionError, match=r"--x: expected key=value pairs separated by commas, got 'b'"):
        split_kv("a=1,b", "--x")
    with pytest.raises(OptionError, match="--x: a is given twice"):
        split_kv("a=1,a=2", "--x")
    assert parse_kv("n=3,r=0.5,t=TRUE,z=null,s=abc", "--x") == {"n": 3, "r": 0.5, "t": True, "z": None, "s": "abc"}


@pytest.mark.parametrize("text", ["yes", "no", "0", "1", "on", ""])
def test_booleans_are_exactly_true_or_false(text):
    with pytest.raises(OptionError, match="expected true or false"):
        coerce("flag", text, bool, "--model-args")
    assert coerce("flag", "True", bool) is True and coerce("flag", "false", bool) is False


def test_types_come_from_the_annotation():
    assert coerce("revision", "0123", str | None) == "0123"  # a text stays a text (the generic rule would give 123)
    assert coerce("revision", "none", str | None) is None
    assert coerce("alpha", "1", float) == 1.0 and isinstance(coerce("alpha", "1", float), float)
    assert coerce("n", "-4", int) == -4
    with pytest.raises(OptionError, match=r"--m n=2.5: expected an integer"):
        coerce("n", "2.5", int, "--m")
    with pytest.raises(OptionError, match=r"n=True: expected an integer"):
        coerce("n", True, int)
    with pytest.raises(OptionError, match=r"alpha='abc': expected a number"):
        coerce("alpha", "abc", float)
    with pytest.raises(OptionError, match="mode='z': expected one of a, b"):
        coerce("mode", "z", Literal["a", "b"])
    size = Annotated[int, Min(1)] | Literal["auto"]
    assert coerce("batch_size", "auto", size) == "auto" and coerce("batch_size", "8", size) == 8
    with pytest.raises(OptionError, match=r"batch_size=0: expected a positive integer or 'auto'"):
        coerce("batch_size", "0", size)
    assert coerce("x", "0.5", Any) == 0.5  # unannotated: the generic rule


def adapter_factory(pretrained: str, *, dtype: Literal["auto", "float32"] = "auto", share_prefix: bool = True, max_length: int | None = None):
    return dict(pretrained=pretrained, dtype=dtype, share_prefix=share_prefix, max_length=max_length)


@dataclass
class Params:
    alpha: float
    layers: str = "low"


def test_options_of_a_function_a_class_and_a_dataclass():
    opts = options_of(adapter_factory)
    assert opts.names() == ["dtype", "max_length", "pretrained", "share_prefix"] and not opts.open
    assert opts.fields["pretrained"].required and opts.fields["share_prefix"].default is True
    typed = bind(opts, {"pretrained": "m", "share_prefix": "false", "max_length": "64"}, "--model-args", "adapter 't'")
    assert typed == {"pretrained": "m", "share_prefix": False, "max_length": 64}
    params = options_of(Params)
    assert bind(params, {"alpha": "1", "layers": "4"}, "d", "p") == {"alpha": 1.0, "layers": "4"}
    with pytest.raises(OptionError, match=r"d: p needs alpha=\.\.\."):
        bind(params, {}, "d", "p")

    class Open:
        def __init__(self, a: int = 1, **rest: Any):
            pass

    opened = options_of(Open)
    assert opened.open and bind(opened, {"a": "2", "other": "0.5"}, "w", "o") == {"a": 2, "other": 0.5}


def test_unknown_names_are_errors_with_a_suggestion():
    with pytest.raises(OptionError) as err:
        bind(options_of(adapter_factory), {"pretrained": "m", "share_prefx": "true"}, "--model-args", "adapter 't'")
    msg = str(err.value)
    assert "share_prefx: not an argument of adapter 't' (did you mean share_prefix?)" in msg
    assert "accepted: dtype, max_length, pretrained, share_prefix" in msg and "\n" not in msg
