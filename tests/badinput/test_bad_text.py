"""Terminal control sequences in task names and descriptions never reach the terminal or leaderboard.md."""

import json

from badutil import run_toy, toy_task
from testutil import run_cli

ESC = "\x1b"


def test_control_sequences_are_neutralised_in_output_and_leaderboard(tmp_path):
    args = toy_task(tmp_path, [{"id": "a", "x": 1}])
    docs = tmp_path / "toy.jsonl"
    (tmp_path / "tasks" / "toy.yaml").write_text(
        f'task: "evil\\e[2J\\e]0;pwned\\a"\nbenchmark: toy_docs\ndescription: "clear\\e[2J"\nargs: {{path: {json.dumps(str(docs))}}}\n')
    args[args.index("--tasks") + 1] = "evil\x1b[2J\x1b]0;pwned\x07"
    out = tmp_path / "out"
    res = run_toy(args + ["--output-path", str(out)])
    assert res.returncode == 0, res.stderr
    assert ESC not in res.stdout and ESC not in res.stderr and "\\x1b[2J" in res.stdout
    listing = run_toy(args[:4] + ["list"])
    assert ESC not in listing.stdout and "clear\\x1b[2J" in listing.stdout
    board = run_cli(["leaderboard", str(out), "--out", str(tmp_path / "lb"), "--no-plots"])
    assert board.returncode == 0, board.stderr
    assert ESC not in board.stdout + board.stderr
    for name in ("leaderboard.md", "leaderboard.csv"):
        text = (tmp_path / "lb" / name).read_text()
        assert "evil" in text and ESC not in text and "\x07" not in text, name


def test_md_and_csv_cells_drop_controls():
    from harness.leaderboard.escape import csv_text, md_text

    assert md_text("a\x1b[31mb\x9bc") == "a\\[31mbc"
    assert csv_text("\x1b=1+1") == "'=1+1"
