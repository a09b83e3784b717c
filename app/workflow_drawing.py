"""A drawing of a workflow definition as inline SVG: states in columns by
stage, transitions as arrows. The page also lists the transitions as a table,
which is the accessible equivalent of the drawing."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

import workflows

BOX_W, BOX_H, COL_GAP, ROW_GAP, MARGIN = 170, 44, 70, 26, 20
STAGE_LABELS = {
    "draft": "Brouillon", "eligibility": "Éligibilité", "instruction": "Instruction", "committee": "Commission",
    "agreement": "Convention", "payments": "Paiements", "closed": "Clos",
}


@dataclass
class Box:
    x: int
    y: int


def layout(definition: workflows.Definition) -> tuple[dict[str, Box], int, int]:
    columns = [s for s in workflows.STAGES if any(st.stage == s for st in definition.states.values())]
    positions: dict[str, Box] = {}
    height = 0
    for col, stage in enumerate(columns):
        names = [n for n, st in definition.states.items() if st.stage == stage]
        for row, name in enumerate(names):
            positions[name] = Box(MARGIN + col * (BOX_W + COL_GAP), MARGIN + 24 + row * (BOX_H + ROW_GAP))
        height = max(height, MARGIN + 24 + len(names) * (BOX_H + ROW_GAP))
    width = MARGIN * 2 + len(columns) * (BOX_W + COL_GAP) - COL_GAP
    return positions, width, height + MARGIN


def render_svg(definition: workflows.Definition) -> str:
    positions, width, height = layout(definition)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-labelledby="wf-title"><title id="wf-title">{escape(definition.label or definition.name)}</title>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#4a4a4a"/></marker></defs>',
    ]
    seen_stages = set()
    for name, state in definition.states.items():
        box = positions[name]
        if state.stage not in seen_stages:
            seen_stages.add(state.stage)
            parts.append(f'<text x="{box.x}" y="{MARGIN + 10}" font-size="13" font-weight="bold" fill="#002a5c">'
                         f'{escape(STAGE_LABELS.get(state.stage, state.stage))}</text>')
    drawn = set()
    for t in definition.transitions:
        for source in t.from_states:
            if (source, t.to_state) in drawn or source not in positions or t.to_state not in positions:
                continue
            drawn.add((source, t.to_state))
            a, b = positions[source], positions[t.to_state]
            x1, y1 = a.x + BOX_W, a.y + BOX_H / 2
            x2, y2 = b.x, b.y + BOX_H / 2
            if b.x <= a.x:  # backwards or same column: loop below the boxes
                x1, y1, x2, y2 = a.x + BOX_W / 2, a.y + BOX_H, b.x + BOX_W / 2, b.y + BOX_H
                mid_y = max(y1, y2) + 18
                path = f"M {x1} {y1} C {x1} {mid_y}, {x2} {mid_y}, {x2} {y2}"
            else:
                mid_x = (x1 + x2) / 2
                path = f"M {x1} {y1} C {mid_x} {y1}, {mid_x} {y2}, {x2} {y2}"
            parts.append(f'<path d="{path}" fill="none" stroke="#4a4a4a" stroke-width="1.2" marker-end="url(#arrow)"/>')
    for name, state in definition.states.items():
        box = positions[name]
        fill = "#e8edf5" if not state.final else "#f4f5f7"
        stroke = "#003b80" if not state.final else "#4a4a4a"
        parts.append(f'<rect x="{box.x}" y="{box.y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="{1.5 if not state.final else 2.5}"/>')
        parts.append(f'<text x="{box.x + 8}" y="{box.y + 18}" font-size="12" fill="#1e1e1e">'
                     f'{escape((state.label or name)[:26])}</text>')
        parts.append(f'<text x="{box.x + 8}" y="{box.y + 34}" font-size="10" fill="#4a4a4a">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
