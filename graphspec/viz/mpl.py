"""A pure-Python renderer (matplotlib) for machines without Graphviz.

Layered layout in the Sugiyama style:

1. ranks: networkx topological generations (longest path from the inputs);
   a graph input moves down to just above its first reader;
2. edges spanning several ranks get a dummy point per rank, so they route
   around boxes instead of through them;
3. order within each rank: barycentre sweeps down and up, keeping the
   members of every cluster next to each other at each nesting level;
4. coordinates: each box goes to the mean position of its neighbours, then
   boxes are pushed apart in order so that none overlap;
5. clusters are drawn as rounded frames around their members, outer frames
   padded more than inner ones.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx

from graphspec.viz.model import Drawing

FONT_PT = 8.0
CHAR_IN = FONT_PT * 0.62 / 72  # average character width in inches at FONT_PT
LINE_IN = FONT_PT * 1.35 / 72
BOX_PAD_X = 0.16
BOX_PAD_Y = 0.10
GAP_X = 0.35  # between boxes of one rank
GAP_RANK = 0.5  # between ranks (leaves room for edge labels; more where frames open or close)
FRAME_PAD = 0.10  # cluster frame padding per nesting level below it
MAX_PIXELS = 30_000  # the longer side of a PNG


def _box_size(lines: list[str]) -> tuple[float, float]:
    w = max(len(s) for s in lines) * CHAR_IN + 2 * BOX_PAD_X
    h = len(lines) * LINE_IN + 2 * BOX_PAD_Y
    return max(w, 0.6), h


def layout(d: Drawing, direction: str = "TB") -> dict:
    """Positions (inches, y down) of boxes, dummy points and cluster frames.

    Ranks run down the page (TB) or across it (LR); the computation works in
    (across, along) coordinates and maps them to (x, y) at the end.
    """
    lr = direction == "LR"
    g = nx.DiGraph()
    g.add_nodes_from(d.nodes)
    for e in d.edges:
        g.add_edge(e.src, e.dst)
    rank: dict[str, int] = {}
    for r, gen in enumerate(nx.topological_generations(g)):
        for n in gen:
            rank[n] = r
    for n in d.nodes:  # sources hang just above their first reader
        if g.in_degree(n) == 0 and g.out_degree(n) > 0:
            rank[n] = min(rank[s] for s in g.successors(n)) - 1
    # each edge becomes a chain of points: a dummy point in every rank it crosses
    chain_of: dict[int, list[str]] = {}
    members: dict[int, list[str]] = defaultdict(list)
    scope: dict[str, tuple] = {}
    for n, dn in d.nodes.items():
        scope[n] = tuple(d.cluster_chain(dn.cluster))
        members[rank[n]].append(n)
    succ: dict[str, list[str]] = defaultdict(list)
    pred: dict[str, list[str]] = defaultdict(list)
    for i, e in enumerate(d.edges):
        points = [e.src]
        common = _common_prefix(scope[e.src], scope[e.dst])
        for r in range(rank[e.src] + 1, rank[e.dst]):
            pid = f"\0dummy{i}:{r}"
            rank[pid] = r
            scope[pid] = common
            members[r].append(pid)
            points.append(pid)
        points.append(e.dst)
        chain_of[i] = points
        for a, b in zip(points, points[1:]):
            succ[a].append(b)
            pred[b].append(a)

    ranks = sorted(members)
    pos: dict[str, float] = {}  # order within the rank; starts as the spec's topological order
    for r in ranks:
        for i, n in enumerate(members[r]):
            pos[n] = float(i)

    def reorder(r: int, neighbours) -> None:
        bary = {}
        for n in members[r]:
            nb = [pos[m] for m in neighbours[n]]
            bary[n] = sum(nb) / len(nb) if nb else pos[n]
        members[r] = _grouped(members[r], scope, bary, 0)
        for i, n in enumerate(members[r]):
            pos[n] = float(i)

    for _ in range(4):
        for r in ranks[1:]:
            reorder(r, pred)
        for r in reversed(ranks[:-1]):
            reorder(r, succ)

    size: dict[str, tuple[float, float]] = {}  # (width, height) in inches
    for n in rank:
        size[n] = _box_size(d.nodes[n].lines) if n in d.nodes else (0.0, 0.0)
    across = {n: (s[1] if lr else s[0]) for n, s in size.items()}
    along = {n: (s[0] if lr else s[1]) for n, s in size.items()}
    gap_across = GAP_X * 0.6 if lr else GAP_X
    depth_below = _frame_depths(d)
    # the gap after each rank: room for the frames that close below it and open above the next
    closing: dict[int, float] = defaultdict(float)
    opening: dict[int, float] = defaultdict(float)
    for cid in d.clusters:
        rs = [rank[n] for n in d.nodes if cid in scope[n]]
        if rs:
            pad = FRAME_PAD * (depth_below[cid] + 1)
            closing[max(rs)] = max(closing[max(rs)], pad)
            opening[min(rs)] = max(opening[min(rs)], pad + LINE_IN)
    if lr:
        longest = max((len(e.label) for e in d.edges), default=0)
        base = max(GAP_RANK, longest * CHAR_IN * 0.8 + 0.3)
    else:
        base = GAP_RANK
    gap_after = {r: max(base, closing[r] + opening[r + 1] + (0.3 if not lr else base)) for r in ranks}

    def sep(p: str, q: str) -> float:
        """Least distance between the centres of neighbours p, q in a rank (q after p)."""
        g = gap_across if (p in d.nodes and q in d.nodes) else gap_across / 2
        sp, sq = scope[p], scope[q]
        common = len(_common_prefix(sp, sq))
        frames = [FRAME_PAD * (depth_below[c] + 1) for c in sp[common:] + sq[common:]]
        if frames:
            g = max(g, sum(frames) + 0.08 + (LINE_IN if lr and len(sq) > common else 0.0))
        return across[p] / 2 + across[q] / 2 + g

    # across: neighbour means, separated in order
    a: dict[str, float] = {}
    for r in ranks:
        cur = 0.0
        for n in members[r]:
            a[n] = cur + across[n] / 2
            cur += across[n] + gap_across
    for it in range(8):
        seq = ranks[1:] if it % 2 == 0 else list(reversed(ranks[:-1]))
        nbrs = pred if it % 2 == 0 else succ
        for r in seq:
            want = []
            for n in members[r]:
                nb = [a[m] for m in nbrs[n]]
                want.append(sum(nb) / len(nb) if nb else a[n])
            _place(members[r], want, a, sep)
    # along: one band per rank, as deep as its deepest box
    b: dict[str, float] = {}
    cur = 0.0
    for r in ranks:
        depth = max(max((along[n] for n in members[r]), default=0.3), 0.3)
        for n in members[r]:
            b[n] = cur + depth / 2
        cur += depth + gap_after[r]

    margin = 0.25 + FRAME_PAD * (max(depth_below.values(), default=0) + 1)
    x = {n: (b[n] if lr else a[n]) for n in a}
    y = {n: (a[n] if lr else b[n]) for n in a}
    min_x = min(x[n] - size[n][0] / 2 for n in x) if x else 0.0
    min_y = min(y[n] - size[n][1] / 2 for n in y) if y else 0.0
    for n in x:
        x[n] += margin - min_x
        y[n] += margin + 0.35 + LINE_IN - min_y  # room for the title and the outermost frame label
    frames: dict[str, tuple[float, float, float, float]] = {}
    for cid in sorted(d.clusters, key=lambda c: -d.clusters[c].depth):  # innermost first
        inside = [n for n in d.nodes if cid in scope[n]]
        if not inside:
            continue
        pad = FRAME_PAD * (depth_below[cid] + 1)
        x0 = min(x[n] - size[n][0] / 2 for n in inside) - pad
        x1 = max(x[n] + size[n][0] / 2 for n in inside) + pad
        y0 = min(y[n] - size[n][1] / 2 for n in inside) - pad - LINE_IN
        y1 = max(y[n] + size[n][1] / 2 for n in inside) + pad
        for sub, (sx0, sy0, sx1, sy1) in frames.items():  # enclose the frames nested inside
            if d.clusters[sub].parent == cid:
                x0, y0 = min(x0, sx0 - FRAME_PAD), min(y0, sy0 - FRAME_PAD - LINE_IN)
                x1, y1 = max(x1, sx1 + FRAME_PAD), max(y1, sy1 + FRAME_PAD)
        x1 = max(x1, x0 + len(d.clusters[cid].label) * CHAR_IN * (FONT_PT - 1) / FONT_PT + 0.15)
        frames[cid] = (x0, y0, x1, y1)
    width = max([x[n] + size[n][0] / 2 + margin for n in x] + [f[2] + 0.2 for f in frames.values()] + [1.0])
    width = max(width, len(d.title) * CHAR_IN * 1.4 + 0.5)
    height = max([y[n] + size[n][1] / 2 + margin for n in y] + [f[3] + 0.2 for f in frames.values()] + [1.0])
    edges = [([(x[p], y[p]) for p in chain_of[i]], d.edges[i]) for i in range(len(d.edges))]
    return {"x": x, "y": y, "size": size, "frames": frames, "edges": edges, "width": width, "height": height, "lr": lr}


def _common_prefix(a: tuple, b: tuple) -> tuple:
    out = []
    for p, q in zip(a, b):
        if p != q:
            break
        out.append(p)
    return tuple(out)


def _grouped(items: list[str], scope: dict, bary: dict, level: int) -> list[str]:
    """Sort by barycentre, keeping items that share a cluster at ``level`` together (recursively)."""
    groups: dict[object, list[str]] = {}
    for n in items:
        key = scope[n][level] if len(scope[n]) > level else ("\0leaf", n)
        groups.setdefault(key, []).append(n)
    ordered = sorted(groups.items(), key=lambda kv: sum(bary[n] for n in kv[1]) / len(kv[1]))
    out: list[str] = []
    for key, group in ordered:
        if isinstance(key, tuple):
            out.extend(group)
        else:
            out.extend(_grouped(group, scope, bary, level + 1))
    return out


def _place(order: list[str], want: list[float], x: dict, sep) -> None:
    """Positions as close to ``want`` as the order and the least separations ``sep`` allow."""
    n = len(order)
    if not n:
        return
    gap = sep
    # pushed right from the left end, pushed left from the right end; the mean of the two
    # keeps the order, and one more left-to-right pass restores the least separations
    left = list(want)
    for i in range(1, n):
        left[i] = max(left[i], left[i - 1] + gap(order[i - 1], order[i]))
    right = list(want)
    for i in range(n - 2, -1, -1):
        right[i] = min(right[i], right[i + 1] - gap(order[i], order[i + 1]))
    mid = [(a + b) / 2 for a, b in zip(left, right)]
    for i in range(1, n):
        mid[i] = max(mid[i], mid[i - 1] + gap(order[i - 1], order[i]))
    for node, v in zip(order, mid):
        x[node] = v


def _frame_depths(d: Drawing) -> dict[str, int]:
    """For each cluster, how many levels of clusters nest inside it."""
    depth = {cid: 0 for cid in d.clusters}
    for cid in sorted(d.clusters, key=lambda c: -d.clusters[c].depth):
        parent = d.clusters[cid].parent
        if parent is not None:
            depth[parent] = max(depth[parent], depth[cid] + 1)
    return depth


def render(d: Drawing, path: str, fmt: str, direction: str = "TB") -> None:
    """Draw ``d`` into ``path`` as 'svg' or 'png' with matplotlib (Agg, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, PathPatch
    from matplotlib.path import Path as MPath

    lay = layout(d, direction)
    x, y, size, lr = lay["x"], lay["y"], lay["size"], lay["lr"]
    W, H = lay["width"], lay["height"]
    dpi = 100.0
    if fmt == "png" and max(W, H) * dpi > MAX_PIXELS:
        dpi = MAX_PIXELS / max(W, H)
    fig = Figure(figsize=(W, H), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.axis("off")
    ax.text(W / 2, 0.3, d.title, ha="center", va="center", fontsize=FONT_PT + 3, fontweight="bold")

    for cid in sorted(lay["frames"], key=lambda c: d.clusters[c].depth):
        c = d.clusters[cid]
        x0, y0, x1, y1 = lay["frames"][cid]
        dashed = c.kind in ("Sequential", "repeat")
        ax.add_patch(
            FancyBboxPatch(
                (x0, y0), x1 - x0, y1 - y0,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor="#f7f7f7" if c.depth % 2 == 0 else "#eeeeee",
                edgecolor="#888888" if c.kind != "graph" else "#333333",
                linewidth=0.8, linestyle=(0, (4, 2)) if dashed else "-", zorder=1 + c.depth * 0.01,
            )
        )
        ax.text(x0 + 0.06, y0 + 0.04, c.label, ha="left", va="top", fontsize=FONT_PT - 1, color="#333333", zorder=2)

    labelled: set[tuple[str, str]] = set()
    for points, e in lay["edges"]:
        (sx, sy), (tx, ty) = points[0], points[-1]
        if lr:  # leave the right side of the source, enter the left side of the target
            start, end = (sx + size[e.src][0] / 2, sy), (tx - size[e.dst][0] / 2, ty)
        else:  # leave the bottom of the source, enter the top of the target
            start, end = (sx, sy + size[e.src][1] / 2), (tx, ty - size[e.dst][1] / 2)
        pts = [start] + points[1:-1] + [end]
        if len(pts) > 2:
            verts = pts[:-1]
            codes = [MPath.MOVETO] + [MPath.LINETO] * (len(verts) - 1)
            ax.add_patch(PathPatch(MPath(verts, codes), facecolor="none", edgecolor="#777777", linewidth=0.8, zorder=3))
        ax.add_patch(
            FancyArrowPatch(pts[-2], pts[-1], arrowstyle="-|>", mutation_scale=8, color="#777777",
                            linewidth=0.8, shrinkA=0, shrinkB=0, zorder=3)
        )
        if e.label and (e.src, e.label) not in labelled:
            labelled.add((e.src, e.label))
            if lr:  # above the first segment, halfway
                (ax_, ay_), (bx_, by_) = pts[0], pts[1]
                ax.text((ax_ + bx_) / 2, (ay_ + by_) / 2 - 0.04, e.label, ha="center", va="bottom",
                        fontsize=FONT_PT - 2, color="#333333", zorder=4)
            else:  # just under the source box, right of the edge
                ax.text(sx + 0.05, start[1] + 0.03, e.label, ha="left", va="top", fontsize=FONT_PT - 2,
                        color="#333333", zorder=4,
                        bbox=dict(boxstyle="round,pad=0.03", facecolor="white", edgecolor="none", alpha=0.8))

    for n, dn in d.nodes.items():
        w, h = size[n]
        cx, cy = x[n], y[n]
        style = "round,pad=0,rounding_size=%.2f" % (h / 2 if dn.kind == "output" else 0.06)
        ax.add_patch(
            FancyBboxPatch((cx - w / 2, cy - h / 2), w, h, boxstyle=style, facecolor=dn.color,
                           edgecolor="#333333", linewidth=1.4 if dn.kind != "op" else 0.8, zorder=5)
        )
        ax.text(cx, cy, "\n".join(dn.lines), ha="center", va="center", fontsize=FONT_PT, zorder=6, linespacing=1.15)

    import io

    from graphspec.io import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    atomic_write(path, buf.getvalue())  # a kill mid-draw never leaves a torn image
