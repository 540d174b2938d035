"""Profile + knowledge base -> the smallest closed mbedTLS option set (ResolvedConfig).

Seeds come from the profile (each with the profile field that asked for it),
the closure follows the knowledge base's `requires` rules, and size choices
come from its tables keyed on `optimize`: `tuning` (options and values),
`random_generators` (which DRBG), `group_offer` (how many of the server's
groups the client offers) and `driver_builds` (legacy modules swapped for a
PSA driver such as p256-m). Nothing here names an option's dependencies:
those live in generator/data/mbedtls-3.6.yaml.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from core.errors import Infeasible, TlsfitBug
from generator.cores import Core
from generator.knowledge import LEGACY_DRIVER, DriverBuild, Knowledge, KnowledgeError, Tuning
from generator.model import OPTIMIZE_LEVELS, Option, Profile, ResolvedConfig
from generator.tuning import with_knobs

# Roles (knowledge base `roles:`) always on for a bare-metal client measured by the harness.
_BASE_ROLES = ("client", "platform", "counted_heap")

# How a level-specific reason starts; dropped where the level is already said.
_LEVEL_PREFIX = re.compile(r"^(optimize: \w+ -> |random generator \(optimize: \w+\): )")

DIRECT_SEED_NOTE = ("no {entropy}: seed the DRBG straight from the board's TRNG, passing its read "
                    "function as f_entropy to mbedtls_*_drbg_seed()")
EXTERNAL_RNG_NOTE = ("the application defines mbedtls_psa_external_get_random() to return that DRBG's output "
                     "(ports/common/harness.c shows how)")

NO_RTC_WARNING = ("clock: none: {time_date} is off, so certificate validity dates "
                  "(notBefore/notAfter) are NOT checked; set 'clock: rtc' when the device knows the time")


@dataclass
class _Entry:
    value: str | None
    reasons: list[str]
    parent: str | None          # the option whose rule pulled this one in (None: seeded by the profile)


@dataclass
class _Builder:
    kb: Knowledge
    driver: DriverBuild | None = None
    entries: dict[str, _Entry] = field(default_factory=dict)
    offered_groups: list[str] = field(default_factory=list)   # what the key exchange offers, in order
    floors: dict[str, tuple[int, str]] = field(default_factory=dict)  # size option -> (least value, why)

    def add(self, name: str, reason: str, value: str | None = None, parent: str | None = None) -> None:
        if self.driver is not None and name in self.driver.replace:
            for other in self.driver.replace[name]:
                self.add(other, f"{reason} ({name} -> {self.driver.name} driver)", parent=parent)
            return
        if name in self.kb.never:
            raise Infeasible(self._chain(parent, name) + f": tlsfit never defines {name} "
                             f"({self.kb.never[name]}); reason asked: {reason}")
        entry = self.entries.get(name)
        if entry is None:
            rule = self.kb.options.get(name)
            if value is None and rule is not None:
                value = rule.value
            self.entries[name] = _Entry(value=value, reasons=[reason], parent=parent)
        elif reason not in entry.reasons:
            entry.reasons.append(reason)

    def has(self, name: str) -> bool:
        return name in self.entries

    def add_role(self, role: str, reason: str | None = None, value: str | None = None) -> None:
        r = self.kb.role(role)
        self.add(r.option, reason or r.reason, value=value)

    def has_role(self, role: str) -> bool:
        return self.has(self.kb.option(role))

    def _chain(self, start: str | None, last: str | None = None) -> str:
        links: list[str] = []
        cur = start
        while cur is not None:
            links.append(f"{cur} ({self.kb.where(cur)})")
            cur = self.entries[cur].parent if cur in self.entries else None
        links.reverse()
        if last is not None:
            links.append(last)
        return " requires ".join(links) if links else "profile"

    def close(self) -> None:
        """Add everything the rules require until nothing changes."""
        pending = list(self.entries)
        while pending:
            name = pending.pop(0)
            if name not in self.entries:
                continue  # swapped out by a driver build: its replacement was queued instead
            rule = self.kb.options.get(name)
            if rule is None:
                raise KnowledgeError(f"{self._chain(name)}: {name} has no rule in {self.kb.source.name}")
            wanted = list(rule.requires)
            for group in rule.requires_any:
                if not any(self.has(o) for o in group):
                    wanted.append(group[0])
            for dep in wanted:
                if not self.has(dep):  # first requirer only: later ones would just be noise
                    before = set(self.entries)
                    self.add(dep, f"required by {name}", parent=name)
                    pending.extend(n for n in self.entries if n not in before)

    def check_conflicts(self) -> None:
        for name in sorted(self.entries):
            for other in self.kb.options[name].conflicts:
                if other in self.entries:
                    raise Infeasible(f"{self._chain(name)} conflicts with {self._chain(other)}")

    def options(self) -> tuple[Option, ...]:
        return tuple(Option(name=n, value=e.value, reasons=tuple(e.reasons))
                     for n, e in sorted(self.entries.items()))


def resolve(profile: Profile, knowledge: Knowledge, core: Core,
            knobs: dict[str, str] | None = None) -> ResolvedConfig:
    """The profile's option set, and what each other optimize level would change in it.

    core is the target board's CPU core (board.yaml `core:`, generator/data/cores.yaml): the
    knowledge base's tuning entries and driver builds conditioned on an architecture apply by
    the core's (`arch:` only there, `unless_arch:` never there). There is no config without a
    core: the build machine is the `host` core.

    knobs (knowledge base `knobs:` name -> normalised setting, generator/tuning.py) override the
    level's choices, over the profile's own `tuning:`; a knob that does not apply to this
    profile (its `when` options absent) is Infeasible."""
    profile = with_knobs(profile, knowledge, knobs)
    if not isinstance(core, Core):
        raise TlsfitBug(f"resolve() needs a Core (generator/cores.py), got {core!r}")
    arch = core.arch
    config = _resolve_level(profile, knowledge, arch)
    changes: dict[str, list[tuple[str, str, str]]] = {}
    for level in OPTIMIZE_LEVELS:
        if level != profile.optimize:
            other = _resolve_level(replace(profile, optimize=level), knowledge, arch)
            for name, setting, reason in _differences(config, other):
                changes.setdefault(name, []).append((setting, level, reason))
    return replace(config, other_levels=tuple(_describe(name, changes[name]) for name in sorted(changes)))


def _setting(config: ResolvedConfig, name: str) -> str:
    if not config.has(name):
        return "off"
    return config.value(name) or "on"


def _differences(mine: ResolvedConfig, other: ResolvedConfig) -> list[tuple[str, str, str]]:
    """(option, its setting in `other`, why) for every option the two set differently."""
    reasons = {o.name: o.reasons[0] for o in (*mine.options, *other.options)}  # the other level's wins
    names = {o.name for o in mine.options} | {o.name for o in other.options}
    return [(n, _setting(other, n), reasons[n]) for n in sorted(names) if _setting(mine, n) != _setting(other, n)]


def _describe(name: str, changes: list[tuple[str, str, str]]) -> str:
    """E.g. '<window option> 3 at balanced, 4 at speed: <why>'."""
    by_setting: dict[str, list[str]] = {}
    for setting, level, _ in changes:
        by_setting.setdefault(setting, []).append(level)
    where = ", ".join(f"{setting} at {' and '.join(levels)}" for setting, levels in by_setting.items())
    why = _LEVEL_PREFIX.sub("", changes[-1][2])  # the level is already said
    return f"{name} {where}: {why}"


def _resolve_level(profile: Profile, knowledge: Knowledge, arch: str) -> ResolvedConfig:
    kb = knowledge
    groups = offered_groups(profile, kb, dict(profile.tuning).get("group"))
    fitting = _fitting_drivers(profile, kb, groups)
    b = _Builder(kb, driver=_driver_build(profile, kb, fitting, arch))
    warnings: list[str] = []
    for role in _BASE_ROLES:
        b.add_role(role)
    _seed_driver(b)
    for version in profile.versions:
        b.add_role(f"tls{version.replace('.', '_')}")
    if "1.2" in profile.versions:
        b.add_role("extended_master_secret")

    _seed_suites(b, profile)
    _seed_groups(b, profile, groups)
    _seed_trust(b, profile, warnings)
    _seed_features(b, profile)
    # Before the closure: PSA's need for a DRBG must be met by this choice, not by a default.
    _seed_random(b, profile)

    b.close()
    _driver_options(b)
    b.close()

    # PSA draws from that DRBG: the header says what the application provides for it.
    if b.has_role("psa_external_rng"):
        b.add_role("psa_external_rng", EXTERNAL_RNG_NOTE)

    _size_values(b, profile, warnings)
    _tuning(b, profile, arch)
    _apply_knobs(b, profile)
    b.close()
    b.check_conflicts()
    if b.has_role("x509") and not b.has_role("time_date"):
        warnings.append(NO_RTC_WARNING.format(time_date=kb.option("time_date")))
    return ResolvedConfig(profile_name=profile.name, options=b.options(), warnings=tuple(warnings),
                          offered_groups=tuple(b.offered_groups),
                          driver=b.driver.name if b.driver else None,
                          fitting_drivers=tuple(d.name for d in fitting),
                          offered_suites=profile.ciphersuites,
                          offered_signature_algorithms=profile.signature_algorithms)



def _seed_suites(b: _Builder, profile: Profile) -> None:
    kb = b.kb
    macros = []
    for name in profile.ciphersuites:
        suite = kb.suites[name]
        macros.append(suite.macro)
        cipher = kb.ciphers[suite.cipher]
        for option in cipher.options:
            b.add(option, f"ciphersuite {name} -> {cipher.label}")
        if cipher.mode == "CBC":
            b.add_role("encrypt_then_mac", f"ciphersuite {name} -> {kb.role('encrypt_then_mac').reason}")
        mac = kb.hashes[suite.mac]
        b.add(mac.option, f"ciphersuite {name} -> {mac.label} (PRF / HMAC / HKDF)")
        if suite.key_exchange != kb.no_key_exchange:
            kx = kb.key_exchanges[suite.key_exchange]
            b.add(kx.option, f"ciphersuite {name} -> {kx.label} key exchange")
        else:
            if profile.chain is not None:
                b.add(kb.tls13_modes["ephemeral"], f"ciphersuite {name} -> TLS 1.3 (EC)DHE with certificate")
            if profile.psk is not None:
                b.add(kb.tls13_modes["psk"], f"ciphersuite {name} + tls.psk -> TLS 1.3 PSK")
                if any(kb.groups[g].kind == "ecdhe" for g in profile.groups):
                    b.add(kb.tls13_modes["psk_ephemeral"], f"ciphersuite {name} + tls.psk + tls.groups -> PSK-(EC)DHE")
    b.add_role("ciphersuite_list", value=",".join(macros))


def _seed_random(b: _Builder, profile: Profile) -> None:
    """The one DRBG, seeded straight from the board's TRNG (tlsfit never adds an entropy module)."""
    tuning = dict(profile.tuning)
    for name, knob in b.kb.knobs.items():
        if knob.kind == "random" and name in tuning:
            option = knob.choices[tuning[name]]
            rule = b.kb.options.get(option)
            dropped = [o for o in (rule.requires if rule else ()) if b.driver and b.driver.replace.get(o) == ()]
            if dropped:
                raise Infeasible(f"tuning.{name}: {tuning[name]} needs {', '.join(dropped)}, which the "
                                 f"{b.driver.name} build leaves out ({b.kb.source.name}:{b.driver.line})")
            b.add(option, f"tuning: {name} {tuning[name]} -> {knob.reason}")
            b.add(option, DIRECT_SEED_NOTE.format(entropy=b.kb.option("entropy_module")))
            return
    for choice in b.kb.random_generators:
        if profile.optimize in choice.levels and all(b.has(o) for o in choice.when):
            b.add(choice.option, f"random generator (optimize: {profile.optimize}): {choice.reason}")
            b.add(choice.option, DIRECT_SEED_NOTE.format(entropy=b.kb.option("entropy_module")))
            return
    raise KnowledgeError(f"{b.kb.source.name}: no random_generators entry matches optimize: {profile.optimize}")


