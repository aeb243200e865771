// Getting answers to the server. The queue drains through the batch endpoint with exponential
// backoff and full jitter, never sooner than a Retry-After; an answer leaves the queue only
// when the server said "created" or "duplicate". Also the heartbeat.

import * as store from "./store.js";

const BATCH = 100;
const BASE_MS = 2000;
const CAP_MS = 5 * 60 * 1000;

const state = {
  token: null, urls: {}, version: "", size: BATCH, failures: 0, timer: 0, draining: false, again: false,
  serverAsked: false, // the retry waits for the server's Retry-After, not only our backoff
  reachable: true, rejected: false, lastSync: null,
};
let notify = () => {};
let onHeartbeat = () => {};

export function configure(options) {
  Object.assign(state, { urls: options.urls, version: options.version });
  ({ onChange: notify, onHeartbeat } = options);
  addEventListener("online", () => {
    // A retry that only waited for the network may go now; one the server asked for may not.
    if (state.timer && !state.serverAsked) {
      clearTimeout(state.timer);
      state.timer = 0;
    }
    kick();
  });
  addEventListener("offline", () => notify());
}

export async function setToken(token) {
  Object.assign(state, { token, rejected: false, failures: 0, lastSync: (await store.get("lastSync")) ?? null });
}

export const offline = () => !navigator.onLine || !state.reachable;
export const snapshot = () => ({ ...state, offline: offline() });

export async function call(url, { method = "GET", body, token = state.token } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body && JSON.stringify(body), cache: "no-store", signal: AbortSignal.timeout?.(20000) });
  } catch (error) {
    state.reachable = false;
    throw error;
  }
  state.reachable = response.status < 500;
  if (response.status === 401 && token) state.rejected = true;
  if (response.ok) {
    state.lastSync = new Date().toISOString();
    store.set("lastSync", state.lastSync).catch(() => {});
  }
  return response;
}

// Send now, unless a retry is already scheduled: then it keeps its time.
export function kick() {
  if (state.draining) state.again = true;
  else if (!state.timer) drain();
}

export async function drain() {
  if (state.draining || !state.token) return;
  if (!navigator.onLine) return notify(); // the "online" event brings us back
  clearTimeout(state.timer);
  Object.assign(state, { draining: true, again: false, timer: 0 });
  try {
    await sendAll();
    Object.assign(state, { failures: 0, size: BATCH });
  } catch (error) {
    schedule(error.response);
  } finally {
    state.draining = false;
    notify();
    if (state.again && !state.timer) drain();
  }
}

class Retry extends Error {
  constructor(response) {
    super(response ? `HTTP ${response.status}` : "no progress");
    this.response = response;
  }
}

async function sendAll() {
  for (;;) {
    const items = await store.oldest(state.size);
    if (!items.length) return;
    const response = await call(state.urls.batch, { method: "POST", body: { responses: items.map((item) => item.body) } });
    if (response.status === 413 || (response.status === 400 && items.length > 1)) {
      // Too big, or more than this server takes at once: halve. A single answer too large
      // to send can never be sent, so it goes aside.
      if (items.length > 1) state.size = Math.max(1, items.length >> 1);
      else await store.settle([], [aside(items[0], "invalid", { body: ["Too large to send."] })]);
      continue;
    }
    if (!response.ok) throw new Retry(response);
    const { results } = await response.json();
    const done = [];
    const refused = [];
    items.forEach((item, i) => {
      const result = results?.[i];
      if (result?.id !== item.id) return; // no verdict on this one: it stays queued
      if (result.status === "created" || result.status === "duplicate") done.push(item.id);
      else if (result.status === "invalid") refused.push(aside(item, "invalid", result.errors));
      else if (result.status === "conflict") {
        // The server holds another response under this device-made id. Sending again can
        // never succeed and storing it twice is what we must not do: done, but logged.
        console.warn("kiosk: response id already recorded with another body", item.id);
        refused.push(aside(item, "conflict", result.errors));
      }
    });
    await store.settle(done, refused);
    if (!done.length && !refused.length) throw new Retry();
  }
}

export const aside = (item, status, errors = {}) => ({ ...item, status, errors, asideAt: new Date().toISOString() });

function retryAfterMs(response) {
  const value = response?.headers.get("Retry-After");
  if (!value) return 0;
  const seconds = Number(value);
  return Math.max(0, Number.isFinite(seconds) ? seconds * 1000 : (Date.parse(value) || 0) - Date.now());
}

function schedule(response) {
  state.failures += 1;
  const asked = retryAfterMs(response);
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** (state.failures - 1));
  // Full jitter spreads a chain's tablets apart after an outage; the server's Retry-After is
  // a floor (plus a little jitter of its own), never shortened. A refused token waits long.
  const wait = state.rejected ? CAP_MS : Math.max(asked && asked + Math.random() * 1000, Math.random() * ceiling, 250);
  state.serverAsked = asked > 0 || state.rejected;
  state.timer = setTimeout(() => {
    state.timer = 0;
    drain();
  }, wait);
}

export async function heartbeat() {
  if (!state.token || !navigator.onLine) return notify();
  try {
    const [queued, kept] = await Promise.all([store.count("queue"), store.asideItems()]);
    const body = { app_version: state.version.slice(0, 40), queue_length: queued, invalid_count: kept.filter((item) => item.status === "invalid").length };
    const battery = await navigator.getBattery?.().catch(() => null);
    if (battery) body.battery = Math.round(battery.level * 100);
    const response = await call(state.urls.heartbeat, { method: "POST", body });
    if (response.ok) onHeartbeat(await response.json());
    if (response.ok && queued) kick();
  } catch {
    // No network: the next beat tries again. Nothing to tell a customer.
  } finally {
    notify();
  }
}
