"""Plotly figures for the dashboards, built from the frames of metrics.dashboards.

Each function returns a JSON-ready figure (cxhub.charts.figure_json); pages embed it as
data and static/cxhub/charts.js draws it with the plotly.js we serve. Labels are
translated here, in the language of the request.

Figures are built without plotly's property validation: it cost a third of a store page's
server time (docs/benchmarks.md). The tests validate every figure the pages make instead
(tests/dashboard/test_charts.py), so a misspelt property still fails CI.
"""

import pandas as pd
import plotly.graph_objects as go
from django.utils.translation import gettext as _

from cxhub.charts import figure_json

PROMOTER, PASSIVE, DETRACTOR = "#1a9850", "#bdbdbd", "#d73027"
LINE = "#2c5aa0"


def _figure(traces: list[dict], height: int = 320, **layout) -> dict:
    fig = go.Figure(
        data=traces,
        layout={
            "height": height,
            "margin": {"l": 48, "r": 16, "t": 32, "b": 16},
            # Above the plot: below it the legend collides with slanted date labels.
            "legend": {
                "orientation": "h",
                "x": 0,
                "y": 1.02,
                "xanchor": "left",
                "yanchor": "bottom",
            },
            "font": {"family": "Noto Sans, system-ui, sans-serif", "size": 12},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            **layout,
        },
        _validate=False,
    )
    return figure_json(fig)


def _bar(**kw) -> dict:
    return {"type": "bar", **kw}


def _scatter(**kw) -> dict:
    return {"type": "scatter", **kw}


def nps_groups() -> tuple:
    """(column, label, colour) of each NPS group, unhappiest first."""
    return (
        ("detractors", _("Detractors"), DETRACTOR),
        ("passives", _("Passives"), PASSIVE),
        ("promoters", _("Promoters"), PROMOTER),
    )


def weekday_names() -> list[str]:
    return [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]


def trend(frame: pd.DataFrame, question_label: str) -> dict:
    """The score with its 95 % interval as a band, over the number of answers as pale bars
    (on their own axis, drawn underneath)."""
    x = frame["period"]
    return _figure(
        [
            _bar(x=x, y=frame["n"], name=_("Answers"), marker={"color": "#e3e8f0"}),
            _scatter(
                x=x,
                y=frame["high"],
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
                yaxis="y2",
            ),
            _scatter(
                x=x,
                y=frame["low"],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(44,90,160,0.18)",
                # xgettext:no-python-format
                name=_("95% interval"),
                hoverinfo="skip",
                yaxis="y2",
            ),
            _scatter(
                x=x,
                y=frame["score"],
                mode="lines+markers",
                name=question_label,
                line={"color": LINE, "width": 2},
                yaxis="y2",
            ),
        ],
        yaxis={
            "side": "right",
            "showgrid": False,
            "title": {"text": _("Answers")},
            "rangemode": "tozero",
        },
        yaxis2={
            "overlaying": "y",
            "side": "left",
            "title": {"text": question_label},
            "tickmode": "auto",
            "showgrid": True,
            "automargin": True,
        },
        xaxis={"type": "category", "automargin": True},
    )


def composition(frame: pd.DataFrame) -> dict:
    """Promoters, passives and detractors as shares of each period's NPS answers."""
    total = frame["n"].where(frame["n"] > 0)
    return _figure(
        [
            _bar(
                x=frame["period"],
                y=100 * frame[column] / total,
                name=label,
                marker={"color": color},
            )
            for column, label, color in nps_groups()
        ],
        barmode="stack",
        yaxis={"title": {"text": "%"}, "range": [0, 100]},
        xaxis={"type": "category"},
    )


def heatmap(frame: pd.DataFrame, value: str, title: str) -> dict:
    """Weekday × local hour, coloured by the score or by the number of answers."""
    days = weekday_names()
    hours = (
        list(range(int(frame["hour"].min()), int(frame["hour"].max()) + 1)) if len(frame) else []
    )
    grid = frame.pivot_table(
        index="weekday", columns="hour", values=value, aggfunc="first"
    ).reindex(index=range(1, 8), columns=hours)
    counts = (
        frame.pivot_table(index="weekday", columns="hour", values="n", aggfunc="first")
        .reindex(index=range(1, 8), columns=hours)
        .fillna(0)
    )
    heat = {
        "type": "heatmap",
        "z": grid.values.tolist(),
        "x": [f"{h:02d}h" for h in hours],
        "y": days,
        "customdata": counts.values.tolist(),
        "hovertemplate": "%{y} %{x}: %{z:.1f} (n=%{customdata})<extra></extra>",
        "colorscale": "RdYlGn" if value == "score" else "Blues",
        "colorbar": {"title": {"text": title}},
    }
    return _figure([heat], height=300, yaxis={"autorange": "reversed"})


def bars_with_intervals(
    frame: pd.DataFrame, question_label: str, height: int | None = None
) -> dict:
    """One horizontal bar per group (touchpoint, region, store) with its 95 % interval."""
    frame = frame.sort_values("score", na_position="first")
    bar = _bar(
        y=[str(g) if g is not None else _("(none)") for g in frame["group"]],
        x=frame["score"],
        orientation="h",
        marker={"color": LINE},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": (frame["high"] - frame["score"]).tolist(),
            "arrayminus": (frame["score"] - frame["low"]).tolist(),
        },
        customdata=frame["n"],
        hovertemplate="%{y}: %{x:.1f} (n=%{customdata})<extra></extra>",
    )
    return _figure(
        [bar],
        height=height or max(160, 40 + 28 * len(frame)),
        xaxis={"title": {"text": question_label}},
    )


def lines_per_group(frame: pd.DataFrame, question_label: str) -> dict:
    """A score line per region over time."""
    lines = [
        _scatter(
            x=rows["period"],
            y=rows["score"],
            mode="lines+markers",
            name=str(group) if group is not None and group == group else _("(no region)"),
        )
        for group, rows in frame.groupby("group", dropna=False, sort=True)
    ]
    return _figure(lines, yaxis={"title": {"text": question_label}}, xaxis={"type": "category"})


def reasons(rows: list[dict]) -> dict:
    """Each reason's count, split by the NPS group of the customers who picked it."""
    rows = list(reversed(rows))  # plotly draws the first row at the bottom
    labels = [r["label"] for r in rows]
    bars = []
    for column, label, color in nps_groups():
        counts = [r[column] for r in rows]
        if any(counts):  # no legend entry for a group that named no reason
            bars.append(
                _bar(y=labels, x=counts, name=label, orientation="h", marker={"color": color})
            )
    return _figure(bars, height=max(180, 60 + 28 * len(rows)), barmode="stack")


def volume(ranking: list[dict]) -> dict:
    """Answers per store, most first."""
    rows = sorted(ranking, key=lambda e: e["n"])
    bar = _bar(
        y=[e["code"] for e in rows],
        x=[e["n"] for e in rows],
        orientation="h",
        marker={"color": "#7f9cc9"},
    )
    return _figure(
        [bar], height=max(180, 40 + 20 * len(rows)), xaxis={"title": {"text": _("Answers")}}
    )
