// app.js: entry point of the web UI: login/logout, the hash router (#/ and #/vm/<name>),
// wiring of the VM list (vms.js) and the VM page with its snapshot tree (vmpage.js), and
// their refresh by themselves while the tab is visible.

import { api, nameFromUri, onUnauthorized, session } from './api.js';
import { whileCreating } from './busy.js';
import { $, clearMessages, closeDialog, isFollowed, quote, reportMyTasks, showError, trackTask } from './ui.js';
import { forgetVmList, initVmList, showVmList } from './vms.js';
import { forgetVmPage, initVmPage, refreshVmPage, showVmPage } from './vmpage.js';

const views = ['login-view', 'list-view', 'vm-view'];

function showView(id) {
  for (const v of views) $(v).hidden = v !== id;
  const loggedIn = id !== 'login-view';
  $('logout').hidden = !loggedIn;
  $('whoami').hidden = !loggedIn;
  if (!loggedIn) $('tasks').hidden = true;
}

/* ---------- login / logout ---------- */

function showLogin(message) {
  showView('login-view');
  document.title = 'Sign in · virtsnap';
  forgetVmList(); // nothing of the last session stays on the page
  forgetVmPage();
  const msg = $('login-message');
  msg.textContent = message || '';
  msg.hidden = !message;
  $('login-password').value = '';
  $('login-token-input').value = '';
  $('login-user').focus();
}

function loginError(text) {
  const msg = $('login-message');
  msg.textContent = text;
  msg.hidden = false;
}

function whoami() {
  const user = session.sessionUser() || session.user();
  $('whoami').textContent = session.token() ? 'Signed in with the API token' : `Signed in as ${user || 'a system user'}`;
}

async function loginWithToken(e) {
  e.preventDefault();
  const input = $('login-token-input');
  const token = input.value.trim();
  input.value = '';
  if (!token) return;
  session.setToken(token);
  try {
    await api.get('/vms', { quiet401: true });
  } catch (err) {
    session.forget();
    loginError(err.status === 401 ? 'That API token was not accepted. Copy it again from STATE/token.' : `Could not sign in: ${err.reason}`);
    input.focus();
    return;
  }
  enterApp();
}

async function loginWithPassword(e) {
  e.preventDefault();
  const user = $('login-user').value.trim();
  const password = $('login-password').value;
  $('login-password').value = ''; // the password is never kept anywhere
  session.forget(); // the other tabs' session key stays until this login replaces it
  const button = e.submitter || $('login-pam').querySelector('button');
  button.disabled = true;
  try {
    const answer = await api.post('/login', { username: user, password }, { quiet401: true, noToken: true, noKey: true });
    session.setUser(answer && answer.username ? answer.username : user, answer ? answer.key : '');
  } catch (err) {
    loginError(err.status === 401 ? `Sign-in failed: ${err.reason}.` : `Could not sign in: ${err.reason}`);
    $('login-password').focus();
    return;
  } finally {
    button.disabled = false;
  }
  enterApp();
}

async function logout() {
  const hadCookie = !session.token();
  clearMessages();
  if (hadCookie) {
    try { // with the session's key, before it is forgotten
      await api.post('/logout', undefined, { quiet401: true, noToken: true });
    } catch {
      /* the session is gone either way */
    }
  }
  session.clear(hadCookie);
  history.replaceState(null, '', '#/');
  showLogin('You are signed out.');
}

/* The VM whose snapshot TASK takes, or null (a clone, or a target not known). */
function snapshotTaskVm(task) {
  const parts = String(task.target_uri || '').split('/');
  return parts.length === 5 && parts[1] === 'vms' && parts[3] === 'snapshots' ? nameFromUri(parts[2]) : null;
}

/* What a task does, from its target: a snapshot being taken, or a clone being made. */
function taskLabel(task) {
  const parts = String(task.target_uri || '').split('/');
  if (snapshotTaskVm(task) !== null) {
    return `Taking snapshot ${quote(nameFromUri(parts[4]))} of ${quote(snapshotTaskVm(task))}`;
  }
  if (parts.length === 3 && parts[1] === 'vms') return `Making VM ${quote(nameFromUri(parts[2]))}`;
  return `Task ${task.id}`;
}

/* Tasks still running that this page does not follow (started before a reload, from
   another tab, or by another client) show in the tray too, until they end: those of
   TASKS (GET /tasks), and those a refresh finds (followNewTasks). */