def _uses_ecdhe(b: _Builder, profile: Profile) -> bool:
    kb = b.kb
    for name in profile.ciphersuites:
        suite = kb.suites[name]
        if suite.key_exchange == kb.no_key_exchange:
            return True
        if kb.key_exchanges[suite.key_exchange].ephemeral in ("ecdhe", "static_ecdh"):
            return True
    return False


def offered_groups(profile: Profile, kb: Knowledge, chosen: str | None = None) -> tuple[str, ...]:
    """Groups the client offers: the key-exchange group(s), then the certificates' curves where the version needs them.

    The server accepts each listed group for its key exchange, so at `one` a single group is enough:
    the first listed group usable with every profile version whose curve the chain or a client key
    already needs (it then costs no extra ROM), else the first usable one. In the versions of
    `certificate_curves_offered` (TLS 1.2) supported_groups also says which curves the client can
    verify and sign with, so the server leaf's and the client certificate's curves follow.
    `chosen` (tune's group knob) replaces the key-exchange choice; tls.offer_groups replaces it all.
    """
    if profile.offer_groups:
        return profile.offer_groups                 # the profile pins the list (tls.offer_groups)
    usable = [g for g in profile.groups if set(profile.versions) <= set(kb.groups[g].versions)]
    if chosen is not None:
        key_exchange: tuple[str, ...] = (chosen,)   # tuning: {group: ...} (tune's group knob)
    elif kb.group_offer.get(profile.optimize, "all") != "one" or not usable:
        key_exchange = profile.groups
    else:
        curves = {kb.key_types[k].curve for k in _key_names(profile, kb) if kb.key_types[k].kind == "ec"}
        key_exchange = (next((g for g in usable if g in curves), usable[0]),)
    return key_exchange + tuple(g for g in certificate_curves(profile, kb) if g not in key_exchange)


