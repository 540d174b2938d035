"""ResolvedConfig -> mbedtls_config.h text (Jinja2 template templates/mbedtls_config.h.j2).

Pure: returns text, writes nothing. The output is byte-for-byte deterministic:
no timestamps, and the profile appears by file name only.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2

from generator.knowledge import Knowledge
from generator.model import Profile, ResolvedConfig

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _comment_safe(text: str) -> str:
    # A reason must never end the C comment it sits in.
    return text.replace("*/", "* /").replace("/*", "/ *")


def render_config(resolved: ResolvedConfig, profile: Profile, kb: Knowledge) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["safe_comment"] = _comment_safe
    options = [{"name": o.name, "value": o.value, "reasons": [_comment_safe(r) for r in o.reasons]}
               for o in resolved.options]
    return env.get_template("mbedtls_config.h.j2").render(
        profile_file=profile.path.name,
        profile_name=resolved.profile_name,
        description=_comment_safe(profile.description),
        host=profile.host, port=profile.port,
        mbedtls_version=kb.mbedtls_version,
        option_count=len(options),
        warnings=[_comment_safe(w) for w in resolved.warnings],
        never=sorted((n, _comment_safe(w)) for n, w in kb.never.items()),
        optimize=profile.optimize,
        other_levels=[_comment_safe(line) for line in resolved.other_levels],
        options=options,
    )


def config_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
