"""``harness`` command line. Imports stay light: ``--help``, ``list`` and ``plugins`` never import torch.

This module is also the core plugin ``core``: its ``harness_add_commands`` adds ``run``, ``list``
and ``plugins`` the way any plugin adds a command."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from harness.hookspecs import hookimpl
from harness.options import OptionError, split_kv
from harness.pluginmanager import PluginManager
from harness.tasks import TaskConfigError, TaskIndex
from harness.textsafe import printable

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # as a process killed by SIGPIPE (128 + 13)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def batch_size(text: str) -> int | str:
    """argparse type: a positive integer or ``auto``."""
    return "auto" if text.strip().lower() == "auto" else positive_int(text)


def threads_arg(text: str) -> int | str:
    """argparse type: a positive integer or ``auto``."""
    from harness.threads import parse_setting

    try:
        return parse_setting(text, "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of threads or 'auto', got {text!r}") from None


def _err(text: str) -> None:
    print(f"harness: error: {printable(text)}", file=sys.stderr)


def _note(text: str) -> None:
    print(printable(text), file=sys.stderr, flush=True)


def _global_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, prefix: str = "") -> None:
    """Options of the whole command line, accepted before or after the sub-command. On a
    sub-command (``prefix`` set) they only need to parse: :func:`main` reads them from the
    whole command line first, since they decide which plugins (and so which commands) exist."""
    kw: dict[str, Any] = {"default": argparse.SUPPRESS} if prefix else {"default": []}
    parser.add_argument("--plugin", action="append", dest=f"{prefix}plugin", metavar="MODULE", help="load one more plugin module", **kw)
    parser.add_argument("-p", dest=f"{prefix}block", action="append", metavar="no:NAME", help="block a plugin: -p no:NAME", **kw)
    parser.add_argument("--include-path", action="append", dest=f"{prefix}include_path", type=Path, metavar="DIR",
                        help="more task YAML folders", **kw)
    parser.add_argument("--verbosity", dest=f"{prefix}verbosity", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        default=argparse.SUPPRESS if prefix else "WARNING")
    parser.add_argument("-v", "--verbose", dest=f"{prefix}verbose", action="count", help="more log lines (-v INFO, -vv DEBUG)",
                        default=argparse.SUPPRESS if prefix else 0)


def _accept_global_options(sub: argparse._SubParsersAction, seen: set[int] | None = None) -> None:
    """Let every sub-command (plugins' too, and their own sub-commands) accept the global options after its name."""
    seen = set() if seen is None else seen
    for parser in sub.choices.values():
        if id(parser) in seen:
            continue
        seen.add(id(parser))
        taken = {s for action in parser._actions for s in action.option_strings}
        if "-" not in parser.prefix_chars or taken & {"--plugin", "-p", "--include-path", "--verbosity", "-v", "--verbose"}:
            continue  # a pass-through command (lm-eval), or one that defines one of these itself, keeps its own meaning
        _global_options(parser.add_argument_group("global options (also accepted before the command)"), prefix="_global_")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_global_options(action, seen)


def build_parser(pm: PluginManager) -> argparse.ArgumentParser:
    """The ``harness`` parser: global options, then every command, each added through
    ``harness_add_commands`` (the built-in ones by core plugin modules, see ``CORE_PLUGINS``)."""
    parser = argparse.ArgumentParser(prog="harness", description="Evaluation harness for interpretability and behaviour research.")
    _global_options(parser)
    sub = parser.add_subparsers(dest="command")
    pm.call("harness_add_commands", subparsers=sub)  # a plugin whose hook raises is reported, not fatal
    _accept_global_options(sub)
    return parser


@hookimpl
def harness_add_commands(subparsers: argparse._SubParsersAction) -> None:
    """The core commands: ``run``, ``list`` and ``plugins``."""
    sub = subparsers
    run = sub.add_parser("run", help="evaluate a model on tasks (default: the default suite on smollm2-135m)")
    run.add_argument("--model", default="hf", help="model adapter (default: hf)")
    run.add_argument("--model-args", default="", help="k=v,... e.g. pretrained=smollm2-135m,dtype=float32")
    run.add_argument("--tasks", default="default", help="comma-separated tasks, suites or tags (default: default)")
    run.add_argument("--batch-size", type=batch_size, default=None, help="N or auto")
    run.add_argument("--limit", type=positive_int, default=None, help="at most N samples per task")
    run.add_argument("--seed", type=int, default=1234)
    run.add_argument("--output-path", type=Path, default=None,
                     help="write results (and sample logs) under DIR (default: ./harness-runs, or $HARNESS_RUNS_DIR)")
    run.add_argument("--log-samples", action="store_true", help="write one JSONL line per sample")
    run.add_argument("--resume", action="store_true", help="continue a killed run from its sample logs")
    run.add_argument("--cache-requests", type=Path, default=None, metavar="FILE", help="SQLite request cache")
    run.add_argument("--threads", type=threads_arg, default=None, metavar="N|auto",
                     help="torch CPU threads (default auto: the cores not already busy, re-checked before each task)")
    run.add_argument("--no-progress", action="store_true")
    run.set_defaults(func=cmd_run)

    lst = sub.add_parser("list", help="list tasks with their plugin and description")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_list)

    plg = sub.add_parser("plugins", help="list plugins with version and origin")
    plg.add_argument("--json", action="store_true")
    plg.set_defaults(func=cmd_plugins)


