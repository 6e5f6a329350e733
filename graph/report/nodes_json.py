"""The nodes as the report page reads them: one JSON record per node with its diff against its parent.

Nothing is cut silently: a diff longer than `MAX_DIFF_LINES` keeps its first lines and says how many were left
out and where the whole program is. Full programs are embedded for the initial and the best node only (a run of
10,000 nodes would otherwise carry every program twice); every other node's page shows its diff. Structured
metrics (a construction's every point) are named, not embedded: the task's figures draw them and the node's
`result.json` holds them whole.
"""

from __future__ import annotations

import difflib
from typing import Any

from agents.models.prompting import scalar_metrics
from graph.report.run_data import RunData
from knowledge.records import Node

MAX_DIFF_LINES = 400


def diff(parent: Node | None, node: Node, folder: str) -> str:
    """The unified diff of a node's program against its parent's ('' for a node without a parent)."""
    if parent is None or not node.program:
        return ""
    lines = list(difflib.unified_diff(parent.program.splitlines(), node.program.splitlines(),
                                      f"node {parent.id}", f"node {node.id}", lineterm="", n=3))
    if len(lines) > MAX_DIFF_LINES:
        left = len(lines) - MAX_DIFF_LINES
        lines = lines[:MAX_DIFF_LINES] + [f"… {left} more diff lines not shown here; the whole program is "
                                          f"{folder}/program.py"]
    return "\n".join(lines)


def node_record(node: Node, by_id: dict[int, Node], children: list[int], full_program: bool) -> dict[str, Any]:
    parent = by_id.get(node.parent_ids[0]) if node.parent_ids else None
    folder = f"nodes/{node.trial_key}"
    scalars = scalar_metrics(node.metrics)
    structured = sorted(set(node.metrics) - set(scalars))  # drawn by the task's figures; whole in result.json
    return {
        "id": node.id, "key": node.trial_key, "generation": node.generation, "parents": list(node.parent_ids),
        "children": children, "name": node.name, "motivation": node.motivation, "status": node.status,
        "score": node.score, "error": node.error, "metrics": scalars, "structured_metrics": structured,
        "analysis": node.analysis,
        "insights": list(node.insights), "notes": list(node.notes), "timings": node.timings,
        "island": node.island, "cognition_ids": list(node.cognition_ids), "attempts": len(node.attempts),
        "provenance": node.provenance.to_dict(), "folder": folder, "created_at": node.created_at,
        "diff": diff(parent, node, folder), "program": node.program if full_program else None,
    }


def nodes_json(data: RunData) -> list[dict[str, Any]]:
    by_id = {n.id: n for n in data.nodes}
    children: dict[int, list[int]] = {n.id: [] for n in data.nodes}
    for node in data.nodes:
        if node.parent_ids and node.parent_ids[0] in children:
            children[node.parent_ids[0]].append(node.id)
    best, initial = data.best, data.initial
    keep = {n.id for n in (best, initial) if n is not None}
    return [node_record(n, by_id, children[n.id], n.id in keep) for n in data.nodes]


def items_json(data: RunData) -> dict[str, dict[str, Any]]:
    """The cognition items the nodes used or cited, by id (JSON object keys are strings)."""
    return {str(i): {"id": i, "content": item.content, "source": item.source, "origin": item.origin,
                     "node_id": item.node_id} for i, item in sorted(data.items.items())}
