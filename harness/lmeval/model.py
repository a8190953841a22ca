"""Our model adapter as an lm-eval ``LM``: any decoding strategy of ours works through lm-eval."""

from __future__ import annotations

from typing import Any

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from harness.models.base import GenerationRequest, LoglikelihoodRequest, RollingRequest


@register_model("harness")
class HarnessLM(LM):
    """lm-eval model ``harness``: ``--model harness --model_args pretrained=smollm2-135m,decoding=...``."""

    def __init__(self, adapter: Any = None, **model_args: Any):
        """Wrap ``adapter``, or build the hf adapter from ``model_args``. lm-eval builds this class
        itself, outside any harness run, so it is a top-level entry point: it loads the installed
        plugins once for their decoding strategies, as the ``harness`` command does."""
        super().__init__()
        if adapter is None:
            from harness.models.args import bind_model_args
            from harness.models.plugin import make_hf_adapter
            from harness.pluginmanager import PluginManager

            decoders = PluginManager().load().registry().decoders
            adapter = make_hf_adapter(**bind_model_args("hf", make_hf_adapter, model_args, decoders)).use_decoders(decoders)
        self.adapter = adapter

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> HarnessLM:
        from harness.options import split_kv

        return cls.create_from_arg_obj(dict(split_kv(arg_string, "--model_args")), additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None) -> HarnessLM:
        """lm-eval's ``--batch_size``/``--device`` apply unless ``--model_args`` sets them; like
        lm-eval's HFLM, a CUDA device on a machine without CUDA falls back to ``auto``."""
        import torch

        args = dict(arg_dict)
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None}
        if "batch_size" in extra:
            args.setdefault("batch_size", extra["batch_size"])
        device = str(extra.get("device", "auto"))
        if device.startswith("cuda") and not torch.cuda.is_available():
            device = "auto"
        args.setdefault("device", device)
        return cls(**args)

    @property
    def tokenizer_name(self) -> str:
        return getattr(self.adapter.tokenizer, "name_or_path", "harness")

    def loglikelihood(self, requests: list, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        results = self.adapter.loglikelihood([LoglikelihoodRequest(*r.args) for r in requests])
        return [(r.logprob, r.is_greedy) for r in results]

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list[float]:
        return self.adapter.loglikelihood_rolling([RollingRequest(r.args[0]) for r in requests])

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        reqs = []
        for r in requests:
            context, kwargs = r.args
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            reqs.append(GenerationRequest(
                prompt=context, max_new_tokens=int(kwargs.get("max_gen_toks", 256)), stop=tuple(until),
                do_sample=bool(kwargs.get("do_sample", False)), temperature=float(kwargs.get("temperature", 1.0) or 1.0),
                top_p=float(kwargs.get("top_p", 1.0) or 1.0), seed=kwargs.get("seed"),
            ))
        return [g.text for g in self.adapter.generate(reqs)]
