"""The vocabulary rule, the word-table file format, and sparse log-likelihoods vs the naive formula."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from harness_plugins.llm_usage.corpus import Chunk
from harness_plugins.llm_usage.fit import SentenceCounts, fit_sentences
from harness_plugins.llm_usage.likelihood import SentenceEncoder, log_likelihoods, log_ratios
from harness_plugins.llm_usage.naive import naive_fit, naive_log_likelihoods
from harness_plugins.llm_usage.table import TableError, WordTable, read_word_list


def arr(sentences):
    return pa.array(sentences, type=pa.list_(pa.string()))


def hand_built():
    """10 human and 6 AI sentences with known sentence counts per word:
    human: common 10 (p = 1: infinite log-odds), often 5, rare 4, dup 5 (twice in each of 5 sentences), null 6
    AI:    common 3, often 3, rare 5, dup 2, null 3, only_ai 6."""
    human = [["common", "often", "dup", "dup", "null"] for _ in range(5)] + [["common", "rare"] for _ in range(4)] + [["common", "null"]]
    ai = [["common", "often", "rare", "null", "only_ai"] for _ in range(3)] + [["rare", "only_ai", "dup"] for _ in range(2)] + [["only_ai", "filler"]]
    return human, ai


def test_vocabulary_rule_on_a_hand_built_case():
    human, ai = hand_built()
    table = fit_sentences(arr(human), arr(ai))
    # common: p = 1 -> dropped; rare: count_H 4 < 5; dup: count_A 2 < 3; only_ai: count_H 0.
    assert sorted(table.words) == ["null", "often"]
    assert table.info["dropped_infinite_log_odds"] == ["common"]
    i = table.index()["often"]
    assert table.log_p[i] == pytest.approx(math.log(5 / 10)) and table.log_1mp[i] == pytest.approx(math.log(5 / 10))
    assert table.log_q[i] == pytest.approx(math.log(3 / 6)) and table.log_1mq[i] == pytest.approx(math.log(3 / 6))
    j = table.index()["null"]
    assert math.exp(table.log_p[j]) == pytest.approx(0.6) and math.exp(table.log_q[j]) == pytest.approx(0.5)
    # Thresholds are parameters, and a word list restricts the vocabulary.
    assert "rare" in fit_sentences(arr(human), arr(ai), min_human_count=4).words
    assert fit_sentences(arr(human), arr(ai), restrict_to={"often", "rare"}).words == ["often"]


def test_counts_are_per_sentence_sets_and_chunks_add_up():
    counts = SentenceCounts().add(arr([["a", "a", "b"], ["a", "c"]])).add(arr([["b", "b"]]))
    assert counts.counts == {"a": 2, "b": 2, "c": 1} and counts.n_sentences == 3


def test_fit_matches_the_naive_implementation(world):
    human, ai = world.human(400), world.ai(300)
    table = fit_sentences(arr(human), arr(ai))
    naive = naive_fit(human, ai)
    assert set(table.words) == set(naive)
    for k, word in enumerate(table.words):
        assert (table.log_p[k], table.log_1mp[k], table.log_q[k], table.log_1mq[k]) == pytest.approx(naive[word], abs=1e-12)


def test_sparse_log_likelihoods_equal_the_formula_word_by_word(world):
    human, ai = world.human(300), world.ai(300)
    table = fit_sentences(arr(human), arr(ai))
    naive = naive_fit(human, ai)
    mixed = world.human(40) + world.ai(40) + [["unknown", "words", "only"], ["w1", "w1", "w1"]]
    lp, lq = log_likelihoods(table, [Chunk(arr(mixed[:30])), Chunk(arr(mixed[30:]))])
    nlp, nlq = naive_log_likelihoods(naive, mixed)
    np.testing.assert_allclose(lp, nlp, rtol=0, atol=1e-9)
    np.testing.assert_allclose(lq, nlq, rtol=0, atol=1e-9)
    np.testing.assert_allclose(log_ratios(table, [Chunk(arr(mixed))]), np.array(nlq) - np.array(nlp), atol=1e-9)


def test_encoder_uses_set_semantics_and_ignores_unknown_words():
    x = SentenceEncoder(["a", "b", "c"]).transform(arr([["a", "a", "z"], ["c", "b", "c"], ["y", "z"]]))
    assert x.toarray().tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]


def test_table_round_trips_csv_and_parquet_keeping_the_word_null(tmp_path):
    human, ai = hand_built()
    table = fit_sentences(arr(human), arr(ai))
    for name in ("t.csv", "t.parquet"):
        loaded = WordTable.load(table.save(tmp_path / name))
        assert loaded.words == table.words and "null" in loaded.words
        np.testing.assert_array_equal(loaded.log_q, table.log_q)  # repr() round-trips floats exactly
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "Word,logP,log1-P,logQ,log1-Q"


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "expected the header"),
        ("Word,logP\nx,1\n", "expected the header"),
        ("Word,logP,log1-P,logQ,log1-Q\nx,-1,-1,-1\n", ":2: expected 5 columns"),
        ("Word,logP,log1-P,logQ,log1-Q\nx,-1,-1,abc,-1\n", ":2: columns logP..log1-Q must be numbers"),
        ("Word,logP,log1-P,logQ,log1-Q\nx,-1,-1,0.5,-1\n", "finite and <= 0"),
        ("Word,logP,log1-P,logQ,log1-Q\n", "has no rows"),
    ],
)
def test_bad_tables_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TableError, match=message):
        WordTable.load(path)


def test_word_list_file(tmp_path):
    path = tmp_path / "adjectives.txt"
    path.write_text("# adjectives\nPivotal\n\nintricate  # comment\n", encoding="utf-8")
    assert read_word_list(path) == {"pivotal", "intricate"}
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(TableError, match="empty"):
        read_word_list(tmp_path / "empty.txt")
