"""Two-stage generation with a real (tiny, random) transformers model through the adapter."""

from __future__ import annotations

import json

import pytest

from harness_plugins.llm_usage.generate import GenerationSettings, generate_corpus, shorten, two_stage

DOCS = [(f"doc:{i}", f"Paragraph number {i} talks about the harvest, the army and the budget of the year. " * 4) for i in range(5)]


@pytest.fixture(scope="module")
def adapter():
    from harness.testing import tiny_adapter

    return tiny_adapter("llama", seed=0)


class RecordingAdapter:
    """Wraps a real adapter and records the prompts it was asked to continue."""

    def __init__(self, inner):
        self.inner, self.prompts = inner, []
        self.tokenizer = inner.tokenizer

    def generate(self, requests):
        self.prompts.extend(r.prompt for r in requests)
        return self.inner.generate(requests)


@pytest.mark.slow
def test_two_stage_outlines_then_expands_each_document(adapter):
    recorder = RecordingAdapter(adapter)
    settings = GenerationSettings(outline_tokens=6, expand_tokens=8, chat="off",
                                  outline_prompt="Outline: {text}\n-", expand_prompt="Expand: {outline}\n")
    out = two_stage(recorder, [t for _, t in DOCS[:3]], settings)
    assert len(out) == 3 and all(set(r) == {"outline", "text"} for r in out)
    assert recorder.prompts[:3] == [f"Outline: {shorten(t, settings.max_doc_chars)}\n-" for _, t in DOCS[:3]]
    # Stage 2 sees exactly the outlines stage 1 produced.
    assert recorder.prompts[3:] == [f"Expand: {r['outline']}\n" for r in out]


@pytest.mark.slow
def test_chat_template_is_applied_when_the_tokenizer_has_one(adapter):
    recorder = RecordingAdapter(adapter)
    two_stage(recorder, [DOCS[0][1]], GenerationSettings(outline_tokens=2, expand_tokens=2, chat="on"))
    assert "<|im_start|>user" in recorder.prompts[0] and recorder.prompts[0].rstrip().endswith("assistant")


@pytest.mark.slow
def test_generate_corpus_writes_jsonl_and_resumes(adapter, tmp_path):
    out = tmp_path / "ai.jsonl"
    settings = GenerationSettings(outline_tokens=4, expand_tokens=6, batch_size=2, chat="off")
    generate_corpus(adapter, DOCS[:3], out, settings)
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in first] == [0, 1, 2] and [r["source"] for r in first] == ["doc:0", "doc:1", "doc:2"]
    with out.open("a") as fh:
        fh.write('{"index": 3, "sour')  # a torn line from a killed run
    generate_corpus(adapter, DOCS, out, settings)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in lines] == [0, 1, 2, 3, 4] and lines[:3] == first


def test_prompts_must_have_their_placeholders():
    with pytest.raises(ValueError, match="{text}"):
        GenerationSettings(outline_prompt="no placeholder")
    with pytest.raises(ValueError, match="{outline}"):
        GenerationSettings(expand_prompt="no placeholder")
