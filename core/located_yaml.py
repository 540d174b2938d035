"""YAML with the line of every node, read through schema tables: the one reader of tlsfit's YAML.

Four kinds of file go through it: profiles (generator/profile.py), board facts
(measure/boards.py), the gate's limits (reports/limits.py) and the mbedTLS
knowledge base (generator/knowledge.py). Each describes its mappings as a
schema table (key -> Field: kind, required, choices, nested table) and reads
the composed YAML nodes through a Reader, so every refusal says the same thing
the same way, at the line of the key or value that is wrong:

    FILE:LINE: error: what is wrong; how to fix it

- compose(): the file's node tree (a syntax error is a located error, never a traceback);
- Reader.mapping(): keys checked against a table (unknown -> did-you-mean, twice ->
  refused, required -> "missing required key 'a.b'; add e.g. '...'");
- Reader.string/boolean/integer/choice/sequence/names/value(): typed values with their line;
- construct(): plain Python data whose mappings (LineDict) and lists (LineList) keep
  their line, for tables read as a whole (the knowledge base); a key given twice is refused.

The error raised is the caller's: any `error(path, line, message)` factory
(ProfileError, BoardError, ...). Messages quote values only through
core.inputs.excerpt (short and printable).
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.errors import LocatedError
from core.inputs import excerpt

ErrorFactory = Callable[[Any, "int | None", str], Exception]

KINDS = ("any", "str", "bool", "int", "choice", "list", "map")
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,40}")   # a key of a schema table
MAX_FREE_KEY_LEN = 200                                      # a key of a free mapping (no table)
MAX_STRING_LEN = 255
MAX_LIST_LEN = 64


@dataclass(frozen=True)
class Field:
    """One key of a schema table.

    kind: "any" (checked by the caller), "str", "bool", "int" (lo..hi), "choice" (one of
    `choices`), "list" (of non-empty strings) or "map" (`fields`: its own table; None: any keys).
    example: shown when a required key is missing ("add e.g. 'EXAMPLE'")."""
    kind: str = "any"
    required: bool = False
    example: str = ""
    choices: tuple[str, ...] = ()
    fields: Mapping[str, Field] | None = None
    lo: int | None = None
    hi: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Field kind {self.kind!r} is not one of {', '.join(KINDS)}")


Schema = Mapping[str, Field]


class Entries(dict):  # type: ignore[type-arg]
    """The checked keys of one mapping node: key -> (key node, value node). `at` is the node a
    missing required key is reported at (the key holding the mapping, else the mapping itself)."""
    at: yaml.Node | None = None


def line_of(node: yaml.Node | LineDict | LineList) -> int:
    """1-based line where a node (or a constructed mapping or list) starts."""
    if isinstance(node, (LineDict, LineList)):
        return node.line
    return node.start_mark.line + 1


def suggest(word: str, choices: Any) -> str:
    """"; did you mean 'x'?" when one choice is close to `word`, else ""."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def kind_text(node: yaml.Node) -> str:
    """What a node is, for "must be X; got Y" messages."""
    return {yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list"}.get(
        type(node), excerpt(str(getattr(node, "value", ""))))


def compose(text: str, path: Path | str, error: ErrorFactory = LocatedError, what: str = "file") -> yaml.Node | None:
    """The node tree of one YAML document (None when empty); bad YAML is error(path, line, ...)."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise error(path, None, f"nested too deeply to be a {what}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "syntax error"
        raise error(path, mark.line + 1 if mark else None,
                    f"not valid YAML: {problem}; check indentation and quoting") from None


class LineDict(dict):  # type: ignore[type-arg]
    """A constructed mapping that remembers its line and each key's line."""
    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):  # type: ignore[type-arg]
    """A constructed list that remembers its line."""
    line: int = 0


class _Twice(Exception):
    def __init__(self, line: int, key: Any):
        super().__init__(line, key)
        self.line, self.key = line, key


class _LineConstructor(yaml.constructor.SafeConstructor):
    def construct_located_map(self, node: yaml.MappingNode):  # type: ignore[no-untyped-def]
        data = LineDict()
        data.line = line_of(node)
        data.key_lines = {}
        yield data
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise _Twice(line_of(key_node), None) from None
            if key in data:
                raise _Twice(line_of(key_node), key)
            data[key] = self.construct_object(value_node, deep=True)
            data.key_lines[key] = line_of(key_node)

    def construct_located_seq(self, node: yaml.SequenceNode):  # type: ignore[no-untyped-def]
        data = LineList()
        data.line = line_of(node)
        yield data
        data.extend(self.construct_sequence(node, deep=True))


