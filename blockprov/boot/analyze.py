"""``blockprov analyze``: boots reconstructed from the event log; show, blame and an SVG timeline (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from blockprov.paths import Paths
from blockprov.boot.reporting import read_events

STAGE_ORDER = {"init-local": 0, "init-network": 1, "modules-config": 2, "modules-final": 3}


@dataclass
class Span:
    name: str
    start: float
    end: float
    result: str
    description: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Boot:
    stages: list[Span] = field(default_factory=list)
    modules: list[Span] = field(default_factory=list)

    @property
    def start(self) -> float:
        return min(s.start for s in self.stages + self.modules)

    @property
    def end(self) -> float:
        return max(s.end for s in self.stages + self.modules)


def spans(events: list[dict]) -> list[Span]:
    open_: dict[str, dict] = {}
    out = []
    for ev in events:
        name = ev.get("name")
        if not isinstance(name, str):
            continue
        if ev.get("event_type") == "start":
            open_[name] = ev
        elif ev.get("event_type") == "finish":
            st = open_.pop(name, None)
            t = float(ev.get("timestamp", 0))
            start = float(st["timestamp"]) if st else t - float(ev.get("duration") or 0)
            out.append(Span(name, start, t, ev.get("result", ""), ev.get("description", "")))
    return out


def split_boots(all_spans: list[Span]) -> list[Boot]:
    """A new boot begins when a stage starts that does not come after the previous stage."""
    boots: list[Boot] = []
    last = 99
    for s in sorted(all_spans, key=lambda s: (s.start, -s.duration)):
        if s.name in STAGE_ORDER:
            if STAGE_ORDER[s.name] <= last or not boots:
                boots.append(Boot())
            last = STAGE_ORDER[s.name]
            boots[-1].stages.append(s)
        elif boots:
            boots[-1].modules.append(s)
    return [b for b in boots if b.stages]


def boots(paths: Paths) -> list[Boot]:
    return split_boots(spans(read_events(paths)))


def show(all_boots: list[Boot]) -> str:
    lines = []
    for i, b in enumerate(all_boots, 1):
        lines.append(f"boot {i}: {b.end - b.start:.3f} s")
        for st in b.stages:
            lines.append(f"  {st.name:<16} {st.duration:8.3f} s  {st.result}")
            for m in b.modules:
                if m.name.startswith(st.name + "/"):
                    lines.append(f"    {m.name.split('/', 1)[1]:<28} {m.duration:8.3f} s  {m.result}"
                                 f"{'  ' + m.description if m.result != 'SUCCESS' else ''}")
    return "\n".join(lines)


def blame(b: Boot) -> str:
    rows = sorted(b.modules, key=lambda m: m.duration, reverse=True)
    return "\n".join(f"{m.duration:8.3f} s  {m.name}" for m in rows) or "no modules ran"


def plot(b: Boot, width: int = 900) -> str:
    """An SVG timeline: one row per stage and module, bars from start to end, time axis in seconds."""
    rows = []
    for st in b.stages:
        rows.append(st)
        rows.extend(m for m in b.modules if m.name.startswith(st.name + "/"))
    label_w, row_h, top = 300, 18, 30
    total = max(b.end - b.start, 1e-6)
    scale = (width - label_w - 20) / total
    h = top + row_h * len(rows) + 30
    colors = {"SUCCESS": "#4c9f70", "WARN": "#e0a030", "FAIL": "#d04040"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" font-family="monospace" '
           f'font-size="11">',
           f'<text x="4" y="16" font-size="13">blockprov boot: {total:.3f} s</text>']
    for i, r in enumerate(rows):
        y = top + i * row_h
        indent = 0 if r.name in STAGE_ORDER else 12
        x = label_w + (r.start - b.start) * scale
        w = max(r.duration * scale, 1.0)
        out.append(f'<text x="{4 + indent}" y="{y + 12}">{escape(r.name.split("/")[-1])}</text>')
        out.append(f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 4}" '
                   f'fill="{colors.get(r.result, "#888")}"><title>{escape(r.name)}: {r.duration:.3f} s '
                   f'{escape(r.result)}</title></rect>')
        out.append(f'<text x="{x + w + 3:.1f}" y="{y + 12}" fill="#555">{r.duration * 1000:.0f} ms</text>')
    axis_y = top + row_h * len(rows) + 12
    for k in range(6):
        t = total * k / 5
        x = label_w + t * scale
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y - 8}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 8}" text-anchor="middle">{t:.2f}s</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
