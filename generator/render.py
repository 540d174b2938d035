"""ResolvedConfig -> mbedtls_config.h text (Jinja2 template templates/mbedtls_config.h.j2).

Pure: returns text, writes nothing. The output is byte-for-byte deterministic:
no timestamps, and the profile appears by file name only.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import jinja2

from core.errors import TlsfitBug
from generator.knowledge import Knowledge
from generator.model import Profile, ResolvedConfig

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"   # the one place the templates folder is worked out
_C_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_C_VALUE = re.compile(r'^(?:[A-Za-z0-9_,() +-]+|"[A-Za-z0-9_./-]+")$')   # numbers, macro lists, "header.h"


def _comment_safe(text: object) -> str:
    """The one escaper of everything the header template prints: safe inside a C block comment, one line.

    Every `{{ ... }}` of templates/mbedtls_config.h.j2 passes through here (Jinja2 `finalize`), so no
    profile, knowledge-base or resolver text can end the comment it sits in, start a directive on a
    line of its own, or splice lines:
    - `*/` and `/*` are broken up (`* /`, `/ *`);
    - line breaks and every other control or non-printable character become `?`;
    - `??` becomes `?-?` (with -std=c99 gcc reads trigraphs: `??/` is a backslash);
    - a trailing backslash gets a space after it (no line continuation).
    Identifiers and numbers (option names and values) pass through unchanged.
    """
    out = "".join(c if c.isprintable() else "?" for c in str(text))
    while "??" in out:
        out = out.replace("??", "?-?")
    while "*/" in out or "/*" in out:
        out = out.replace("*/", "* /").replace("/*", "/ *")
    if out.endswith("\\"):
        out += " "
    return out


def render_config(resolved: ResolvedConfig, profile: Profile, kb: Knowledge) -> str:
    # finalize: every printed expression goes through the one escaper, whatever the template says
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, finalize=_comment_safe)
    for o in resolved.options:
        # a #define line is C, not a comment: only identifiers and plain values may reach it
        if not _C_NAME.match(o.name) or (o.value is not None and not _C_VALUE.match(o.value)):
            raise TlsfitBug(f"option {o.name!r} = {o.value!r} is not a C identifier and plain value")
    options = [{"name": o.name, "value": o.value, "reasons": list(o.reasons)} for o in resolved.options]
    return env.get_template("mbedtls_config.h.j2").render(
        profile_file=profile.path.name,
        profile_name=resolved.profile_name,
        description=profile.description,
        host=profile.host, port=profile.port,
        mbedtls_version=kb.mbedtls_version,
        option_count=len(options),
        warnings=list(resolved.warnings),
        insecure=list(profile.insecure),
        never=sorted(kb.never.items()),
        optimize=profile.optimize,
        lto=profile.lto,
        tuning=", ".join(f"{name} {setting}" for name, setting in profile.tuning),
        other_levels=list(resolved.other_levels),
        options=options,
    )


def config_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
