"""Dense retrieval on a toy memory with the embedded all-MiniLM-L6-v2 encoder."""

from __future__ import annotations

import pytest

from harness_plugins.mquake.retriever import DenseRetriever, RetrieverError, resolve_encoder

MEMORY = [
    "The capital of France is Rome",
    "Barack Obama is married to Taylor Swift",
    "The Eiffel Tower is located in the country of Germany",
    "Microsoft was founded by Steve Jobs",
]


def test_top1_on_toy_memory(retriever):
    retriever.fit(MEMORY)
    queries = ["Who is Barack Obama's spouse?", "Who founded Microsoft?", "Which country is the Eiffel Tower in?", "What is the capital of France?"]
    hits = retriever.retrieve(queries, k=2)
    assert [h[0].index for h in hits] == [1, 3, 2, 0]
    assert all(h[0].score >= h[1].score for h in hits)
    assert hits[0][0].text == MEMORY[1]


def test_per_query_memories_and_normalisation(retriever):
    a, b = retriever.index(MEMORY[:2]), retriever.index(MEMORY[2:])
    hits = retriever.retrieve(["Who founded Microsoft?", "Who founded Microsoft?"], memory=[a, b])
    assert hits[0][0].text in MEMORY[:2] and hits[1][0].text == MEMORY[3]
    assert retriever.normalize  # MiniLM's modules.json lists a Normalize step: cosine similarity
    norms = retriever.encode(["some text", "other"]).norm(dim=-1)
    assert float((norms - 1).abs().max()) < 1e-5


def test_errors(retriever):
    with pytest.raises(RetrieverError, match="empty memory"):
        retriever.retrieve(["q"], memory=retriever.index([]))
    with pytest.raises(RetrieverError, match="2 memories for 1 queries"):
        retriever.retrieve(["q"], memory=[retriever.index(["a"]), retriever.index(["b"])])
    with pytest.raises(RetrieverError, match="could not load retriever encoder"):
        DenseRetriever("/nonexistent/encoder").encode(["x"])
    assert resolve_encoder("sentence-transformers/all-MiniLM-L6-v2").endswith("model")


@pytest.mark.slow
def test_mean_pooling_matches_sentence_transformers(retriever):
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(retriever.source, device="cpu")
    texts = ["Who is the spouse of Barack Obama?", "A much longer sentence about the capital of a faraway country."]
    expected = model.encode(texts, convert_to_tensor=True)
    assert float((retriever.encode(texts) - expected.cpu()).abs().max()) < 1e-5
