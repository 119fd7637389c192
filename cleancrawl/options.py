"""Options written once: a command's config dataclass is the single source of its options.

    @dataclass
    class BuildConfig:
        min_sentences: int = option(3, help="drop pages with fewer Punkt sentences (default: %(default)s)")
        select: SelectConfig = option(default_factory=SelectConfig, help="...")   # nested: its own fields

`add_arguments(parser, BuildConfig)` adds one argparse option per field: the flag from the field
name (`--min-sentences`) or metadata `flag=`, the type from the annotation (int, float, str;
bool: `store_true`, or `store_false` under a `--no-…` flag; `X | None`; tuple/list of str as a
comma-separated value, `list="comma"`, or a repeatable option, `list="repeat"`), the default from
the field, help (required: every option has some), `choices=`, `metavar=`, `group=` (argument group
title) and `type=` (a str → value function, e.g. "500M" → 500000000) from the metadata. A field
whose type is a dataclass is expanded with its own fields (metadata `prefix=` before their flags,
`exclude=` names kept off the command line, `override={name: {metadata}}` for this use only,
`flat=True`: its options are also `--config` keys at the level above, by their flags' names).
Metadata `cli=False` keeps a field off the command line (a `--config` file can still set it);
`record=False` keeps it out of what a run records (`as_dict`: stats.json), for a setting that
changes how the work is done and never what is written;
`cli_default=` is the command line's default where it differs from the field's (None: "derived").

`from_args(BuildConfig, args)` turns the parsed namespace back into the (nested) dataclass. Where a
conversion has logic (bands x rows from a threshold, a default model per objective), the class
has a `from_options(values: dict)` classmethod; `from_args` calls it instead of the constructor.

`--config FILE` (YAML, TOML or JSON; a stats.json or run config.json: its `config` section) fills
the same fields, nested keys for nested configs (or, for a `flat` one, its flags' names:
`min_sentences: 4` for `clean: {min_sentences: 4}`); options given on the command line win.
`as_dict(config)` is the config as such a file holds it (a `flat` group written flat). Its
values are checked against the annotations here, so a wrong key or type is one line, not a
traceback. Only the standard library is imported (PyYAML when a YAML file is read).
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import types
import typing
from dataclasses import MISSING

from cleancrawl.corpus.errors import UserError

CONFIG_DEST = "config_file"
_CLASS = "_options_class"  # parser default: the config class whose fields `--config` may set


def option(default=MISSING, *, help: str, default_factory=MISSING, **metadata) -> dataclasses.Field:
    """A dataclass field with its command-line metadata (see the module docstring)."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"help": help, **metadata})


# ---------------------------------------------------------------------------------------------
# the fields of a (nested) config class


@dataclasses.dataclass
class _Option:
    path: tuple[str, ...]        # ("dedup", "threshold")
    kind: object                 # the resolved annotation
    meta: dict
    default: object              # MISSING when the field has none
    nested: bool

    @property
    def dest(self) -> str:
        return ".".join(self.path)

    @property
    def on_cli(self) -> bool:
        return self.meta.get("cli", True) is not False

    @property
    def flags(self) -> tuple[str, ...]:
        flag = self.meta.get("flag") or "--" + self.meta.get("_prefix", "") + self.path[-1].replace("_", "-")
        return (flag,) if isinstance(flag, str) else tuple(flag)

    @property
    def flat_key(self) -> str:
        """Its key in a config file where its group is `flat`: its flag's name (--min-sentences: min_sentences)."""
        return self.flags[0].lstrip("-").replace("-", "_")


def _default_of(f: dataclasses.Field, instance=None):
    if instance is not None:
        return getattr(instance, f.name)
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _options(cls, path: tuple[str, ...] = (), instance=None, meta: dict | None = None) -> list[_Option]:
    """Every field of `cls`, nested ones followed by theirs (`instance`: the defaults to use)."""
    meta = meta or {}
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        m = {**f.metadata, **meta.get("override", {}).get(f.name, {})}
        if f.name in meta.get("exclude", ()):
            m["cli"] = False
        if meta.get("cli", True) is False:
            m["cli"] = False
        if "group" not in m and "group" in meta:
            m["group"] = meta["group"]
        m["_prefix"] = meta.get("prefix", "")
        default = _default_of(f, instance)
        nested = dataclasses.is_dataclass(kind)
        out.append(_Option(path + (f.name,), kind, m, default, nested))
        if nested:
            out += _options(kind, path + (f.name,), default if default is not MISSING else None, m)
    return out


