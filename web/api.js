// api.js: the web UI's only door to virtsnapd's REST API: fetch with the right headers,
// the API token (sessionStorage only), the session key, errors turned into plain words, 401
// handling, following tasks.

const TOKEN_KEY = 'virtsnap.token';
const USER_KEY = 'virtsnap.user';
// The key of the session cookie, which the daemon wants beside it (X-Virtsnap-Key): browsers
// send the cookie to every port of the host, this page's localStorage is its origin's own.
const SESSION_KEY = 'virtsnap.sessionKey';
/** The tasks this tab started and has not yet seen end (ui.js), kept through a reload. */
export const TASKS_KEY = 'virtsnap.tasks';

/** An API answer that is not 2xx; `reason` is the daemon's sentence, ready to show. */
export class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
    this.reason = reason;
  }
}

let unauthorizedHandler = () => {};

/** Called with the ApiError whenever an authenticated request answers 401. */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  user: () => sessionStorage.getItem(USER_KEY),
  key: () => localStorage.getItem(SESSION_KEY),
  setToken(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.removeItem(USER_KEY);
  },
  setUser(user, key) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.setItem(USER_KEY, user);
    localStorage.setItem(SESSION_KEY, key);
  },
  /** This tab's sign-in; the session key, which the other tabs share, stays, and so do the
   *  tasks this tab follows (one that fails while the user signs in again is still told). */
  forget() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
  /** Signing out: the session key and this tab's tasks go too (the cookie is gone for every tab). */
  clear() {
    this.forget();
    sessionStorage.removeItem(TASKS_KEY);
    localStorage.removeItem(SESSION_KEY);
  },
};

/** Path helpers: every name is percent-encoded, "." and ".." too (fetch would resolve
 *  them as path steps; another tool may have named a VM so). */
const segment = (name) => {
  const enc = encodeURIComponent(name);
  return enc === '.' || enc === '..' ? enc.replace(/\./g, '%2E') : enc;
};
export const vmPath = (vm) => `/vms/${segment(vm)}`;
export const snapsPath = (vm) => `${vmPath(vm)}/snapshots`;
export const snapPath = (vm, snap) => `${snapsPath(vm)}/${segment(snap)}`;

/**
 * Sends one request. BODY (if not undefined) goes as JSON. Resolves to the parsed JSON
 * (or null for an empty answer); rejects with ApiError. A 401 also calls the
 * unauthorized handler unless OPTIONS.quiet401 is set (login probes).
 */
export async function request(method, path, body, options = {}) {
  const headers = { 'X-Requested-With': 'XMLHttpRequest', Accept: 'application/json' };
  const token = session.token();
  if (token && !options.noToken) headers.Authorization = `Bearer ${token}`;
  const key = session.key();
  if (key) headers['X-Virtsnap-Key'] = key;
  const sentKey = key;
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `virtsnapd cannot be reached (${e.message}). Is it running?`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const reason = data && typeof data.reason === 'string' && data.reason
      ? data.reason
      : `virtsnapd answered ${resp.status} ${resp.statusText || ''}`.trim();
    const err = new ApiError(resp.status, reason);
    // A key the daemon no longer knows goes, unless another tab has signed in since.
    if (resp.status === 401 && sentKey && !headers.Authorization && session.key() === sentKey) {
      localStorage.removeItem(SESSION_KEY);
    }
    if (resp.status === 401 && !options.quiet401) unauthorizedHandler(err);
    throw err;
  }
  return data;
}

export const api = {
  get: (path, opts) => request('GET', path, undefined, opts),
  post: (path, body, opts) => request('POST', path, body, opts),
  put: (path, body, opts) => request('PUT', path, body, opts),
  del: (path, opts) => request('DELETE', path, undefined, opts),
};

/**
 * Follows a task until it is no longer running. ONUPDATE gets every state
 * seen. Each request waits up to a second for the end (GET /tasks/<id>?wait=1),
 * so the end shows at once and progress at least every second. Resolves to
 * the final task (status "finished" or "failed"). While virtsnapd cannot be
 * reached or answers 502-504 (restarting, a proxy), it asks again every
 * second for a minute: the task goes on meanwhile. Rejects with the
 * ApiError after that, or at once on any other error.
 */
export async function waitForTask(task, onUpdate = () => {}) {
  let current = task;
  let missingSince = null; // when virtsnapd stopped answering
  onUpdate(current);
  while (current.status === 'running') {
    const asked = Date.now();
    try {
      current = await api.get(`/tasks/${encodeURIComponent(task.id)}?wait=1`);
      missingSince = null;
    } catch (err) {
      missingSince = missingSince ?? asked;
      if (![0, 502, 503, 504].includes(err.status) || Date.now() - missingSince > 60000) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    onUpdate(current);
    // Answered early yet still running (virtsnapd stopping): do not spin.
    const early = 1000 - (Date.now() - asked);
    if (current.status === 'running' && early > 150) {
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  }
  return current;
}

/** The last path segment of a URI such as /vms/a%26b, decoded. */
export function nameFromUri(uri) {
  const last = String(uri || '').split('/').pop();
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}
