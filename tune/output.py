"""tune.json, tune.md, tune.html and the chosen build as a profile (content builders + one writer)."""
from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

from generator.knowledge import Knowledge
from generator.model import Profile
from generator.profile_doc import ProfileDoc
from generator.tuning import setting_value
from core.write import write_if_changed
from tune.front import choose, handshake_ms_high, pareto_keys, within_budget
from tune.model import Outcome, TuneBudget, reason_kind


def tune_document(*, profile: Profile, target: str, cpu: str, mbedtls_version: str, tlsfit_version: str,
                  budget: TuneBudget, prefer: str, outcomes: list[Outcome], searched: dict[str, tuple[str, ...]],
                  levels: tuple[str, ...], seconds: float, shard: str | None, server: str | None,
                  chosen_profile: str | None, object_cache: dict | None = None) -> dict:
    """object_cache: {tool, hits, misses, hit_rate} of the library objects the search compiled
    (tune/search.py object_cache_figures), None without ccache."""
    front = pareto_keys(outcomes)
    chosen = choose(outcomes, budget, cpu, prefer)
    rows = []
    for o in outcomes:
        row = o.as_dict()
        row["pareto"] = o.candidate.key in front
        row["within_budget"] = within_budget(o, budget, cpu)
        if budget.handshake_ms is not None and o.instructions is not None and budget.mhz is not None:
            row["handshake"]["ms_estimate_high"] = round(handshake_ms_high(o.instructions, budget.mhz, cpu), 1)
        rows.append(row)
    return {
        "tlsfit_version": tlsfit_version,
        "profile": profile.name,
        "target": target,
        "cpu": cpu,
        "mbedtls_version": mbedtls_version,
        "server": server,
        "budget": budget.as_dict(),
        "budget_note": ("rom: rom.total, ram: ram.total (static + heap peak + stack peak); handshake_ms: "
                        "instructions x the core's CPI range high end / MHz, an estimate"),
        "prefer": prefer,
        "search": {"levels": list(levels), "knobs": {k: list(v) for k, v in searched.items()},
                   "candidates": len(outcomes), "seconds": round(seconds, 1), "shard": shard,
                   "proven": sum(1 for o in outcomes if o.status == "ok")},
        "instructions_unit": "guest instructions (QEMU -icount), not CPU cycles",
        "candidates": rows,
        "pareto": [r["key"] for r in rows if r["pareto"]],
        "chosen": chosen.candidate.key if chosen is not None else None,
        "chosen_profile": chosen_profile if chosen is not None else None,
        "object_cache": object_cache,
    }


def _fmt(n: int | None) -> str:
    return f"{n:,}" if isinstance(n, int) else "-"


def _budget_text(budget: dict) -> str:
    parts = [f"{k} {v:,} B" for k, v in budget.items() if k in ("rom", "ram") and v is not None]
    if budget.get("handshake_ms") is not None:
        parts.append(f"handshake {budget['handshake_ms']:g} ms at {budget['mhz']:g} MHz (estimate)")
    return ", ".join(parts) or "none"


def _knobs_text(row: dict) -> str:
    bits = [f"{k}={v}" for k, v in row["knobs"].items()]
    return ", ".join(bits) or "(level's own)"


def object_cache_text(figures: dict | None) -> str:
    """One line on ccache's reuse of library objects, e.g. "Object cache (ccache): 812 hits, 140
    misses, hit rate 85.3 %"."""
    if not figures:
        return "Object cache: none (ccache not installed or TLSFIT_NO_CCACHE set)"
    rate = figures.get("hit_rate")
    return (f"Object cache ({figures.get('tool', 'ccache')}): {figures['hits']:,} hits, {figures['misses']:,} misses, "
            + (f"hit rate {100 * rate:.1f} %" if rate is not None else "no library compiled"))


