"""Bad-input battery: --model-args of the hf adapter (issue 16 points 1, 8, 9)."""

import json
import shutil

import pytest

from testutil import assert_user_error, run_cli

RUN = ["run", "--tasks", "causalgym_quick", "--no-progress", "--limit", "2"]
MISSING_PKG = "not_installed_pkg_xyz"


@pytest.fixture()
def remote_code_dir(tiny_model_dir, tmp_path):
    """A model folder whose config names its own code; importing that code leaves a marker file."""
    folder = tmp_path / "remote"
    shutil.copytree(tiny_model_dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "configuration_evil.py").write_text(
        "import os, pathlib\npathlib.Path(os.environ['EVIL_MARKER']).write_text('ran')\n"
        "from transformers import LlamaConfig\n\nclass EvilConfig(LlamaConfig):\n    pass\n")
    (folder / "modeling_evil.py").write_text(
        f"import {MISSING_PKG}\nfrom transformers import LlamaForCausalLM\n\nclass EvilModel(LlamaForCausalLM):\n    pass\n")
    return folder


def one_error_line(stderr: str, needle: str) -> bool:
    """The error is one ``harness: error:`` line holding ``needle`` (not chained tracebacks)."""
    errors = [line for line in stderr.splitlines() if line.startswith("harness: error:")]
    return len(errors) == 1 and needle in errors[0] and len(stderr) < 2000


def error_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("harness: error:"))


def env_for(tmp_path):
    return {"EVIL_MARKER": str(tmp_path / "marker"), "HF_MODULES_CACHE": str(tmp_path / "modules")}


@pytest.mark.parametrize("value", ["no", "off", "0", "yes"])
def test_trust_remote_code_accepts_only_true_or_false(remote_code_dir, tmp_path, value):
    res = run_cli([*RUN, "--model-args", f"pretrained={remote_code_dir},trust_remote_code={value}",
                   "--output-path", str(tmp_path / "out")], env=env_for(tmp_path))
    assert_user_error(res, "--model-args trust_remote_code=", value, "expected true or false")
    assert not (tmp_path / "marker").exists(), "the model folder's code ran"


def test_missing_package_of_a_model_gives_the_install_command(remote_code_dir, tmp_path):
    res = run_cli([*RUN, "--model-args", f"pretrained={remote_code_dir},trust_remote_code=true",
                   "--output-path", str(tmp_path / "out")], env=env_for(tmp_path))
    assert_user_error(res, f"pip install {MISSING_PKG}")
    assert one_error_line(res.stderr, f"pip install {MISSING_PKG}")


def test_add_bos_token_rejects_other_spellings(tiny_model_dir, tmp_path):
    res = run_cli([*RUN, "--model-args", f"pretrained={tiny_model_dir},add_bos_token=yes", "--output-path", str(tmp_path)])
    assert_user_error(res, "add_bos_token='yes': expected true or false")


@pytest.mark.parametrize("pretrained, needle", [
    ("", "pretrained= is empty"),
    ("/nonexistent/model/dir", "no such file or folder"),
    ("nobody-xyz/no-such-model-xyz", "could not load it"),
])
def test_unloadable_pretrained_is_one_clear_line(tmp_path, pretrained, needle):
    res = run_cli([*RUN, "--model-args", f"pretrained={pretrained}", "--output-path", str(tmp_path)])
    assert_user_error(res, needle)
    assert one_error_line(res.stderr, needle)


def test_folder_without_config_is_not_a_model(tmp_path):
    (tmp_path / "empty").mkdir()
    res = run_cli([*RUN, "--model-args", f"pretrained={tmp_path / 'empty'}", "--output-path", str(tmp_path / "out")])
    assert_user_error(res, "has no config.json")


@pytest.mark.parametrize("arg, needle", [
    ("batch_size=0", "batch_size=0: expected a positive integer or 'auto'"),
    ("dtype=float8", "dtype='float8': expected one of auto"),
    ("max_length=-5", "max_length=-5: expected a positive integer"),
])
def test_bad_values_are_refused_before_weights_load(tmp_path, arg, needle):
    # pretrained names no model: an error about the value proves nothing was loaded first
    res = run_cli([*RUN, "--model-args", f"pretrained={tmp_path / 'no-model'},{arg}", "--output-path", str(tmp_path)])
    assert_user_error(res, needle)
    assert one_error_line(res.stderr, needle) and "no-model" not in error_line(res.stderr)


def test_python_api_refuses_truthy_strings_too(tiny_model_dir):
    from harness.models.args import ModelArgError
    from harness.models.hf import HFAdapter

    with pytest.raises(ModelArgError, match="expected true or false"):
        HFAdapter.from_pretrained(str(tiny_model_dir), trust_remote_code="no")


def test_a_missing_embedded_model_package_gives_one_line_with_the_install_command(tmp_path, monkeypatch, capsys):
    """An embedded model whose carrying package is not installed (an extra registry entry naming
    a package that does not exist; the real lookup and error path run)."""
    from harness.cli import main
    from harness.models import embedded

    ghost = embedded.EmbeddedModel("ghost-1m", "a model whose package is absent", "harness_ghost_model_pkg",
                                   "pip install harness-ghost-model", lambda pkg: pkg / "ghost.gguf")
    monkeypatch.setitem(embedded.EMBEDDED, "ghost-1m", ghost)
    code = main(["run", "--model-args", "pretrained=ghost-1m", "--tasks", "activation_decoding_truthfulqa_sample",
                 "--output-path", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "pip install harness-ghost-model" in err and "harness_ghost_model_pkg" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 6, err


@pytest.mark.parametrize("args, needle", [
    ("max_lenght=64", "unknown model argument(s) ['max_lenght'] for adapter 'hf' (did you mean max_length?)"),
    ("decoding=activation,alpha=0.5,info_layer=-1,max_lenght=64",
     "unknown model argument(s) ['max_lenght'] for adapter 'hf' or decoding 'activation' (did you mean max_length?)"),
    ("decoding=activation,alpha=half,info_layer=-1", "decoding=activation alpha='half': expected a number"),
    ("decoding=activaton,alpha=0.5", "decoding=activaton: unknown decoding strategy (did you mean activation?)"),
    ("decoding=activation,alpha=0.5", "decoding 'activation' needs info_layer="),
    ("share_prefix=maybe", "share_prefix='maybe': expected true or false"),
    ("revision=v1,revision=v2", "revision is given twice"),
])
def test_misspelled_or_mistyped_arguments_are_refused_before_weights_load(tmp_path, args, needle):
    # pretrained names no model: an error about the argument proves nothing was loaded first
    res = run_cli(["run", "--tasks", "activation_decoding_openqa_sample", "--no-progress", "--limit", "1",
                   "--model-args", f"pretrained={tmp_path / 'no-model'},{args}", "--output-path", str(tmp_path)])
    assert_user_error(res, needle)
    assert one_error_line(res.stderr, needle) and "no-model" not in error_line(res.stderr)
