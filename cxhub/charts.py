"""Plotly figures handed to pages as JSON data, never as code: the page embeds a figure with
`{{ figure|json_script:"fig-trend" }}` beside `<div class="chart" data-figure="fig-trend">`,
and static/cxhub/charts.js draws it with the plotly.js we serve ourselves."""

import json

import plotly.io as pio
from django.utils import formats


def figure_json(fig) -> dict:
    """A figure (or its dict) as plain JSON types, ready for `json_script`: encoded by
    plotly's own encoder, so dates become ISO text, NaN in lists null, and numpy arrays
    plotly's typed arrays ({"dtype", "bdata", "shape"}), which plotly.js decodes."""
    return json.loads(pio.to_json(fig, validate=False))


def separators() -> str:
    """plotly's `separators` for the active language: its decimal mark, then its thousands
    mark (",." in Vietnamese, ".," in English and Thai)."""
    return formats.get_format("DECIMAL_SEPARATOR") + formats.get_format("THOUSAND_SEPARATOR")
