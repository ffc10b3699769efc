"""Preprocessing that misbehaves on purpose, for the reliability tests (picklable, so the
decoding workers can run it)."""

from __future__ import annotations

import os
import signal

from inference_helpers import TinyPreprocess


class KillerPreprocess(TinyPreprocess):
    """Like TinyPreprocess, but the worker SIGKILLs itself (as the OOM killer would) on the
    study whose source path contains ``victim``."""

    def __init__(self, victim: str, delay: float = 0.0) -> None:
        super().__init__(delay)
        self.victim = victim

    def __call__(self, vol):
        if any(self.victim in s for s in vol.meta.get("source", [])):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(vol)


def killer_predictor(victim: str, *, delay: float = 0.0):
    """tiny_predictor whose decoding dies on ``victim``."""
    import dataclasses

    from inference_helpers import tiny_predictor

    p = tiny_predictor()
    p.preparer = dataclasses.replace(p.preparer, preprocess=KillerPreprocess(victim, delay))
    return p