def certificate_curves(profile: Profile, kb: Knowledge) -> tuple[str, ...]:
    """The curves of the server leaf and the client certificate that supported_groups must list (TLS 1.2)."""
    if not set(profile.versions) & set(kb.certificate_curves_offered):
        return ()
    keys = ([profile.chain.leaf] if profile.chain is not None else []) \
        + ([profile.client_certificate.key] if profile.client_certificate is not None else [])
    curves: list[str] = []
    for key in keys:
        curve = kb.key_types[key].curve if key in kb.key_types else None
        if curve is not None and curve in kb.groups and curve not in curves:
            curves.append(curve)
    return tuple(curves)


def _key_names(profile: Profile, kb: Knowledge) -> list[str]:
    keys: list[str] = []
    if profile.chain is not None:
        keys += [profile.chain.root, *profile.chain.intermediates, profile.chain.leaf]
    keys += [k for k in profile.ca_key_types if k in kb.key_types]
    if profile.client_certificate is not None:
        keys.append(profile.client_certificate.key)
    return keys


def _fitting_drivers(profile: Profile, kb: Knowledge, groups: tuple[str, ...]) -> tuple[DriverBuild, ...]:
    """The driver builds whose conditions the profile meets at any optimize level (driver_builds in the KB)."""
    keys = [kb.key_types[k] for k in _key_names(profile, kb)]
    unknown_ca = any(k not in kb.key_types for k in profile.ca_key_types)
    uses_ec = any(kb.groups[g].kind == "ecdhe" for g in groups) or any(k.kind == "ec" for k in keys)
    return tuple(
        d for d in kb.driver_builds
        if (uses_ec and profile.versions == d.versions and not unknown_ca
            and all(g in d.curves for g in groups if kb.groups[g].kind == "ecdhe")
            and all(k.curve in d.curves for k in keys if k.kind == "ec")
            and (d.rsa or all(k.kind != "rsa" for k in keys))
            and (not d.any_cipher or any(kb.suites[s].cipher in d.any_cipher for s in profile.ciphersuites))))