def tune_markdown(doc: dict) -> str:
    lines = [f"### tlsfit tune: `{doc['profile']}` on `{doc['target']}` ({doc['cpu']})", ""]
    s = doc["search"]
    lines.append(f"{s['candidates']} candidates ({s['proven']} proven by a handshake) in {s['seconds']} s; "
                 f"budget {_budget_text(doc['budget'])}; "
                 f"prefer {doc['prefer']}.")
    lines.append(object_cache_text(doc.get("object_cache")) + ".")
    lines.append(f"Chosen: `{doc['chosen']}` -> `{doc['chosen_profile']}`" if doc["chosen"]
                 else "No candidate within the budget.")
    lines += ["", "Pareto front (ROM total x RAM total x handshake instructions; none of them is beaten "
                  "on all three by another proven candidate):", "",
              "| candidate | optimize | LTO | knobs | ROM total | mbedTLS ROM | RAM total | handshake instr | within budget |",
              "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    front = sorted((r for r in doc["candidates"] if r["pareto"]), key=lambda r: (r["rom"]["total"], r["key"]))
    for r in front:
        lines.append(f"| {'**' + r['key'] + '**' if r['key'] == doc['chosen'] else r['key']} | {r['optimize']} | "
                     f"{'yes' if r['lto'] else 'no'} | {_knobs_text(r)} | {_fmt(r['rom']['total'])} | "
                     f"{_fmt(r['rom']['mbedtls'])} | {_fmt(r['ram']['total'])} | {_fmt(r['handshake']['instructions'])} | "
                     f"{'yes' if r['within_budget'] else 'no'} |")
    others = [r for r in doc["candidates"] if r["status"] != "ok"]
    if others:   # no figures (a failed run measured nothing that counts); one line per cause
        lines += ["", "Not proven:", ""]
        causes: dict[tuple[str, str], list[dict]] = {}
        for r in others:
            causes.setdefault((r["status"], reason_kind(r["reason"])), []).append(r)
        for (status, _), rows in causes.items():
            first = (rows[0]["reason"] or "").strip().splitlines()
            keys = ", ".join(f"`{r['key']}`" for r in rows[:3]) + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
            lines.append(f"- {len(rows)} {status}: {first[0] if first else ''} ({keys})")
    lines += ["", f"Instructions are {doc['instructions_unit']}. Every candidate: tune.json.", ""]
    return "\n".join(lines)


def _chart(doc: dict) -> str:
    """ROM total (x) against handshake instructions (y) of every proven candidate; the front filled."""
    points = [r for r in doc["candidates"] if r["status"] == "ok" and r["handshake"]["instructions"]]
    if not points:
        return ""
    w, h, pad = 640, 360, 50
    xs = [r["rom"]["total"] for r in points]
    ys = [r["handshake"]["instructions"] for r in points]
    x0, x1 = min(xs), max(xs) or 1
    y0, y1 = min(ys), max(ys) or 1

    def sx(x: int) -> float:
        return pad + (w - 2 * pad) * ((x - x0) / (x1 - x0) if x1 > x0 else 0.5)

    def sy(y: int) -> float:
        return h - pad - (h - 2 * pad) * ((y - y0) / (y1 - y0) if y1 > y0 else 0.5)

    dots = "".join(
        f'<circle cx="{sx(r["rom"]["total"]):.1f}" cy="{sy(r["handshake"]["instructions"]):.1f}" r="5" '
        f'fill="{"#1a7f37" if r["pareto"] else "none"}" stroke="#1a7f37"><title>{html.escape(r["key"])}: '
        f'ROM {r["rom"]["total"]:,} B, RAM {r["ram"]["total"]:,} B, {r["handshake"]["instructions"]:,} instr'
        f'</title></circle>' for r in points)
    return (f'<svg width="{w}" height="{h}" role="img" aria-label="ROM against handshake instructions">'
            f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#888"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#888"/>'
            f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">ROM total, {x0:,}-{x1:,} B</text>'
            f'<text x="14" y="{h / 2}" transform="rotate(-90 14 {h / 2})" text-anchor="middle">'
            f'handshake instructions, {y0:,}-{y1:,}</text>{dots}</svg>')


FRONT_CLASS = ' class="front"'


def tune_html(doc: dict) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr{FRONT_CLASS if r['pareto'] else ''}><td>{esc(r['key'])}</td><td>{esc(r['status'])}</td>"
        f"<td>{_fmt(r['rom']['total'])}</td><td>{_fmt(r['rom']['mbedtls'])}</td><td>{_fmt(r['ram']['total'])}</td>"
        f"<td>{_fmt(r['handshake']['instructions'])}</td><td>{'yes' if r['pareto'] else ''}</td>"
        f"<td>{'yes' if r['within_budget'] else ''}</td><td>{esc((r['reason'] or '').splitlines()[0] if r['reason'] else '')}</td></tr>"
        for r in sorted(doc["candidates"], key=lambda r: (not r["pareto"], r["rom"]["total"] or 0, r["key"])))
    chosen = (f"Chosen: <b>{esc(doc['chosen'])}</b> &rarr; <code>{esc(str(doc['chosen_profile']))}</code>"
              if doc["chosen"] else "No candidate within the budget.")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tlsfit tune: {esc(doc['profile'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{padding:2px 8px;
border-bottom:1px solid #ddd;text-align:right}}td:first-child,td:nth-child(2),td:last-child{{text-align:left}}
tr.front{{background:#e8f5e9}}</style></head><body>
<h2>tlsfit tune: {esc(doc['profile'])} on {esc(doc['target'])} ({esc(doc['cpu'])})</h2>
<p>{doc['search']['candidates']} candidates, {doc['search']['proven']} proven by a handshake, {doc['search']['seconds']} s.
{chosen}</p>
<p>{esc(object_cache_text(doc.get('object_cache')))}.</p>
<p>Pareto front (filled): ROM total x RAM total x handshake instructions ({esc(doc['instructions_unit'])}).</p>
{_chart(doc)}
<table><tr><th>candidate</th><th>status</th><th>ROM total</th><th>mbedTLS ROM</th><th>RAM total</th>
<th>handshake instr</th><th>Pareto</th><th>within budget</th><th>reason</th></tr>{rows}</table>
</body></html>
"""


TUNE_HEAD = "# Written by tlsfit tune from "


def chosen_profile_text(profile: Profile, kb: Knowledge, outcome: Outcome, tune_dir_note: str,
                        dest_dir: Path | None = None) -> str:
    """The user's profile file with the chosen optimize level, build.lto and tuning: patched in;
    every other line, comment and relative path as the user wrote it (generator/profile_doc.py).

    dest_dir: the folder the text will be written to; relative file paths (trust.ca_files, the
    client certificate) are rewritten to stay relative and name the same files from there.
    None: written beside the original profile."""
    doc = ProfileDoc.load(profile.path)
    c = outcome.candidate
    doc.set("optimize", c.optimize)
    doc.set("build.lto", c.lto)
    tuning = {**dict(profile.tuning), **dict(c.knobs)}
    if tuning:
        doc.set("tuning", {k: setting_value(kb.knobs[k], v) for k, v in sorted(tuning.items())})
    else:
        doc.delete("tuning")
    if dest_dir is not None:
        doc.relocate(dest_dir)
    head = (f"{TUNE_HEAD}{profile.path.name}: candidate {c.key}\n"
            f"# (ROM total {outcome.rom_total:,} B, RAM total {outcome.ram_total:,} B, "
            f"{outcome.instructions:,} handshake instructions; {tune_dir_note}).\n")
    lines = doc.dump().splitlines(keepends=True)
    if lines and lines[0].startswith(TUNE_HEAD):       # a tuned profile tuned again: one head only
        lines = lines[2:] if len(lines) > 1 and lines[1].startswith("# (ROM total") else lines[1:]
    return head + "".join(lines)


def write_outputs(out_dir: Path, doc: dict, profile_text: str | None, profile_name: str | None,
                  pki_source: Path | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if profile_text is not None and profile_name is not None:
        if pki_source is not None and pki_source.is_dir():
            # the same test PKI as the measured candidates (test_pki_dir: beside the profile)
            target = out_dir / "test-pki" / pki_source.name
            if not target.exists():
                partial = target.with_name(f".{target.name}.partial")
                shutil.rmtree(partial, ignore_errors=True)
                shutil.copytree(pki_source, partial)
                partial.rename(target)
        write_if_changed(out_dir / profile_name, profile_text)
    write_if_changed(out_dir / "tune.md", tune_markdown(doc))
    write_if_changed(out_dir / "tune.html", tune_html(doc))
    write_if_changed(out_dir / "tune.json", json.dumps(doc, indent=1, sort_keys=True) + "\n")
