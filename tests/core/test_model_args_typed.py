"""--model-args typed by the adapter's own signature; decoding specs parsed once and typed by the decoder."""

from __future__ import annotations

import sys
import textwrap

import pytest

from harness.models.args import ModelArgError, bind_model_args, model_options
from harness.models.decoding_spec import DecodingSpec, _parse


@pytest.fixture(scope="module")
def decoders():
    from harness_plugins.activation_decoding import plugin

    return {spec.name: spec for spec in plugin.harness_register_decoders()}


def test_hf_arguments_are_its_constructors_keywords():
    from harness.models.plugin import make_hf_adapter

    opts = model_options(make_hf_adapter)
    # documented and accepted now (the hand-kept list had drifted); internals stay out
    assert {"share_prefix", "cached_rerun", "gguf_file", "revision", "trust_remote_code", "batch_size", "decoding"} <= set(opts.fields)
    assert not {"model", "tokenizer", "source", "kwargs"} & set(opts.fields) and not opts.open
    typed = bind_model_args("hf", make_hf_adapter, {"pretrained": "m", "share_prefix": "false", "batch_size": "8",
                                                    "max_length": "128", "revision": "0123", "add_bos_token": "TRUE"})
    assert typed == {"pretrained": "m", "share_prefix": False, "batch_size": 8, "max_length": 128, "revision": "0123", "add_bos_token": True}


def test_nnsight_arguments_are_its_factory_and_adapter_keywords():
    from harness.models.nnsight_plugin import make_nnsight_adapter

    opts = model_options(make_nnsight_adapter)
    assert {"pretrained", "remote", "backend", "dtype", "batch_size", "max_length", "decoding", "name"} <= set(opts.fields)
    assert "share_prefix" not in opts.fields and "trace_kwargs" not in opts.fields
    with pytest.raises(ModelArgError, match=r"unknown model argument\(s\) \['share_prefix'\] for adapter 'nnsight'"):
        bind_model_args("nnsight", make_nnsight_adapter, {"share_prefix": "false"})
    assert bind_model_args("nnsight", make_nnsight_adapter, {"remote": "true"}) == {"remote": True}


def test_a_misspelled_argument_is_never_folded_into_the_decoder(decoders):
    from harness.models.plugin import make_hf_adapter

    args = {"pretrained": "m", "decoding": "activation", "alpha": "0.5", "info_layer": "-1"}
    typed = bind_model_args("hf", make_hf_adapter, {**args, "max_length": "64"}, decoders)
    spec = typed["decoding"]
    assert isinstance(spec, DecodingSpec) and spec.typed and typed["max_length"] == 64
    assert spec.kwargs == {"alpha": 0.5, "info_layer": -1} and str(spec) == "activation,alpha=0.5,info_layer=-1"
    assert spec.effective["relative_top"] == 0.1 and spec.effective["recompute"] is False  # the decoder's defaults
    with pytest.raises(ModelArgError) as err:
        bind_model_args("hf", make_hf_adapter, {**args, "max_lenght": "64"}, decoders)
    msg = str(err.value)
    assert "unknown model argument(s) ['max_lenght'] for adapter 'hf' or decoding 'activation' (did you mean max_length?)" in msg
    assert "alpha" in msg and "share_prefix" in msg  # both lists are offered
    with pytest.raises(ModelArgError, match=r"decoding=activation alpha='x': expected a number"):
        bind_model_args("hf", make_hf_adapter, {**args, "alpha": "x"}, decoders)
    with pytest.raises(ModelArgError, match=r"decoding=actvation: unknown decoding strategy \(did you mean activation\?\)"):
        bind_model_args("hf", make_hf_adapter, {"decoding": "actvation"}, decoders)
    with pytest.raises(ModelArgError, match=r"unknown model argument\(s\) \['alpha'\] for adapter 'hf' or decoding 'dola'"):
        bind_model_args("hf", make_hf_adapter, {"decoding": "dola", "alpha": "1"}, decoders)


