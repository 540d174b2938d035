"""Knob settings (knowledge base `knobs:`): checked and normalised the same way for a profile's
`tuning:` key, `tlsfit tune`'s candidates and the profiles tune writes.

A setting is kept as a string: a value knob's value ("4"), a flag's "on"/"off", a DRBG
choice ("hmac"), a group name ("x25519"). setting_value() turns it back into what a
profile says (4, true, "hmac").
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.errors import Infeasible
from generator.knowledge import LEGACY_DRIVER, Knob, Knowledge
from generator.model import Profile, ResolvedConfig

_TRUE = ("on", "true", "yes")
_FALSE = ("off", "false", "no")


def normalise_setting(knob: Knob, raw: Any, groups: tuple[str, ...]) -> str:
    """The setting as a string, or ValueError saying what the knob accepts.
    groups: the profile's tls.groups (what a group knob may choose)."""
    if knob.kind == "flag":
        if isinstance(raw, bool):
            return "on" if raw else "off"
        if isinstance(raw, str) and raw.lower() in _TRUE + _FALSE:
            return "on" if raw.lower() in _TRUE else "off"
        raise ValueError(f"'{knob.name}' is a flag: use true or false")
    if knob.kind == "group":
        if isinstance(raw, str) and raw in groups:
            return raw
        listed = ", ".join(groups) or "none"
        raise ValueError(f"'{knob.name}' must be one of the profile's tls.groups ({listed})")
    text = str(raw) if not isinstance(raw, bool) else ""
    if text in knob.values:
        return text
    raise ValueError(f"'{knob.name}' must be one of: {', '.join(knob.values)}")


def knob_choices(knob: Knob, groups: tuple[str, ...]) -> tuple[str, ...]:
    """Every setting of a knob for a profile with these tls.groups."""
    return groups if knob.kind == "group" else knob.values


def setting_value(knob: Knob, setting: str) -> Any:
    """What a profile's `tuning:` says for this setting (int, bool or string)."""
    if knob.kind == "flag":
        return setting == "on"
    if knob.kind == "value" and setting.lstrip("-").isdigit():
        return int(setting)
    return setting


def knob_applies(knob: Knob, resolved: ResolvedConfig, usable_groups: tuple[str, ...]) -> bool:
    """Whether a knob can be set on this resolved config (its `when` options present; a group knob
    needs a key exchange that offers groups and more than one group to choose from)."""
    if knob.kind == "group":
        return bool(resolved.offered_groups) and len(usable_groups) > 1
    if knob.kind == "random":
        return True
    if knob.kind == "driver":
        return bool(resolved.fitting_drivers)
    return all(resolved.has(o) for o in knob.when) and (not knob.when_any or any(resolved.has(o) for o in knob.when_any))


def current_setting(knob: Knob, resolved: ResolvedConfig) -> str | None:
    """What the resolved config already has for this knob (None: cannot tell)."""
    if knob.kind == "group":
        return resolved.offered_groups[0] if resolved.offered_groups else None
    if knob.kind == "driver":
        return resolved.driver or LEGACY_DRIVER
    if knob.kind == "random":
        return next((value for value, option in knob.choices.items() if resolved.has(option)), None)
    if knob.option is None:
        return None
    if knob.kind == "flag":
        return "on" if resolved.has(knob.option) else "off"
    return resolved.value(knob.option) if resolved.has(knob.option) else None


def with_knobs(profile: Profile, kb: Knowledge, knobs: dict[str, str] | None = None) -> Profile:
    """The profile with `knobs` (name -> normalised setting) over its own `tuning:`, and the knobs
    that stand for profile fields applied (fragment: the max_fragment_length asked for).
    Idempotent; Infeasible where the profile gives no such field."""
    if knobs:
        profile = replace(profile, tuning=tuple(sorted({**dict(profile.tuning), **knobs}.items())))
    for name, setting in profile.tuning:
        knob = kb.knobs[name]
        if knob.kind != "fragment":
            continue
        if profile.max_fragment_length is None:
            raise Infeasible(f"tuning.{name}: does not apply to this profile: it sets no tls.max_fragment_length, "
                             f"so the server is not known to honour one ({kb.source.name}:{knob.line})")
        profile = replace(profile, max_fragment_length=int(setting))
    return profile
