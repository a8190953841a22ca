"""Tokeniser and sentence-splitter edge cases."""

from __future__ import annotations

from harness_plugins.llm_usage.text import clean_tokens, document_sentences, sentence_words, split_sentences


def test_words_are_lowercased_word_characters_without_pure_digits():
    assert sentence_words("The 3 dogs, 42 cats & 2nd-place x_1 ÉCOLE!") == ["the", "dogs", "cats", "2nd", "place", "x_1", "école"]


def test_unicode_digits_count_as_digits_but_superscripts_do_not():
    # \d is Unicode decimal (Nd): Arabic-Indic digits are pure digits, "²" is not a decimal digit.
    assert sentence_words("numbers ٣٤ and x ²") == ["numbers", "and", "x", "²"]


def test_sentences_with_at_most_one_word_are_dropped():
    assert sentence_words("Hello.") is None
    assert sentence_words("Hello 2024!") is None  # one word once the digits are gone
    assert sentence_words("   ") is None
    assert sentence_words("Hello hello") == ["hello", "hello"]  # two tokens: kept (a set of one type)


def test_apostrophes_and_hyphens_split_words():
    assert sentence_words("It's state-of-the-art") == ["it", "s", "state", "of", "the", "art"]


def test_splitter_keeps_abbreviations_initials_and_decimals_together():
    text = 'Mr. Smith met Dr. J. Edgar in the U.S. on Jan. 5. It cost $5.5 million, e.g. a lot. "Why?" she asked.'
    assert split_sentences(text) == [
        "Mr. Smith met Dr. J. Edgar in the U.S. on Jan. 5.",
        "It cost $5.5 million, e.g. a lot.",
        '"Why?" she asked.',
    ]


def test_splitter_breaks_on_terminal_punctuation_and_blank_lines_only():
    text = "First line wraps\nonto the next. Second one! Third?\n\nA new paragraph without a full stop\n\nlast one"
    assert split_sentences(text) == ["First line wraps onto the next.", "Second one!", "Third?",
                                     "A new paragraph without a full stop", "last one"]


def test_lower_case_after_a_full_stop_does_not_split():
    assert split_sentences("See fig. three for details. Then stop.") == ["See fig. three for details.", "Then stop."]


def test_document_sentences_applies_both_rules():
    assert list(document_sentences("Yes. No way 123. 42. We agree.")) == [["no", "way"], ["we", "agree"]]


def test_clean_tokens_for_pretokenised_rows():
    assert clean_tokens(["The", "", "2019", "Model"]) == ["the", "model"]
    assert clean_tokens(["only", "12"]) is None
