"""Inline SVG charts rendered on the server (no chart library): percentage lines over periods."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

COLORS = ("#b71c1c", "#0d47a1", "#1b5e20", "#8a4b00")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 640, 220, 48, 12, 12, 40


def line_chart(title: str, x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]]) -> Markup:
    """A 0–100 % line chart; ``None`` values leave a gap. Accessible: role=img with a text summary."""
    n = max(len(x_labels), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / 100)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for pct in (0, 50, 100):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(pct):.1f}" y2="{y(pct):.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y(pct) + 4:.1f}" text-anchor="end" class="axis">{pct}%</text>')
    step = max(1, n // 8)
    for i, label in enumerate(x_labels):
        if i % step == 0 or i == n - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="axis">'
                f"{escape(label)}</text>"
            )
    summary = []
    for k, (name, values) in enumerate(series):
        color = COLORS[k % len(COLORS)]
        points = [(x(i), y(v)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2.5"/>')
        for i, v in enumerate(values):
            if v is not None:
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{color}">'
                    f"<title>{escape(name)} {escape(x_labels[i])}：{v:.1f}%</title></circle>"
                )
        legend_x = LEFT + k * 150
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT - 14}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{legend_x + 16}" y="{HEIGHT - 4}" class="axis">{escape(name)}</text>')
        last = next((v for v in reversed(values) if v is not None), None)
        summary.append(f"{name}{'' if last is None else f' 最近 {last:.1f}%'}")
    parts.append(f"<desc>{escape('；'.join(summary))}</desc></svg>")
    return Markup("".join(parts))