def _index(pm: PluginManager, include: Sequence[Path]) -> TaskIndex:
    return TaskIndex.scan([*pm.task_paths(), *include], required=include)


def cmd_run(args: argparse.Namespace, pm: PluginManager) -> int:
    from harness.interrupt import RunInterrupted
    from harness.outdir import default_output_dir
    from harness.runner import RunConfig, RunError, run

    cfg = RunConfig(
        model=args.model, model_args=dict(split_kv(args.model_args, "--model-args")),  # typed by the adapter's signature
        tasks=[t.strip() for t in args.tasks.split(",") if t.strip()], include_paths=args.include_path,
        batch_size=args.batch_size, limit=args.limit, seed=args.seed,
        output_path=args.output_path if args.output_path is not None else default_output_dir(),
        log_samples=args.log_samples, resume=args.resume, cache_requests=args.cache_requests,
        progress=not args.no_progress, report=_note, threads=args.threads,
    )
    argv = getattr(args, "harness_argv", ())  # the command line, for the resume hint
    try:
        doc = run(cfg, pm=pm)
    except RunError as err:
        _err(str(err))
        return 2
    except RunInterrupted as stop:
        _note(f"harness: interrupted; saved {stop.saved}; continue with: {resume_command(argv)}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        _note(f"harness: interrupted before any sample was saved; run again with: {resume_command(argv)}")
        return EXIT_INTERRUPTED
    if doc.get("rank"):  # data-parallel: rank 0 reports
        return 0
    print(printable(format_results(doc)))
    if doc.get("results_path"):
        print(f"results: {doc['results_path']}")
    failed = {t: m["n_failed"] for t, m in doc["tasks"].items() if m.get("n_failed")}
    for task, n in failed.items():
        ids = ", ".join(list(doc["tasks"][task]["failed_samples"])[:5])
        _note(f"harness: task {task}: {n} sample(s) failed ({ids}{', ...' if n > 5 else ''}); their errors are in "
              f"the results file{' and the sample log' if cfg.log_samples or cfg.resume else ''}; --resume retries them")
    for task, message in doc["errors"].items():
        _note(f"harness: task {task} failed: {message}")
    if doc["errors"] and not failed and set(doc["errors"]) <= set(doc.get("input_errors", ())):
        return 2  # only bad input: the data files named above
    return 1 if doc["errors"] or failed else 0


def resume_command(argv: Sequence[str]) -> str:
    """The command line that continues this run."""
    argv = list(argv)
    return "harness " + shlex.join(argv + ([] if "--resume" in argv else ["--resume"]))


def format_results(doc: dict[str, Any]) -> str:
    rows = [("task", "metric", "value", "stderr")]
    for task, metrics in doc["results"].items():
        for name, value in metrics.items():
            se = doc["stderr"].get(task, {}).get(name)
            rows.append((task, name, _fmt(value), _fmt(se)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return f"model: {doc['model']['name']}  ({doc['wall_seconds']} s)\n" + "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def cmd_list(args: argparse.Namespace, pm: PluginManager) -> int:
    index = _index(pm, args.include_path)
    benchmarks = pm.registry().benchmarks
    rows: list[dict[str, Any]] = []
    for name, tc in sorted(index.tasks.items()):
        spec = benchmarks.get(tc.benchmark)
        rows.append({"task": name, "benchmark": tc.benchmark, "plugin": spec.plugin if spec else None,
                     "description": tc.description, "tags": tc.tags, "path": str(tc.path)})
    suites: list[dict[str, Any]] = [{"suite": s.name, "tasks": s.tasks, "description": s.description} for s in index.suites.values()]
    if args.json:
        print(json.dumps({"tasks": rows, "suites": suites, "errors": index.errors}, indent=2))
    else:
        width = max([len(r["task"]) for r in rows] + [4])
        for r in rows:
            plugin = r["plugin"] or f"(unknown benchmark {r['benchmark']})"
            print(printable(f"{r['task'].ljust(width)}  {plugin:<20}  {r['description']}"))
        for s in suites:
            print(printable(f"{s['suite'].ljust(width)}  {'(suite)':<20}  {', '.join(s['tasks'])}"))
    for info in pm.failures():
        _note(f"harness: plugin {info.name} failed: {info.error}")
    for note in index.notes:
        _note(f"harness: note: {note}")
    for err in index.errors:
        _note(f"harness: {err}")
    return 0


def cmd_plugins(args: argparse.Namespace, pm: PluginManager) -> int:
    pm.registry()  # collect registrations so malformed ones are reported too
    pm.task_paths()  # and task-path hooks that raise
    infos = sorted(pm.infos.values(), key=lambda i: i.name)
    if args.json:
        print(json.dumps([vars(i) for i in infos], indent=2))
    else:
        for i in infos:
            status = {"failed": f"FAILED: {i.error}", "unavailable": f"unavailable: {i.error}"}.get(i.status, i.status)
            print(f"{i.name:<22} {i.version or '-':<10} {i.origin:<40} {status}")
    return 0


GLOBAL_WITH_VALUE = ("--plugin", "-p", "--include-path", "--verbosity")


def command_index(argv: Sequence[str]) -> int:
    """Where the sub-command's name stands in ``argv`` (``len(argv)`` if none): the first word
    that is neither a global option nor its value."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in GLOBAL_WITH_VALUE:
            i += 2
        elif token.startswith("-"):
            i += 1
        else:
            return i
    return len(argv)


def _global_values(argv: Sequence[str]) -> argparse.Namespace:
    pre = argparse.ArgumentParser(prog="harness", add_help=False, allow_abbrev=False)
    _global_options(pre)
    early, _ = pre.parse_known_args(list(argv))
    return early


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subs[0].choices) if subs else {}


def _plugins(early: argparse.Namespace) -> PluginManager:
    blocked = []
    for b in early.block:
        if not b.startswith("no:"):
            raise OptionError(f"-p expects no:NAME, got {b!r}")
        blocked.append(b[3:])
    return PluginManager().load(early.plugin, blocked)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    at = command_index(argv)
    try:  # the global options decide which plugins (and so which commands) exist: read them first
        early = _global_values(argv[:at])
        pm = _plugins(early)
        parser = build_parser(pm)
        command = _commands(parser).get(argv[at]) if at < len(argv) else None
        if command is not None and any(a.dest == "_global_plugin" for a in command._actions):  # it takes them after its name too
            whole = _global_values(argv[:at] + argv[at + 1:])
            if (whole.plugin, whole.block) != (early.plugin, early.block):
                pm = _plugins(whole)
                parser = build_parser(pm)
            early = whole
    except OptionError as err:
        _err(str(err))
        return 2
    except SystemExit as stop:  # a malformed global option (argparse printed why)
        return int(stop.code or 0)
    level = {0: early.verbosity, 1: "INFO"}.get(early.verbose, "DEBUG")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    args = parser.parse_args(argv)
    for key in ("plugin", "block", "include_path", "verbosity", "verbose"):  # from wherever they stood
        setattr(args, key, getattr(early, key))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    args.harness_argv = argv
    try:
        status = int(args.func(args, pm) or 0)  # every command, built-in or not: func(args, pm)
        sys.stdout.flush()  # a closed pipe is noticed here, not in the interpreter's exit
        return status
    except BrokenPipeError:  # `harness list | head`: the reader left; no traceback
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (TaskConfigError, OptionError) as err:
        _err(str(err))
        return 2
    except KeyboardInterrupt:
        _note("harness: interrupted")
        return EXIT_INTERRUPTED


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
