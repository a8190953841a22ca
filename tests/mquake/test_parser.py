"""MeLLo and chain-of-thought parsing on well-formed and malformed generations."""

from __future__ import annotations

from harness_plugins.mquake.parser import parse_cot, parse_mello_step, parse_plain


def test_first_step_subquestion():
    step = parse_mello_step("Subquestion: Who founded Microsoft?\nGenerated answer: Microsoft was founded by Bill Gates.\n")
    assert (step.kind, step.subquestion, step.generated_answer, step.verdict) == ("subquestion", "Who founded Microsoft?", "Microsoft was founded by Bill Gates.", None)


def test_later_step_with_verdict():
    text = ("Retrieved fact contradicts to generated answer, so the intermediate answer is: Brazil.\n"
            "Subquestion: Which continent is Brazil located in?\nGenerated answer: South America.\n")
    step = parse_mello_step(text)
    assert step.kind == "subquestion" and step.verdict == "contradicts" and step.intermediate_answer == "Brazil"
    nocon = parse_mello_step("Retrieved fact does not contradict to generated answer, so the intermediate answer is: Oz\nFinal answer: Oz")
    assert (nocon.kind, nocon.final_answer, nocon.verdict, nocon.intermediate_answer) == ("final", "Oz", "no contradiction", "Oz")


def test_final_answer_wins_and_takes_first():
    step = parse_mello_step("Final answer: Rome\nSubquestion: more?\nFinal answer: Paris")
    assert (step.kind, step.final_answer) == ("final", "Rome")


def test_last_subquestion_is_used():
    step = parse_mello_step("Subquestion: A?\nGenerated answer: a\nSubquestion: B?\nGenerated answer: b")
    assert step.subquestion == "B?" and step.generated_answer == "b"


def test_malformed_generations():
    for text, reason in [
        ("", "empty generation"),
        ("   \n \n", "empty generation"),
        ("The capital is Rome.", "no 'Subquestion:' or 'Final answer:' line"),
        ("Subquestion:   \nGenerated answer: x", "empty 'Subquestion:' line"),
        ("Final answer:", "empty 'Final answer:' line"),
        ("subquestion: lower case is not the format", "no 'Subquestion:' or 'Final answer:' line"),
    ]:
        step = parse_mello_step(text)
        assert step.kind == "malformed" and step.error == reason, text


def test_cot_and_plain():
    cot = parse_cot(" Microsoft was founded by Bill Gates. He is American.\nAnswer: North America")
    assert cot.answer == "North America" and cot.thoughts.startswith("Microsoft") and not cot.error
    assert parse_cot(" I think it is Europe").error == "no 'Answer:' line"
    assert parse_cot("x\nAnswer: ").answer is None
    assert parse_plain(" Jill Biden\nQ: next") == "Jill Biden" and parse_plain("  ") is None
