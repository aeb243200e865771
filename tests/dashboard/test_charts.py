"""Every figure a dashboard page embeds is a valid plotly figure: the pages build them
without plotly's validation (for speed), so this is where a misspelt property fails."""

import json
import re

import plotly.graph_objects as go
import pytest

from tests.dashboard.test_pages import chain, client_for, frozen  # noqa: F401

FIGURE = re.compile(r'<script id="(fig-[^"]+)" type="application/json">(.*?)</script>', re.S)


@pytest.mark.parametrize(
    ("role", "url"),
    [
        ("head_office", "/dashboard/a/?range=30d&question=nps"),
        ("head_office", "/dashboard/a/?range=quarter&question=ces"),
        ("regional_manager", "/dashboard/a/regions/{north}/?range=7d&question=csat"),
        ("store_manager", "/dashboard/a/stores/HN-01/?range=30d"),
        ("store_manager", "/dashboard/a/stores/HN-01/?range=30d&question=ces"),
        ("store_manager", "/dashboard/a/stores/HN-01/staff/NV-1/?range=quarter"),
    ],
)
def test_every_figure_on_a_page_passes_plotly_validation(chain, role, url):  # noqa: F811
    html = client_for(chain["users"][role]).get(url.format(north=chain["north"].pk))
    figures = FIGURE.findall(html.content.decode())

    assert figures
    for element_id, text in figures:
        figure = json.loads(text)
        go.Figure(figure)  # raises ValueError on any invalid property or value
        assert figure["data"], element_id