def _base(kind) -> tuple[object, bool]:
    """(X, True) for `X | None`, else (kind, False)."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True
    return kind, False


def _is_list(kind) -> bool:
    return typing.get_origin(kind) in (list, tuple)


def _element(kind):
    element, _ = _base(typing.get_args(kind)[0])
    return element


# ---------------------------------------------------------------------------------------------
# values given as text (metadata `type=`) and shared metadata

TEXT_COLUMN = ("input columns", "for Parquet from other tools: where the text is (a.b = field b of struct column a)")


def byte_count(value: str) -> int:
    """'1000000', '500M', '2G', '64k' → bytes (decimal units)."""
    units = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
    text = value.strip().lower().removesuffix("b")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a byte count: {value!r} (e.g. 500M, 2G)") from None


def byte_count_or_all(value: str) -> int | None:
    """As `byte_count`; 0 → None (all)."""
    return byte_count(value) or None


def comma_list(convert=str):
    def parse(text: str) -> tuple:
        return tuple(convert(part.strip()) for part in text.split(",") if part.strip())
    return parse


# ---------------------------------------------------------------------------------------------
# config class → argparse options


class _Repeat(argparse.Action):
    """A repeatable option whose first use replaces the default (a --config file's list included)."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None)
        items = [] if current is None or current is self.default else list(current)
        setattr(namespace, self.dest, items + [values])


def add_arguments(parser: argparse.ArgumentParser, cls, *, config_file: bool = True,
                  groups: dict | None = None) -> None:
    """One option per field of `cls` (nested dataclasses expanded), plus `--config FILE`."""
    groups = {} if groups is None else groups
    for title in getattr(cls, "OPTION_GROUPS", ()):  # the order the help shows them in
        _group(parser, groups, title)
    for opt in _options(cls):
        if opt.nested or not opt.on_cli:
            continue
        _add(_group(parser, groups, opt.meta.get("group")), opt)
    if config_file:
        parser.add_argument("--config", dest=CONFIG_DEST, metavar="FILE", default=None,
                            help="read options from a YAML, TOML or JSON file: the config's field names as keys, "
                                 "nested for nested configs, as in a stats.json's config section (a stats.json, a "
                                 "run's config.json or a tokenizer's record is read too); options given here win")
        parser.set_defaults(**{_CLASS: cls})


def _group(parser, groups: dict, title):
    if not title:
        return parser
    if isinstance(title, tuple):
        title, description = title
    else:
        description = None
    if title not in groups:
        groups[title] = parser.add_argument_group(title, description)
    return groups[title]


def _add(target, opt: _Option) -> None:
    meta = opt.meta
    if not meta.get("help"):
        raise TypeError(f"option {opt.dest}: no help text")
    kind, optional = _base(opt.kind)
    default = meta.get("cli_default", opt.default)
    kwargs: dict = {"dest": opt.dest, "help": meta["help"]}
    if meta.get("required"):
        kwargs["help"] += " (required)"
    if kind is bool and "type" not in meta:
        action = meta.get("action") or ("store_true" if not default else argparse.BooleanOptionalAction)
        kwargs.update(action=action, default=bool(default) if action != argparse.BooleanOptionalAction else default)
        target.add_argument(*opt.flags, **kwargs)
        return
    convert = meta.get("type")
    if _is_list(kind):
        if meta.get("list") == "repeat":
            kwargs["action"] = _Repeat
            default = None if default is MISSING else list(default)
            convert = convert or _element(kind)
        else:  # one comma-separated value; the default shown (and parsed) as one
            convert = convert or comma_list(_element(kind))
            default = ",".join(map(str, default)) if default not in (MISSING, None) else default
    else:
        convert = convert or (kind if kind in (int, float) else None)
    if convert is not None:
        kwargs["type"] = convert
    for key in ("choices", "nargs", "const"):
        if key in meta:
            kwargs[key] = meta[key]
    if "choices" not in meta:
        kwargs["metavar"] = meta.get("metavar") or opt.flags[0].lstrip("-").replace("-", "_").upper()
    kwargs["default"] = None if default is MISSING else default
    target.add_argument(*opt.flags, **kwargs)


# ---------------------------------------------------------------------------------------------
# parsed options → config


def from_args(cls, args: argparse.Namespace, path: tuple[str, ...] = (), instance=None, meta: dict | None = None):
    """The (nested) `cls` of the parsed options; fields absent from `args` keep their defaults."""
    values, missing = {}, []
    for opt in _options(cls, path, instance, meta):
        if len(opt.path) != len(path) + 1:
            continue  # a nested class's own fields: its from_args takes them
        name = opt.path[-1]
        if opt.nested:
            values[name] = from_args(opt.kind, args, opt.path, opt.default if opt.default is not MISSING else None,
                                     opt.meta)
            continue
        if not hasattr(args, opt.dest):
            if opt.default is MISSING:
                missing.append(opt)
            continue
        value = getattr(args, opt.dest)
        if (opt.meta.get("required") or opt.default is MISSING) and value in (None, [], ()):
            missing.append(opt)
            continue
        if isinstance(value, list) and typing.get_origin(_base(opt.kind)[0]) is tuple:
            value = tuple(value)
        values[name] = value
    if missing:
        raise UserError("the following arguments are required: " + ", ".join(o.flags[0] for o in missing))
    make = getattr(cls, "from_options", None)
    return make(values) if make else cls(**values)


# ---------------------------------------------------------------------------------------------
# --config FILE


CONFIG_MAX_BYTES = 4 << 20  # a run's stats.json is tens of KB; anything this large is not a config


def load_file(path: str) -> dict:
    """A YAML, TOML or JSON file as a dict (by its suffix; JSON, then YAML, otherwise).

    Read bounded: at most CONFIG_MAX_BYTES, YAML without anchors and aliases (a "billion laughs"
    file of a few hundred bytes otherwise expands to gigabytes), and a key given twice in one
    mapping refused rather than silently taking the last. Errors name the file and the place, never
    the values (a value may be huge or hold terminal escapes)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(CONFIG_MAX_BYTES + 1)
    except OSError as err:
        raise UserError(f"--config {path}: {err.strerror or err}") from None
    if len(raw) > CONFIG_MAX_BYTES:
        raise UserError(f"--config {path}: larger than {CONFIG_MAX_BYTES >> 20} MiB; not a config file")
    suffix = os.path.splitext(path)[1].lower()
    kind = suffix.lstrip(".").upper() if suffix in (".toml", ".json") else "YAML"
    try:
        if suffix == ".toml":
            import tomllib
            data = tomllib.loads(raw.decode("utf-8-sig"))
        elif suffix == ".json":
            data = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=_json_mapping)
        else:
            data = _load_yaml(raw)
    except UserError as err:
        raise UserError(f"--config {path}: {err}") from None
    except UnicodeDecodeError as err:
        raise UserError(f"--config {path}: not UTF-8 text (byte {err.start})") from None
    except Exception as err:  # a parse error: one line with the parser's own words, bounded
        raise UserError(f"--config {path}: not valid {kind}: {_parse_error(err)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"--config {path}: expected a mapping of option names to values, got {type(data).__name__}")
    return data


def _parse_error(err: Exception) -> str:
    """A parser's complaint without the text it quotes (PyYAML prints the offending lines)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None)
    if mark is not None and problem:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    said = " ".join(str(err).split())
    return said if len(said) <= 200 else said[:200] + "…"


def _json_mapping(pairs: list) -> dict:
    data = {}
    for key, value in pairs:
        if key in data:
            raise UserError(f"the key {_short(key)} is given twice in one mapping")
        data[key] = value
    return data


def _load_yaml(raw: bytes):
    import yaml  # PyYAML comes with Beam; JSON is YAML too

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    for event in yaml.parse(raw, Loader=base):  # events only: an alias is not expanded here
        if isinstance(event, yaml.AliasEvent):
            raise UserError(f"YAML aliases (*{_short(event.anchor, 40)[1:-1]}) are not accepted in a "
                            f"config file (line {event.start_mark.line + 1}); write the values out")

    class BoundedLoader(base):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    raise UserError(f"the key {_short(key)} is given twice in one mapping "
                                    f"(line {key_node.start_mark.line + 1})")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return yaml.load(raw, Loader=BoundedLoader)


def _short(value, limit: int = 60) -> str:
    """`value` as a short, printable repr for an error line."""
    from cleancrawl.corpus.safe_text import safe

    text = repr(value)
    return safe(text if len(text) <= limit else text[:limit] + "…")


def config_section(data: dict, cls) -> dict:
    """The options in a file: itself, or the `config` section of a stats.json / run config.json
    (a tokenizer's `training.config`)."""
    names = {f.name for f in dataclasses.fields(cls)}
    for section in ("config", "training"):
        if section not in names and isinstance(data.get(section), dict):
            inner = data[section]
            return dict(inner["config"] if section == "training" and isinstance(inner.get("config"), dict) else inner)
    return dict(data)


def apply_config_file(parser: argparse.ArgumentParser, path: str) -> None:
    """Make the file's values the defaults of `parser` (the command's), so that options given on
    the command line still win."""
    cls = parser.get_default(_CLASS)
    data = config_section(load_file(path), cls)
    command = data.pop("command", None)
    name = parser.prog.split()[-1]
    if command is not None and command != name:
        raise UserError(f"--config {path}: the config of `{command}`, not of `{name}`")
    apply_values(parser, data, path)


def apply_values(parser: argparse.ArgumentParser, data: dict, source: str) -> None:
    """Make `data` (keys as a `--config` file holds them) the defaults of `parser`."""
    cls = parser.get_default(_CLASS)
    values: dict = {}
    _file_values(cls, data, (), source, values)
    parser.set_defaults(**values)


def from_dict(cls, data: dict, source: str):
    """A config of class `cls` from a mapping as a `--config` file (or a stats.json's config)
    holds it; `source` names where the mapping came from in an error line."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser, cls, config_file=False)
    values: dict = {}
    _file_values(cls, data, (), source, values)
    parser.set_defaults(**values)
    return from_args(cls, parser.parse_args([]))


def _file_values(cls, data: dict, path: tuple[str, ...], source: str, values: dict) -> None:
    fields = {o.path[-1]: o for o in _options(cls, path) if len(o.path) == len(path) + 1}
    flat = _flat_options(cls, path, fields)
    for key, value in data.items():
        name = str(key).replace("-", "_")
        where = ".".join(path + (name,))
        opt = fields.get(name)
        if name in flat and (opt is None or (opt.nested and not isinstance(value, dict))):
            opt = flat[name]  # an option of a flat group, by its flag's name
        if opt is None:
            flags = {f.lstrip("-").replace("-", "_"): o.dest
                     for o in _options(cls, path) if not o.nested for f in o.flags}
            close = difflib.get_close_matches(name, [*fields, *flat], n=1, cutoff=0.6)
            hint = (f" (did you mean {flags[name]}?)" if name in flags else  # a flag's name for a nested field
                    f" (did you mean {'.'.join(path + (close[0],))}?)" if close else "")
            raise UserError(f"--config {source}: unknown option {_short(where)}{hint}")
        if opt.nested:
            if not isinstance(value, dict):
                raise UserError(f"--config {source}: {where}: expected a mapping of its options, got {_short(value)}")
            _file_values(opt.kind, value, opt.path, source, values)
            continue
        values[opt.dest] = _checked(opt, value, source, where)


def _flat_options(cls, path: tuple[str, ...], fields: dict) -> dict[str, _Option]:
    """The options of the `flat` groups among `fields`, by their flags' names."""
    groups = {o.path for o in fields.values() if o.nested and o.meta.get("flat")}
    return {o.flat_key: o for o in _options(cls, path) if o.path[:-1] in groups and not o.nested}


def as_dict(config) -> dict:
    """`config` (a dataclass) as a `--config` file holds it: nested configs as mappings, a `flat`
    group's options at this level under their flags' names, tuples as lists."""
    out, every = {}, _options(type(config), instance=config)
    for opt in every:
        if len(opt.path) != 1 or opt.meta.get("record") is False:
            continue
        if opt.nested and opt.meta.get("flat"):
            out.update({o.flat_key: _plain(o.default) for o in every
                        if o.path[:-1] == opt.path and not o.nested and o.meta.get("record") is not False})
        else:
            out[opt.path[0]] = _plain(opt.default)
    return out


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.metadata.get("record", True)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _checked(opt: _Option, value, source: str, where: str):
    """`value` from a file as the namespace holds it (what argparse's type gives), or a UserError."""
    kind, optional = _base(opt.kind)
    convert = opt.meta.get("type")
    try:
        if isinstance(value, str) and convert is not None:
            return convert(value)
        if value is None and (optional or opt.meta.get("cli_default", 0) is None):
            return None
        if _is_list(kind):
            if isinstance(value, str) and opt.meta.get("list") != "repeat":
                value = comma_list()(value)
            if not isinstance(value, (list, tuple)):
                raise TypeError
            element = _element(kind)
            items = [_scalar(element, v) if element in (int, float, str, bool) else v for v in value]
            if (typing.get_args(kind)[-1:] != (...,) and typing.get_origin(kind) is tuple
                    and len(items) != len(typing.get_args(kind))):
                raise TypeError
            return items if opt.meta.get("list") == "repeat" else tuple(items)
        return _scalar(kind, value)
    except (TypeError, ValueError, argparse.ArgumentTypeError) as err:
        said = f": {err}" if isinstance(err, argparse.ArgumentTypeError) or str(err) else ""
        raise UserError(f"--config {source}: {where}: expected {_describe(opt.kind)}, "
                        f"got {_short(value)}{said[:200]}") from None


def _scalar(kind, value):
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise TypeError


def _describe(kind) -> str:
    base, optional = _base(kind)
    if _is_list(base):
        text = f"a list of {_describe(_element(base))}"
    else:
        text = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(base, str(base))
    return text + (" or null" if optional else "")
