// Durable storage on the tablet (IndexedDB): answers waiting to be sent ("queue"), answers
// the server refused ("aside"), and the kiosk's own settings ("meta": token, PIN, config).
// Every write resolves only once the transaction has committed.

let opening;

function db() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open("cxhub-kiosk", 1);
    request.onupgradeneeded = () => {
      const base = request.result;
      base.createObjectStore("queue", { keyPath: "id" }).createIndex("at", "at");
      base.createObjectStore("aside", { keyPath: "id" });
      base.createObjectStore("meta");
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => {
      opening = null;
      reject(request.error);
    };
  });
  return opening;
}

async function run(names, mode, work) {
  const base = await db();
  return new Promise((resolve, reject) => {
    const tx = base.transaction(names, mode, { durability: "strict" });
    const request = work(tx);
    tx.oncomplete = () => resolve(request instanceof IDBRequest ? request.result : request);
    tx.onerror = tx.onabort = () => reject(tx.error);
  });
}

export const get = (key) => run("meta", "readonly", (tx) => tx.objectStore("meta").get(key));
export const set = (key, value) => run("meta", "readwrite", (tx) => tx.objectStore("meta").put(value, key));
export const remove = (keys) =>
  run("meta", "readwrite", (tx) => keys.forEach((k) => tx.objectStore("meta").delete(k)));

// item: {id, at, body}; the body is stored once and never changed, so a resend
// is always the same body (a duplicate, never a conflict).
export const enqueue = (item) => run("queue", "readwrite", (tx) => tx.objectStore("queue").put(item));

export const oldest = (limit) =>
  run("queue", "readonly", (tx) => tx.objectStore("queue").index("at").getAll(null, limit));

export const count = (name) => run(name, "readonly", (tx) => tx.objectStore(name).count());

export const asideItems = () => run("aside", "readonly", (tx) => tx.objectStore("aside").getAll());

// A customer's answers so far, rewritten after every answer: if the tab is closed or the
// tablet loses power mid-survey, the next start queues them as a partial response.
export const saveDraft = (body) => set("draft", body);
export const dropDraft = () => remove(["draft"]);

// Queue a finished (or abandoned) response and drop the draft in one transaction, so a
// crash can never queue the same customer twice.
export function commit(item) {
  return run(["queue", "meta"], "readwrite", (tx) => {
    tx.objectStore("queue").put(item);
    tx.objectStore("meta").delete("draft");
  });
}

// Apply the server's verdicts in one transaction: done items leave the queue, refused
// ones move aside with the reason.
export function settle(done, refused) {
  return run(["queue", "aside"], "readwrite", (tx) => {
    const queue = tx.objectStore("queue");
    done.forEach((id) => queue.delete(id));
    refused.forEach((item) => {
      tx.objectStore("aside").put(item);
      queue.delete(item.id);
    });
  });
}