def _driver_build(profile: Profile, kb: Knowledge, fitting: tuple[DriverBuild, ...],
                  arch: str) -> DriverBuild | None:
    """The driver build this profile gets: the tuning knob's choice ("legacy": none), else the first
    of the fitting ones (_fitting_drivers) that applies at the profile's optimize level on this
    architecture."""
    chosen = dict(profile.tuning).get("driver")
    if chosen is None:
        return next((d for d in fitting if profile.optimize in d.levels
                     and profile.optimize not in d.unless_arch.get(arch, ())), None)
    if chosen == LEGACY_DRIVER:
        return None
    for d in fitting:
        if d.name == chosen:
            return d
    raise Infeasible(f"tuning.driver: {chosen} does not apply to this profile: "
                     + "; ".join(f"{d.name} ({kb.source.name}:{d.line}) needs TLS {'/'.join(d.versions)} only, "
                                 f"groups and EC keys among {', '.join(d.curves)}"
                                 + ("" if d.rsa else ", no RSA key") for d in kb.driver_builds if d.name == chosen))


def _seed_driver(b: _Builder) -> None:
    d = b.driver
    if d is not None:
        for name, value in d.add:
            b.add(name, f"{d.name} driver build: {d.reason}", value=value)


def _driver_options(b: _Builder) -> None:
    d = b.driver
    if d is None:
        return
    for legacy, wants in d.psa_wants.items():
        if b.has(legacy):
            for want in wants:
                b.add(want, f"{legacy} under the {d.name} build's PSA config: PSA only provides what is wanted",
                      parent=legacy)


