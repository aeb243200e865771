// The kiosk: first-run pairing, then one customer after another. A response is written to
// the tablet's queue (store.js) before the thank-you screen; sync.js gets it to the server.

import { LANGS, NAMES, deviceLanguage, pick, t } from "./i18n.js";
import * as staff from "./staff.js";
import * as store from "./store.js";
import * as sync from "./sync.js";
import { contactProblem, hasAnswer, newId, responseBody, steps } from "./survey.js";
import { WIDGETS, h, staffPicker } from "./widgets.js";

const root = document.documentElement;
const URLS = JSON.parse(root.dataset.urls);
const VERSION = root.dataset.version;
const BUSY_MS = 400;
const CONFIG_EVERY_MS = 10 * 60 * 1000;
const $ = (id) => document.getElementById(id);

const kiosk = {
  token: null, pin: null, config: null,
  pending: null, // a new configuration, applied once the current customer is done
  session: null, lang: deviceLanguage(), redraw: () => {},
  askedVersion: undefined, reloadWhenIdle: false, timers: false, idle: 0, thanks: 0, busy: 0,
};

function render(name, { top = [], main = [], bottom = [], key = "" } = {}) {
  const app = $("app");
  Object.assign(app.dataset, { screen: name, key });
  root.lang = kiosk.lang;
  $("top").replaceChildren(...top);
  $("screen").replaceChildren(...main);
  $("bottom").replaceChildren(...bottom, offlineMark());
  $("screen").classList.remove("enter");
  void $("screen").offsetWidth; // restarts the entrance animation
  $("screen").classList.add("enter");
  // The second tap of a double tap lands on the new screen: nothing takes it for a moment.
  app.dataset.busy = "";
  clearTimeout(kiosk.busy);
  kiosk.busy = setTimeout(() => delete app.dataset.busy, BUSY_MS);
  $("question")?.focus({ preventScroll: true });
}

function offlineMark() {
  const label = t(kiosk.lang, "offline");
  return h("span", { class: "net", id: "net", title: label, hidden: !sync.offline() }, h("span", { class: "sr", text: label }));
}

function updateNet() {
  if ($("net")) $("net").hidden = !sync.offline();
}

function languages() {
  const offered = kiosk.config?.survey?.languages ?? LANGS;
  if (offered.length < 2) return h("span");
  return h("nav", { class: "langs", "aria-label": t(kiosk.lang, "language") }, offered.map((code) =>
    h("button", {
      type: "button", class: "lang", lang: code, "aria-pressed": String(code === kiosk.lang),
      text: NAMES[code] ?? code, onclick: () => setLanguage(code),
    })));
}

function setLanguage(code) {
  kiosk.lang = code;
  if (kiosk.session) kiosk.session.language = code;
  kiosk.redraw();
  armIdle();
}

const storeName = () => h("p", { class: "store", text: kiosk.config?.location?.name ?? "CXHub" });

function message(name, key) {
  kiosk.redraw = () => message(name, key);
  render(name, { top: [storeName()], main: [h("section", { class: "notice" }, h("h1", { id: "question", tabindex: "-1", text: t(kiosk.lang, key) }))] });
}

function pairing(problemKey = "") {
  kiosk.redraw = () => pairing(problemKey);
  const lang = kiosk.lang;
  const code = h("input", { id: "code", name: "code", class: "code-input", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 8, "aria-describedby": "pair-help" });
  code.addEventListener("input", () => (code.value = code.value.replace(/\D/g, "").slice(0, 8)));
  const name = h("input", { id: "kiosk-name", name: "name", maxlength: 120, autocomplete: "off" });
  const problem = h("p", { class: "problem", role: "alert", text: problemKey && t(lang, problemKey) });
  const button = h("button", { type: "submit", class: "button primary wide", text: t(lang, "pairButton") });
  const submit = (event) => {
    event.preventDefault();
    pair(code.value, name.value, problem, button);
  };
  render("pairing", {
    top: [storeName(), languages()],
    main: [h("form", { class: "pair", novalidate: true, onsubmit: submit },
      h("h1", { id: "question", tabindex: "-1", text: t(lang, "pairTitle") }),
      h("p", { id: "pair-help", text: t(lang, "pairHelp") }),
      h("div", { class: "field" }, h("label", { for: "code", text: t(lang, "pairCode") }), code),
      h("div", { class: "field" }, h("label", { for: "kiosk-name", text: t(lang, "pairName") }), name),
      problem, button, h("p", { class: "hint", text: t(lang, "pairPin") }))],
  });
}

