"""Two-stage generation of a reference AI corpus from a human one, with any model adapter.

Stage 1 summarises each human document into a short outline; stage 2 expands the outline
back into full text (Liang et al. 2024's way of making AI text about the same content as
the human text, so that the word distributions differ by style rather than topic). Both
stages are batched through :meth:`ModelAdapter.generate`; prompts are templates with
``{text}`` (stage 1) and ``{outline}`` (stage 2). When the adapter exposes a tokenizer with
a chat template (instruction-tuned transformers models), prompts are wrapped in it
(``chat="auto"``).

The output is JSONL, one line per document: ``{"index", "source", "outline", "text"}``
(``source`` is the human document's id, ``text`` is
the AI corpus; pass it to ``fit --ai``). Lines are appended and flushed per batch; rerunning
the same command skips documents already written, so a killed run resumes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

OUTLINE_PROMPT = (
    "Summarize the following text as a short outline: a few bullet points with its main points.\n\n"
    "Text:\n{text}\n\nOutline:"
)
EXPAND_PROMPT = (
    "Write one well-written paragraph of full sentences that covers every point of this outline. "
    "Write only the paragraph.\n\nOutline:\n{outline}\n\nParagraph:"
)


@dataclass
class GenerationSettings:
    outline_prompt: str = OUTLINE_PROMPT
    expand_prompt: str = EXPAND_PROMPT
    outline_tokens: int = 96
    expand_tokens: int = 192
    batch_size: int = 8
    max_doc_chars: int = 2000  # longer documents are cut (at a sentence end when possible)
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    chat: str = "auto"  # auto | on | off

    def __post_init__(self) -> None:
        if "{text}" not in self.outline_prompt:
            raise ValueError("the outline prompt must contain {text}")
        if "{outline}" not in self.expand_prompt:
            raise ValueError("the expansion prompt must contain {outline}")
        if self.chat not in ("auto", "on", "off"):
            raise ValueError(f"chat must be auto, on or off, got {self.chat!r}")


def _chat_wrapper(adapter: Any, mode: str):
    tok = getattr(adapter, "tokenizer", None)
    has_template = bool(getattr(tok, "chat_template", None))
    if mode == "off" or (mode == "auto" and not has_template):
        return lambda text: text
    if not has_template:
        raise ValueError("chat=on, but the adapter exposes no tokenizer with a chat template")
    return lambda text: tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)


def shorten(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    return cut[: end + 1] if end > max_chars // 2 else cut


def clean_output(text: str) -> str:
    """Drop chat leftovers and surrounding whitespace from a generated text."""
    for marker in ("<|im_end|>", "<|endoftext|>", "<end_of_turn>"):
        text = text.split(marker)[0]
    return text.strip()


def two_stage(adapter: Any, documents: Sequence[str], settings: GenerationSettings) -> list[dict[str, str]]:
    """Outline then expand each document; returns ``[{"outline", "text"}]`` in order."""
    from harness.models.base import GenerationRequest

    wrap = _chat_wrapper(adapter, settings.chat)

    def requests(prompts: Iterable[str], max_tokens: int) -> list[Any]:
        return [GenerationRequest(prompt=wrap(p), max_new_tokens=max_tokens, do_sample=settings.do_sample,
                                  temperature=settings.temperature, top_p=settings.top_p,
                                  seed=settings.seed if settings.do_sample else None)
                for p in prompts]

    texts = [shorten(d, settings.max_doc_chars) for d in documents]
    outlines = adapter.generate(requests((settings.outline_prompt.format(text=t) for t in texts), settings.outline_tokens))
    outline_texts = [clean_output(o.text) for o in outlines]
    expanded = adapter.generate(requests((settings.expand_prompt.format(outline=o) for o in outline_texts), settings.expand_tokens))
    return [{"outline": o, "text": clean_output(e.text)} for o, e in zip(outline_texts, expanded)]


def _done_indices(out: Path) -> set[int]:
    done: set[int] = set()
    if not out.exists():
        return done
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            done.add(int(json.loads(line)["index"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a torn last line from a killed run
    return done


def generate_corpus(
    adapter: Any,
    documents: Iterable[tuple[str, str]],
    out: str | Path,
    settings: GenerationSettings | None = None,
    max_docs: int | None = None,
    min_chars: int = 200,
    progress: bool = False,
) -> Path:
    """Run :func:`two_stage` over ``(id, text)`` documents in batches, appending JSONL to ``out``.

    Documents shorter than ``min_chars`` (titles, salutations) are skipped; ``index``
    counts the documents that were kept, so resuming needs the same inputs and options.
    """
    settings = settings or GenerationSettings()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done_indices(out)
    _rewrite_valid(out)
    todo: list[tuple[int, str, str]] = []
    with out.open("a", encoding="utf-8") as fh:
        for index, (source, doc) in _numbered(documents, min_chars, max_docs):
            if index in done:
                continue
            todo.append((index, source, doc))
            if len(todo) == settings.batch_size:
                _write_batch(fh, adapter, todo, settings, progress)
                todo = []
        if todo:
            _write_batch(fh, adapter, todo, settings, progress)
    return out


def _numbered(documents: Iterable[tuple[str, str]], min_chars: int, max_docs: int | None) -> Iterator[tuple[int, tuple[str, str]]]:
    index = 0
    for source, doc in documents:
        if len(doc.strip()) < min_chars:
            continue
        if max_docs is not None and index >= max_docs:
            return
        yield index, (source, doc)
        index += 1


def _write_batch(fh: Any, adapter: Any, todo: list[tuple[int, str, str]], settings: GenerationSettings, progress: bool) -> None:
    results = two_stage(adapter, [doc for _, _, doc in todo], settings)
    for (index, source, _), res in zip(todo, results):
        fh.write(json.dumps({"index": index, "source": source, **res}, ensure_ascii=False) + "\n")
    fh.flush()
    if progress:
        print(f"generated documents up to #{todo[-1][0]}", flush=True)


def _rewrite_valid(out: Path) -> None:
    """Drop a torn final line left by a killed run before appending."""
    if not out.exists():
        return
    lines = out.read_text(encoding="utf-8").splitlines()
    valid = []
    for line in lines:
        try:
            json.loads(line)
            valid.append(line)
        except json.JSONDecodeError:
            continue
    if len(valid) != len(lines):
        out.write_text("".join(v + "\n" for v in valid), encoding="utf-8")