def _seed_groups(b: _Builder, profile: Profile, groups: tuple[str, ...]) -> None:
    kb = b.kb
    ecdhe = _uses_ecdhe(b, profile)
    ffdhe = any(kb.suites[s].key_exchange != kb.no_key_exchange
                and kb.key_exchanges[kb.suites[s].key_exchange].ephemeral == "ffdhe" for s in profile.ciphersuites)
    for name in groups:
        group = kb.groups[name]
        if not set(group.versions) & set(profile.versions):
            continue
        if (group.kind == "ecdhe" and ecdhe) or (group.kind == "ffdhe" and ffdhe):
            b.add(group.option, f"tls.groups {name}")
            b.offered_groups.append(name)


def _key_needs(b: _Builder, key_name: str, why: str, sign: bool, profile: Profile) -> None:
    kb = b.kb
    kt = kb.key_types[key_name]
    if kt.kind == "ec":
        b.add_role("ecdsa", f"{why} {key_name} -> ECDSA {'signing' if sign else 'verification'}")
        b.add(kb.groups[kt.curve].option, f"{why} {key_name} -> curve {kt.curve}")
    else:
        b.add_role("rsa", f"{why} {key_name} -> RSA")
        # TLS 1.3 client signatures are RSA-PSS; everything else verifies PKCS#1 v1.5
        padding = "rsa_pss" if sign and profile.versions == ("1.3",) else "rsa_pkcs1_v15"
        b.add_role(padding, f"{why} {key_name} -> {kb.role(padding).reason}")


