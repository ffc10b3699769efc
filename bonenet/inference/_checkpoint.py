"""Rebuild a :class:`Predictor` from a bonenet training checkpoint (weights-only loading).

A checkpoint is data from outside: before any network is built from it,
:func:`validate_checkpoint` reads it memory-mapped with ``weights_only=True`` (no code runs, no
tensor is read) and checks the stored network configuration — known heads, fusion and
backbone, every size within :data:`NETWORK_BOUNDS` — and that the network it describes has
exactly the parameter shapes of the stored weights (built on PyTorch's ``meta`` device, which
allocates nothing). A crafted checkpoint claiming ``hidden=10_000_000`` fails with a
:class:`~bonenet.errors.CheckpointError` instead of allocating gigabytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BoneNetError, CheckpointError
from ..models import model_name
from ._prepare import StudyPreparer
from ._runner import ModelRunner, Predictor

__all__ = ["NETWORK_BOUNDS", "file_sha256", "load_predictor", "validate_checkpoint"]

#: Inclusive bounds of the integer network settings a checkpoint may carry (far above any
#: bonenet model: the shipped ones use hidden 64–256, a few dozen clinical features).
NETWORK_BOUNDS: dict[str, tuple[int, int]] = {
    "hidden": (1, 8192),
    "clinical_features": (0, 4096),
    "n_intervals": (1, 1000),
    "ensemble": (1, 64),
    "spatial_dims": (2, 3),
    "in_channels": (1, 64),
}
_KWARG_INT_MAX = 65536
_MAX_PARAMETERS = 2_000_000_000


def _bad(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{str(path)!r}: {what}; this is not a checkpoint `bonenet train` "
                           "writes — use one from a trusted run's checkpoints/ folder")


def _check_kwargs(path: Path, value: Any, where: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        if isinstance(value, float) and not (abs(value) < 1e9):
            raise _bad(path, f"{where} = {value!r} is out of range")
        return
    if isinstance(value, int):
        if not -_KWARG_INT_MAX <= value <= _KWARG_INT_MAX:
            raise _bad(path, f"{where} = {value} is out of range (|value| <= {_KWARG_INT_MAX})")
        return
    if isinstance(value, list | tuple):
        if len(value) > 64:
            raise _bad(path, f"{where} has {len(value)} entries (at most 64)")
        for i, v in enumerate(value):
            _check_kwargs(path, v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_kwargs(path, v, f"{where}.{k}")
        return
    raise _bad(path, f"{where} has a value of type {type(value).__name__}")


def _check_network_config(path: Path, cfg: dict[str, Any]) -> None:
    from ..models import list_models
    from ..models.fusion import CLINICAL_PATHS, FUSIONS, HEADS

    for key, (lo, hi) in NETWORK_BOUNDS.items():
        if key not in cfg:
            continue
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _bad(path, f"network setting {key} = {v!r} is outside {lo}..{hi}")
    d = cfg.get("dropout", 0.0)
    if not isinstance(d, int | float) or not 0.0 <= float(d) < 1.0:
        raise _bad(path, f"network setting dropout = {d!r} is outside [0, 1)")
    heads = cfg.get("heads", ("fracture",))
    if not isinstance(heads, list | tuple) or not heads or any(h not in HEADS for h in heads):
        raise _bad(path, f"unknown head(s) {heads!r}; bonenet heads are {', '.join(HEADS)}")
    if cfg.get("fusion", "concat") not in FUSIONS:
        raise _bad(path, f"unknown fusion {cfg.get('fusion')!r}; known: {', '.join(FUSIONS)}")
    if cfg.get("clinical_path", "mlp") not in CLINICAL_PATHS:
        raise _bad(path, f"unknown clinical_path {cfg.get('clinical_path')!r}; known: {', '.join(CLINICAL_PATHS)}")
    backbone = cfg.get("backbone")
    if backbone is not None and backbone not in list_models():
        raise _bad(path, f"unknown backbone {backbone!r}; known: {', '.join(list_models())}")
    _check_kwargs(path, cfg.get("backbone_kwargs") or {}, "backbone_kwargs")
    unknown = set(cfg) - set(NETWORK_BOUNDS) - {"dropout", "heads", "fusion", "backbone",
                                               "backbone_kwargs", "clinical_path"}
    if unknown:
        raise _bad(path, f"unknown network setting(s) {sorted(unknown)}")


def validate_checkpoint(checkpoint: str | os.PathLike[str]) -> None:
    """Check a checkpoint's network configuration before anything is built from it.

    Reads the file memory-mapped with ``torch.load(weights_only=True)``, checks the settings
    against :data:`NETWORK_BOUNDS` and the known heads/fusions/backbones, then builds the
    described network on the ``meta`` device (no memory) and requires its parameter names
    and shapes to equal the stored weights'.

    Raises
    ------
    CheckpointError
        Unreadable, pickled code, or a configuration out of bounds or not matching the weights.
    """
    import torch

    from ..training.module import NETWORK_KEYS

    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(
            f"{str(path)!r} is not a checkpoint torch.load(weights_only=True) can read "
            f"({type(exc).__name__}: {first}); bonenet checkpoints hold only tensors and plain "
            "values — use best.ckpt or last.ckpt from a trusted run") from exc
    if not isinstance(ckpt, dict):
        raise _bad(path, f"it holds a {type(ckpt).__name__}, not a checkpoint dictionary")
    hp = ckpt.get("hyper_parameters") or {}
    info = ckpt.get("bonenet") or {}
    cfg = info.get("network") if isinstance(info, dict) else None
    if cfg is None and isinstance(hp, dict):
        cfg = {k: hp[k] for k in NETWORK_KEYS if k in hp}
    state = ckpt.get("state_dict")
    if not isinstance(cfg, dict) or not cfg or not isinstance(state, dict):
        return  # load_for_inference reports "not a bonenet training checkpoint"
    _check_network_config(path, cfg)
    from ..models import build_fusion_model

    try:
        with torch.device("meta"):
            net = build_fusion_model(**cfg)
    except (ValueError, TypeError, KeyError) as exc:
        raise _bad(path, f"its network settings cannot build a network ({exc})") from exc
    except Exception:  # a backbone that cannot be built on the meta device: bounds suffice
        return
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    n_params = sum(int(torch.Size(s).numel()) for s in expected.values())
    if n_params > _MAX_PARAMETERS:
        raise _bad(path, f"its network settings describe {n_params:,} parameters")
    stored = {k[len("network."):]: tuple(v.shape) for k, v in state.items()
              if isinstance(k, str) and k.startswith("network.") and hasattr(v, "shape")}
    if stored != expected:
        diff = sorted(set(stored.items()) ^ set(expected.items()))[:3]
        raise _bad(path, f"its network settings do not match its weights (first differences: "
                         f"{diff})")


def file_sha256(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _heads(network: Any, meta: dict[str, Any]) -> tuple[str, ...]:
    heads = (meta.get("network") or {}).get("heads") or getattr(network, "heads", None)
    if not heads:
        raise CheckpointError("the checkpoint's network names no heads; re-save it with bonenet")
    return tuple(heads)


def load_predictor(checkpoint: str | os.PathLike[str], *, device: str = "cpu",
                   name: str | None = None, missing: str = "indicator",
                   measure: Callable[..., dict[str, float]] | None = None,
                   measure_columns: tuple[str, ...] = (), amp: bool = False,
                   keep_text: bool = False) -> Predictor:
    """Load ``checkpoint`` into a :class:`Predictor` that repeats the training preprocessing.

    The network, the fitted clinical encoder and the :class:`bonenet.data.Preprocess`
    parameters all come from the checkpoint (``bonenet.training.load_for_inference``,
    ``torch.load(weights_only=True)``), so inference cannot drift from training.

    Parameters
    ----------
    checkpoint : path-like
        A ``.ckpt`` written by ``bonenet train``.
    device : str
        Where the network runs (``bonenet.device.select_device``).
    name : str, optional
        Model name in the output columns; default from what the model uses (``fused``,
        ``clinical``, ``image``).
    missing : {"indicator", "error"}
        See :class:`StudyPreparer`.
    measure, measure_columns
        Optional measurement function and its output columns (``--measure``).
    amp : bool
        Autocast on CUDA.
    keep_text : bool
        Keep the series description and file names in outputs (off: they can hold names).
    """
    from ..training import load_for_inference

    path = Path(checkpoint)
    validate_checkpoint(path)
    network, data_state, meta = load_for_inference(path, map_location="cpu")
    if data_state is None:
        raise CheckpointError(
            f"{path}: the checkpoint holds no data state (preprocessing and clinical encoder); "
            "it was not written by `bonenet train` with a BoneDataModule")
    from ..data import StudyInput

    use_images = bool(data_state.get("use_images"))
    use_clinical = bool(data_state.get("use_clinical"))
    if use_images and data_state.get("preprocess") is None:
        raise CheckpointError(f"{path}: image model without preprocessing parameters in its data state")
    if use_clinical and data_state.get("encoder") is None:
        raise CheckpointError(f"{path}: clinical model without a fitted encoder in its data state")
    try:
        spec = StudyInput.from_state(data_state)
    except BoneNetError as exc:
        raise CheckpointError(f"{path}: its data state cannot be used ({exc})") from exc
    preprocess = spec.preprocess
    two_d = preprocess is not None and preprocess.spatial_dims == 2
    preparer = StudyPreparer(
        input=spec,
        n_images=len(spec.image_columns),
        missing=missing,
        measure=measure,
        min_slices=1 if two_d else 2,
        # a 2-D model reads projections (DX/CR exports) as well as single CT slices
        expected_modality=("CT", "HRPQCT", "QCT", "OT", *(("DX", "CR", "MG") if two_d else ())),
        keep_text=keep_text,
    )
    net_cfg = meta.get("network") or {}
    return Predictor(
        name=name or model_name(net_cfg, data_state),
        checksum=file_sha256(path),
        heads=_heads(network, meta),
        preparer=preparer,
        runner=ModelRunner(network, device=device, amp=amp),
        measure_columns=tuple(measure_columns),
        meta={"network": net_cfg, "data_state": data_state, "checkpoint": path.name,
              "epoch": meta.get("epoch")},
    )
