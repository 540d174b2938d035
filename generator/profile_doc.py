"""The profile as the user wrote it: a YAML document whose comments, key order, quoting and
relative paths survive a load, a patch and a dump.

`Profile` (generator/profile.py) is what tlsfit derives from a profile: validated, with suite
facts and absolute paths, for the later stages. `ProfileDoc` is the file itself, for the
tools that write profiles: probe writes a new one (with a comment on every choice), tune
patches the knobs it chose into the user's own file. Neither validates: load_profile() reads
what they write, like any profile.

    doc = ProfileDoc.load(path)           # comments and layout kept (ruamel.yaml round trip)
    doc.set("build.lto", True)            # creates the build: mapping when absent
    doc.set("optimize", "speed", comment="chosen by tlsfit tune")
    doc.relocate(other_folder)            # relative file paths rewritten to resolve the same
    text = doc.dump()                     # unchanged: the file's text (every shipped profile, byte for byte)

Paths a profile names (trust.ca_files, tls.client_certificate.cert/key_file) are relative to
the profile's folder; relocate() keeps each relative, rewritten against the new folder.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from core.inputs import InputFileError, read_text
from generator.model import ProfileError

MAX_PROFILE_BYTES = 1 << 20
# Keys whose values are file names relative to the profile's folder (a list or one name).
PATH_KEYS = ("trust.ca_files", "tls.client_certificate.cert", "tls.client_certificate.key_file")
# Mappings created by set() are written in flow style ({a: 1}) when they hold only scalars.
_WIDTH = 4096   # never re-wrap a long line


def _represent_none(representer: Any, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _yaml(mapping_indent: int = 2, sequence_indent: int = 4, offset: int = 2) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = _WIDTH
    y.indent(mapping=mapping_indent, sequence=sequence_indent, offset=offset)
    y.representer.add_representer(type(None), _represent_none)   # `key: null`, never a bare `key:`
    return y


def quoted(text: str) -> str:
    """A string written in double quotes (e.g. TLS versions: ["1.2"])."""
    return DoubleQuotedScalarString(text)


def _split(dotted: str) -> list[str]:
    parts = dotted.split(".")
    if not all(parts):
        raise ValueError(f"{dotted!r} is not a dotted key (e.g. 'build.lto')")
    return parts


def _plain(value: Any) -> Any:
    """Python data -> ruamel's commented containers (small mappings of scalars in flow style)."""
    if isinstance(value, dict) and not isinstance(value, CommentedMap):
        out = CommentedMap((k, _plain(v)) for k, v in value.items())
        if all(not isinstance(v, (dict, list, tuple)) for v in value.values()):
            out.fa.set_flow_style()
        return out
    if isinstance(value, (list, tuple)) and not isinstance(value, CommentedSeq):
        seq = CommentedSeq(_plain(v) for v in value)
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