async function pair(code, name, problem, button) {
  const lang = kiosk.lang;
  if (!/^\d{8}$/.test(code)) return (problem.textContent = t(lang, "pairDigits"));
  button.disabled = true;
  try {
    const body = { code, name: name.trim(), app_version: VERSION.slice(0, 40) };
    const response = await sync.call(URLS.pair, { method: "POST", body, token: null });
    if (response.status !== 201) return (problem.textContent = t(lang, response.status === 429 ? "pairSlow" : "pairBad"));
    const { token } = await response.json();
    // The staff menu's PIN: the last four digits of the code the person pairing typed.
    Object.assign(kiosk, { token, pin: code.slice(-4) });
    await store.set("pin", kiosk.pin);
    await store.set("token", token);
    await sync.setToken(token);
    message("loading", "loading");
    startTimers();
    waitForConfig();
  } catch {
    problem.textContent = t(lang, "pairOffline");
  } finally {
    button.disabled = false;
  }
}

async function loadConfig() {
  try {
    const response = await sync.call(URLS.config);
    if (!response.ok) return false;
    const config = await response.json();
    await store.set("config", config);
    accept(config);
    return true;
  } catch {
    return false;
  }
}

async function waitForConfig() {
  for (let wait = 2000; kiosk.token && !kiosk.config; wait = Math.min(wait * 2, 60000)) {
    if (await loadConfig()) return;
    if (sync.snapshot().rejected) return unpair(false, "rejected");
    await new Promise((done) => setTimeout(done, wait));
  }
}

function idle() {
  const s = kiosk.session;
  return !s || (!s.id && !s.index && kiosk.lang === s.defaultLanguage && $("layer").hidden && $("app").dataset.screen !== "thanks");
}

function accept(config) {
  if (JSON.stringify(config) === JSON.stringify(kiosk.pending ?? kiosk.config)) return;
  // A customer mid-survey keeps the questions they started with; the next one gets the new.
  kiosk.pending = config;
  if (!kiosk.config || idle()) reset();
}

function onHeartbeat({ survey_version: version }) {
  const known = [kiosk.config?.survey?.version ?? null, kiosk.pending?.survey?.version];
  // Ask once per announced version: should the configuration still disagree, the periodic
  // refresh tries again later rather than a request loop.
  if (known.includes(version) || version === kiosk.askedVersion) return;
  kiosk.askedVersion = version;
  loadConfig();
}

function startTimers() {
  if (kiosk.timers) return;
  kiosk.timers = true;
  sync.heartbeat();
  setInterval(sync.heartbeat, (kiosk.config?.settings?.heartbeat_seconds ?? 60) * 1000);
  setInterval(() => {
    loadConfig();
    kiosk.registration?.update().catch(() => {});
  }, CONFIG_EVERY_MS);
}

function defaultLanguage() {
  const offered = kiosk.config?.survey?.languages ?? LANGS;
  const wanted = kiosk.config?.location?.default_language;
  return offered.includes(wanted) ? wanted : (offered[0] ?? "en");
}

function reset() {
  clearTimeout(kiosk.thanks);
  clearTimeout(kiosk.idle);
  if (kiosk.reloadWhenIdle) return location.reload();
  if (kiosk.pending) [kiosk.config, kiosk.pending] = [kiosk.pending, null];
  const language = defaultLanguage();
  kiosk.session = { id: null, answers: {}, staff: undefined, language, defaultLanguage: language, index: 0, done: false };
  kiosk.lang = language;
  if (!kiosk.config.survey) return message("nosurvey", "noSurvey");
  show();
}

function show() {
  kiosk.redraw = show;
  const list = steps(kiosk.config, kiosk.session.answers);
  if (kiosk.session.index >= list.length) return finish(true);
  ask(list, kiosk.session.index);
}

const isStaff = (step) => step.key === "@staff";
const current = (step) => (isStaff(step) ? kiosk.session.staff : kiosk.session.answers[step.key]);