def _seed_trust(b: _Builder, profile: Profile, warnings: list[str]) -> None:
    kb = b.kb
    if profile.chain is not None:
        chain = profile.chain
        levels = [("trust.chain.root", chain.root),
                  *(("trust.chain.intermediates", k) for k in chain.intermediates),
                  ("trust.chain.leaf", chain.leaf)]
        for where, key_name in levels:
            _key_needs(b, key_name, where, sign=False, profile=profile)
        b.add_role("x509", f"trust.chain -> {kb.role('x509').reason}")
        for sig in profile.signature_algorithms:
            alg = kb.signature_algorithms[sig]
            for option in alg.options:
                b.add(option, f"tls.signature_algorithms {sig}")
            b.add(kb.hashes[alg.hash].option, f"tls.signature_algorithms {sig} -> {kb.hashes[alg.hash].label}")
        if profile.trust_format == "pem":
            b.add_role("pem")
    for ca, key_name in zip(profile.ca_files, profile.ca_key_types):
        if key_name in kb.key_types:
            _key_needs(b, key_name, f"trust.ca_files {ca.name}", sign=False, profile=profile)
        else:
            warnings.append(f"trust.ca_files {ca.name}: key type not recognised; its key may not be usable")
    if profile.client_certificate is not None:
        cc = profile.client_certificate
        b.add_role("private_key_parse")
        _key_needs(b, cc.key, "tls.client_certificate.key", sign=True, profile=profile)
    if profile.verify == "none":
        warnings.append("verify: none (allow_insecure): the server certificate is NOT verified; "
                        "anyone can impersonate the server")


def _seed_features(b: _Builder, profile: Profile) -> None:
    if profile.sni:
        b.add_role("sni", f"tls.sni: send server name {profile.host}")
    if profile.alpn:
        b.add_role("alpn", f"tls.alpn {', '.join(profile.alpn)}")
    if profile.resumption == "tickets":
        b.add_role("session_tickets")
    if profile.max_fragment_length is not None:
        b.add_role("max_fragment_length", f"tls.max_fragment_length {profile.max_fragment_length}")
    if profile.psk is not None:
        b.add_role("psk_max_len", f"tls.psk key is {len(profile.psk.key)} bytes", value=str(len(profile.psk.key)))
    if profile.clock == "rtc" and b.has_role("x509"):
        for role in ("time", "time_date", "time_source", "time_ms", "time_gmtime"):
            b.add_role(role)
    if profile.transport == "udp":
        b.add_role("dtls")
        b.add_role("dtls_anti_replay")
        if profile.dtls is not None and profile.dtls.connection_id:
            b.add_role("dtls_connection_id")


def _certificate_message_bytes(b: _Builder, profile: Profile) -> int:
    """Generous size of the server's Certificate handshake message (leaf + intermediates)."""
    if profile.chain is None:
        return 0
    kb = b.kb
    certs = [profile.chain.leaf, *profile.chain.intermediates]
    return kb.buffers.handshake_overhead + sum(3 + kb.key_types[k].cert_bytes for k in certs)


