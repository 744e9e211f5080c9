"""Dependencies between beads: readiness and cycles, as pure functions over lookups.

Only ``blocks`` and ``parent-child`` edges gate work: a bead is ready when every bead
that blocks it is done and its parent (if any) is not itself blocked. ``blocked`` is
always derived here from the current state, never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol


class Node(Protocol):
    """What readiness needs to know of a bead."""

    @property
    def status(self) -> str: ...

    @property
    def blocks(self) -> tuple[str, ...]: ...

    @property
    def parent(self) -> str | None: ...


Lookup = Callable[[str], Node | None]


def waiting_on(node: Node, lookup: Lookup, _depth: int = 0) -> list[str]:
    """Why ``node`` is not ready: ``gt-x (open)`` per unmet blocker, parent's reasons too."""
    reasons = []
    for dep in node.blocks:
        other = lookup(dep)
        if other is None:
            reasons.append(f"{dep} (unknown bead)")
        elif other.status != "done":
            reasons.append(f"{dep} ({other.status})")
    if node.parent is not None and _depth < 64:
        parent = lookup(node.parent)
        if parent is None:
            reasons.append(f"{node.parent} (unknown parent)")
        else:
            inherited = waiting_on(parent, lookup, _depth + 1)
            reasons += [f"{reason} via parent {node.parent}" for reason in inherited]
    return reasons


def is_unblocked(node: Node, lookup: Lookup) -> bool:
    """True when nothing ``node`` depends on holds it back."""
    for dep in node.blocks:
        other = lookup(dep)
        if other is None or other.status != "done":
            return False
    depth = 0
    parent_id = node.parent
    while parent_id is not None and depth < 64:
        parent = lookup(parent_id)
        if parent is None:
            return False
        for dep in parent.blocks:
            other = lookup(dep)
            if other is None or other.status != "done":
                return False
        parent_id = parent.parent
        depth += 1
    return True


def find_cycle(starts: Iterable[str], edges: Callable[[str], Iterable[str]]) -> list[str] | None:
    """A dependency cycle reachable from ``starts`` as ``[a, b, ..., a]``, or None."""
    done: set[str] = set()
    for start in starts:
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, Iterable[str]]] = [(start, iter(edges(start)))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, children = stack[-1]
            advanced = False
            for child in children:
                if child in on_path:
                    return path[path.index(child) :] + [child]
                if child not in done:
                    stack.append((child, iter(edges(child))))
                    path.append(child)
                    on_path.add(child)
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
    return None
