// The API client: JSON requests with the bearer token, errors as ApiError (the server's
// `message`), and Server-Sent Events read from a POST response with fetch + ReadableStream.

export const API = "/api/v1";
const TOKEN_KEY = "plumb.token";

export class ApiError extends Error {
  constructor(status, code, message, body = null) {
    super(message || `request failed (${status})`);
    this.status = status;
    this.code = code || "error";
    this.body = body;
  }
}

let unauthorized = null;

/** Called with the ApiError whenever the server answers 401. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function getToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
  else window.sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra = {}) {
  const out = { Accept: "application/json", ...extra };
  const token = getToken();
  if (token) out.Authorization = `Bearer ${token}`;
  return out;
}

function url(path, query) {
  const target = new URL(path.startsWith("/") ? path : `${API}/${path}`, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => target.searchParams.append(key, v));
    else target.searchParams.set(key, String(value));
  }
  return target.toString();
}

/** An ApiError from a failed response; the body is the server's {error, message}. */
async function failure(response, { quiet = false } = {}) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message = body && typeof body.message === "string" ? body.message
    : `${response.status} ${response.statusText || "request failed"}`;
  const error = new ApiError(response.status, body && body.error, message, body);
  if (response.status === 401 && unauthorized && !quiet) unauthorized(error);
  return error;
}

async function request(method, path, { body, query, signal, quiet } = {}) {
  let response;
  try {
    response = await fetch(url(path, query), {
      method,
      headers: headers(body !== undefined ? { "Content-Type": "application/json" } : {}),
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal,
    });
  } catch (exc) {
    if (exc && exc.name === "AbortError") throw exc;
    throw new ApiError(0, "network", "The server did not answer. Is `ask serve` running?");
  }
  if (!response.ok) throw await failure(response, { quiet });
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const api = {
  get: (path, query, options = {}) => request("GET", path, { ...options, query }),
  post: (path, body = {}, options = {}) => request("POST", path, { ...options, body }),
  patch: (path, body = {}, options = {}) => request("PATCH", path, { ...options, body }),
  del: (path, options = {}) => request("DELETE", path, options),
};

/** Parse one SSE block ("event: x\ndata: {...}") into {event, data}; null for comments. */
export function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: text };
  }
}

/**
 * POST `body` to `path` and yield its Server-Sent Events as {event, data}, in order, until
 * the stream ends. A refusal before the stream (429, 404, 422, ...) throws ApiError.
 */
export async function* postEvents(path, body, { signal } = {}) {
  let response;
  try {
    response = await fetch(url(path), {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify(body),
      signal,
    });
  } catch (exc) {
    if (exc && exc.name === "AbortError") throw exc;
    throw new ApiError(0, "network", "The server did not answer. Is `ask serve` running?");
  }
  if (!response.ok) throw await failure(response);
  const type = response.headers.get("content-type") || "";
  if (!type.includes("text/event-stream")) {
    // A server that answered in one piece: hand it on as a result.
    yield { event: "result", data: await response.json() };
    yield { event: "done", data: {} };
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end = buffer.indexOf("\n\n");
      while (end !== -1) {
        const parsed = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (parsed) yield parsed;
        end = buffer.indexOf("\n\n");
      }
    }
    const rest = parseEvent((buffer + decoder.decode()).trim());
    if (rest) yield rest;
  } finally {
    // Stops the request when the reader left early (the server then cancels the job).
    reader.cancel().catch(() => {});
  }
}
