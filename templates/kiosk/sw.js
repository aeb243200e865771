// The kiosk's service worker: the app shell and its files come from the cache, so a kiosk
// starts with no network at all; the last configuration is kept as a fallback and staff
// photos are cached as they are seen. Rendered by surveys/kiosk_views.py: a new version of
// any kiosk file changes SETUP.version, which makes the browser install this worker again.
const SETUP = {{ setup|safe }};
const SHELL = `cxhub-kiosk-${SETUP.version}`;
const DATA = "cxhub-kiosk-data";
const PRECACHED = new Set(SETUP.precache.map((url) => new URL(url, location).href));
const LOOSE = { ignoreSearch: true, ignoreVary: true };

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL);
      await cache.addAll(SETUP.precache.map((url) => new Request(url, { cache: "reload" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("cxhub-kiosk-") && name !== SHELL && name !== DATA) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== location.origin) return;
  if (request.mode === "navigate" && url.pathname === SETUP.shell) {
    event.respondWith(cached(SETUP.shell, request));
  } else if (url.pathname === SETUP.config) {
    event.respondWith(networkFirst(request));
  } else if (PRECACHED.has(url.origin + url.pathname)) {
    event.respondWith(cached(url.pathname, request));
  } else if (url.pathname.startsWith(SETUP.media)) {
    event.respondWith(photo(request));
  }
});

async function cached(key, request) {
  const cache = await caches.open(SHELL);
  return (await cache.match(key, LOOSE)) ?? fetch(request);
}

async function networkFirst(request) {
  const cache = await caches.open(DATA);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(SETUP.config, response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match(SETUP.config, LOOSE);
    if (kept) return kept;
    throw error;
  }
}

async function photo(request) {
  const cache = await caches.open(DATA);
  const kept = await cache.match(request, LOOSE);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}