function ask(list, index) {
  const lang = kiosk.lang;
  const step = list[index];
  const first = index === 0;
  const question = step.question;
  const kind = isStaff(step) ? "staff" : question.kind;
  const title = isStaff(step) ? t(lang, "staffQuestion") : pick(question.text, lang);
  const widget = isStaff(step)
    ? staffPicker(kiosk.config.staff, lang, current(step), (code) => answer(step, code, true))
    : WIDGETS[kind](question, lang, current(step), (value, advance) => answer(step, value, advance));
  const heading = h("h1", { id: "question", class: "question", tabindex: "-1", text: title });
  const back = h("button", { type: "button", class: "button ghost back", onclick: () => move(-1) }, h("span", { "aria-hidden": "true", text: "‹ " }), t(lang, "back"));
  render(first ? "attract" : "question", {
    top: [first ? storeName() : progress(index, list.length), languages()],
    main: [h("section", { class: `ask ask-${kind}${first ? " attract" : ""}` },
      first ? [h("p", { class: "hello", text: t(lang, "hello") }), heading, widget, h("p", { class: "intro", text: t(lang, "intro") })] : [heading, widget])],
    bottom: [first ? h("span") : back, goButton(step, index === list.length - 1, first)],
    key: step.key,
  });
}

function progress(index, total) {
  const bar = h("span", { class: "bar" });
  bar.style.setProperty("--done", `${Math.round(((index + 1) / total) * 100)}%`);
  return h("div", { class: "progress" }, h("span", { class: "track", "aria-hidden": "true" }, bar),
    h("span", { class: "count", text: t(kiosk.lang, "progress", { n: index + 1, total }) }));
}

// One button moves on: "Skip" while nothing is answered, "Next" once something is, "Send"
// on the last step. A tap on a score, a face, a single choice or a name moves on by itself.
function goButton(step, last, first) {
  const q = step.question;
  const answered = isStaff(step) ? current(step) !== undefined : hasAnswer(current(step));
  const required = Boolean(q?.required);
  const taps = !q || ["nps", "csat", "ces"].includes(q.kind) || (q.kind === "choice" && !q.multiple);
  if (taps && !answered && (first || required || !q)) return h("span", { id: "go" });
  return h("button", {
    type: "button", id: "go", class: `button ${answered || last ? "primary" : "ghost"}`,
    disabled: required && !answered, text: t(kiosk.lang, last ? "send" : answered ? "next" : "skip"),
    onclick: () => go(step),
  });
}

function answer(step, value, advance) {
  const s = kiosk.session;
  s.id ??= newId();
  if (isStaff(step)) s.staff = value;
  else s.answers[step.key] = value;
  const draft = responseBody(kiosk.config, s, false);
  (draft ? store.saveDraft(draft) : store.dropDraft()).catch(() => {});
  armIdle();
  if (advance) return move(1);
  const last = s.index === steps(kiosk.config, s.answers).length - 1;
  $("go")?.replaceWith(goButton(step, last, s.index === 0));
}

function go(step) {
  const problem = step.question?.kind === "contact" && contactProblem(current(step));
  if (problem) $("problem").textContent = t(kiosk.lang, problem);
  else move(1);
}

function move(by) {
  kiosk.session.index = Math.max(0, kiosk.session.index + by);
  show();
}

async function finish(complete) {
  const s = kiosk.session;
  if (s.done) return;
  s.done = true;
  clearTimeout(kiosk.idle);
  const body = responseBody(kiosk.config, s, complete);
  if (body) await keep({ id: body.id, at: Date.now(), body });
  else store.dropDraft().catch(() => {});
  complete ? thanks(body) : reset();
}

// Queued before anyone says thank you. Should storage fail for a moment, the response stays
// in memory and is written as soon as it can be.
async function keep(item) {
  try {
    await store.commit(item);
    sync.kick();
  } catch (error) {
    console.error("kiosk: could not queue a response yet", error);
    setTimeout(() => keep(item), 3000);
  }
}

