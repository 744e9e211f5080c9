"""A convoy drawn as a DAG: layers, the critical path, and inline SVG (pure; no I/O).

Beads are laid out left to right by dependency depth (a bead sits one column right of its
deepest blocker), ordered inside a column by where their blockers sit, so edges mostly run
straight. The critical path is the chain of dependencies holding the most beads not yet
done: the work that decides when the convoy can finish. Each node is a link to its bead's
page, so the picture works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 180, 46, 56, 18, 12
TITLE_CHARS = 24


@dataclass(frozen=True)
class Node:
    """One bead as the picture needs it."""

    id: str
    title: str
    state: str  # ready, blocked, claimed, done, failed, needs-human, invalid, missing
    role: str = ""
    expired: bool = False  # a claim whose lease ran out: reclaimable


@dataclass(frozen=True)
class Edge:
    """``source`` must be done before ``target`` (``parent-child``: source is the parent)."""

    source: str
    target: str
    kind: str = "blocks"


@dataclass(frozen=True)
class Layout:
    """Where every node goes, and which nodes and edges form the critical path."""

    columns: dict[str, int]
    rows: dict[str, int]
    critical: tuple[str, ...]
    width: int
    height: int

    def on_path(self, edge: Edge) -> bool:
        pairs = set(zip(self.critical, self.critical[1:], strict=False))
        return (edge.source, edge.target) in pairs


def _columns(ids: Sequence[str], into: dict[str, list[str]]) -> dict[str, int]:
    """Each node's depth: 0 without blockers, else one more than its deepest (cycles cut)."""
    depth: dict[str, int] = {}
    for start in ids:
        if start in depth:
            continue
        stack, visiting = [start], {start}
        while stack:
            node = stack[-1]
            pending = [b for b in into.get(node, ()) if b not in depth and b not in visiting]
            if pending:
                stack.append(pending[0])
                visiting.add(pending[0])
                continue
            stack.pop()
            visiting.discard(node)
            known = [depth[b] for b in into.get(node, ()) if b in depth]
            depth[node] = 1 + max(known) if known else 0
    return depth


def _critical(nodes: Sequence[Node], into: dict[str, list[str]], columns: dict[str, int]) -> tuple[str, ...]:
    """The dependency chain with the most beads not done (empty when every bead is done)."""
    weight = {n.id: 0 if n.state == "done" else 1 for n in nodes}
    best: dict[str, tuple[int, str | None]] = {}
    for node_id in sorted(columns, key=lambda n: columns[n]):
        options = [(best[b][0], b) for b in into.get(node_id, ()) if b in best and columns[b] < columns[node_id]]
        score, previous = max(options) if options else (0, None)
        best[node_id] = (score + weight[node_id], previous)
    if not best:
        return ()
    end = max(best, key=lambda n: (best[n][0], -columns[n]))
    if best[end][0] == 0:
        return ()
    chain: list[str] = []
    cursor: str | None = end
    while cursor is not None:
        chain.append(cursor)
        cursor = best[cursor][1]
    return tuple(reversed(chain))


def layout(nodes: Sequence[Node], edges: Sequence[Edge]) -> Layout:
    """Columns by dependency depth, rows ordered by the mean row of each node's blockers."""
    ids = [n.id for n in nodes]
    known = set(ids)
    into: dict[str, list[str]] = {}
    for edge in edges:
        if edge.source in known and edge.target in known:
            into.setdefault(edge.target, []).append(edge.source)
    columns = _columns(ids, into)
    rows: dict[str, int] = {}
    for column in range(max(columns.values(), default=-1) + 1):
        members = [n for n in ids if columns[n] == column]

        def barycentre(node: str) -> float:
            placed = [rows[b] for b in into.get(node, ()) if b in rows]
            return sum(placed) / len(placed) if placed else float(ids.index(node))

        for row, node in enumerate(sorted(members, key=barycentre)):
            rows[node] = row
    width = PAD * 2 + (max(columns.values(), default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + (max(rows.values(), default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y
    return Layout(columns, rows, _critical(nodes, into, columns), width, height)


def _xy(place: Layout, node: str) -> tuple[int, int]:
    return PAD + place.columns[node] * (NODE_W + GAP_X), PAD + place.rows[node] * (NODE_H + GAP_Y)


def svg(nodes: Sequence[Node], edges: Sequence[Edge]) -> str:
    """The convoy as an inline ``<svg>``: nodes coloured by state (CSS classes), edges, the
    critical path drawn heavier, each node a link to ``/beads/<id>``."""
    if not nodes:
        return '<p class="empty">This convoy has no beads yet.</p>'
    place = layout(nodes, edges)
    critical = set(place.critical)
    parts = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{place.width}" height="{place.height}" '
        f'viewBox="0 0 {place.width} {place.height}" role="img" aria-label="convoy dependency graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead"/></marker></defs>',
    ]
    for edge in edges:
        if edge.source not in place.columns or edge.target not in place.columns:
            continue
        sx, sy = _xy(place, edge.source)
        tx, ty = _xy(place, edge.target)
        x1, y1, x2, y2 = sx + NODE_W, sy + NODE_H // 2, tx, ty + NODE_H // 2
        if x2 <= x1:  # a cycle pushed past the hooks: draw it back around, still visible
            x1, x2 = sx + NODE_W // 2, tx + NODE_W // 2
        bend = max(GAP_X // 2, (x2 - x1) // 2)
        classes = ["edge", edge.kind] + (["critical"] if place.on_path(edge) else [])
        parts.append(
            f'<path class="{" ".join(classes)}" d="M {x1} {y1} C {x1 + bend} {y1}, {x2 - bend} {y2}, {x2} {y2}" '
            f'marker-end="url(#arrow)"><title>{escape(edge.source)} {escape(edge.kind)} {escape(edge.target)}'
            "</title></path>"
        )
    for node in nodes:
        x, y = _xy(place, node.id)
        classes = ["node", f"state-{node.state}"] + (["critical"] if node.id in critical else [])
        if node.expired:
            classes.append("expired")
        title = node.title if len(node.title) <= TITLE_CHARS else node.title[: TITLE_CHARS - 1] + "…"
        state = f"{node.state}, lease expired" if node.expired else node.state
        parts.append(
            f'<a href="/beads/{escape(node.id)}" class="{" ".join(classes)}" data-bead="{escape(node.id)}" '
            f'data-state="{escape(node.state)}">'
            f"<title>{escape(node.id)} ({escape(state)}): {escape(node.title)}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text x="{x + 8}" y="{y + 18}" class="id">{escape(node.id)}'
            f'<tspan class="state" dx="6">{escape(state)}</tspan></text>'
            f'<text x="{x + 8}" y="{y + 36}" class="title">{escape(title)}</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)
