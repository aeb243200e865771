"""Charts: plotly.js served from our static files at the version the Python figures are
made for, figures handed over as plain JSON, numbers in the reader's language."""

import base64
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.offline
import pytest
from django.template import engines
from django.utils import translation

from cxhub.charts import figure_json, separators
from tests.kiosk.conftest import CHROMIUM, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "static" / "vendor" / "plotly"


def test_the_plotly_js_we_serve_is_the_version_the_python_figures_are_made_for():
    header = (VENDOR / "plotly.min.js").read_bytes()[:200].decode()

    served = re.search(r"plotly\.js v(\S+)", header).group(1)

    assert served == plotly.offline.get_plotlyjs_version()


def test_plotly_js_comes_with_its_licence():
    licence = (VENDOR / "LICENSE").read_text()

    assert "MIT License" in licence
    assert f"plotly.js v{plotly.offline.get_plotlyjs_version()}" in licence


def test_the_chart_assets_hold_the_style_id_the_bundled_map_library_looks_for():
    # Without an element of that id, plotly.js injects a <style> element the CSP refuses.
    bundle = (VENDOR / "plotly.min.js").read_text()
    include = (ROOT / "templates" / "cxhub" / "charts.html").read_text()

    wanted = set(re.findall(r'getElementById\("([0-9a-f]{64})"\)', bundle))

    assert len(wanted) == 1
    assert f'id="{wanted.pop()}"' in include


@pytest.mark.skipif(
    sync_playwright is None or not CHROMIUM.exists(),
    reason=f"needs the playwright package and {CHROMIUM}",
)
def test_the_vendored_plotly_files_are_what_scripts_vendor_plotly_writes():
    # It reads the CSS plotly.js injects in a real browser; a plotly upgrade without a re-run
    # (or a hand edit) fails here.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    result = subprocess.run(
        [sys.executable, "scripts/vendor_plotly", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_figure_becomes_plain_json_with_nan_as_null_and_dates_as_text():
    fig = go.Figure(
        go.Heatmap(
            z=[[1.5, float("nan")], [3.0, 4.0]],
            x=[date(2025, 1, 6), date(2025, 1, 7)],
            y=["9", "10"],
        )
    )

    data = figure_json(fig)

    trace = data["data"][0]
    assert trace["z"] == [[1.5, None], [3.0, 4.0]]
    assert trace["x"] == ["2025-01-06", "2025-01-07"]
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_numpy_arrays_travel_as_plotly_typed_arrays_that_keep_every_value():
    scores = np.array([[1.5, np.nan], [3.0, 4.0]])

    z = figure_json(go.Figure(go.Heatmap(z=scores)))["data"][0]["z"]

    decoded = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(2, 2)
    np.testing.assert_array_equal(decoded, scores)


def test_a_figure_in_a_page_is_a_json_block_charts_js_can_read():
    fig = go.Figure(go.Bar(x=["Hà Nội", "</script>"], y=[1, 2]))
    page = engines["django"].from_string(
        '{{ figure|json_script:"fig-bar" }}<div class="chart" data-figure="fig-bar"></div>'
    )

    html = page.render({"figure": figure_json(fig)})

    block = re.search(r'<script id="fig-bar" type="application/json">(.*?)</script>', html)
    assert json.loads(block.group(1))["data"][0]["x"] == ["Hà Nội", "</script>"]


@pytest.mark.parametrize(("language", "marks"), [("vi", ",."), ("th", ".,"), ("en", ".,")])
def test_charts_take_the_decimal_and_thousands_marks_of_the_active_language(language, marks):
    page = engines["django"].from_string("{% load charts %}{% chart_separators %}")

    with translation.override(language):
        assert separators() == marks
        assert page.render({}) == marks


def test_numbers_people_read_group_thousands_the_way_their_language_does():
    page = engines["django"].from_string('{{ count|floatformat:"g" }} {{ share|floatformat:"1g" }}')

    rendered = {}
    for language in ("vi", "th", "en"):
        with translation.override(language):
            rendered[language] = page.render({"count": 1234567, "share": 1234.56})

    assert rendered == {
        "vi": "1.234.567 1.234,6",
        "th": "1,234,567 1,234.6",
        "en": "1,234,567 1,234.6",
    }
