"""Human-readable renderings of validation problems, plans and reports."""

from __future__ import annotations

MARK = {"create": "+", "grow": "↗", "ok": "=", "waiting": "…", "conflict": "!", "refused": "✗", "blocked": "-",
        "error": "✗", "unsupported": "?", "done": "✓", "failed": "✗"}


def tree(model, items) -> str:
    """One line per item, indented under what it depends on (first dependency)."""
    by_id = {i.id: i for i in items}
    kids: dict[str | None, list[str]] = {}
    for iid in model.order:
        deps = [d for d in model.deps[iid] if model.by_id[d]["type"] != "mount"]
        kids.setdefault(deps[0] if deps else None, []).append(iid)
    lines: list[str] = []

    def walk(parent, depth):
        for iid in kids.get(parent, []):
            i = by_id[iid]
            dev = f" {i.device}" if i.device else ""
            lines.append(f"{'  ' * depth}{MARK.get(i.status, '?')} {i.status:<11} {i.type} {i.id}{dev}: {i.reason}")
            walk(iid, depth + 1)

    walk(None, 0)
    return "\n".join(lines)


def summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
