"""Typed configs: dataclasses that load from YAML (safe loader) and take command-line overrides.

Every field of a config dataclass becomes a ``--field-name`` option; nested dataclasses are not
used, so a YAML file is one flat mapping and ``--lr 1e-5`` overrides ``lr: 2e-5`` in the file.
Cross-field rules live in each config's ``validate()``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import ConfigError

T = TypeVar("T")


def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _base_type(tp):
    """(python type, is_list, is_optional) for the annotations we support."""
    origin = typing.get_origin(tp)
    optional = False
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) != len(typing.get_args(tp))
        tp = args[0]
        origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return str, False, optional
    if origin in (list, tuple):
        (inner,) = typing.get_args(tp)[:1]
        return inner, True, optional
    return tp, False, optional


def _coerce(name: str, tp, value):
    """``value`` as the field's type, or a one-line :class:`ConfigError` naming the field.

    Rules: a boolean is never a number or a string (``batch_groups: true`` is a mistake, and YAML
    reads ``pivot: no`` as false); numeric fields take numbers or strings Python reads as numbers
    (``"2e-5"``: command-line values arrive as strings, and YAML 1.1 reads ``2e-5`` without a dot
    as one); floats must be finite; an int field takes a float only when it is whole.
    """
    base, is_list, optional = _base_type(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"config field {name!r} may not be null")
    if isinstance(value, str) and optional and value.strip().lower() in ("none", "null"):
        return None
    if is_list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif not isinstance(value, (list, tuple)):
            value = [value]  # `seeds: 3` means [3]
        return [_coerce(name, base, v) for v in value]

    def bad(why: str = "") -> ConfigError:
        return ConfigError(f"config field {name!r}: cannot read {value!r} as {base.__name__}{why}")

    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
        raise bad(" (use true or false)")
    if isinstance(value, bool) and base in (int, float, str):
        hint = " (quote it: YAML reads yes/no/on/off as booleans)" if base is str else ""
        raise bad(hint)
    if base is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad()
    if base is float:
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise bad() from None
        else:
            raise bad()
        if not math.isfinite(number):
            raise ConfigError(f"config field {name!r} must be a finite number, not {value!r}")
        return number
    if base is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return str(value)
        raise bad()
    return value


def check_fields(cfg) -> None:
    """Coerce and check every field of a config built in Python (``TrainConfig(lr="nan")``) by
    the rules :func:`from_dict` applies to YAML and command-line values."""
    hints = _field_types(type(cfg))
    for f in dataclasses.fields(cfg):
        setattr(cfg, f.name, _coerce(f.name, hints[f.name], getattr(cfg, f.name)))


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a config, rejecting unknown keys (a typo must not be silently ignored)."""
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    norm = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(norm) - names)
    if unknown:
        raise ConfigError(f"unknown config field(s) {unknown} for {cls.__name__}; known: {sorted(names)}")
    if hasattr(cls, "under_preset"):  # a named preset's values sit under the ones given here
        norm = cls.under_preset(norm)
    kwargs = {k: _coerce(k, hints[k], v) for k, v in norm.items()}
    cfg = cls(**kwargs)
    if hasattr(cfg, "validate"):
        cfg.validate()
    return cfg


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of field: value")
    return data


def to_dict(cfg) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)


# The one definition of --overwrite: TrainConfig's field and every command writing an output folder.
OVERWRITE_HELP = (
    "replace polyalign's own earlier output at --out (a folder polyalign did not write is never replaced)"
)


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def add_encoding_arguments(parser: argparse.ArgumentParser) -> None:
    """``--prompt``, ``--no-prompt`` and ``--threads``: the commands that encode text share them."""
    parser.add_argument("--prompt", default=None, help="override the model's prompt (e.g. 'query: ')")
    parser.add_argument("--no-prompt", action="store_true", help="encode without any prompt")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice); on a busy shared CPU, 1 can be much faster",
    )


def apply_encoding_arguments(args: argparse.Namespace) -> str | None:
    """Check and apply them: sets torch's thread count; returns the prompt (``""`` = none)."""
    if args.no_prompt and args.prompt is not None:
        raise ConfigError("--prompt and --no-prompt are exclusive")
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError("--threads must be >= 1")
        import torch

        torch.set_num_threads(args.threads)
    return "" if args.no_prompt else args.prompt


OTHER_GROUP = "other options"


def _default_text(default) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def add_config_arguments(parser: argparse.ArgumentParser, cls, short: dict[str, str] | None = None) -> None:
    """One ``--field-name`` option per dataclass field, default ``None`` = "not given".

    Options are grouped in ``--help`` by each field's ``metadata["group"]`` (in order of first
    appearance); the default is shown unless it is None/empty or the help text already says it.
    """
    short = short or {}
    hints = _field_types(cls)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(cls):
        title = f.metadata.get("group", OTHER_GROUP)
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        flag = "--" + f.name.replace("_", "-")
        names = [flag] + ([short[f.name]] if f.name in short else [])
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else None
        if default not in (None, "") and "default" not in help_text:
            help_text += f" (default: {_default_text(default)})"
        base, is_list, _ = _base_type(hints[f.name])
        extra = {"nargs": "?", "const": "true"} if base is bool else {}  # a bare `--tcm` means true
        groups[title].add_argument(
            *names,
            dest=f.name,
            default=None,
            metavar=f"{base.__name__.upper()},…" if is_list else base.__name__.upper(),
            help=help_text.replace("%", "%%"),
            **extra,
        )


def config_from_args(cls: type[T], args: argparse.Namespace, config_path: str | None = None) -> T:
    """YAML file (if any) first, then every option given on the command line on top."""
    data = load_yaml(config_path) if config_path else {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            data[f.name] = value
    return from_dict(cls, data)
