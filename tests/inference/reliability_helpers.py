"""Preprocessing that misbehaves on purpose, for the reliability tests (picklable, so the
decoding workers can run it)."""

from __future__ import annotations

import os
import signal

from inference_helpers import SlowPreprocess


class KillerPreprocess(SlowPreprocess):
    """Like SlowPreprocess, but the worker SIGKILLs itself (as the OOM killer would) on the
    study whose source path contains ``victim``."""

    def __init__(self, victim: str, delay: float = 0.0) -> None:
        super().__init__(delay)
        self.victim = victim

    def apply_numpy(self, volume, *, mask=None, source=None):
        if any(self.victim in s for s in volume.meta.get("source", [])):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().apply_numpy(volume, mask=mask, source=source)


def killer_predictor(victim: str, *, delay: float = 0.0):
    """tiny_predictor whose decoding dies on ``victim``."""
    import dataclasses

    from inference_helpers import tiny_predictor

    p = tiny_predictor()
    spec = dataclasses.replace(p.preparer.input, preprocess=KillerPreprocess(victim, delay))
    p.preparer = dataclasses.replace(p.preparer, input=spec)
    return p
