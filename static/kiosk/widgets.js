// The answer widgets, one per question kind. Each takes the question, the language, the
// current value and answer(value, advance), and returns an element; none keeps state.

import { pick, t } from "./i18n.js";
import { SCALES } from "./survey.js";

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  el.append(...children.flat(2).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  el.append(...children);
  return el;
}

const FACE_COLOURS = ["#e5534b", "#f08a4b", "#f4c04e", "#9ccc65", "#3aa76d"];
const INK = "#1d2730";

function face(level) {
  const bend = (level - 2) * 7; // from a frown (level 0) to a wide smile (level 4)
  return svg("svg", { viewBox: "0 0 64 64", class: "face", "aria-hidden": "true" },
    svg("circle", { cx: 32, cy: 32, r: 30, fill: FACE_COLOURS[level] }),
    svg("circle", { cx: 22, cy: 26, r: 3.6, fill: INK }),
    svg("circle", { cx: 42, cy: 26, r: 3.6, fill: INK }),
    svg("path", { d: `M19 ${42 - bend / 3} Q32 ${42 + bend} 45 ${42 - bend / 3}`, fill: "none", stroke: INK, "stroke-width": 3.6, "stroke-linecap": "round" }));
}

const option = (cls, selected, onclick, ...children) =>
  h("button", { type: "button", class: cls, "aria-pressed": String(Boolean(selected)), onclick }, ...children);
const group = (cls, children, extra = {}) => h("div", { class: cls, role: "group", "aria-labelledby": "question", ...extra }, children);

// Words for each step of a scale: the survey's own end labels, the app's words between.
function stepWords(question, lang) {
  const words = [...t(lang, question.kind)];
  const { low, high } = question.labels ?? {};
  if (low) words[0] = pick(low, lang);
  if (high) words[words.length - 1] = pick(high, lang);
  return words;
}

function nps(question, lang, value, answer) {
  const [low, high] = SCALES.nps;
  const { labels = {} } = question;
  const scores = [];
  for (let n = low; n <= high; n += 1) {
    const button = option("score", value === n, () => answer(n, true), String(n));
    button.setAttribute("aria-label", t(lang, "score", { n, max: high }));
    scores.push(button);
  }
  return h("div", { class: "nps" }, group("nps-row", scores),
    h("div", { class: "ends", "aria-hidden": "true" },
      h("span", { text: `${low} · ${pick(labels.low, lang)}` }), h("span", { text: `${high} · ${pick(labels.high, lang)}` })));
}

const csat = (question, lang, value, answer) =>
  group("faces", stepWords(question, lang).map((word, i) =>
    option("face-button", value === i + 1, () => answer(i + 1, true), face(i), h("span", { class: "caption", text: word }))));

const ces = (question, lang, value, answer) =>
  group("steps", stepWords(question, lang).map((word, i) =>
    option(`step step-${i + 1}`, value === i + 1, () => answer(i + 1, true),
      h("span", { class: "step-n", "aria-hidden": "true", text: String(i + 1) }), h("span", { class: "step-word", text: word }))));

function choice(question, lang, value, answer) {
  const chosen = new Set(value ?? []);
  const many = Boolean(question.multiple);
  const toggle = (key) => (event) => {
    if (!many) return answer([key], true);
    chosen.has(key) ? chosen.delete(key) : chosen.add(key);
    event.currentTarget.setAttribute("aria-pressed", String(chosen.has(key)));
    const picked = question.choices.map((c) => c.key).filter((k) => chosen.has(k));
    answer(picked.length ? picked : null, false);
  };
  return h("div", { class: "choice" },
    h("p", { class: "hint", id: "hint", text: t(lang, many ? "pickMany" : "pickOne") }),
    group("chips", question.choices.map((item) =>
      option("chip", chosen.has(item.key), toggle(item.key), h("span", { class: "tick", "aria-hidden": "true" }), h("span", { text: pick(item.text, lang) }))),
    { "aria-describedby": "hint" }));
}

function text(question, lang, value, answer) {
  const limit = question.max_length ?? 1000;
  const counter = h("p", { class: "hint counter", "aria-live": "polite" });
  const count = (length) => (counter.textContent = length > limit * 0.8 ? t(lang, "charsLeft", { n: limit - length }) : "");
  const area = h("textarea", {
    class: "comment", rows: 4, maxlength: limit, "aria-labelledby": "question", placeholder: t(lang, "typeHere"), autocomplete: "off",
    oninput: (event) => {
      count(event.target.value.length);
      answer(event.target.value, false);
    },
  });
  area.value = value ?? "";
  count(area.value.length);
  return h("div", { class: "text" }, area, counter);
}

function contact(question, lang, value, answer) {
  const details = { consent: false, name: "", phone: "", email: "", ...value };
  const change = (name, v) => answer({ ...Object.assign(details, { [name]: v }) }, false);
  const field = (name, type) => {
    const input = h("input", { id: `contact-${name}`, name, type, autocomplete: "off", oninput: (event) => change(name, event.target.value) });
    input.value = details[name];
    return h("div", { class: "field" }, h("label", { for: input.id, text: t(lang, name) }), input);
  };
  const fields = h("div", { class: "fields", hidden: !details.consent }, field("name", "text"), field("phone", "tel"), field("email", "email"));
  const box = h("input", {
    id: "consent", type: "checkbox", class: "check",
    onchange: (event) => {
      fields.hidden = !event.target.checked;
      change("consent", event.target.checked);
    },
  });
  box.checked = details.consent;
  return h("div", { class: "contact" },
    h("div", { class: "consent" }, box, h("label", { for: "consent", text: t(lang, "consent") })),
    fields, h("p", { class: "problem", id: "problem", role: "alert" }));
}

export const WIDGETS = { nps, csat, ces, choice, text, contact };

function initials(name) {
  const parts = name.trim().split(/\s+/);
  return [parts[0], parts.length > 1 ? parts.at(-1) : ""].map((p) => [...p][0] ?? "").join("").toUpperCase();
}

export function staffPicker(staff, lang, value, answer) {
  const people = staff.map((member, i) =>
    option("person", value === member.code, () => answer(member.code),
      member.photo
        ? h("img", { class: "avatar", src: member.photo, alt: "" })
        : h("span", { class: `avatar tint-${i % 6}`, "aria-hidden": "true", text: initials(member.name) }),
      h("span", { class: "person-name", text: member.name })));
  people.push(option("person unsure", value === null, () => answer(null),
    h("span", { class: "avatar", "aria-hidden": "true", text: "?" }), h("span", { class: "person-name", text: t(lang, "staffUnsure") })));
  return group("people", people);
}
