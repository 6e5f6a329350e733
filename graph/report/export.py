"""`asi-evolve export`: a run's nodes as JSON Lines or CSV, for notebooks, spreadsheets and other tools.

Every field of every node is written, exactly: JSON Lines holds one object per node; CSV holds one row per
node with the structured fields (parents, metrics, timings, provenance…) as JSON text in their cells and
scores in full precision. `read_export` reads either back into the same `Node` records (a round trip).
"""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from graph.runner import existing_database
from knowledge.database import NodeDatabase
from knowledge.records import Node, Provenance

FORMATS = ("jsonl", "csv")
COLUMNS = tuple(f.name for f in fields(Node))
_TUPLES = ("parent_ids", "cognition_ids", "insights", "attempts", "notes")
_STRUCTURED = frozenset({*_TUPLES, "metrics", "timings", "provenance"})


def node_record(node: Node) -> dict[str, Any]:
    """A node as plain JSON-able values, in field order."""
    record = {c: getattr(node, c) for c in COLUMNS}
    for column in _TUPLES:
        record[column] = list(record[column])
    record["provenance"] = node.provenance.to_dict()
    return record


def from_record(record: dict[str, Any]) -> Node:
    values = dict(record)
    for column in _TUPLES:
        values[column] = tuple(values[column])
    values["provenance"] = Provenance.from_dict(values["provenance"])
    return Node(**values)


def _csv_cell(column: str, value: Any) -> str:
    if column in _STRUCTURED:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _from_csv(row: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for column in COLUMNS:
        text = row[column]
        if column in _STRUCTURED:
            record[column] = json.loads(text)
        elif column in ("id", "generation", "visits", "novelty_rejections"):
            record[column] = int(text)
        elif column == "island":
            record[column] = int(text) if text else None
        elif column in ("score", "created_at"):
            record[column] = float(text) if text else None
        else:
            record[column] = text
    return record


def export_nodes(run_dir: Path | str, fmt: str, out: Path) -> int:
    """Write every node of the run to `out` in `fmt`; returns how many. ValueError for an unknown format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    db = NodeDatabase(existing_database(Path(run_dir)))
    try:
        nodes = db.nodes()
    finally:
        db.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "jsonl":
            for node in nodes:
                handle.write(json.dumps(node_record(node), sort_keys=False, ensure_ascii=False) + "\n")
        else:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for node in nodes:
                record = node_record(node)
                writer.writerow([_csv_cell(c, record[c]) for c in COLUMNS])
    tmp.replace(out)
    return len(nodes)


def read_export(path: Path) -> list[Node]:
    """The nodes of a file `export_nodes` wrote (its format told by its suffix: .jsonl or .csv)."""
    path = Path(path)
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # a cell holds a whole program
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix == ".csv":
            return [from_record(_from_csv(row)) for row in csv.DictReader(handle)]
        return [from_record(json.loads(line)) for line in handle if line.strip()]
