// api.js: the web UI's only door to virtsnapd's REST API: fetch with the right headers,
// the API token (sessionStorage only), the session key, errors turned into plain words, 401
// handling, following tasks.

const TOKEN_KEY = 'virtsnap.token';
const USER_KEY = 'virtsnap.user';
// The key of the session cookie, which the daemon wants beside it (X-Virtsnap-Key): browsers
// send the cookie to every port of the host, this page's localStorage is its origin's own.
const SESSION_KEY = 'virtsnap.sessionKey';
/** Whose session that key is: the tab that signed in last decides for every tab. */
const SESSION_USER_KEY = 'virtsnap.sessionUser';
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
  /** The user the shared session key signs in as (another tab may have signed in since). */
  sessionUser: () => localStorage.getItem(SESSION_USER_KEY),
  setToken(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.removeItem(USER_KEY);
  },
  setUser(user, key) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.setItem(USER_KEY, user);
    localStorage.setItem(SESSION_KEY, key);
    localStorage.setItem(SESSION_USER_KEY, user);
  },
  /** This tab's sign-in; the session key, which the other tabs share, stays, and so do the
   *  tasks this tab follows (one that fails while the user signs in again is still told). */
  forget() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
  /** Signing out: this tab's tasks go too; with ENDED (the session was ended: its cookie is
   *  gone for every tab) the shared key too. A token tab's sign-out leaves the other tabs'
   *  session alone. */
  clear(ended) {
    this.forget();
    sessionStorage.removeItem(TASKS_KEY);
    if (ended) {
      localStorage.removeItem(SESSION_KEY);
      localStorage.removeItem(SESSION_USER_KEY);
    }
  },
};

/** Path helpers: every name is percent-encoded. */
export const vmPath = (vm) => `/vms/${encodeURIComponent(vm)}`;
export const snapsPath = (vm) => `${vmPath(vm)}/snapshots`;
export const snapPath = (vm, snap) => `${snapsPath(vm)}/${encodeURIComponent(snap)}`;

/** Whether PATH holds a name "." or ".." (another tool's), which fetch resolves as a path
 *  step however it is encoded (%2E%2E too): DELETE of snapshot ".." would go to its VM. */
const hasDotName = (path) => path.split('?')[0].split('/').some((seg) => {
  try {
    const name = decodeURIComponent(seg);
    return name === '.' || name === '..';
  } catch {
    return false;
  }
});
export const DOT_NAME_REASON = 'A VM or snapshot named "." or ".." cannot be reached from a browser, '
  + 'which reads such a name as a step in the path. Rename it with virsh, or with a client '
  + 'that sends the path as it is (curl --path-as-is).';

/**
 * Sends one request. BODY (if not undefined) goes as JSON. Resolves to the parsed JSON
 * (or null for an empty answer); rejects with ApiError. A 401 also calls the
 * unauthorized handler unless OPTIONS.quiet401 is set (login probes). OPTIONS.noToken and
 * OPTIONS.noKey leave the API token and the session key out (a login needs neither, and
 * its 401 for a wrong password must not cost the other tabs their session).
 */
export async function request(method, path, body, options = {}) {
  if (hasDotName(path)) throw new ApiError(400, DOT_NAME_REASON);
  const headers = { 'X-Requested-With': 'XMLHttpRequest', Accept: 'application/json' };
  const token = session.token();
  if (token && !options.noToken) headers.Authorization = `Bearer ${token}`;
  const key = options.noKey ? null : session.key();
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
  if (resp.ok && text && data === null) {
    // Not virtsnapd's JSON: the request reached something else (a page, a proxy's answer).
    throw new ApiError(502, `virtsnapd's answer to ${method} ${path} is not JSON`);
  }
  if (!resp.ok) {
    const reason = data && typeof data.reason === 'string' && data.reason
      ? data.reason
      : `virtsnapd answered ${resp.status} ${resp.statusText || ''}`.trim();
    const err = new ApiError(resp.status, reason);
    // A key the daemon no longer knows goes, unless another tab has signed in since.
    if (resp.status === 401 && sentKey && !headers.Authorization && session.key() === sentKey) {
      localStorage.removeItem(SESSION_KEY);
      localStorage.removeItem(SESSION_USER_KEY);
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
