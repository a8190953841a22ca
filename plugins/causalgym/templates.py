"""CausalGym task templates in the official JSON format, and their span segmentation.

A template file maps task names to specs::

    {"agr_sv_num_pp": {
        "templates": ["The {subject} {prep} the {object}"],
        "label": "subject",                      # or a list of variables
        "labels": {"singular": ["is", "was"], "plural": ["are", "were"]},
        "variables": {"subject": {"singular": [...], "plural": [...]},   # label variables: per type
                      "prep": [...], "object": [...]},                   # others: shared lists
        "result_prepend_space": true}}

Variables whose names share a dotted prefix (``clause.verb``, ``clause.obj``) are co-indexed:
one index is drawn for the whole group. A filled template is a list of aligned *spans*, the
segmentation the published pair records use (checked against them in the tests): span 0 is
``<|endoftext|>`` followed by the literal text before the first variable; then every variable
and every literal word is a span of its own, carrying the whitespace before it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOS_TEXT = "<|endoftext|>"
_PIECE = re.compile(r"\s*\{[^{}]+\}|\s*[^\s{]+")
_VAR = re.compile(r"\{([^{}]+)\}")


class TemplateError(ValueError):
    """A template file or spec is malformed; the message names the file, task and field."""


@dataclass(frozen=True)
class Piece:
    """One span of a template: literal ``text``, or a variable ``var`` preceded by ``space``."""

    text: str = ""
    var: str | None = None
    space: str = ""

    def fill(self, values: dict[str, str]) -> str:
        return self.text if self.var is None else self.space + values[self.var]


@dataclass
class TaskTemplate:
    """One CausalGym task: a template string, its label variables, types and continuations."""

    name: str
    template: str
    label_vars: tuple[str, ...]
    labels: dict[str, list[str]]  # type -> continuations (already with the leading space)
    variables: dict[str, Any]  # label vars: {type: [values]}; others: [values]
    result_prepend_space: bool
    pieces: list[Piece] = field(default_factory=list)
    source: str = ""  # where the spec came from (for messages)

    @property
    def types(self) -> list[str]:
        return list(self.labels)

    @property
    def first_label_span(self) -> int:
        """Index of the first span that holds a label variable (positions start there)."""
        for i, piece in enumerate(self.pieces):
            if piece.var in self.label_vars:
                return i
        raise TemplateError(f"{self.source}: task {self.name!r}: no label variable in template")

    def fill(self, values: dict[str, str]) -> list[str]:
        """Spans of the template filled with ``values`` (span 0 starts with ``<|endoftext|>``)."""
        spans = [p.fill(values) for p in self.pieces]
        spans[0] = BOS_TEXT + spans[0]
        return spans


def split_template(template: str) -> list[Piece]:
    """Segment a template string into spans as the published pair records do."""
    if "{" not in template:
        raise TemplateError(f"template {template!r} has no {{variable}}")
    head = template[: template.index("{")].rstrip()
    pieces = [Piece(text=head)]
    rest = template[len(head):]
    pos = 0
    for match in _PIECE.finditer(rest):
        if rest[pos:match.start()].strip():
            raise TemplateError(f"template {template!r}: cannot segment {rest[pos:match.start()]!r}")
        chunk = match.group(0)
        var = _VAR.search(chunk)
        if var:
            pieces.append(Piece(var=var.group(1), space=chunk[: var.start()]))
        else:
            pieces.append(Piece(text=chunk))
        pos = match.end()
    if rest[pos:].strip():
        raise TemplateError(f"template {template!r}: cannot segment {rest[pos:]!r}")
    return pieces


def group_of(var: str) -> str:
    """Co-indexing group of a variable: the part before the first dot (or the name itself)."""
    return var.split(".", 1)[0] if "." in var else var


def parse_task(name: str, spec: Any, source: str = "<templates>") -> TaskTemplate:
    """Validate one task spec of the official format."""
    where = f"{source}: task {name!r}"
    if not isinstance(spec, dict):
        raise TemplateError(f"{where}: expected a mapping, got {type(spec).__name__}")
    for key in ("templates", "label", "labels", "variables"):
        if key not in spec:
            raise TemplateError(f"{where}: missing field {key!r}")
    templates = spec["templates"]
    if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
        raise TemplateError(f"{where}: field 'templates' must be a non-empty list of strings")
    template = templates[0]  # the official files have exactly one template per task
    label = spec["label"]
    label_vars = tuple(label) if isinstance(label, list) else (label,)
    if not label_vars or not all(isinstance(v, str) for v in label_vars):
        raise TemplateError(f"{where}: field 'label' must be a variable name or a list of names")
    labels = spec["labels"]
    if not isinstance(labels, dict) or len(labels) != 2:
        raise TemplateError(f"{where}: field 'labels' must map exactly two types to continuations, got {labels!r}")
    prepend = bool(spec.get("result_prepend_space", True))
    clean_labels = {}
    for typ, conts in labels.items():
        if not isinstance(conts, list) or not conts or not all(isinstance(c, str) and c for c in conts):
            raise TemplateError(f"{where}: labels[{typ!r}] must be a non-empty list of non-empty strings")
        clean_labels[str(typ)] = [(" " + c) if prepend else c for c in conts]
    variables = spec["variables"]
    if not isinstance(variables, dict):
        raise TemplateError(f"{where}: field 'variables' must be a mapping")
    try:
        pieces = split_template(template)
    except TemplateError as err:
        raise TemplateError(f"{where}: {err}") from None
    used = [p.var for p in pieces if p.var is not None]
    for var in label_vars:
        if var not in used:
            raise TemplateError(f"{where}: label variable {var!r} does not occur in the template")
    for var in used:
        if var not in variables:
            raise TemplateError(f"{where}: template uses {{{var}}} but 'variables' has no {var!r}")
        values = variables[var]
        if var in label_vars:
            if not isinstance(values, dict) or set(values) != set(clean_labels):
                raise TemplateError(f"{where}: label variable {var!r} must map each type {sorted(clean_labels)} to values")
            for typ, vals in values.items():
                if not isinstance(vals, list) or not vals or not all(isinstance(v, str) for v in vals):
                    raise TemplateError(f"{where}: variables[{var!r}][{typ!r}] must be a non-empty list of strings")
        elif not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise TemplateError(f"{where}: variables[{var!r}] must be a non-empty list of strings")
    return TaskTemplate(
        name=name, template=template, label_vars=label_vars, labels=clean_labels,
        variables=variables, result_prepend_space=prepend, pieces=pieces, source=source,
    )


def load_templates(path: str | Path) -> dict[str, TaskTemplate]:
    """Read an official-format template file (``{task: spec}``)."""
    path = Path(path)
    try:
        from harness.textio import read_utf8

        data = json.loads(read_utf8(path, TemplateError))
    except FileNotFoundError:
        raise TemplateError(f"{path}: template file not found") from None
    except json.JSONDecodeError as err:
        raise TemplateError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(data, dict) or not data:
        raise TemplateError(f"{path}: expected a JSON object mapping task names to templates")
    return {name: parse_task(name, spec, str(path)) for name, spec in data.items()}