def _size_values(b: _Builder, profile: Profile, warnings: list[str]) -> None:
    kb = b.kb
    full = kb.buffers.full_record
    cert_msg = _certificate_message_bytes(b, profile)
    if profile.buffers is not None:
        in_len, out_len = profile.buffers.in_len, profile.buffers.out_len
        in_why = out_why = "tls.buffers"
        if profile.max_fragment_length is None and in_len < full:
            warnings.append(f"tls.buffers.in is {in_len}: a server may send records up to {full} bytes "
                            "and the handshake then fails; this server must send smaller records")
        if cert_msg > in_len:
            warnings.append(f"tls.buffers.in is {in_len} but the server's Certificate message may need about "
                            f"{cert_msg} bytes (it is reassembled in the input buffer)")
    elif profile.max_fragment_length is not None:
        mfl = profile.max_fragment_length
        out_len, out_why = mfl, f"tls.max_fragment_length {mfl}: records are at most {mfl} bytes"
        if cert_msg > mfl:
            in_len = -(-cert_msg // 512) * 512
            in_why = (f"tls.max_fragment_length {mfl}, but MFL does not shrink handshake messages and the "
                      f"server's Certificate message (~{cert_msg} bytes for the chain) is reassembled here")
        else:
            in_len, in_why = mfl, f"tls.max_fragment_length {mfl}: the server sends records of at most {mfl} bytes"
    else:
        in_len, in_why = full, f"a server may send full {full}-byte records (no max_fragment_length)"
        if profile.client_certificate is not None:
            out_len = kb.buffers.out_client_certificate
            out_why = f"ClientHello, client Certificate and application data; {out_len} holds a client chain"
        else:
            out_len = kb.buffers.out_default
            out_why = f"ClientHello and application data (larger writes are split into {out_len}-byte records)"
    b.add_role("in_content_len", in_why, value=str(in_len))
    b.add_role("out_content_len", out_why, value=str(out_len))
    # what a tuning knob may not go below: the client's largest handshake message is written whole
    out_floor = (kb.buffers.client_hello, "the ClientHello")
    if profile.client_certificate is not None:
        client_cert = kb.buffers.handshake_overhead + 3 + kb.key_types[profile.client_certificate.key].cert_bytes
        out_floor = max(out_floor, (client_cert, f"the client Certificate message (~{client_cert} bytes)"))
    b.floors[kb.option("out_content_len")] = out_floor

    if b.has_role("bignum"):
        sizes: list[tuple[int, str]] = []
        for k in _key_names(profile, kb):
            kt = kb.key_types[k]
            sizes.append(((kt.bits + 7) // 8, f"{k} key"))
        for g in profile.groups:
            if b.has(kb.groups[g].option):
                sizes.append((kb.groups[g].bytes, f"group {g}"))
        if b.has_role("dhm") and not any(kb.groups[g].kind == "ffdhe" for g in profile.groups):
            sizes.append((kb.groups["ffdhe2048"].bytes, "DHE with server-chosen parameters (assume 2048-bit)"))
        if sizes:
            size, what = max(sizes)
            b.add_role("mpi_max_size", f"largest big number: {what} ({size} bytes)", value=str(size))


def _tuning_applies(b: _Builder, profile: Profile, t: Tuning, arch: str) -> bool:
    return ((not t.arch or arch in t.arch)
            and arch not in t.unless_arch
            and all(b.has(o) for o in t.when)
            and (not t.when_any or any(b.has(o) for o in t.when_any))
            and not any(b.has(o) for o in t.unless)
            and not (t.only_ciphers and any(b.kb.suites[s].cipher not in t.only_ciphers
                                            for s in profile.ciphersuites)))


def _tuning(b: _Builder, profile: Profile, arch: str) -> None:
    level = profile.optimize
    for t in b.kb.tuning:
        if level in t.levels and _tuning_applies(b, profile, t, arch):
            b.add(t.name, f"optimize: {level} -> {t.reason}", value=t.levels[level])



def _apply_knobs(b: _Builder, profile: Profile) -> None:
    """The profile's `tuning:` value and flag knobs, over what its optimize level chose."""
    for name, setting in profile.tuning:
        knob = b.kb.knobs[name]
        if knob.kind not in ("value", "flag") or knob.option is None:
            continue  # random and group knobs act where the DRBG and the groups are chosen
        missing = [o for o in knob.when if not b.has(o)]
        if knob.when_any and not any(b.has(o) for o in knob.when_any):
            missing.append(" or ".join(knob.when_any))
        if missing:
            raise Infeasible(f"tuning.{name}: does not apply to this profile: it needs {', '.join(missing)}, "
                             f"which this profile's option set does not have ({b.kb.source.name}:{knob.line})")
        floor = b.floors.get(knob.option)
        if floor is not None and knob.kind == "value" and int(setting) < floor[0]:
            raise Infeasible(f"tuning.{name}: {setting} bytes cannot hold {floor[1]}; "
                             f"at least {floor[0]} ({b.kb.source.name}:{knob.line})")
        why = f"tuning: {name} {setting} -> {knob.reason}"
        if knob.kind == "flag" and setting == "off":
            b.entries.pop(knob.option, None)
        elif knob.option in b.entries:
            entry = b.entries[knob.option]
            entry.reasons = [why]
            entry.value = setting if knob.kind == "value" else entry.value
        else:
            b.add(knob.option, why, value=setting if knob.kind == "value" else None)
