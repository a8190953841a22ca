"""A decoding strategy: greedy decoding that never emits a token it already emitted in this row."""

from __future__ import annotations


class NoRepeat:
    """``decoding=no_repeat``: each step bans the tokens this rule chose in earlier steps.

    It bans what its own scores made the argmax, so it is meant for greedy decoding."""

    needs_states = False

    def __init__(self, adapter, window: int = 0):
        self.window = int(window)  # only the last ``window`` tokens (0: all of them)
        self.emitted = []

    def start(self, adapter, prompt) -> None:
        self.emitted = []

    def scores(self, logits, states, step):
        out = logits.clone()
        recent = self.emitted[-self.window:] if self.window else self.emitted
        for picked in recent:
            out[range(out.shape[0]), picked] = float("-inf")
        self.emitted.append(out.argmax(-1))
        return out


def no_repeat(adapter, window: int = 0) -> NoRepeat:
    return NoRepeat(adapter, window)
