"""Fixtures for the MQuAKE tests: hand-built cases and the embedded retriever (loaded once)."""

from __future__ import annotations

import copy

import pytest


def make_case(case_id: int = 1) -> dict:
    """A 3-hop case in the MQuAKE schema, one edit on hop 2 (written by hand for the tests)."""
    usa = ["USA", "United States", "U.S."]
    return {
        "case_id": case_id,
        "requested_rewrite": [{
            "prompt": "{} is a citizen of", "relation_id": "P27", "subject": "Bill Gates", "question": "What is the country of citizenship of Bill Gates?",
            "target_new": {"str": "Brazil", "id": "Q155"}, "target_true": {"str": "United States of America", "id": "Q30"},
        }],
        "questions": ["Q1: continent of the citizenship country of Microsoft's founder?", "Q2 paraphrase?", "Q3 paraphrase?"],
        "answer": "North America", "answer_alias": ["NA"],
        "new_answer": "South America", "new_answer_alias": ["South American continent"],
        "single_hops": [
            {"question": "Who founded Microsoft?", "cloze": "Microsoft was founded by", "answer": "Bill Gates", "answer_alias": ["Gates"]},
            {"question": "Citizenship of Bill Gates?", "cloze": "Bill Gates is a citizen of", "answer": "United States of America", "answer_alias": usa},
            {"question": "Continent of USA?", "cloze": "United States of America is located in the continent of", "answer": "North America", "answer_alias": ["NA"]},
        ],
        "new_single_hops": [
            {"question": "Who founded Microsoft?", "cloze": "Microsoft was founded by", "answer": "Bill Gates", "answer_alias": ["Gates"]},
            {"question": "Citizenship of Bill Gates?", "cloze": "Bill Gates is a citizen of", "answer": "Brazil", "answer_alias": ["Federative Republic of Brazil"]},
            {"question": "Continent of Brazil?", "cloze": "Brazil is located in the continent of", "answer": "South America", "answer_alias": ["South American continent"]},
        ],
        "orig": {"triples_labeled": []},
    }


@pytest.fixture
def raw_case() -> dict:
    return copy.deepcopy(make_case())


@pytest.fixture(scope="session")
def retriever():
    from harness_plugins.mquake.retriever import DenseRetriever

    return DenseRetriever()
