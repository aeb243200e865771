// The staff menu, hidden from customers: hold the top-left corner for three seconds, type the
// PIN (the last four digits of the pairing code), see the kiosk's state, send now or unpair.

import { t } from "./i18n.js";
import { h } from "./widgets.js";

const HOLD_MS = 3000;
const CORNER_PX = 72;
const $ = (id) => document.getElementById(id);

export function armCorner(open) {
  let timer = 0;
  let swallow = false;
  const cancel = () => clearTimeout(timer);
  addEventListener("pointerdown", (event) => {
    cancel();
    if (event.clientX > CORNER_PX || event.clientY > CORNER_PX) return;
    timer = setTimeout(() => {
      swallow = true;
      open();
    }, HOLD_MS);
  });
  addEventListener("pointerup", cancel);
  addEventListener("pointercancel", cancel);
  addEventListener("pointermove", (event) => (event.clientX > CORNER_PX * 1.5 || event.clientY > CORNER_PX * 1.5) && cancel());
  // The click that ends a long press must not also press what lies under the finger.
  addEventListener("click", (event) => {
    if (!swallow) return;
    swallow = false;
    event.preventDefault();
    event.stopImmediatePropagation();
  }, true);
}

function dialog(labelId, ...children) {
  const box = h("div", { class: "dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": labelId }, children);
  $("layer").replaceChildren(h("div", { class: "scrim" }, box));
  $("layer").hidden = false;
  $("app").inert = true;
  box.querySelector("button")?.focus();
}

export function closeDialog() {
  $("layer").replaceChildren();
  $("layer").hidden = true;
  $("app").inert = false;
  dispatchEvent(new Event("kiosk:closed"));
}

const button = (cls, text, onclick) => h("button", { type: "button", class: cls, text, onclick });

export function askPin(lang, pin, onOpen) {
  let typed = "";
  const dots = h("p", { class: "pin-dots", "aria-hidden": "true" });
  const message = h("p", { class: "problem", role: "alert" });
  const show = () => dots.replaceChildren(...[0, 1, 2, 3].map((i) => h("span", { class: i < typed.length ? "on" : "" })));
  const press = (digit) => {
    typed = (typed + digit).slice(0, 4);
    message.textContent = "";
    if (typed === pin) return onOpen();
    if (typed.length === 4) {
      typed = "";
      message.textContent = t(lang, "pinWrong");
    }
    show();
  };
  const keys = [..."123456789"].map((digit) => button("key", digit, () => press(digit)));
  keys.push(button("key word", t(lang, "cancel"), closeDialog), button("key", "0", () => press("0")),
    button("key word", t(lang, "erase"), () => {
      typed = typed.slice(0, -1);
      show();
    }));
  show();
  dialog("pin-title", h("h2", { id: "pin-title", text: t(lang, "pinTitle") }), dots, message, h("div", { class: "keypad" }, keys));
}

// menu: {lang, config, status(), syncNow(), unpair(force)}
export async function showStatus(menu) {
  const { lang, config } = menu;
  const list = h("dl", { class: "facts" });
  const note = h("p", { class: "problem", role: "alert" });
  const fill = async () => {
    const s = await menu.status();
    const rows = {
      store: `${config?.location?.name ?? "—"} (${config?.location?.code ?? "—"})`,
      touchpoint: config?.kiosk?.touchpoint?.label || config?.kiosk?.touchpoint?.name || "—",
      queue: s.queue, asideInvalid: s.invalid, asideConflict: s.conflict, asideUnpaired: s.unpaired,
      lastSync: s.lastSync ? new Date(s.lastSync).toLocaleString(lang) : t(lang, "never"),
      network: t(lang, s.rejected ? "rejected" : s.offline ? "offlineShort" : "online"),
      appVersion: s.version,
      surveyVersion: config?.survey ? `${config.survey.number} (#${config.survey.version})` : "—",
    };
    list.replaceChildren(...Object.entries(rows).flatMap(([k, v]) => [h("dt", { text: t(lang, k) }), h("dd", { text: String(v), "data-fact": k })]));
    return s;
  };
  const actions = h("div", { class: "actions" },
    button("button primary", t(lang, "syncNow"), () => menu.syncNow().then(fill)),
    button("button danger", t(lang, "unpair"), async () => {
      // Answers not sent yet would stay behind on this tablet: say so before unpairing.
      const waiting = (await fill()).queue;
      note.textContent = waiting ? t(lang, "unpairWarn", { n: waiting }) : t(lang, "unpairConfirm");
      actions.replaceChildren(button("button danger", t(lang, "unpairYes"), () => menu.unpair(waiting > 0)),
        button("button ghost", t(lang, "cancel"), () => showStatus(menu)));
    }),
    button("button ghost", t(lang, "close"), closeDialog));
  await fill();
  const refresh = setInterval(() => (list.isConnected ? fill() : clearInterval(refresh)), 2000);
  dialog("status-title", h("h2", { id: "status-title", text: t(lang, "status") }), list, note, actions);
}
