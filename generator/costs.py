"""Cost hints: generator/data/costs.yaml, read by whoever ranks choices by cost.

`tlsfit probe` picks the cheapest suite, group and signature algorithm a server accepts with
them; the report's "Cheaper choices" (pipeline/advice.py) quote them. Each entry says whether
its figure is measured or an estimate.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

COSTS_FILE = Path(__file__).resolve().parent / "data" / "costs.yaml"


@dataclass(frozen=True)
class Cost:
    cost: float
    source: str    # "measured" | "estimate"
    why: str


@dataclass(frozen=True)
class Costs:
    tables: dict[str, dict[str, Cost]]

    def get(self, table: str, key: str) -> Cost:
        return self.tables.get(table, {}).get(key, Cost(cost=10_000.0, source="estimate", why="no cost hint"))


def load_costs(path: Path = COSTS_FILE) -> Costs:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Costs({table: {str(k): Cost(cost=float(v["cost"]), source=v["source"], why=v["why"])
                          for k, v in entries.items()}
                  for table, entries in raw.items()})