function thanks(body) {
  kiosk.redraw = () => thanks(body);
  const lang = kiosk.lang;
  const seconds = kiosk.config.settings?.thank_you_seconds ?? 5;
  const contact = Object.values(body?.answers ?? {}).some((value) => value?.consent === true);
  const timer = h("span", { class: "countdown", "aria-hidden": "true" }, h("span"));
  timer.style.setProperty("--seconds", `${seconds}s`);
  render("thanks", {
    top: [storeName()],
    main: [h("section", { class: "thanks", onclick: reset },
      h("span", { class: "heart", "aria-hidden": "true" }),
      h("h1", { id: "question", tabindex: "-1", text: t(lang, "thanks") }),
      h("p", { class: "more", text: t(lang, "thanksMore") }),
      contact && h("p", { class: "more", text: t(lang, "willContact") }),
      timer, h("p", { class: "hint", text: t(lang, "tapToFinish") }))],
  });
  clearTimeout(kiosk.thanks);
  kiosk.thanks = setTimeout(reset, seconds * 1000);
}

function armIdle() {
  clearTimeout(kiosk.idle);
  const s = kiosk.session;
  if (!s || s.done || idle()) return;
  kiosk.idle = setTimeout(() => {
    staff.closeDialog();
    if (kiosk.session?.id && !kiosk.session.done) finish(false);
    else reset();
  }, (kiosk.config?.settings?.idle_timeout_seconds ?? 30) * 1000);
}

async function status() {
  const [queue, kept] = await Promise.all([store.count("queue"), store.asideItems()]);
  const counted = (name) => kept.filter((item) => item.status === name).length;
  const s = sync.snapshot();
  return {
    queue, invalid: counted("invalid"), conflict: counted("conflict"), unpaired: counted("unpaired"),
    lastSync: s.lastSync, offline: s.offline, rejected: s.rejected, version: VERSION,
  };
}

function openStaff() {
  if (!kiosk.token) return;
  const menu = { lang: kiosk.lang, config: kiosk.config, status, unpair, syncNow: () => sync.drain().then(sync.heartbeat) };
  staff.askPin(kiosk.lang, kiosk.pin ?? "", () => staff.showStatus(menu));
  armIdle();
}

async function unpair(force, problemKey = "") {
  // Answers still queued stay on the tablet, set aside: never sent under another pairing.
  if (force) await store.settle([], (await store.oldest()).map((item) => sync.aside(item, "unpaired")));
  await store.remove(["token", "pin", "config", "lastSync", "draft"]);
  await sync.setToken(null);
  clearTimeout(kiosk.idle);
  clearTimeout(kiosk.thanks);
  Object.assign(kiosk, { token: null, pin: null, config: null, pending: null, session: null });
  staff.closeDialog();
  pairing(problemKey);
}

function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  const hadController = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.register(URLS.sw, { scope: URLS.scope, updateViaCache: "none" })
    .then((registration) => (kiosk.registration = registration))
    .catch((error) => console.warn("kiosk: no service worker", error));
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    // New code is in place: load it between two customers, once.
    if (!hadController) return;
    kiosk.reloadWhenIdle = true;
    if (idle()) location.reload();
  });
}

async function boot() {
  registerWorker();
  // Ask the browser never to evict the queue to make room for other sites.
  navigator.storage?.persist?.().catch(() => {});
  document.addEventListener("contextmenu", (event) => event.preventDefault());
  document.addEventListener("gesturestart", (event) => event.preventDefault());
  for (const name of ["pointerdown", "keydown", "input"]) document.addEventListener(name, armIdle, true);
  addEventListener("kiosk:closed", () => kiosk.pending && idle() && reset());
  staff.armCorner(openStaff);
  sync.configure({ urls: URLS, version: VERSION, onChange: updateNet, onHeartbeat });
  const [token, pin, config, draft] = await Promise.all(["token", "pin", "config", "draft"].map(store.get));
  if (draft) await keep({ id: draft.id, at: Date.now(), body: draft }); // a customer cut off by a reload
  if (!token) return pairing();
  Object.assign(kiosk, { token, pin });
  await sync.setToken(token);
  if (config) accept(config);
  else message("loading", "loading");
  startTimers();
  config ? loadConfig() : waitForConfig();
  sync.kick();
}

boot().catch((error) => {
  console.error("kiosk: start failed", error);
  message("loading", "loading");
});
