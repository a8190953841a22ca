"""Every command, built-in or not, comes through ``harness_add_commands`` and is called as
``func(args, pm)``; a closed output pipe (``harness list | head``) ends quietly."""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys

from testutil import REPO

from harness.cli import build_parser
from harness.pluginmanager import CORE_PLUGINS, PluginManager


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_is_added_by_a_plugin_and_takes_args_and_pm():
    pm = PluginManager().load()
    commands = _commands(build_parser(pm))
    assert {"run", "list", "plugins", "bench", "leaderboard", "llm-usage", "lm-eval"} <= set(commands)
    for name, parser in commands.items():
        func = parser.get_default("func")
        assert func is not None, name
        params = [p for p in inspect.signature(func).parameters.values() if p.default is inspect.Parameter.empty]
        assert len(params) == 2, (name, params)  # (args, pm)
        assert parser.get_default("wants_pm") is None, name  # no second calling convention
    # with no plugin at all registered, the parser has no command: the built-ins come from the core plugins
    bare = PluginManager()
    assert _commands(build_parser(bare)) == {}
    assert {"core", "bench", "leaderboard"} <= set(CORE_PLUGINS)


def test_a_closed_pipe_ends_the_listing_without_a_traceback():
    read, write = os.pipe()
    os.close(read)  # the reader (head) is gone before anything is written
    try:
        res = subprocess.run([sys.executable, "-m", "harness", "list"], stdout=write, stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=120)
    finally:
        os.close(write)
    assert res.returncode == 141, res.stderr[-2000:]  # as a process ended by SIGPIPE
    assert "Traceback" not in res.stderr and "BrokenPipeError" not in res.stderr, res.stderr[-2000:]
