// Draws every <div class="chart" data-figure="ID"> with plotly.js, from the figure JSON in
// <script type="application/json" id="ID"> (Django's json_script: data, never run as code).
// data-separators on the div sets the number marks (",." in Vietnamese); see
// {% chart_separators %}. Loaded with `defer` after plotly.min.js (templates/cxhub/charts.html).
"use strict";

(() => {
  // No plotly logo link and no toolbar (on a phone it sits on top of the bars); charts
  // follow their container's width.
  const CONFIG = { displaylogo: false, displayModeBar: false, responsive: true };

  function figureFor(div) {
    const source = document.getElementById(div.dataset.figure);
    if (!source) {
      throw new Error(`No figure JSON with id "${div.dataset.figure}" for this chart.`);
    }
    return JSON.parse(source.textContent);
  }

  function draw(div) {
    const figure = figureFor(div);
    const layout = { ...(figure.layout || {}) };
    // The page's fonts (our Noto Sans for Thai and Vietnamese) unless the figure names one.
    if (!layout.font || !layout.font.family) {
      layout.font = { ...(layout.font || {}), family: getComputedStyle(div).fontFamily };
    }
    if (div.dataset.separators) {
      layout.separators = div.dataset.separators;
    }
    // The figure's own height, not the grid row's: short bar charts leave no gap.
    if (layout.height) {
      div.style.height = `${layout.height}px`;
    }
    return window.Plotly.newPlot(div, figure.data || [], layout, CONFIG);
  }

  function drawAll(root = document) {
    return Promise.all([...root.querySelectorAll("div.chart[data-figure]")].map(draw));
  }

  // For pages that swap in new figures (e.g. after a filter changes).
  window.cxhubCharts = { draw, drawAll };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => drawAll());
  } else {
    drawAll();
  }
})();
