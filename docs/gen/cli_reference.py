"""Generate ``reference/cli.md`` from the real argparse parsers (built-in and plugin-added commands).

Run by mkdocs-gen-files at build time, so the page always lists the commands and options the
installed ``harness`` actually has; nothing here is copied by hand.
"""

from __future__ import annotations

import argparse
import os

import mkdocs_gen_files

os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal width; keep the page stable

from harness.cli import build_parser  # noqa: E402 - after COLUMNS
from harness.pluginmanager import PluginManager  # noqa: E402


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each sub-command, in the order they were added."""
    out = []
    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:  # aliases share a parser
                    seen.add(id(sub))
                    out.append((name, helps.get(name, ""), sub))
    return out


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}` (positional)"
        if action.choices and not isinstance(action.choices, dict):
            names += " {" + ", ".join(map(str, action.choices)) + "}"
        default = action.default
        shown = "" if default in (None, [], argparse.SUPPRESS) or isinstance(action, argparse._StoreTrueAction) else f"`{default}`"
        text = (action.help or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {names} | {shown} | {text} |")
    return rows if len(rows) > 2 else []


def _section(name: str, summary: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    lines = [f"{'#' * level} `{parser.prog}`", ""]
    if summary:
        lines += [summary[0].upper() + summary[1:] + ".", ""]
    lines += ["```text", parser.format_help().rstrip(), "```", ""]
    lines += _options_table(parser) + [""]
    for sub_name, sub_help, sub in _subcommands(parser):
        lines += _section(sub_name, sub_help, sub, min(level + 1, 4))
    return lines


def render() -> str:
    pm = PluginManager().load()
    parser = build_parser(pm)
    lines = ["# Command line", "",
             "Generated from the argparse parsers of `harness` with every installed plugin loaded, so "
             "commands that plugins add (through the `harness_add_commands` hook) are listed too. "
             "The global options (`--plugin`, `-p no:NAME`, `--include-path`, `--verbosity`) are shown "
             "on the top-level command.", ""]
    commands = _subcommands(parser)
    lines += ["| command | what it does |", "|---|---|"]
    lines += [f"| [`harness {n}`](#{_anchor(s.prog)}) | {h} |" for n, h, s in commands] + [""]
    lines += _section("harness", "", parser, 2)
    return "\n".join(lines) + "\n"


def _anchor(prog: str) -> str:
    """The heading id Python-Markdown's toc gives ``# `harness run` ``."""
    return "-".join(prog.lower().split())


with mkdocs_gen_files.open("reference/cli.md", "w") as fh:
    fh.write(render())