def test_a_third_party_adapter_is_typed_by_its_own_signature(tmp_path, monkeypatch):
    """A plugin module registering an adapter class: the runner types its arguments from __init__."""
    (tmp_path / "toy_adapter_plugin.py").write_text(textwrap.dedent('''
        from harness.hookspecs import hookimpl
        from harness.models.base import LoglikelihoodResult, ModelAdapter
        from harness.registry import ModelSpec

        HARNESS_API_VERSION = "2.0"

        class ToyAdapter(ModelAdapter):
            def __init__(self, *, bias: float = 0.0, exact: bool = False, label: str = "toy"):
                self.bias, self.exact, self.name = bias, exact, label
            def loglikelihood(self, requests):
                return [LoglikelihoodResult(self.bias, self.exact) for _ in requests]
            def generate(self, requests):
                return []
            def fingerprint(self):
                return f"toy-{self.bias}-{self.exact}"

        @hookimpl
        def harness_register_models():
            return [ModelSpec(name="toy", implementation=ToyAdapter, description="a toy")]
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    from harness.pluginmanager import PluginManager
    from harness.runner import RunConfig, RunError, load_model, load_model_with_args

    pm = PluginManager().load(["toy_adapter_plugin"])
    try:
        adapter, typed = load_model_with_args(RunConfig(model="toy", model_args={"bias": "-1.5", "exact": "true", "label": "007"}), pm)
        assert (adapter.bias, adapter.exact, adapter.name) == (-1.5, True, "007") and typed["label"] == "007"
        with pytest.raises(RunError, match=r"unknown model argument\(s\) \['biass'\] for adapter 'toy' \(did you mean bias\?\); accepted: bias, exact, label"):
            load_model(RunConfig(model="toy", model_args={"biass": "1"}), pm)
        with pytest.raises(RunError, match="exact='yes': expected true or false"):
            load_model(RunConfig(model="toy", model_args={"exact": "yes"}), pm)
    finally:
        sys.modules.pop("toy_adapter_plugin", None)


def test_a_spec_is_parsed_once_and_typed_once(decoders):
    from harness.models.base import GenerationRequest
    from harness.models.decoding import make_rule
    from harness.testing import tiny_adapter

    if True:
        factory = decoders["activation"].load()
        spec = DecodingSpec.parse("activation,alpha=1,info_layer=2").bind(factory)
        assert spec.kwargs == {"alpha": 1.0, "info_layer": 2} and spec.bind(factory) is spec
        adapter = tiny_adapter("llama", batch_size=2).use_decoders(decoders)
        before = _parse.cache_info()
        reqs = [GenerationRequest(prompt=f"Question {i}:", max_new_tokens=2, decoding=spec) for i in range(5)]
        out = adapter.generate(reqs)  # three batches of at most two
        assert len(out) == 5 and _parse.cache_info() == before  # no text was parsed while generating
        rule = make_rule(adapter, spec, adapter.decoders)
        assert rule.alpha == 1.0 and rule.info_layer == 2 and rule.relative_top == 0.1


def test_relative_top_defaults_per_mode_come_from_one_table(decoders):
    from harness_plugins.activation_decoding import decoders as gen
    from harness_plugins.activation_decoding.settings import DEFAULT_RELATIVE_TOP, MethodSetting
    from harness.testing import tiny_adapter

    assert DEFAULT_RELATIVE_TOP == {"scoring": 0.0, "generation": 0.1}
    assert MethodSetting.parse("dola").relative_top == DEFAULT_RELATIVE_TOP["scoring"]
    adapter = tiny_adapter("llama")
    assert gen.dola(adapter).relative_top == DEFAULT_RELATIVE_TOP["generation"]
    assert gen.activation(adapter, alpha=1, info_layer=1).relative_top == DEFAULT_RELATIVE_TOP["generation"]
    # an explicit value is used as given in both modes
    assert MethodSetting.parse("dola,relative_top=0.2").relative_top == 0.2 == gen.dola(adapter, relative_top="0.2").relative_top
    with pytest.raises(ValueError, match="expected true or false"):
        MethodSetting.parse("activation,alpha=1,info_layer=1,final_norm=yes")


def test_causalgym_das_defaults_live_in_one_dataclass():
    from harness_plugins.causalgym.benchmark import CausalGymBenchmark
    from harness_plugins.causalgym.das_options import DASOptions
    from harness_plugins.causalgym.sweep import SweepConfig

    assert SweepConfig().das == DASOptions()
    bench = CausalGymBenchmark(das={"lr": "5e-2", "converge": False, "rank": 2})  # YAML reads 5e-2 as a text
    assert bench.das == DASOptions(lr=0.05, converge=False, rank=2)
    with pytest.raises(ValueError, match=r"unknown das option\(s\) \['patiense'\]"):
        CausalGymBenchmark(das={"patiense": 3})
    with pytest.raises(ValueError, match="das: rank='two': expected an integer"):
        CausalGymBenchmark(das={"rank": "two"})
