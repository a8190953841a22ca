"""Token positions of spans and label tokens, with the real SmolLM2 tokenizer."""

from __future__ import annotations

import pytest

from harness.interventions.tokens import encode, find_span_end, span_end_positions
from harness.testing import tokenizer
from harness_plugins.causalgym.pairs import PairRecord
from harness_plugins.causalgym.prepare import bos_replacement, first_token, prepare
from harness_plugins.causalgym.templates import parse_task

GARDEN = parse_task("garden_mvrr", {
    "templates": ["The {noun}{insert} {verb} {cont}"], "label": "insert", "result_prepend_space": False,
    "labels": {"rr": [" by"], "mv": ["."]},
    "variables": {"noun": ["artist"], "insert": {"rr": [" who was"], "mv": [""]}, "verb": ["bought"], "cont": ["the apartment"]},
})


def pair(base_insert: str, src_insert: str, base_type: str, src_type: str) -> PairRecord:
    def spans(ins):
        return ("<|endoftext|>The", " artist", ins, " bought", " the apartment")

    labels = {"rr": " by", "mv": "."}
    return PairRecord(spans(base_insert), spans(src_insert), base_type, src_type, labels[base_type], labels[src_type], "garden_mvrr")


def test_span_ends_follow_the_tokens():
    tok = tokenizer()
    spans = ["<|endoftext|>The", " managers", " that", " injured", " the", " pilot"]
    ids, offsets = encode(tok, ["".join(spans)])
    assert tok.convert_ids_to_tokens(ids[0])[0] == "<|endoftext|>"  # one special token, not split into pieces
    ends = span_end_positions(offsets[0], spans)
    assert ends == list(range(1, len(ids[0])))  # every span here is one token after <|endoftext|>
    text = "".join(spans)
    assert find_span_end(text, offsets[0], " injured") == ends[3]
    multi, offs = encode(tok, ["<|endoftext|>The taxi driver that"])
    last = span_end_positions(offs[0], ["<|endoftext|>The", " taxi driver", " that"])[1]
    assert tok.decode(multi[0][last]).strip() == "driver"  # a multi-token span ends at its last token


def test_prepare_skips_empty_spans_and_takes_first_label_tokens():
    tok = tokenizer()
    pairs = [pair(" who was", "", "rr", "mv"), pair("", " who was", "mv", "rr")]
    prep = prepare(pairs, tok, GARDEN)
    assert prep.span_indices == [2, 3, 4] and prep.span_names == ["insert", "verb", "cont"]
    assert prep.usable(2) == []  # the insert is empty on one side of every pair
    assert prep.usable(3) == [0, 1]
    base_tokens = tok.convert_ids_to_tokens(prep.base_ids[0])
    assert base_tokens[prep.base_pos[0][3]] == "Ġbought" and base_tokens[prep.base_pos[0][4]] == "Ġapartment"
    src_tokens = tok.convert_ids_to_tokens(prep.src_ids[0])
    assert src_tokens[prep.src_pos[0][3]] == "Ġbought"
    assert prep.base_pos[0][3] == prep.src_pos[0][3] + 2  # " who was" is two tokens
    assert prep.base_label == [first_token(tok, " by"), first_token(tok, ".")]
    assert prep.base_control[0] == first_token(tok, " dog") and prep.src_control[0] == first_token(tok, " give")
    assert prep.base_class == [0, 1] and prep.src_class == [1, 0]


def test_label_span_falls_back_to_the_first_differing_span():
    prep = prepare([pair(" who was", "", "rr", "mv")], tokenizer(), None)
    assert prep.span_indices == [2, 3, 4] and prep.span_names == ["span2", "span3", "span4"]


def test_bos_handling():
    tok = tokenizer()
    assert bos_replacement(tok, "auto") == "<|endoftext|>"  # SmolLM2 knows the token
    assert bos_replacement(tok, "none") == ""
    with pytest.raises(ValueError, match="bos="):
        bos_replacement(tok, "sometimes")
    prep = prepare([pair(" who was", "", "rr", "mv")], tok, GARDEN, bos="none")
    assert prep.texts[0][0] == "The artist who was bought the apartment"