function followRunning(tasks, mine = new Map()) {
  for (const task of tasks) {
    if (task.status !== 'running') continue;
    if (isFollowed(task)) { // (each refresh lists it again; one of this tab's takes its label)
      if (mine.has(task.id)) trackTask(task, mine.get(task.id), true);
      continue;
    }
    // When it ends, the view shows what it made. While a snapshot is being taken, that
    // VM's Take snapshot is off. MINE: this tab's, by their labels (reportMyTasks).
    const vm = snapshotTaskVm(task);
    const track = () => trackTask(task, mine.get(task.id) || taskLabel(task), mine.has(task.id));
    const end = vm === null ? track() : whileCreating(vm, track);
    end.then(() => {
      if ($('login-view').hidden) route();
    });
  }
}

/* At sign-in and load: the running tasks, and this tab's that failed meanwhile. */
async function followRunningTasks() {
  let tasks;
  try {
    tasks = await api.get('/tasks');
  } catch {
    return; // the views say what is wrong
  }
  if (!Array.isArray(tasks)) return;
  followRunning(tasks, reportMyTasks(tasks));
}

/* With each refresh: tasks started since by another tab or client (the running ones
   only: answered from virtsnapd's memory, however many ended tasks it keeps). */
async function followNewTasks() {
  let tasks;
  try {
    tasks = await api.get('/tasks?status=running');
  } catch {
    return; // the views say what is wrong; a 401 brings the login page back
  }
  if (Array.isArray(tasks) && $('login-view').hidden) followRunning(tasks);
}

function enterApp() {
  $('login-message').hidden = true;
  whoami();
  route();
  followRunningTasks();
}

/* ---------- router ---------- */

function currentRoute() {
  const hash = location.hash || '#/';
  const m = /^#\/vm\/(.+)$/.exec(hash);
  if (m) {
    try {
      return { view: 'vm', vm: decodeURIComponent(m[1]) };
    } catch {
      return { view: 'list' };
    }
  }
  return { view: 'list' };
}

export function goToVm(name) {
  location.hash = `#/vm/${encodeURIComponent(name)}`;
}

export function goToList() {
  location.hash = '#/';
}

function route() {
  const r = currentRoute();
  if (r.view === 'vm') {
    showView('vm-view');
    document.title = `${r.vm} · virtsnap`;
    showVmPage(r.vm);
  } else {
    showView('list-view');
    document.title = 'VMs · virtsnap';
    showVmList();
  }
}

/* ---------- refreshing by itself ---------- */

// The view shown is loaded again every few seconds while the tab is visible, and at once
// when it becomes visible again, with the tasks other tabs or clients started meanwhile;
// a load that brings nothing new draws nothing, and an edit form stays open through it. Not while a dialog is open: it is about what is shown,
// and gives the focus back to the button that opened it.
const REFRESH_MS = 5000;
let refreshing = false;

async function refreshByItself() {
  if (refreshing || document.visibilityState !== 'visible' || $('dialog').open || !$('login-view').hidden) return;
  refreshing = true;
  try {
    followNewTasks();
    if (!$('vm-view').hidden) await refreshVmPage();
    else if (!$('list-view').hidden) await showVmList({ auto: true });
  } catch (err) {
    console.error('refresh by itself:', err); // a draw that threw; the next refresh tries again
  } finally {
    refreshing = false;
  }
}

/* ---------- start ---------- */

async function start() {
  onUnauthorized(() => {
    // Signed out already: a late answer to the ended session's work changes nothing.
    if (!$('login-view').hidden) return;
    // Nothing of the session stays: a dialog open is closed (as cancelled), old messages go.
    session.forget();
    closeDialog();
    clearMessages();
    showLogin('Your session has ended or the token is no longer valid. Please sign in again.');
  });
  $('login-token').addEventListener('submit', loginWithToken);
  $('login-pam').addEventListener('submit', loginWithPassword);
  $('logout').addEventListener('click', logout);
  window.addEventListener('hashchange', () => {
    if (!$('login-view').hidden) return;
    route();
  });
  initVmList({ goToVm });
  initVmPage({ goToVm, goToList });
  setInterval(refreshByItself, REFRESH_MS);
  document.addEventListener('visibilitychange', refreshByItself);
  // Another tab signed in as someone else: the shared session key now acts as that user.
  window.addEventListener('storage', () => {
    if ($('login-view').hidden) whoami();
  });

  if (session.token() || session.user()) {
    enterApp(); // a 401 on the first request brings the login page back
    return;
  }
  // Maybe a session cookie is still valid (it is HttpOnly, so ask the server).
  try {
    await api.get('/vms', { quiet401: true });
    enterApp();
  } catch (err) {
    showLogin(err.status === 401 ? '' : `virtsnapd could not be asked: ${err.reason}`);
  }
}

start().catch((err) => showError('The page could not start', err));
