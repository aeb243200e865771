// The survey's rules on the device: which questions show, and the body the API expects.
// Pure functions over the configuration from GET /api/v1/kiosk/config/.

const OPS = { lte: (a, b) => a <= b, gte: (a, b) => a >= b, eq: (a, b) => a === b };
export const SCALES = { nps: [0, 10], csat: [1, 5], ces: [1, 7] };

// Same rule as the server (surveys/definition.py): no condition shows the question; a
// condition on an unanswered question hides it.
export function conditionHolds(condition, answers) {
  if (!condition) return true;
  const given = answers[condition.question];
  if (!Number.isInteger(given)) return false;
  const op = Object.keys(condition).find((k) => k !== "question");
  return Boolean(OPS[op]?.(given, condition[op]));
}

// The screens of one customer's survey in order: its visible questions, and the staff
// picker (when the store has staff) before the first free-text or contact question.
export function steps(config, answers) {
  const out = [];
  const questions = config.survey?.questions ?? [];
  for (const question of questions) {
    if (conditionHolds(question.show_if, answers)) out.push({ key: question.key, question });
  }
  if (config.staff?.length) {
    const at = out.findIndex((s) => ["text", "contact"].includes(s.question.kind));
    out.splice(at < 0 ? out.length : at, 0, { key: "@staff" });
  }
  return out;
}

export function hasAnswer(value) {
  if (value === null || value === undefined) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "string") return value.trim() !== "";
  if (typeof value === "object") return value.consent === true;
  return true;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

// A message key when the contact details cannot be sent, else null.
export function contactProblem(contact) {
  if (!contact?.consent) return null;
  const email = (contact.email ?? "").trim();
  if (!email && !(contact.phone ?? "").trim()) return "needReach";
  if (email && !EMAIL.test(email)) return "badEmail";
  return null;
}

// Only what the customer could see and answered: an answer to a question hidden by a later
// change (back, then a higher score) would be refused by the server.
export function answersToSend(config, answers) {
  const out = {};
  for (const { key, question } of steps(config, answers)) {
    if (!question || !hasAnswer(answers[key])) continue;
    let value = answers[key];
    if (question.kind === "text") value = value.trim();
    if (question.kind === "contact") {
      if (contactProblem(value)) continue;
      value = { consent: true, name: value.name ?? "", email: value.email ?? "", phone: value.phone ?? "" };
      for (const k of ["name", "email", "phone"]) value[k] = value[k].trim();
    }
    out[key] = value;
  }
  return out;
}

export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Plain http on a shop's LAN is not a secure context: build a v4 UUID by hand.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The body of POST /api/v1/kiosk/responses/, or null when nothing was answered (the API
// refuses a response without answers).
export function responseBody(config, session, complete) {
  const answers = answersToSend(config, session.answers);
  if (!Object.keys(answers).length) return null;
  return {
    id: session.id,
    submitted_at: new Date().toISOString(),
    language: session.language,
    staff: session.staff ?? null,
    survey_version: config.survey.version,
    complete,
    answers,
  };
}