def _mapping_indent(text: str) -> int:
    """How far the file indents a block mapping under its key (2 unless it shows otherwise)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for line, following in zip(lines, lines[1:]):
        stripped = line.split(" #")[0].rstrip()
        if stripped.endswith(":") and not stripped.lstrip().startswith("- ") \
                and not following.lstrip().startswith("- "):
            step = (len(following) - len(following.lstrip())) - (len(line) - len(line.lstrip()))
            if step > 0:
                return step
    return 2


class ProfileDoc:
    """One profile file's YAML document (see the module comment)."""

    def __init__(self, data: CommentedMap, path: Path | None = None, indent: tuple[int, int, int] = (2, 4, 2)):
        self.data = data
        self.path = path              # the file it was loaded from (relative paths are relative to its folder)
        self._indent = indent         # (mapping, sequence, dash offset), as the file had them

    # ---- reading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> ProfileDoc:
        """The profile at `path` (a regular UTF-8 file of at most 1 MiB); ProfileError when it is no
        YAML mapping (what else is wrong, load_profile says)."""
        try:
            text = read_text(path, "profile", MAX_PROFILE_BYTES)
        except InputFileError as exc:
            raise ProfileError(exc.path, exc.line, exc.message) from None
        return cls.loads(text, path)

    @classmethod
    def loads(cls, text: str, path: Path | None = None) -> ProfileDoc:
        shown = path if path is not None else "<profile>"
        try:
            _, sequence_indent, offset = load_yaml_guess_indent(text) if text.strip() else (None, 4, 2)
            indent = (_mapping_indent(text), sequence_indent or 2, offset or 0)
            data = _yaml(*indent).load(text)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ProfileError(shown, mark.line + 1 if mark else None,
                               f"not valid YAML: {getattr(exc, 'problem', None) or exc}; "
                               "check indentation and quoting") from None
        except RecursionError:
            raise ProfileError(shown, None, "nested too deeply to be a profile") from None
        if data is None:
            data = CommentedMap()
        if not isinstance(data, CommentedMap):
            raise ProfileError(shown, 1, "this is not a tlsfit profile (a YAML mapping of name:, server:, tls: ...)")
        return cls(data, path, indent)

    @classmethod
    def new(cls, comment: str = "") -> ProfileDoc:
        """An empty profile document, opened by `comment` (one '# ' line per line of it)."""
        doc = cls(CommentedMap())
        if comment:
            doc.data.yaml_set_start_comment(comment)
        return doc

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in _split(dotted):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def __contains__(self, dotted: str) -> bool:
        marker = object()
        return self.get(dotted, marker) is not marker

    # ---- patching -----------------------------------------------------------------------------

    def set(self, dotted: str, value: Any, comment: str | None = None, before: str | None = None) -> None:
        """Set one field, creating the mappings on its way; the comments elsewhere stay.

        A scalar keeps its quoting style when the new value is a string of the same kind;
        comment: an end-of-line comment for this key; before: comment lines above it."""
        parts = _split(dotted)
        node = self.data
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, CommentedMap):
                child = CommentedMap()
                child.fa.set_flow_style()
                node[part] = child
            node = child
        key = parts[-1]
        old = node.get(key)
        if isinstance(old, ScalarString) and isinstance(value, str) and not isinstance(value, ScalarString):
            value = type(old)(value)
        value = _plain(value)
        if isinstance(value, (CommentedMap, CommentedSeq)) and isinstance(old, (CommentedMap, CommentedSeq)):
            # a list or mapping the user wrote keeps its style
            (value.fa.set_flow_style if old.fa.flow_style() else value.fa.set_block_style)()
        node[key] = value
        if comment is not None:
            node.yaml_add_eol_comment(comment, key)
        if before is not None:
            node.yaml_set_comment_before_after_key(key, before=before, indent=2 * (len(parts) - 1))

    def delete(self, dotted: str) -> None:
        parts = _split(dotted)
        node = self.get(".".join(parts[:-1])) if len(parts) > 1 else self.data
        if isinstance(node, dict):
            node.pop(parts[-1], None)

    def set_flow(self, dotted: str, flow: bool = True) -> None:
        """Write the mapping or list at `dotted` in flow ({a: 1}, [a]) or block style."""
        node = self.get(dotted)
        if isinstance(node, (CommentedMap, CommentedSeq)):
            (node.fa.set_flow_style if flow else node.fa.set_block_style)()

    # ---- file paths ---------------------------------------------------------------------------

    def file_paths(self) -> Iterator[tuple[Any, Any, str]]:
        """(container, key or index, value) of every file name the profile gives."""
        for dotted in PATH_KEYS:
            parent_key, _, key = dotted.rpartition(".")
            parent = self.get(parent_key)
            if not isinstance(parent, dict) or key not in parent:
                continue
            value = parent[key]
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, str):
                        yield value, i, item
            elif isinstance(value, str):
                yield parent, key, value

    def relocate(self, folder: Path) -> None:
        """Rewrite each relative file path so that, read from a profile in `folder`, it names the
        same file as from this document's own folder (absolute paths stay as they are)."""
        if self.path is None:
            raise ValueError("relocate needs the folder the document was loaded from")
        here = Path(os.path.abspath(self.path.parent))
        there = Path(os.path.abspath(folder))
        for container, key, value in list(self.file_paths()):
            if os.path.isabs(value):
                continue
            moved = os.path.relpath(os.path.normpath(here / value), there)
            container[key] = type(value)(moved) if isinstance(value, ScalarString) else moved
        self.path = there / (self.path.name if self.path else "profile.yaml")

    # ---- writing ------------------------------------------------------------------------------

    def dump(self) -> str:
        out = io.StringIO()
        _yaml(*self._indent).dump(self.data, out)
        return out.getvalue()
