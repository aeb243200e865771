// Dashboard filters: the custom dates show only for a custom period, and choosing a
// preset or a score reloads the page with the filters in its URL (so a link can be shared).
"use strict";

(() => {
  const form = document.querySelector("form.filters");
  if (!form) return;
  const range = form.querySelector("#filter-range");
  const dates = [...form.querySelectorAll(".custom-date")];

  function showDates() {
    const custom = range.value === "custom";
    for (const label of dates) {
      label.hidden = !custom;
      label.querySelector("input").disabled = !custom;
    }
  }

  range.addEventListener("change", () => {
    showDates();
    if (range.value !== "custom") form.requestSubmit();
  });
  form.querySelector("select[name=question]").addEventListener("change", () => form.requestSubmit());
  showDates();
})();