_LineConstructor.add_constructor("tag:yaml.org,2002:map", _LineConstructor.construct_located_map)
_LineConstructor.add_constructor("tag:yaml.org,2002:seq", _LineConstructor.construct_located_seq)


def construct(node: yaml.Node | None, path: Path | str, error: ErrorFactory = LocatedError) -> Any:
    """Plain data from a node tree: mappings are LineDict, lists LineList (each with its line);
    a key given twice in one mapping is error(path, line, ...)."""
    if node is None:
        return None
    try:
        return _LineConstructor().construct_document(node)
    except _Twice as twice:
        what = f"key {excerpt(twice.key)}" if twice.key is not None else "a key that is not a single value"
        raise error(path, twice.line, f"{what} appears twice in this mapping; keep one"
                    if twice.key is not None else f"{what} cannot be a mapping key") from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise error(path, mark.line + 1 if mark else None, f"not valid YAML: {exc.problem}") from None


def load(text: str, path: Path | str, error: ErrorFactory = LocatedError, what: str = "file") -> Any:
    """compose() then construct(): the document as LineDict/LineList data (None when empty)."""
    return construct(compose(text, path, error, what), path, error)


class Reader:
    """Typed access to the composed nodes of one file; every refusal is error(path, line, message).

    top_hint: said when the top-level mapping holds a line that is no key (the file may not be
    of this kind at all), e.g. " (keys are words like 'name'); is this a tlsfit profile?"."""

    def __init__(self, path: Path | str, error: ErrorFactory = LocatedError, *, top_hint: str = "",
                 max_list: int = MAX_LIST_LEN, max_string: int = MAX_STRING_LEN):
        self.path = path
        self.error = error
        self.top_hint = top_hint
        self.max_list = max_list
        self.max_string = max_string

    def fail(self, node_or_line: yaml.Node | int | None, message: str) -> Exception:
        line = line_of(node_or_line) if isinstance(node_or_line, yaml.Node) else node_or_line
        return self.error(self.path, line, message)

    # ---- mappings ----------------------------------------------------------------------------

    def mapping(self, node: yaml.Node, where: str, schema: Schema | None,
                key: yaml.Node | None = None, required: bool = False) -> Entries:
        """The keys of a mapping node checked against `schema` (None: any string keys).

        where: the dotted path of the mapping ("" at the top); key: the node of the key that holds
        it, whose line a missing required key is reported at (else the mapping's own line).
        required: refuse a missing required key now (else when it is read: node() and get(), so
        a file's errors come in the order its reader reads it)."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"'{where or 'the file'}' must be a mapping (key: value lines); "
                            f"got {kind_text(node)}")
        out = Entries()
        out.at = key if key is not None else node
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith(":str") else None
            if schema is not None:
                valid = isinstance(name, str) and KEY_PATTERN.fullmatch(name) is not None
            else:
                valid = isinstance(name, str) and 0 < len(name) <= MAX_FREE_KEY_LEN and name.isprintable()
            if not valid:
                # not a key of any tlsfit mapping: never echo it (the file may be anything)
                if not where:
                    raise self.fail(key_node, "this line holds no key tlsfit knows at the top level" + self.top_hint)
                allowed = f"; allowed here: {', '.join(schema)}" if schema else ""
                raise self.fail(key_node, f"this line holds no key tlsfit knows in '{where}'{allowed}")
            dotted = f"{where}.{name}" if where else name
            if schema is not None and name not in schema:
                hint = suggest(name, schema) or f"; allowed here: {', '.join(schema)}"
                raise self.fail(key_node, f"unknown key '{dotted}'{hint}")
            if name in out:
                raise self.fail(key_node, f"key '{dotted}' appears twice; keep one")
            out[name] = (key_node, value_node)
        if required:
            for name, spec in (schema or {}).items():
                if spec.required:
                    self.node(out, name, where, schema or {})
        return out

    def node(self, m: Entries, key: str, where: str, schema: Schema) -> yaml.Node:
        """The value node of `key`; a missing key is refused when the schema requires it."""
        if key not in m:
            spec = schema.get(key, Field())
            dotted = f"{where}.{key}" if where else key
            raise self.fail(m.at, f"missing required key '{dotted}'"
                            + (f"; add e.g. '{spec.example}'" if spec.example else ""))
        return m[key][1]

    def require(self, m: Entries, key: str, where: str, at: yaml.Node, example: str) -> yaml.Node:
        """The value node of `key`, or "missing required key" at `at`'s line."""
        if key not in m:
            dotted = f"{where}.{key}" if where else key
            raise self.fail(at, f"missing required key '{dotted}'; add e.g. '{example}'")
        return m[key][1]

    # ---- values ------------------------------------------------------------------------------

    def scalar(self, node: yaml.Node, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"'{where}' must be a single value; got {kind_text(node)}")
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)

    def is_null(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")

    def string(self, node: yaml.Node, where: str, max_len: int | None = None) -> str:
        max_len = self.max_string if max_len is None else max_len
        value = self.scalar(node, where)
        if not isinstance(value, str) or not value:
            raise self.fail(node, f"'{where}' must be a non-empty string; got {excerpt(value)}")
        if len(value) > max_len:
            raise self.fail(node, f"'{where}' is {len(value):,} characters; at most {max_len} are allowed")
        return value

    def ascii_string(self, node: yaml.Node, where: str, max_len: int | None = None) -> str:
        value = self.string(node, where, max_len)
        if not all(" " <= c <= "~" for c in value):
            raise self.fail(node, f"'{where}' must be printable ASCII (no control characters, line breaks "
                            "or non-ASCII letters); got " + excerpt(value))
        return value

    def boolean(self, node: yaml.Node, where: str) -> bool:
        value = self.scalar(node, where)
        if not isinstance(value, bool):
            raise self.fail(node, f"'{where}' must be true or false; got {excerpt(value)}")
        return value

    def integer(self, node: yaml.Node, where: str, lo: int | None = None, hi: int | None = None) -> int:
        value = self.scalar(node, where)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(node, f"'{where}' must be an integer; got {excerpt(value)}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = (f"between {lo} and {hi}" if lo is not None and hi is not None
                      else f"at least {lo}" if lo is not None else f"at most {hi}")
            raise self.fail(node, f"'{where}' is {value}; it must be {bounds}")
        return value

    def choice(self, node: yaml.Node, where: str, choices: tuple[str, ...]) -> str:
        value = self.scalar(node, where)
        if not isinstance(value, str) or value not in choices:
            raise self.fail(node, f"'{where}' is {excerpt(value)}; use one of: {', '.join(choices)}"
                            + (suggest(value, choices) if isinstance(value, str) else ""))
        return value

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"'{where}' must be a list (e.g. [a, b]); got {kind_text(node)}")
        if len(node.value) > self.max_list:
            raise self.fail(node, f"'{where}' has {len(node.value)} entries; at most {self.max_list} are allowed")
        return list(node.value)

    def strings(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        return tuple(self.string(item, where) for item in self.sequence(node, where))

    def names(self, node: yaml.Node, where: str, known: Any, what: str,
              unsupported: Mapping[str, str] | None = None) -> list[tuple[str, yaml.Node]]:
        """A list of distinct names, each one of `known` (with its node, for later refusals)."""
        out: list[tuple[str, yaml.Node]] = []
        for item in self.sequence(node, where):
            name = self.string(item, where)
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise self.fail(item, f"{what} {excerpt(name)} in '{where}' is not a {what} name")
            if unsupported and name in unsupported:
                raise self.fail(item, f"{what} '{name}' is not supported: {unsupported[name]}; remove it")
            if name not in known:
                raise self.fail(item, f"unknown {what} '{name}' in '{where}'{suggest(name, known)}")
            if name in (n for n, _ in out):
                raise self.fail(item, f"{what} '{name}' listed twice in '{where}'; keep one")
            out.append((name, item))
        return out

    def value(self, node: yaml.Node, where: str, spec: Field, key: yaml.Node | None = None) -> Any:
        """A value read as its schema field says (a "map" gives its checked Entries)."""
        if spec.kind == "str":
            return self.string(node, where)
        if spec.kind == "bool":
            return self.boolean(node, where)
        if spec.kind == "int":
            return self.integer(node, where, spec.lo, spec.hi)
        if spec.kind == "choice":
            return self.choice(node, where, spec.choices)
        if spec.kind == "list":
            return self.strings(node, where)
        if spec.kind == "map":
            return self.mapping(node, where, spec.fields, key)
        return node

    def get(self, m: Entries, key: str, where: str, schema: Schema, default: Any = None) -> Any:
        """m[key] read by its field in `schema`; absent: `default`, or refused when required."""
        if key not in m and not schema[key].required:
            return default
        self.node(m, key, where, schema)
        dotted = f"{where}.{key}" if where else key
        return self.value(m[key][1], dotted, schema[key], m[key][0])
