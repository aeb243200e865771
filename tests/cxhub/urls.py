"""The site's URLs plus one page of charts, standing in for the dashboards in the CSP and
chart tests: a bar chart, a heatmap with a reversed axis and a line, drawn by charts.js."""

import numpy as np
import plotly.graph_objects as go
from django.http import HttpResponse
from django.template import engines
from django.urls import path

from cxhub.charts import figure_json
from cxhub.urls import urlpatterns as site

PAGE = """{% extends "base.html" %}{% load charts %}
{% block head %}{% include "cxhub/charts.html" %}{% endblock %}
{% block content %}
<h1>Charts</h1>
{% for id, figure in figures %}{{ figure|json_script:id }}
<div class="chart" id="chart-{{ id }}" data-figure="{{ id }}" data-separators="{% chart_separators %}"></div>
{% endfor %}
{% endblock %}"""


def figures() -> list[tuple[str, dict]]:
    stores = ["Hà Nội 01", "TP. Hồ Chí Minh 02", "กรุงเทพฯ 01"]
    bar = go.Figure(
        go.Bar(
            x=stores,
            y=np.array([1234.5, 987.25, 42.0]),
            texttemplate="%{y:,.1f}",
            hovertemplate="<b>%{x}</b>: %{y:,.1f}<extra></extra>",
        ),
        layout={"title": {"text": "<b>Responses</b> by store"}},
    )
    hours = np.arange(24)
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    scores = np.linspace(-100, 100, 24 * 7).reshape(7, 24)
    scores[3, 5] = np.nan  # an hour without answers
    heatmap = go.Figure(
        go.Heatmap(z=scores, x=hours, y=days, colorscale="RdYlGn", zmin=-100, zmax=100),
        layout={"yaxis": {"autorange": "reversed"}, "title": {"text": "NPS by hour"}},
    )
    trend = go.Figure(
        go.Scatter(x=["2025-01-01", "2025-01-02", "2025-01-03"], y=[31, 35, 28], mode="lines")
    )
    return [
        ("fig-bar", figure_json(bar)),
        ("fig-heatmap", figure_json(heatmap)),
        ("fig-trend", figure_json(trend)),
    ]


def charts(request):
    page = engines["django"].from_string(PAGE)
    return HttpResponse(page.render({"figures": figures()}, request))


urlpatterns = [*site, path("charts-under-test/", charts, name="charts-under-test")]
