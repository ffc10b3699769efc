"""Check every key of the training configs (YAML files and ``--set``) before LightningCLI sees them.

jsonargparse names a misspelt top-level flag as an "unrecognized argument" and a misspelt key
inside a subclass's ``init_args`` as a long type-union dump. :func:`validate_config` walks each
YAML file and each ``--set KEY=VALUE`` against the schema bonenet trains with — the signatures
of the DataModule class, :class:`~bonenet.training.FractureRiskModule`, ``lightning.Trainer``,
the two checkpoint callbacks and the nested option dicts whose keys are known — and raises a
:class:`~bonenet.errors.ConfigError` naming the key, its close matches and the file (or the
``--set``) it came from.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["TOP_LEVEL_KEYS", "validate_config"]

#: Keys allowed at the top of a training config (the sections of :mod:`bonenet.training.cli`).
TOP_LEVEL_KEYS = ("seed", "data", "model", "trainer", "checkpoint", "resume_checkpoint", "early_stopping",
                  "device")
_CLASS_KEYS = ("class_path", "init_args", "dict_kwargs")
_DEFAULT_DATA = "bonenet.data.BoneDataModule"


def _params(fn: Callable[..., Any], *, drop: Iterable[str] = ()) -> list[str] | None:
    """Keyword names of ``fn`` (None when it takes ``**kwargs``: any key may be valid)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    skip = {"self", *drop}
    return [n for n, p in sig.parameters.items()
            if n not in skip and p.kind is not inspect.Parameter.VAR_POSITIONAL]


def _resolve(class_path: Any) -> type | None:
    if not isinstance(class_path, str) or "." not in class_path:
        return None
    mod, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError):
        return None  # LightningCLI reports an unimportable class_path itself


def _nested(cls: type | None) -> dict[str, list[str]]:
    """Option dicts inside ``cls``'s arguments whose keys are known."""
    from ..data import BoneDataModule

    if cls is None or not issubclass(cls, BoneDataModule):
        return {}
    from ..data._augment import Augment
    from ..io import LoadOptions

    return {"augment_options": _params(Augment.__init__, drop=("spatial_dims", "seed")) or [],
            "load_options": list(LoadOptions.__annotations__)}


def _section_schema(section: str) -> tuple[list[str] | None, dict[str, list[str]]]:
    """(allowed keys, nested option dicts) of a non-subclass section."""
    if section == "model":
        from ..models import HEADS
        from .module import FractureRiskModule

        return _params(FractureRiskModule.__init__), {"loss_weights": list(HEADS)}
    if section == "trainer":
        from lightning.pytorch import Trainer

        return _params(Trainer.__init__), {}
    if section == "checkpoint":
        from lightning.pytorch.callbacks import ModelCheckpoint

        return _params(ModelCheckpoint.__init__), {}
    if section == "early_stopping":
        from .smoothing import SmoothedEarlyStopping

        return _params(SmoothedEarlyStopping.__init__), {}
    if section == "resume_checkpoint":
        from .resume import LastCheckpoint

        return _params(LastCheckpoint.__init__), {}
    return None, {}


class _Checker:
    def __init__(self) -> None:
        self.data_class: str | None = None

    @staticmethod
    def _fail(source: str, path: str, key: str, allowed: Sequence[str]) -> None:
        close = difflib.get_close_matches(key, list(allowed), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "no close match"
        full = f"{path}.{key}" if path else key
        raise ConfigError(
            f"{source}: unknown config key {full!r} ({hint}). Valid keys{' under ' + path if path else ''}: "
            f"{', '.join(sorted(allowed))}")

    def check_keys(self, source: str, path: str, keys: Iterable[str], allowed: Sequence[str] | None) -> None:
        if allowed is None:
            return
        for k in keys:
            if k not in allowed:
                self._fail(source, path, str(k), allowed)

    def class_block(self, source: str, path: str, block: Mapping[str, Any], default_class: str | None) -> None:
        """A ``{class_path, init_args}`` block (or its init_args given flat)."""
        cls_path = block.get("class_path", default_class)
        cls = _resolve(cls_path)
        allowed = _params(cls.__init__) if cls is not None else None
        flat = [k for k in block if k not in _CLASS_KEYS]
        if "class_path" in block or "init_args" in block:
            if allowed is not None:
                self.check_keys(source, path, flat, list(_CLASS_KEYS) + allowed)
        else:
            self.check_keys(source, path, flat, allowed)
        args = dict(block.get("init_args") or {})
        args.update({k: block[k] for k in flat})
        sub = f"{path}.init_args" if "init_args" in block else path
        self.check_keys(source, sub, args, allowed)
        for name, keys in _nested(cls).items():
            if isinstance(args.get(name), Mapping):
                self.check_keys(source, f"{sub}.{name}", args[name], keys)

    def callbacks(self, source: str, path: str, value: Any) -> None:
        for i, cb in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(cb, Mapping) and "class_path" in cb:
                self.class_block(source, f"{path}[{i}]", cb, None)

    def check(self, cfg: Mapping[str, Any], source: str) -> None:
        self.check_keys(source, "", cfg, TOP_LEVEL_KEYS)
        data = cfg.get("data")
        if isinstance(data, str):  # the class_path shorthand
            self.data_class = data
        if isinstance(data, Mapping):
            if isinstance(data.get("class_path"), str):
                self.data_class = data["class_path"]
            self.class_block(source, "data", data, self.data_class or _DEFAULT_DATA)
        for section in ("model", "trainer", "checkpoint", "resume_checkpoint", "early_stopping"):
            block = cfg.get(section)
            if not isinstance(block, Mapping):
                continue
            allowed, nested = _section_schema(section)
            self.check_keys(source, section, block, allowed)
            for name, keys in nested.items():
                if isinstance(block.get(name), Mapping):
                    self.check_keys(source, f"{section}.{name}", block[name], keys)
            if section == "trainer":
                for name in ("callbacks", "logger", "plugins"):
                    if name in block and block[name] not in (None, True, False):
                        self.callbacks(source, f"trainer.{name}", block[name])

    def check_set(self, item: str) -> None:
        key = item.split("=", 1)[0].strip().removesuffix("+")  # jsonargparse's list append: KEY+=VALUE
        parts = key.split(".")
        source = f"--set {item}"
        tree: dict[str, Any] = {}
        node = tree
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = None
        self.check(tree, source)


def _load_yaml(path: Path) -> Mapping[str, Any]:
    import yaml

    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {str(path)!r} is not valid YAML: {exc}") from exc
    if cfg is None:
        return {}
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"config {str(path)!r}: expected a mapping of sections (data:, model:, trainer:...), "
                          f"got a {type(cfg).__name__}")
    return cfg


def validate_config(configs: Sequence[str | Path], sets: Sequence[str] = ()) -> None:
    """Check every key of ``configs`` (in order) and of ``sets`` (``KEY=VALUE``) against the schema.

    Raises
    ------
    ConfigError
        The first unknown key, with its close matches, the valid keys at that level and the
        file (or ``--set``) it came from.
    """
    checker = _Checker()
    for c in configs:
        checker.check(_load_yaml(Path(c)), f"config {str(c)!r}")
    for s in sets:
        checker.check_set(s)
