"""Text formats of a :class:`~graphspec.viz.model.Drawing`: Graphviz dot and Mermaid."""

from __future__ import annotations

import json

from graphspec.viz.model import Drawing


def _dot_str(text: str) -> str:
    """A double-quoted dot string; ``\\n`` in the result is dot's centred line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(d: Drawing, direction: str = "TB") -> str:
    out = [
        f"digraph {_dot_str(d.title)} {{",
        f'  graph [rankdir={direction}, fontname="Helvetica", fontsize=11, label={_dot_str(d.title)}, labelloc=t, '
        'nodesep=0.3, ranksep=0.45, newrank=true];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, penwidth=0.8, margin="0.12,0.04"];',
        '  edge [fontname="Helvetica", fontsize=8, fontcolor="#444444", color="#666666", arrowsize=0.6];',
    ]

    def node_line(n, indent: str) -> str:
        attrs = [f"label={_dot_str(chr(10).join(n.lines))}", f'fillcolor="{n.color}"']
        if n.kind == "input":
            attrs.append('shape=box, style="rounded,filled,bold"')
        elif n.kind == "output":
            attrs.append('shape=ellipse, style="filled,bold"')
        if n.tooltip:
            attrs.append(f"tooltip={_dot_str(n.tooltip)}")
        return f"{indent}{_dot_str(n.id)} [{', '.join(attrs)}];"

    def emit(cluster: str | None, indent: str) -> None:
        subs, nodes = d.children(cluster)
        for n in nodes:
            out.append(node_line(n, indent))
        for c in subs:
            style = "rounded,dashed" if c.kind in ("Sequential", "repeat") else "rounded"
            color = "#999999" if c.kind != "graph" else "#333333"
            out.append(f"{indent}subgraph cluster_{c.id} {{")
            out.append(
                f'{indent}  label={_dot_str(c.label)}; labeljust=l; style="{style}"; color="{color}"; '
                f'fontsize=9; fontcolor="#333333"; tooltip={_dot_str(c.path)};'
            )
            emit(c.id, indent + "  ")
            out.append(f"{indent}}}")

    emit(None, "  ")
    for e in d.edges:
        label = f" [label={_dot_str(' ' + e.label)}]" if e.label else ""
        out.append(f"  {_dot_str(e.src)} -> {_dot_str(e.dst)}{label};")
    out.append("}")
    return "\n".join(out) + "\n"


def _mmd_str(text: str) -> str:
    """Mermaid quoted label text: quotes and angle brackets as entities, newlines as <br/>."""
    text = text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    return '"' + text.replace("\n", "<br/>") + '"'


def to_mermaid(d: Drawing, direction: str = "TB") -> str:
    ids = {nid: f"n{i}" for i, nid in enumerate(d.nodes)}
    out = [
        "---",
        f"title: {json.dumps(d.title, ensure_ascii=False)}",
        "---",
        f"flowchart {direction}",
    ]

    def emit(cluster: str | None, indent: str) -> None:
        subs, nodes = d.children(cluster)
        for n in nodes:
            label = _mmd_str("\n".join(n.lines))
            if n.kind == "output":
                out.append(f"{indent}{ids[n.id]}([{label}])")
            else:
                out.append(f"{indent}{ids[n.id]}[{label}]")
        for c in subs:
            out.append(f"{indent}subgraph {c.id} [{_mmd_str(c.label)}]")
            out.append(f"{indent}  direction {direction}")
            emit(c.id, indent + "  ")
            out.append(f"{indent}end")

    emit(None, "  ")
    for e in d.edges:
        arrow = f"-->|{_mmd_str(e.label)}|" if e.label else "-->"
        out.append(f"  {ids[e.src]} {arrow} {ids[e.dst]}")
    # colours: one class per fill colour
    classes: dict[str, list[str]] = {}
    for n in d.nodes.values():
        classes.setdefault(n.color, []).append(ids[n.id])
    for i, (color, members) in enumerate(classes.items()):
        out.append(f"  classDef k{i} fill:{color},stroke:#555,color:#000")
        for start in range(0, len(members), 200):
            out.append(f"  class {','.join(members[start:start + 200])} k{i}")
    return "\n".join(out) + "\n"
