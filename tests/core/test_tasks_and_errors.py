"""Task YAML parsing and the errors users see for bad input."""

import pytest

from testutil import run_cli
from harness.tasks import TaskConfigError, TaskIndex, parse_file


def write(path, text):
    path.write_text(text)
    return path


def test_task_and_suite_and_tag_expansion(tmp_path):
    write(tmp_path / "a.yaml", "task: a\nbenchmark: b\nargs: {x: 1}\ntags: [quick]\n")
    write(tmp_path / "c.yaml", "benchmark: b\ntags: [quick]\n")  # name from the file stem
    write(tmp_path / "s.yaml", "suite: both\ntasks: [quick, a]\n")
    index = TaskIndex.scan([tmp_path])
    assert [t.name for t in index.expand(["both"])] == ["a", "c"]
    assert index.tasks["a"].args == {"x": 1}
    with pytest.raises(TaskConfigError, match="unknown task 'zzz'"):
        index.expand(["zzz"])


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = write(tmp_path / "bad.yaml", "task: t\nbenchmark: b\nargs: {x: [1, 2}\n")
    with pytest.raises(TaskConfigError, match=r"bad\.yaml:3:\d+: invalid YAML"):
        parse_file(bad)
    unknown = write(tmp_path / "unk.yaml", "task: t\nbenchmark: b\n\nlimitt: 3\n")
    with pytest.raises(TaskConfigError, match=r"unk\.yaml:4: unknown field 'limitt'"):
        parse_file(unknown)
    nobench = write(tmp_path / "nob.yaml", "task: t\nargs: {}\n")
    with pytest.raises(TaskConfigError, match=r"nob\.yaml:1: field 'benchmark' is required"):
        parse_file(nobench)


def test_cli_errors_exit_nonzero_with_clear_messages(tmp_path, example_plugin_site, tiny_model_dir):
    env = {"PYTHONPATH": str(example_plugin_site)}
    write(tmp_path / "broken.yaml", "task: broken\nbenchmark: arith_mc\nargs:\n  n: [oops\n")
    res = run_cli(["--include-path", str(tmp_path), "run", "--tasks", "broken"], env=env)
    assert res.returncode == 2 and "broken.yaml:4" in res.stderr and "invalid YAML" in res.stderr

    res = run_cli(["run", "--tasks", "no_such_task"], env=env)
    assert res.returncode == 2 and "unknown task 'no_such_task'" in res.stderr

    (tmp_path / "broken.yaml").unlink()
    write(tmp_path / "badarg.yaml", "task: badarg\nbenchmark: arith_mc\nargs:\n  n: 3\n  nn: 4\n")
    res = run_cli(["--include-path", str(tmp_path), "run", "--tasks", "badarg"], env=env)
    assert res.returncode == 2 and "badarg.yaml:5" in res.stderr and "unknown argument 'nn'" in res.stderr
    assert "accepted: fewshot, max_operand, n" in res.stderr

    res = run_cli(["run", "--tasks", "arith_small", "--model-args", f"pretrained={tiny_model_dir},dtyp=float32"], env=env)
    assert res.returncode == 2 and "unknown model argument(s) ['dtyp']" in res.stderr

    res = run_cli(["run", "--tasks", "arith_small", "--model", "nope"], env=env)
    assert res.returncode == 2 and "unknown model adapter 'nope'" in res.stderr
    assert "--model hf --model-args pretrained=" in res.stderr

    res = run_cli(["run", "--tasks", "arith_small", "--model-args", "pretrained"], env=env)
    assert res.returncode == 2 and "expected key=value" in res.stderr


def test_model_given_as_a_folder_or_embedded_name_uses_the_hf_adapter(tiny_model_dir):
    import harness
    from harness.pluginmanager import PluginManager
    from harness.runner import load_model

    adapter = load_model(harness.RunConfig(model=str(tiny_model_dir)), PluginManager().load())
    assert adapter.model.config.num_hidden_layers == 3
