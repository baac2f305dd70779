// ui.test.mjs: browser tests of the web UI (issue 5). Starts its own virtsnapd on
// test:///default, drives Debian's Chromium headless with playwright-core, and checks what
// the page shows after every step: login, VMs, a branching snapshot tree, rename, revert,
// subtree delete, VM actions, session end, logout, and a 200-snapshot tree; with requests
// held or answered by page.route: the task tray, busy VMs, the refresh by itself, the
// keyboard focus through redraws, tasks that end during a reload.
// Run: node --test tests/ui/ui.test.mjs   (VS_BUILD_DIR or VS_DAEMON pick the daemon)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const WEB = path.join(REPO, 'web');
const DAEMON = process.env.VS_DAEMON || path.join(process.env.VS_BUILD_DIR || path.join(REPO, 'build'), 'virtsnapd');
const ARTIFACTS = path.join(HERE, 'artifacts');
const CHROMIUM = process.env.VS_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const VM = 'web <x> & пeω 1'; // exercises percent-encoding and text-only rendering
const B2 = 'snap <b> & ω'; // B after its rename
const TIME_RE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;

let daemon;
let daemonLog = '';
let stateDir;
let profileDir;
let base;
let token;
let context;
let page;
const pageProblems = []; // JS errors and CSP violations seen by the page
const requests = []; // URLs the page requested

/* ---------- daemon and browser ---------- */

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function stopDaemon() {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
}
process.on('exit', stopDaemon); // even when a test or hook throws

// System-account logins go through pam_wrapper and pam_matrix (libpam-wrapper, a test
// dependency): one throw-away account, alice, in a password file of the run's state.
const PAM_LIB = '/usr/lib/x86_64-linux-gnu';
const PAM_MATRIX = `${PAM_LIB}/pam_wrapper/pam_matrix.so`;
const pamUsable = fs.existsSync(`${PAM_LIB}/libpam_wrapper.so`) && fs.existsSync(PAM_MATRIX);

function pamEnv() {
  if (!pamUsable) return process.env;
  const services = path.join(stateDir, 'pam-services');
  const passdb = path.join(stateDir, 'pam-passdb');
  fs.mkdirSync(services);
  fs.writeFileSync(passdb, 'alice:wonderland:virtsnap\n');
  fs.writeFileSync(path.join(services, 'virtsnap'),
    `auth required ${PAM_MATRIX} passdb=${passdb}\naccount required ${PAM_MATRIX} passdb=${passdb}\n`);
  const preload = process.env.VS_DAEMON ? {} : { LD_PRELOAD: 'libpam_wrapper.so' };
  return { ...process.env, ...preload, PAM_WRAPPER: '1', PAM_WRAPPER_SERVICE_DIR: services };
}

async function startDaemon() {
  assert.ok(fs.existsSync(DAEMON), `daemon not built: ${DAEMON} (run ninja -C build)`);
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtsnap-ui-state-'));
  // The daemon picks its port and logs it: a port picked here and freed could be
  // taken by another test's daemon before ours binds it.
  daemon = spawn(DAEMON, ['--connect', 'test:///default', '--state-dir', stateDir,
    '--listen', '127.0.0.1:0', '--web-dir', WEB, '--login-group='],
  { stdio: ['ignore', 'pipe', 'pipe'], env: pamEnv() });
  daemon.stdout.on('data', (d) => { daemonLog += d; });
  daemon.stderr.on('data', (d) => { daemonLog += d; });
  const deadline = Date.now() + 15000;
  for (;;) {
    if (daemon.exitCode !== null) throw new Error(`virtsnapd exited (${daemon.exitCode}):\n${daemonLog}`);
    const listening = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(daemonLog);
    if (listening) base = listening[1];
    try {
      token = fs.readFileSync(path.join(stateDir, 'token'), 'utf8').trim();
      const r = base && await fetch(`${base}/vms`, { headers: { Authorization: `Bearer ${token}` } });
      if (r && r.ok) return;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`virtsnapd did not come up:\n${daemonLog}`);
    await sleep(50);
  }
}

async function stopDaemonGently() {
  if (!daemon || daemon.exitCode !== null || daemon.signalCode !== null) return;
  const exited = new Promise((r) => daemon.once('exit', r));
  daemon.kill('SIGTERM');
  const t = setTimeout(() => daemon.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** Direct API call from the test (setup of the big tree only). */
async function apiCall(method, p, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function apiTask(p, body) {
  let task = await apiCall('POST', p, body);
  while (task.status === 'running') {
    await sleep(5);
    task = await apiCall('GET', `/tasks/${task.id}`);
  }
  assert.equal(task.status, 'finished', task.message);
  return task;
}

/* ---------- page helpers ---------- */

/** Polls FN (async, returns a value) until CHECK(value) is true; fails with the last value. */
async function until(fn, check, what, timeout = 20000) {
  const deadline = Date.now() + timeout;
  let value;
  for (;;) {
    value = await fn();
    if (check(value)) return value;
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}; last seen: ${JSON.stringify(value, null, 1)}`);
    }
    await sleep(50);
  }
}

/** What the tree shows: nodes (with their visible text), links, the summary and zoom. */
function treeState() {
  return page.evaluate(() => {
    const nodes = [...document.querySelectorAll('#tree g.snap-node')].map((g) => {
      const m = /translate\(([-\d.e]+),([-\d.e]+)\)/.exec(g.getAttribute('transform'));
      const text = (cls) => { const t = g.querySelector(`text.${cls}`); return t ? t.textContent : null; };
      return {
        name: g.dataset.name,
        parent: g.dataset.parent,
        label: text('snap-name'),
        time: text('snap-time'),
        state: text('snap-state'),
        desc: text('snap-desc'),
        current: g.classList.contains('current'),
        badge: g.querySelector('.here-badge') ? g.querySelector('.here-badge').textContent : null,
        selected: g.classList.contains('selected'),
        toggle: g.querySelector('.toggle text') ? g.querySelector('.toggle text').textContent : null,
        x: m ? Number(m[1]) : null,
        y: m ? Number(m[2]) : null,
      };
    });
    const chains = [...document.querySelectorAll('#tree g.chain-node')].map((g) => ({
      first: g.dataset.first, last: g.dataset.last, count: Number(g.dataset.count),
      text: [...g.querySelectorAll('text')].map((t) => t.textContent),
    }));
    const links = [...document.querySelectorAll('#tree path.link')].map((p) => ({ from: p.dataset.from, to: p.dataset.to }));
    return {
      nodes,
      chains,
      links,
      summary: document.getElementById('tree-summary').textContent,
      zoom: document.getElementById('zoom-level').textContent,
      details: document.getElementById('details-body').hidden ? null : {
        name: document.getElementById('d-name').textContent,
        here: !document.getElementById('d-here').hidden,
        parent: document.getElementById('d-parent').textContent,
        desc: document.getElementById('d-desc').textContent,
      },
    };
  });
}

const byName = (state) => Object.fromEntries(state.nodes.map((n) => [n.name, n]));

/** Asserts the tree shows exactly EXPECTED ({name: parent|''}) with CURRENT marked. */
function assertTree(state, expected, current) {
  const nodes = byName(state);
  assert.deepEqual(Object.keys(nodes).sort(), Object.keys(expected).sort(), 'snapshots shown');
  for (const [name, parent] of Object.entries(expected)) {
    const n = nodes[name];
    assert.equal(n.label, name, `label of ${name}`);
    assert.equal(n.parent, parent, `parent of ${name}`);
    assert.match(n.time, TIME_RE, `time of ${name}`);
    assert.match(n.state, /shut off · disk only|running · with memory/, `state of ${name}`);
    if (parent) {
      assert.ok(state.links.some((l) => l.from === parent && l.to === name), `link ${parent} → ${name}`);
      assert.ok(n.y > nodes[parent].y, `${name} is drawn below its parent ${parent}`);
    } else {
      assert.ok(state.links.some((l) => l.from === '' && l.to === name), `${name} hangs from the VM`);
    }
  }
  assert.equal(state.links.length, Object.keys(expected).length, 'one link per snapshot');
  const marked = state.nodes.filter((n) => n.current);
  assert.deepEqual(marked.map((n) => n.name), [current], 'the one current snapshot');
  assert.equal(marked[0].badge, 'YOU ARE HERE');
  assert.equal(state.nodes.filter((n) => n.badge).length, 1, 'one "you are here" badge');
  const count = Object.keys(expected).length;
  assert.equal(state.summary, `${count} snapshot${count === 1 ? '' : 's'} · current: ${current}`);
}

const node = (name) => page.locator(`#tree g.snap-node[data-name=${JSON.stringify(name)}]`);
const row = (name) => page.locator(`#vm-rows tr[data-vm=${JSON.stringify(name)}]`);

// A create's own answer empties the form; a refresh by itself may draw the new row first.
const createFormEmptied = () => until(() => page.inputValue('#new-vm-name'), (v) => v === '', 'the create form emptied once made');

async function dialogText() {
  await page.locator('#dialog[open]').waitFor();
  return page.locator('#dialog').innerText();
}

async function takeSnapshot(name, description) {
  await page.fill('#snap-name', name);
  await page.fill('#snap-desc', description);
  await page.click('#snap-take');
  // The task shows in the tray with its progress, then says "done".
  const task = page.locator('#tasks .task', { hasText: `Taking snapshot “${name}” of “${VM}”` });
  await task.waitFor();
  await until(() => task.locator('.task-status').textContent(), (t) => t === 'done', `task of ${name} done`);
  await until(treeState, (s) => s.nodes.some((n) => n.name === name && n.current) && s.details && s.details.name === name,
    `${name} shown as current, and selected`);
  assert.deepEqual([await page.inputValue('#snap-name'), await page.inputValue('#snap-desc')], ['', ''], 'the form emptied once taken');
}

async function revertTo(name, expectLost, expectAfter = /Afterwards the VM is shut off/) {
  await node(name).click();
  await until(treeState, (s) => s.details && s.details.name === name, `details of ${name}`);
  await page.click('#d-revert');
  const text = await dialogText();
  assert.match(text, new RegExp(`Revert to snapshot “${escapeRe(name)}”\\?`));
  assert.match(text, new RegExp(`since its current snapshot “${escapeRe(expectLost)}”`));
  assert.match(text, /will be lost/);
  assert.match(text, expectAfter);
  await page.click('#dialog-ok');
  await until(treeState, (s) => byName(s)[name] && byName(s)[name].current, `${name} current after revert`);
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function rowCells(name) {
  return row(name).evaluate((tr) => Object.fromEntries(
    [...tr.children].map((c) => [c.dataset.label, c.textContent.trim()])));
}

/**
 * Holds the page's METHOD requests whose path ends with PATH_END (percent-encoded) until
 * release(); then answers each with ANSWER ({status, reason}) or passes it on to virtsnapd.
 * done() releases and removes the route. `count` says how many came, `arrived` resolves
 * on the first.
 */
async function hold(method, pathEnd, answer = null) {
  let release;
  let arrived;
  const gate = new Promise((r) => { release = r; });
  const held = { count: 0, release, arrived: new Promise((r) => { arrived = r; }) };
  const answered = [];
  const matcher = (url) => url.pathname.endsWith(pathEnd);
  const handler = (route) => {
    if (route.request().method() !== method) return route.fallback();
    held.count += 1;
    arrived();
    const end = gate.then(() => (answer
      ? route.fulfill({ status: answer.status, contentType: 'application/json',
        body: JSON.stringify({ code: answer.status, reason: answer.reason }) })
      : route.continue())).catch(() => { /* the page went away meanwhile */ });
    answered.push(end);
    return end;
  };
  await page.route(matcher, handler);
  held.done = async () => {
    release();
    await Promise.all(answered); // answered as said before the route goes
    await page.unroute(matcher, handler);
  };
  return held;
}

const vmUrl = (name) => `/vms/${encodeURIComponent(name)}`;

async function loginWithToken(t) {
  await page.fill('#login-token-input', t);
  await page.click('#login-token button[type=submit]');
}

let failedStep = null; // the steps build on each other: after a failure the rest are skipped

/** it() that adds what the page says (messages, dialog, login text) to a failure. */
function step(title, fn) {
  it(title, async (t) => {
    if (failedStep) {
      t.skip(`after the failure of "${failedStep}"`);
      return;
    }
    try {
      await fn(t);
    } catch (e) {
      failedStep = title;
      const seen = await page.evaluate(() => ['messages', 'dialog', 'login-message']
        .map((id) => `${id}: ${document.getElementById(id).innerText.trim()}`).join(' | ')).catch(() => '?');
      e.message += `\n  page shows: ${seen}\n  daemon log tail: ${daemonLog.slice(-800)}`;
      throw e;
    }
  });
}

/* ---------- the tests ---------- */

describe('virtsnap web UI', { timeout: 240000 }, () => {
  before(async () => {
    const pwPath = path.join(WEB, 'node_modules', 'playwright-core', 'index.mjs');
    assert.ok(fs.existsSync(pwPath), 'playwright-core missing: run `npm ci` in web/ (make ui-deps)');
    const { chromium } = await import(pathToFileURL(pwPath).href);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await startDaemon();
    profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'virtsnap-ui-profile-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true,
      viewport: { width: 1280, height: 800 }, timeout: 30000,
    });
    context.setDefaultTimeout(20000);
    page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => pageProblems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) pageProblems.push(`CSP: ${m.text()}`);
    });
    page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
  });

  after(async () => {
    try {
      if (context) await context.close();
    } finally {
      await stopDaemonGently();
      for (const d of [stateDir, profileDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
    }
  });

  step('refuses a wrong token and a wrong password, in plain words', async () => {
    await page.goto(`${base}/`);
    await page.locator('#login-view').waitFor();
    await loginWithToken('not-the-token');
    await until(() => page.locator('#login-message').textContent(), (t) => /not accepted/.test(t), 'token error');
    assert.equal(await page.locator('#list-view').isHidden(), true);

    await page.fill('#login-user', 'no-such-user-virtsnap');
    await page.fill('#login-password', 'wrong-password-123');
    await page.click('#login-pam button[type=submit]');
    const msg = await until(() => page.locator('#login-message').textContent(),
      (t) => /invalid user name or password/.test(t), 'PAM login error');
    assert.match(msg, /^Sign-in failed/);
    assert.equal(await page.inputValue('#login-password'), '', 'password field cleared');
    const stored = await page.evaluate(() => JSON.stringify(sessionStorage) + JSON.stringify(localStorage));
    assert.ok(!stored.includes('wrong-password-123'), 'the password is stored nowhere');
  });

  step('logs in with the API token and lists the VMs', async () => {
    await loginWithToken(token);
    await row('test').waitFor();
    assert.equal(await page.locator('#login-view').isHidden(), true);
    assert.equal(await page.locator('#whoami').textContent(), 'Signed in with the API token');
    const cells = await rowCells('test');
    assert.equal(cells.Name, 'test');
    assert.equal(cells.State, 'running');
    assert.equal(cells.Snapshots, '0');
    assert.equal(cells['Current snapshot'], '—');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('virtsnap.token')), token);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
  });

  step('follows a task that was running before the page loaded, to its end', async () => {
    // The server's answers for such a task (on test:///default every real task ends in
    // milliseconds): GET /tasks lists it running, its wait answers running, then finished.
    const ghost = { id: 'ghost-1', status: 'running', message: '', progress: 40, created: 0,
      target_uri: '/vms/far%20vm/snapshots/s%201' };
    let waits = 0;
    const json = (route, body) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    await page.route((url) => url.pathname === '/tasks', (route) => json(route, [ghost]));
    await page.route((url) => url.pathname === '/tasks/ghost-1', async (route) => {
      waits += 1;
      await sleep(300);
      json(route, waits < 3 ? { ...ghost, progress: 70 } : { ...ghost, status: 'finished', progress: 100 });
    });
    try {
      await page.reload();
      const item = page.locator('#tasks .task[data-task="ghost-1"]');
      await item.waitFor();
      assert.match(await item.textContent(), /Taking snapshot “s 1” of “far vm”/);
      await until(() => item.getAttribute('class'), (c) => /finished/.test(c || ''), 'the task shown finished');
      assert.ok(waits >= 3, 'followed through its wait requests');
      await row('test').waitFor(); // the list is there as before
    } finally {
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    }
  });

  step('shows what a running task is doing, and announces only its start and end', async () => {
    const ghost = { id: 'ghost-2', status: 'running', message: 'waiting for earlier operations on the VM', created: 0,
      target_uri: '/vms/far%20vm/snapshots/s%202' };
    const steps = [[10, 'copying disks'], [40, 'copying disks'], [70, 'copying memory'], [90, 'copying memory']];
    let waits = 0;
    const json = (route, body) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    let listening;
    const listened = new Promise((r) => { listening = r; });
    // Each stage is answered only once the test has seen the one before (no race with a
    // loaded machine's polling): the memory copy after the disks, the end after the memory.
    let sawDisks;
    let sawMemory;
    const seenDisks = new Promise((r) => { sawDisks = r; });
    const seenMemory = new Promise((r) => { sawMemory = r; });
    await page.route((url) => url.pathname === '/tasks', async (route) => {
      await listened; // the page learns of the task once the test listens
      await json(route, [ghost]).catch(() => {});
    });
    await page.route((url) => url.pathname === '/tasks/ghost-2', async (route) => {
      const [progress, message] = steps[Math.min(waits, steps.length - 1)];
      const stage = waits;
      waits += 1;
      await sleep(250);
      if (stage >= 2) await seenDisks;
      if (stage >= steps.length) await seenMemory;
      await json(route, waits <= steps.length ? { ...ghost, progress, message }
        : { ...ghost, status: 'finished', progress: 100, message: 'OK' }).catch(() => {});
    });
    try {
      await page.reload();
      // What screen readers hear: the text of every live region, each time it changes.
      await page.evaluate(() => {
        window.heard = [];
        const last = new Map();
        const listen = () => {
          for (const r of document.querySelectorAll('[aria-live], [role=status], [role=alert], [role=log]')) {
            const text = r.textContent.trim();
            if (text && text !== last.get(r)) window.heard.push(text);
            last.set(r, text);
          }
        };
        new MutationObserver(listen).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
      });
      listening();
      const item = page.locator('#tasks .task[data-task="ghost-2"]');
      await item.waitFor();
      await until(() => item.textContent(), (t) => /copying disks/.test(t) && /\d+%/.test(t), 'the message beside the progress');
      sawDisks();
      await until(() => item.textContent(), (t) => /copying memory/.test(t), 'the next message');
      await page.locator('.toasts').screenshot({ path: path.join(ARTIFACTS, 'tray.png') });
      sawMemory();
      await until(() => item.getAttribute('class'), (c) => /finished/.test(c || ''), 'the task shown finished');
      assert.equal(await page.locator('#tasks').getAttribute('aria-live'), null, 'the tray itself is not live');
      await sleep(300);
      const heard = await page.evaluate(() => window.heard);
      const about = heard.filter((h) => h.includes('Taking snapshot “s 2” of “far vm”'));
      assert.ok(about.every((h) => !/%|copying/.test(h)), `no progress read aloud: ${JSON.stringify(about)}`);
      assert.equal(about.length, 2, `start and end only: ${JSON.stringify(about)}`);
      assert.match(about[0], /started/);
      assert.match(about[1], /done/);
    } finally {
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    }
    await row('test').waitFor();
  });

  step('shows a task another tab or client started after the page loaded, once', async () => {
    // The page asks for the running tasks with each refresh by itself (every 5 s): one
    // started elsewhere shows in the tray and is followed to its end; a later list that
    // still names it (fetched before it ended) does not bring it back.
    const ghost = { id: 'ghost-3', status: 'running', message: 'copying disks', progress: 20, created: 0,
      target_uri: '/vms/far%20vm/snapshots/s%203' };
    const json = (route, body) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    let started = false;
    let polls = 0;
    let waits = 0;
    await page.route((url) => url.pathname === '/tasks', (route) => {
      const status = new URL(route.request().url()).searchParams.get('status');
      if (status === 'running') polls += 1;
      return json(route, started && status === 'running' ? [ghost] : []).catch(() => {});
    });
    // It runs until three more polls have listed it (a task followed already is not
    // followed again: one reload of the view when it ends, not one per poll).
    let listedAt = null;
    let loadsAtEnd = null;
    const listLoads = () => requests.filter((r) => r === `GET ${base}/vms`).length;
    await page.route((url) => url.pathname === '/tasks/ghost-3', async (route) => {
      waits += 1;
      listedAt = listedAt ?? polls;
      await sleep(200);
      const done = polls >= listedAt + 3;
      if (done) loadsAtEnd = listLoads();
      await json(route, done ? { ...ghost, status: 'finished', progress: 100 } : ghost).catch(() => {});
    });
    try {
      await page.reload();
      await row('test').waitFor();
      const item = page.locator('#tasks .task[data-task="ghost-3"]');
      await sleep(500);
      assert.equal(await item.count(), 0, 'not listed before it started');
      started = true;
      await item.waitFor({ timeout: 15000 });
      assert.match(await item.textContent(), /Taking snapshot “s 3” of “far vm”/);
      await until(() => item.getAttribute('class'), (c) => /finished/.test(c || ''), 'the task shown finished', 30000);
      await sleep(1500);
      assert.ok(listLoads() - loadsAtEnd <= 2, `one reload of the list at its end: ${listLoads() - loadsAtEnd}`);
      await item.waitFor({ state: 'detached', timeout: 10000 });
      const after = polls;
      await until(() => polls, (n) => n >= after + 1, 'another poll of the running tasks', 15000);
      await sleep(300);
      assert.equal(await item.count(), 0, 'an ended task listed again is not shown again');
      assert.equal(await page.locator('#tasks .task', { hasText: 's 3' }).count(), 0, 'shown once');
    } finally {
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    }
  });

  step('writes out the characters of a name that would turn a sentence around or not show', async () => {
    // (session 23's UI audit: "Delete snapshot “P‮…” could read as another sentence, and
    // "P" and "P" with a zero-width space after it read the same in a confirmation)
    const cases = [
      ['P\u200B', '“P⟨U+200B⟩”'],
      ['abc\u202Efed', '“abc⟨U+202E⟩fed”'],
      ['\u2067x\u2069', '“⟨U+2067⟩x⟨U+2069⟩”'],
      ['x\u200Dy', '“x⟨U+200D⟩y”'],
      ['\u3164', '“⟨U+3164⟩”'],
      ['soft\u00ADhyphen', '“soft⟨U+00AD⟩hyphen”'],
      ['👨\u200D👩\u200D👧', '“👨\u200D👩\u200D👧”'],
      ['Пё\u200Cтр', '“Пё⟨U+200C⟩тр”'],
      ['é\u{E0041}', '“é⟨U+E0041⟩”'],
      ['❤\uFE0F', '“❤\uFE0F”'],
      ['a\uFE0F', '“a⟨U+FE0F⟩”'],
      ['葛\u{E0100}城', '“葛\u{E0100}城”'],
      ['ᠮᠣ\u180Bᠩ', '“ᠮᠣ\u180Bᠩ”'],
      ['فَ\u200Cي', '“فَ\u200Cي”'],
      ['می\u200Cخواهم', '“می\u200Cخواهم”'],
      ['🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}', '“🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}”'],
      [B2, `“${B2}”`],
    ];
    const shown = await page.evaluate(async (names) => {
      const { quote, nameList, sentence } = await import('/static/ui.js');
      return {
        quoted: names.map(quote),
        listed: nameList(names).textContent,
        // the daemon's reasons name them too
        reason: sentence("VM 'abc\u202Efed' is still busy"),
      };
    }, cases.map(([name]) => name));
    assert.deepEqual(shown.quoted, cases.map(([, want]) => want));
    assert.equal(shown.listed, cases.map(([, want]) => want.slice(1, -1)).join(''));
    assert.equal(shown.reason, "VM 'abc⟨U+202E⟩fed' is still busy.");
  });

  step('creates a VM with an awkward name, and shows a conflict in plain words', async () => {
    await page.fill('#new-vm-name', VM);
    await page.fill('#new-vm-memory', '64');
    await page.fill('#new-vm-cpus', '2');
    await page.fill('#new-vm-disk', '1');
    await page.click('#create-vm button[type=submit]');
    await row(VM).waitFor();
    await createFormEmptied(); // (or its late answer empties the next name typed)
    const cells = await rowCells(VM);
    assert.deepEqual([cells.Name, cells.State, cells.Memory, cells.CPUs, cells.Snapshots, cells['Current snapshot']],
      [VM, 'shut off', '64 MiB', '2', '0', '—']);
    assert.equal(await page.locator('#vm-rows tr').count(), 2);

    await page.fill('#new-vm-name', 'test');
    await page.click('#create-vm button[type=submit]');
    const err = page.locator('.message.error').last();
    await err.waitFor();
    assert.match(await err.textContent(), /Could not create VM “test”: A VM named 'test' already exists\./);
    await err.getByRole('button', { name: /Dismiss/ }).click();
    assert.equal(await page.locator('.message.error').count(), 0);
  });

  step('creates a VM on huge pages, or says why the host cannot', async () => {
    const mounted = fs.readFileSync('/proc/mounts', 'utf8').includes(' hugetlbfs ');
    await page.fill('#new-vm-name', 'hp-ui');
    await page.check('#new-vm-hugepages');
    await page.click('#create-vm button[type=submit]');
    if (mounted) {
      await row('hp-ui').waitFor();
      await createFormEmptied();
      const vm = await apiCall('GET', '/vms/hp-ui');
      assert.equal(vm.hugepages, true);
      await page.click('#vm-rows a.vm-link >> text="hp-ui"');
      await page.locator('#vm-view').waitFor(); // shown at once, filled in when its load ends
      await until(() => page.locator('#vm-facts').textContent(), (t) => /MiB on huge pages/.test(t), 'huge pages in its facts');
      // The page left first: a refresh of a VM page gone meanwhile shows an error.
      await page.click('#vm-back');
      await page.locator('#list-view').waitFor();
      await apiCall('DELETE', '/vms/hp-ui');
      await until(() => page.click('#list-refresh').then(() => page.locator('#vm-rows tr').count()),
        (n) => n === 2, 'the list without hp-ui');
    } else {
      const err = page.locator('.message.error').last();
      await err.waitFor();
      assert.match(await err.textContent(), /Could not create VM “hp-ui”: .*hugetlbfs/);
      await err.getByRole('button', { name: /Dismiss/ }).click();
    }
    await page.uncheck('#new-vm-hugepages');
    assert.equal(await page.locator('#vm-rows tr').count(), 2);
  });

  step('creates a VM over a base image, of the image\'s size, and shows where its files are', async () => {
    const base = path.join(stateDir, '..', `ui-base-${process.pid}.raw`);
    fs.writeFileSync(base, Buffer.alloc(2 << 20));
    try {
      await page.reload(); // a fresh form: Disk shows 8, not typed in, so not sent over an image
      await row('test').waitFor();
      await page.fill('#new-vm-name', 'over-base');
      await page.fill('#new-vm-image', base);
      await page.click('#create-vm button[type=submit]');
      await row('over-base').waitFor();
      await createFormEmptied();
      assert.equal(await page.inputValue('#new-vm-image'), '', 'the image emptied too');
      const vm = await apiCall('GET', '/vms/over-base');
      assert.equal(vm.disks[0].size, 2 << 20, 'the overlay has the image\'s size');
      await page.click('#vm-rows a.vm-link >> text="over-base"');
      await page.locator('#vm-view').waitFor(); // shown at once, filled in when its load ends
      await until(() => page.locator('#vm-files').textContent(),
        (t) => t.includes(`vda: ${vm.disks[0].path} (2 MiB)`) && t.includes(`serial log: ${vm.serial_log}`),
        'its disk and serial log among its files');
      await page.click('#vm-back'); // (left first, as above)
      await page.locator('#list-view').waitFor();
      await apiCall('DELETE', '/vms/over-base');
      await until(() => page.click('#list-refresh').then(() => page.locator('#vm-rows tr').count()),
        (n) => n === 2, 'the list without over-base');
      // A size typed in goes with the image.
      await page.fill('#new-vm-name', 'over-base-3');
      await page.fill('#new-vm-disk', '3');
      await page.fill('#new-vm-image', base);
      await page.click('#create-vm button[type=submit]');
      await row('over-base-3').waitFor();
      await createFormEmptied();
      assert.equal((await apiCall('GET', '/vms/over-base-3')).disks[0].size, 3 * 2 ** 30);
      await apiCall('DELETE', '/vms/over-base-3');
      await until(() => page.click('#list-refresh').then(() => page.locator('#vm-rows tr').count()),
        (n) => n === 2, 'the list without over-base-3');
    } finally {
      fs.rmSync(base, { force: true });
    }
  });

  step('shows why a snapshot of a raw-disk VM is refused', async () => {
    await page.click('#vm-rows a.vm-link >> text="test"');
    await page.locator('#vm-view').waitFor();
    assert.equal(await page.locator('#vm-title').textContent(), 'test');
    await until(treeState, (s) => s.summary === 'No snapshots', 'empty tree');
    await page.click('#snap-take');
    const err = page.locator('.message.error').last();
    await err.waitFor();
    assert.match(await err.textContent(), /Could not take a snapshot of VM “test”: .*raw.*only qcow2 disks can hold a snapshot/);
    await err.getByRole('button', { name: /Dismiss/ }).click();
    await page.click('#vm-back');
    await row(VM).waitFor();
  });

  step('opens the VM page with an empty tree', async () => {
    await row(VM).locator('a.vm-link').click();
    await page.locator('#vm-view').waitFor();
    assert.equal(await page.locator('#vm-title').textContent(), VM);
    assert.equal(decodeURIComponent(new URL(page.url()).hash), `#/vm/${VM}`);
    const s = await until(treeState, (st) => st.summary === 'No snapshots', 'empty tree');
    assert.equal(s.nodes.length, 0);
    assert.equal(await page.locator('#tree-empty').isVisible(), true);
    assert.equal(await page.locator('#vm-state').textContent(), 'shut off');
  });

  step('asks for a live snapshot only when told, and says why a shut-off VM cannot have one', async () => {
    await page.selectOption('#snap-mode', 'true');
    await page.fill('#snap-name', 'L');
    await page.click('#snap-take');
    const err = page.locator('.message.error').last();
    await err.waitFor();
    assert.match(await err.textContent(), /is not running: a live snapshot needs a running VM/);
    await err.getByRole('button', { name: /Dismiss/ }).click();
    assert.equal((await treeState()).nodes.length, 0);
    await page.selectOption('#snap-mode', '');
    await page.fill('#snap-name', '');
  });

  step('takes snapshot A: one node, marked "you are here"', async () => {
    await takeSnapshot('A', 'first <i>snapshot</i>');
    const s = await treeState();
    assertTree(s, { A: '' }, 'A');
    const a = byName(s).A;
    assert.equal(a.desc, 'first <i>snapshot</i>', 'description shown as text, not HTML');
    assert.equal(a.state, '○ shut off · disk only');
    assert.equal(await page.locator('#tree i').count(), 0);
    assert.deepEqual(s.details, { name: 'A', here: true, parent: '— (a root snapshot)', desc: 'first <i>snapshot</i>' });
  });

  step('takes snapshot B as a child of A', async () => {
    await takeSnapshot('B', 'second');
    assertTree(await treeState(), { A: '', B: 'A' }, 'B');
  });

  step('shows a revert in the tray while it waits, with the conflicting buttons off, then why it failed', async () => {
    const held = await hold('POST', `${vmUrl(VM)}/snapshots/A/revert`, { status: 503, reason: 'libvirt is not answering' });
    try {
      await node('A').click();
      await page.click('#d-revert');
      await dialogText();
      await page.click('#dialog-ok');
      await held.arrived;
      const item = page.locator('#tasks .task', { hasText: `Reverting “${VM}” to “A”…` });
      await item.waitFor();
      const conflicting = ['#d-revert', '#d-delete', '#d-delete-tree', '#snap-take',
        '#vm-actions button[data-action=start]', '#vm-actions button[data-action=delete]'];
      for (const sel of conflicting) assert.equal(await page.locator(sel).isDisabled(), true, `${sel} off while the revert waits`);
      await page.screenshot({ path: path.join(ARTIFACTS, 'busy.png') });
      // A redraw keeps them off: something changes elsewhere, and the page draws it.
      await apiCall('PUT', `/vms/${encodeURIComponent(VM)}/snapshots/B`, { description: 'second, redrawn' });
      await page.click('#vm-refresh');
      await until(treeState, (st) => byName(st).B.desc === 'second, redrawn', 'redrawn');
      for (const sel of conflicting) assert.equal(await page.locator(sel).isDisabled(), true, `${sel} off after a redraw`);
      held.release();
      const err = page.locator('.message.error').last();
      await err.waitFor();
      assert.match(await err.textContent(), new RegExp(`Could not revert VM “${escapeRe(VM)}” to snapshot “A”: Libvirt is not answering\\.`));
      await until(() => item.getAttribute('class'), (c) => /failed/.test(c || ''), 'the tray entry failed');
      assert.equal(held.count, 1, 'one revert sent');
      for (const sel of ['#d-revert', '#d-delete', '#snap-take', '#vm-actions button[data-action=start]']) {
        await until(() => page.locator(sel).isDisabled(), (off) => !off, `${sel} on again`);
      }
      await err.getByRole('button', { name: /Dismiss/ }).click();
    } finally {
      await held.done();
    }
  });

  step('reverts to A after a confirmation that says what is lost', async () => {
    await revertTo('A', 'B');
    const s = await treeState();
    assertTree(s, { A: '', B: 'A' }, 'A');
    assert.equal(s.details.name, 'A');
    assert.equal(s.details.here, true);
  });

  step('starts the VM and takes snapshot C: a branch beside B under A, with memory', async () => {
    await page.click('#vm-actions button[data-action=start]');
    await until(() => page.locator('#vm-state').textContent(), (t) => t === 'running', 'VM running');
    await takeSnapshot('C', '');
    const s = await treeState();
    assert.equal(byName(s).C.state, '● running · with memory');
    assertTree(s, { A: '', B: 'A', C: 'A' }, 'C');
    const n = byName(s);
    assert.equal(n.B.y, n.C.y, 'B and C are siblings on one row');
    assert.ok(n.C.x > n.B.x, 'C (newer) is right of B');
    assert.equal(n.C.desc, 'no description');
    assert.equal(n.A.toggle, '−', 'A has a collapse toggle');
  });

  step('renames B in place and edits its description', async () => {
    await node('B').click();
    await page.click('#d-rename');
    assert.equal(await page.inputValue('#d-rename-input'), 'B');
    await page.fill('#d-rename-input', B2);
    // Enter twice while the rename is on its way: one PUT, and no error (the second
    // used to be sent too, and its 404 for the old name was shown beside the notice).
    const put = await hold('PUT', `${vmUrl(VM)}/snapshots/B`);
    const before = requests.length;
    const errors = await page.locator('.message.error').count();
    try {
      await page.press('#d-rename-input', 'Enter');
      await put.arrived;
      await page.press('#d-rename-input', 'Enter');
      await sleep(200);
    } finally {
      await put.done();
    }
    let s = await until(treeState, (st) => byName(st)[B2], 'renamed node');
    await page.locator('.message.notice', { hasText: `renamed to “${B2}”` }).waitFor();
    assert.equal(requests.slice(before).filter((r) => r.startsWith('PUT ')).length, 1, 'one rename sent');
    await sleep(300);
    assert.equal(await page.locator('.message.error').count(), errors, 'no error shown');
    assertTree(s, { A: '', [B2]: 'A', C: 'A' }, 'C');
    assert.equal(s.details.name, B2);

    await page.click('#d-edit-desc');
    await page.fill('#d-desc-input', 'edited & <b>kept</b>');
    await page.click('#d-desc-form button[type=submit]');
    s = await until(treeState, (st) => byName(st)[B2].desc === 'edited & <b>kept</b>', 'new description');
    assert.equal(s.details.desc, 'edited & <b>kept</b>');
  });

  step('leaves a name with spaces around it (another tool\'s) as it is when a rename is saved unchanged', async () => {
    await apiTask(`/vms/${encodeURIComponent(VM)}/snapshots`, { name: ' spaced ' });
    await page.click('#vm-refresh');
    await node(' spaced ').waitFor();
    await node(' spaced ').click();
    await page.click('#d-rename');
    assert.equal(await page.inputValue('#d-rename-input'), ' spaced ');
    const before = requests.length;
    await page.press('#d-rename-input', 'Enter');
    await page.locator('#d-rename-input').waitFor({ state: 'hidden' });
    assert.deepEqual(requests.slice(before).filter((r) => r.startsWith('PUT ')), [], 'no rename sent');
    await apiCall('DELETE', `/vms/${encodeURIComponent(VM)}/snapshots/${encodeURIComponent(' spaced ')}`);
    await page.click('#vm-refresh');
    await until(treeState, (st) => !byName(st)[' spaced '], 'spaced snapshot gone');
    await node(B2).click();
  });

  step('keeps Take snapshot off only for the VM whose snapshot is being taken, also after a reload', async () => {
    // A create that runs until the test ends it (on test:///default a real one ends at once).
    const slow = { id: 'slow-1', status: 'running', message: 'saving disks and memory', created: 0,
      target_uri: `${vmUrl(VM)}/snapshots/slow` };
    let ended = false;
    const json = (route, status, body) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
    const creates = (url) => url.pathname === `${vmUrl(VM)}/snapshots`;
    await page.route(creates, (route) => (route.request().method() === 'POST' ? json(route, 202, slow) : route.fallback()));
    await page.route((url) => url.pathname === '/tasks', (route) => json(route, 200, [slow]));
    await page.route((url) => url.pathname === '/tasks/slow-1', async (route) => {
      await sleep(200);
      await json(route, 200, ended ? { ...slow, status: 'failed', message: 'stopped by the test' } : slow).catch(() => {});
    });
    const takeOff = () => page.locator('#snap-take').isDisabled();
    const show = async (name) => {
      await page.evaluate((n) => { location.hash = `#/vm/${encodeURIComponent(n)}`; }, name);
      await until(() => page.locator('#vm-title').textContent(), (t) => t === name, `page of ${name}`);
      await until(treeState, (st) => st.summary !== 'Loading…', `${name} loaded`);
    };
    try {
      await page.fill('#snap-name', 'slow');
      await page.click('#snap-take');
      await page.locator('#tasks .task[data-task="slow-1"]').waitFor();
      assert.equal(await takeOff(), true, 'off for the VM whose create runs');
      await show('test');
      assert.equal(await takeOff(), false, 'on for another VM');
      await show(VM);
      assert.equal(await takeOff(), true, 'off again back on its page');
      // After a reload the create is found running (GET /tasks) and followed.
      await page.reload();
      await page.locator('#tasks .task[data-task="slow-1"]').waitFor();
      await until(takeOff, (off) => off, 'off after the reload');
      await show('test');
      assert.equal(await takeOff(), false, 'on for another VM after the reload');
      await show(VM);
      assert.equal(await takeOff(), true, 'off on its page after the reload');
      ended = true;
      const err = page.locator('.message.error', { hasText: 'stopped by the test' });
      await err.waitFor();
      await until(takeOff, (off) => !off, 'on once the create ended');
      await err.getByRole('button', { name: /Dismiss/ }).click();
    } finally {
      ended = true;
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    }
    await page.fill('#snap-name', '');
  });

  step('keeps the typed name and description when a snapshot create fails', async () => {
    const t = { id: 'fail-1', status: 'running', message: '', created: 0, target_uri: `${vmUrl(VM)}/snapshots/keep%20me` };
    const json = (route, status, body) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
    await page.route((url) => url.pathname === `${vmUrl(VM)}/snapshots`,
      (route) => (route.request().method() === 'POST' ? json(route, 202, t) : route.fallback()));
    await page.route((url) => url.pathname === '/tasks/fail-1', async (route) => {
      await sleep(400);
      await json(route, 200, { ...t, status: 'failed', message: 'libvirt refused the snapshot' }).catch(() => {});
    });
    try {
      await page.fill('#snap-name', 'keep me');
      await page.fill('#snap-desc', 'typed with care');
      await page.click('#snap-take');
      await page.locator('#tasks .task[data-task="fail-1"]').waitFor();
      const err = page.locator('.message.error', { hasText: 'libvirt refused the snapshot' });
      await err.waitFor();
      assert.equal(await page.inputValue('#snap-name'), 'keep me', 'the name stays for another try');
      assert.equal(await page.inputValue('#snap-desc'), 'typed with care');
      await err.getByRole('button', { name: /Dismiss/ }).click();
    } finally {
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    }
    await page.fill('#snap-name', '');
    await page.fill('#snap-desc', '');
  });

  step('reports a failure of this tab\'s task that ended while the page was reloading', async () => {
    const lost = { id: 'lost-1', status: 'running', message: '', created: 0, target_uri: `${vmUrl(VM)}/snapshots/lost` };
    const json = (route, status, body) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
    let reloaded;
    const reloading = new Promise((r) => { reloaded = r; });
    await page.route((url) => url.pathname === `${vmUrl(VM)}/snapshots`,
      (route) => (route.request().method() === 'POST' ? json(route, 202, lost) : route.fallback()));
    await page.route((url) => url.pathname === '/tasks/lost-1', async (route) => {
      await reloading; // no answer before the reload
      await route.abort().catch(() => {});
    });
    try {
      await page.fill('#snap-name', 'lost');
      await page.click('#snap-take');
      await page.locator('#tasks .task[data-task="lost-1"]').waitFor();
      await page.unrouteAll({ behavior: 'ignoreErrors' });
      // It fails while the page reloads: after the reload GET /tasks lists it failed.
      await page.route((url) => url.pathname === '/tasks',
        (route) => json(route, 200, [{ ...lost, status: 'failed', message: 'no room left on the device' }]));
      const reload = page.reload();
      reloaded();
      await reload;
      const err = page.locator('.message.error', { hasText: 'no room left' });
      await err.waitFor();
      assert.match(await err.textContent(), new RegExp(`Taking snapshot “lost” of “${escapeRe(VM)}” failed: No room left on the device\\.`));
      assert.equal(await page.evaluate(() => sessionStorage.getItem('virtsnap.tasks')), null, 'reported once');
      await err.getByRole('button', { name: /Dismiss/ }).click();
      // Another reload says nothing more.
      await page.reload();
      await until(treeState, (st) => st.summary.startsWith('3 snapshots'), 'tree after the reload');
      await sleep(300);
      assert.equal(await page.locator('.message.error').count(), 0, 'reported once');
    } finally {
      reloaded();
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    }
  });

  step('reverts to the renamed snapshot and branches D from it', async () => {
    await revertTo(B2, 'C', /Afterwards the VM is shut off/);
    await until(() => page.locator('#vm-state').textContent(), (t) => t === 'shut off', 'VM shut off by the revert');
    assertTree(await treeState(), { A: '', [B2]: 'A', C: 'A' }, B2);
    await takeSnapshot('D', 'child of the renamed one');
    const s = await treeState();
    assertTree(s, { A: '', [B2]: 'A', C: 'A', D: B2 }, 'D');
    await page.locator('#tree').screenshot({ path: path.join(ARTIFACTS, 'tree.png') });
    await page.screenshot({ path: path.join(ARTIFACTS, 'vm-page.png') });
  });

  step('deletes a subtree after listing exactly what goes, as it is now', async () => {
    await node(B2).click();
    assert.equal(await page.locator('#d-delete-tree').textContent(), 'Delete with 1 descendant');
    // Another client takes a snapshot below D behind the page's back: the dialog
    // must list it too, since the server deletes the subtree as it is then.
    await apiTask(`/vms/${encodeURIComponent(VM)}/snapshots`, { name: 'E' });
    await page.click('#d-delete-tree');
    const text = await dialogText();
    const listed = await page.locator('#dialog .name-list li').allTextContents();
    assert.deepEqual(listed, [B2, 'D', 'E']);
    assert.match(text, /These 3 snapshots will be deleted/);
    assert.match(text, /current snapshot is among them; “A” becomes the current snapshot/);
    assert.equal(await page.locator('#dialog-ok').textContent(), 'Delete 3 snapshots');
    const held = await hold('DELETE', `${vmUrl(VM)}/snapshots/${encodeURIComponent(B2)}`);
    try {
      await page.click('#dialog-ok');
      await held.arrived;
      // While the delete waits its turn, it shows in the tray and is not sent twice.
      await page.locator('#tasks .task', { hasText: `Deleting 3 snapshots of “${VM}”…` }).waitFor();
      for (const sel of ['#d-revert', '#d-delete', '#d-delete-tree', '#snap-take', '#vm-actions button[data-action=delete]']) {
        assert.equal(await page.locator(sel).isDisabled(), true, `${sel} off while the delete waits`);
      }
    } finally {
      await held.done();
    }
    const s = await until(treeState, (st) => st.nodes.length === 2, 'two snapshots left');
    assertTree(s, { A: '', C: 'A' }, 'A');
  });

  step('carries out a confirmed delete or revert for the VM it named, touching only that VM\'s page', async () => {
    // A twin with the same snapshot names (as a clone has): A, and T below it, on both.
    await apiCall('POST', '/vms', { name: 'twin', memory: 64, disk: 1 });
    await apiTask(`${vmUrl('twin')}/snapshots`, { name: 'A' });
    await apiTask(`${vmUrl('twin')}/snapshots`, { name: 'T' });
    await apiTask(`${vmUrl(VM)}/snapshots`, { name: 'T' });
    const show = async (name, summary) => {
      await page.evaluate((n) => { location.hash = `#/vm/${encodeURIComponent(n)}`; }, name);
      await until(treeState, (st) => st.summary === summary, `page of ${name}`);
      assert.equal(await page.locator('#vm-title').textContent(), name);
    };
    await page.click('#vm-refresh');
    await until(treeState, (st) => st.summary === '3 snapshots · current: T', 'T shown');
    try {
      await node('T').click();
      await page.click('#d-delete');
      let text = await dialogText();
      assert.match(text, new RegExp(`Delete snapshot “T” of VM “${escapeRe(VM)}”\\?`));

      // Confirmed, then the user goes to the twin while the delete waits: the twin's page
      // keeps its selection.
      const held = await hold('DELETE', `${vmUrl(VM)}/snapshots/T`);
      try {
        await page.click('#dialog-ok');
        await held.arrived;
        await show('twin', '2 snapshots · current: T');
        assert.equal((await treeState()).details.name, 'T');
      } finally {
        await held.done();
      }
      await page.locator('.message.notice', { hasText: 'Snapshot “T” deleted.' }).waitFor();
      await sleep(300);
      let s = await treeState();
      assert.equal(s.summary, '2 snapshots · current: T', 'the twin keeps its tree');
      assert.equal(s.details.name, 'T', 'the twin keeps its selection');
      assert.deepEqual((await apiCall('GET', `${vmUrl(VM)}/snapshots?all=true`)).map((x) => x.name), ['A', 'C']);

      // A revert confirmed after the page moved on is sent for the VM it named, not dropped.
      await show(VM, '2 snapshots · current: A');
      await node('A').click();
      await page.click('#d-revert');
      text = await dialogText();
      assert.match(text, new RegExp(`VM “${escapeRe(VM)}” goes back to snapshot “A”`));
      await page.evaluate(() => { location.hash = '#/vm/twin'; });
      await until(() => page.locator('#vm-title').textContent(), (t) => t === 'twin', 'the twin shown under the dialog');
      await page.click('#dialog-ok');
      await page.locator('.message.notice', { hasText: `VM “${VM}” reverted to snapshot “A”.` }).waitFor();
      assert.ok(requests.includes(`POST ${base}${vmUrl(VM)}/snapshots/A/revert`), 'the revert was sent');
      s = await until(treeState, (st) => st.summary === '2 snapshots · current: T', 'the twin shown');
      assert.equal(s.details.name, 'T', 'the twin keeps its selection');
    } finally {
      await page.unrouteAll({ behavior: 'ignoreErrors' });
      // Its page left first: a refresh of a VM page gone meanwhile shows an error.
      try {
        await show(VM, '2 snapshots · current: A');
      } finally {
        await apiCall('DELETE', '/vms/twin');
      }
    }
  });

  step('carries out the delete whose dialog is on screen when a second one was asked for meanwhile', async () => {
    // Two deletes asked for while the first still reads the tree (a slow daemon, a
    // double click): one dialog is shown, and confirming it deletes what it names and
    // nothing else. (Both used to wait on the one dialog: confirming "Delete P" deleted Q.)
    await apiCall('POST', '/vms', { name: 'dlg', memory: 64, disk: 1 });
    await apiTask(`${vmUrl('dlg')}/snapshots`, { name: 'P' });
    await apiTask(`${vmUrl('dlg')}/snapshots`, { name: 'Q' });
    try {
      await page.evaluate(() => { location.hash = '#/vm/dlg'; });
      await until(treeState, (st) => st.summary === '2 snapshots · current: Q', 'page of dlg');
      const listing = await hold('GET', `${vmUrl('dlg')}/snapshots`);
      await page.evaluate(() => { // counts the dialogs opened (a second takes the first's place)
        window.dialogOpens = 0;
        new MutationObserver((records) => { window.dialogOpens += records.length; })
          .observe(document.getElementById('dialog-title'), { childList: true });
      });
      try {
        await node('Q').click();
        await page.click('#d-delete');
        await listing.arrived;
        await node('P').click();
        await page.click('#d-delete');
        await until(() => listing.count, (n) => n >= 2, 'both deletes reading the tree');
      } finally {
        await listing.done();
      }
      const text = await dialogText();
      await until(() => page.evaluate(() => window.dialogOpens), (n) => n >= 2, 'both delete dialogs asked for');
      const shown = await page.locator('#dialog').innerText();
      const named = /Delete snapshot “P”/.test(shown) ? 'P' : /Delete snapshot “Q”/.test(shown) ? 'Q' : null;
      assert.ok(named, `a delete dialog is shown: ${text}`);
      await page.click('#dialog-ok');
      await page.locator('.message.notice', { hasText: `Snapshot “${named}” deleted.` }).waitFor();
      await sleep(300);
      const left = (await apiCall('GET', `${vmUrl('dlg')}/snapshots?all=true`)).map((x) => x.name);
      assert.deepEqual(left, [named === 'P' ? 'Q' : 'P'], `only “${named}”, the one confirmed, is deleted`);
      assert.equal(await page.locator('#dialog[open]').count(), 0, 'no dialog left open');
    } finally {
      await page.unrouteAll({ behavior: 'ignoreErrors' });
      try {
        await page.evaluate((n) => { location.hash = `#/vm/${encodeURIComponent(n)}`; }, VM); // (left first)
        await until(treeState, (st) => st.summary === '2 snapshots · current: A', `page of ${VM}`);
      } finally {
        await apiCall('DELETE', `${vmUrl('dlg')}`);
      }
    }
  });

  step('keeps a description being typed through a refresh that shows changes made elsewhere', async () => {
    await node('A').click();
    await page.click('#d-edit-desc');
    await page.fill('#d-desc-input', 'half-typed');
    await apiCall('PUT', `/vms/${encodeURIComponent(VM)}/snapshots/C`, { description: 'set elsewhere' });
    await page.click('#vm-refresh');
    await until(treeState, (st) => st.nodes.some((n) => n.name === 'C' && /set elsewhere/.test(n.desc || '')),
      'C shows the description set elsewhere');
    assert.equal(await page.locator('#d-desc-form').isVisible(), true, 'the edit form stays open');
    assert.equal(await page.inputValue('#d-desc-input'), 'half-typed');
    await page.click('#d-desc-cancel');
    assert.equal(await page.locator('#d-desc-form').isHidden(), true);
  });

  step('refreshes by itself while visible, keeping an open edit form, a dialog and the focus', async () => {
    const descOf = (name) => treeState().then((st) => (byName(st)[name] || {}).desc);
    const loads = () => requests.filter((r) => r === `GET ${base}${vmUrl(VM)}`).length;
    const setVisible = (visible) => page.evaluate((v) => {
      Object.defineProperty(document, 'visibilityState', { value: v ? 'visible' : 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }, visible);
    // A change made elsewhere shows without Refresh; the form being typed in stays, with the focus.
    await node('A').click();
    await page.click('#d-edit-desc');
    await page.fill('#d-desc-input', 'typing');
    await apiCall('PUT', `${vmUrl(VM)}/snapshots/C`, { description: 'changed elsewhere' });
    await until(() => descOf('C'), (d) => d === 'changed elsewhere', 'the change shown by itself', 12000);
    assert.equal(await page.locator('#d-desc-form').isVisible(), true, 'the edit form stays open');
    assert.equal(await page.inputValue('#d-desc-input'), 'typing');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'd-desc-input', 'the focus stays');
    await page.click('#d-desc-cancel');

    // Not while a dialog is open (it would redraw what the dialog is about and lose the focus).
    await page.click('#d-revert');
    await dialogText();
    await sleep(1000); // a refresh begun just before the dialog has been counted by now
    let before = loads();
    await apiCall('PUT', `${vmUrl(VM)}/snapshots/C`, { description: 'changed under a dialog' });
    await sleep(5600); // more than one 5 s tick
    assert.equal(loads(), before, 'no refresh while the dialog is open');
    assert.equal(await page.locator('#dialog[open]').count(), 1, 'the dialog stays');
    await page.click('#dialog-cancel');
    await setVisible(true); // (at once, rather than at the next tick)
    await until(loads, (n) => n > before, 'a load at once after the dialog', 3000); // (the tick: 5 s)
    await until(() => descOf('C'), (d) => d === 'changed under a dialog', 'refreshed after the dialog');

    // Not while the tab is hidden; at once when it is shown again.
    await setVisible(false);
    await sleep(1000); // likewise for one begun just before
    before = loads();
    await apiCall('PUT', `${vmUrl(VM)}/snapshots/C`, { description: 'changed while hidden' });
    await sleep(5600); // more than one 5 s tick
    assert.equal(loads(), before, 'no refresh while hidden');
    await setVisible(true);
    await until(loads, (n) => n > before, 'a load at once when shown', 3000);
    await until(() => descOf('C'), (d) => d === 'changed while hidden', 'refreshed when shown');
  });

  step('keeps the keyboard focus on a tree node and on a VM action button through redraws', async () => {
    const focused = () => page.evaluate(() => {
      const a = document.activeElement;
      return a && a !== document.body ? { name: a.dataset.name, vm: a.dataset.vm, action: a.dataset.action, connected: a.isConnected } : null;
    });
    const shown = async () => {
      await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange'))); // refresh at once
    };
    await node('A').focus();
    await apiCall('PUT', `${vmUrl(VM)}/snapshots/C`, { description: 'redrawn under the focus' });
    await shown();
    await until(treeState, (st) => byName(st).C.desc === 'redrawn under the focus', 'the tree redrawn');
    assert.deepEqual(await focused(), { name: 'A', vm: undefined, action: undefined, connected: true }, 'A keeps the focus');
    await page.keyboard.press('ArrowDown'); // and the keyboard goes on from there
    await until(treeState, (st) => st.details && st.details.name === 'C', 'C (A\'s child) selected by ArrowDown');

    await page.locator('#vm-actions button[data-action=settings]').focus();
    await apiCall('PUT', vmUrl(VM), { memory: 96 });
    await shown();
    await until(() => page.locator('#vm-facts').textContent(), (t) => t.startsWith('96 MiB'), 'the VM redrawn');
    assert.deepEqual(await focused(), { name: undefined, vm: VM, action: 'settings', connected: true }, 'Settings keeps the focus');
  });

  step('shows the new counts in the VM list and runs VM actions', async () => {
    await page.click('#vm-back');
    await row(VM).waitFor();
    let cells = await until(() => rowCells(VM), (c) => c.Snapshots === '2', 'count 2');
    assert.equal(cells['Current snapshot'], 'A');
    // The list refreshes by itself too.
    await apiCall('POST', '/vms/test/suspend');
    await until(() => rowCells('test'), (c) => c.State === 'paused', 'a change elsewhere shown by itself', 12000);
    await apiCall('POST', '/vms/test/resume');
    const state = () => rowCells(VM).then((c) => c.State);
    const renameButton = () => row(VM).getByRole('button', { name: `Rename VM ${VM}` });
    const powerOffs = () => requests.filter((r) => r === `POST ${base}${vmUrl(VM)}/poweroff`).length;
    for (const [button, expected] of [['Start', 'running'], ['Suspend', 'paused'], ['Resume', 'running'], ['Power off', 'shut off']]) {
      await row(VM).getByRole('button', { name: `${button} VM ${VM}` }).click();
      if (button === 'Power off') {
        // A forced stop: confirmed first, saying what is lost and what Shut down does instead.
        const text = await dialogText();
        assert.match(text, new RegExp(`Power off VM “${escapeRe(VM)}”\\?`));
        assert.match(text, /not saved to its disks is lost/);
        assert.match(text, /Shut down asks the guest to shut itself down instead/);
        assert.equal(await page.locator('#dialog-ok').getAttribute('class'), 'danger');
        assert.equal(await page.evaluate(() => document.activeElement.id), 'dialog-cancel', 'Enter does not power off');
        await page.click('#dialog-cancel');
        await sleep(200);
        assert.equal(await state(), 'running', 'cancelled: still running');
        assert.equal(powerOffs(), 0, 'no power off sent');
        await row(VM).getByRole('button', { name: `${button} VM ${VM}` }).click();
        await dialogText();
        await page.click('#dialog-ok');
      }
      await until(state, (st) => st === expected, `${button} → ${expected}`);
      // A rename needs the VM shut off: the button says so rather than failing.
      assert.equal(await renameButton().isDisabled(), expected !== 'shut off', `Rename while ${expected}`);
    }
    cells = await rowCells(VM);
    assert.equal(cells.Snapshots, '2');
  });

  step('changes a VM\'s memory and CPUs from its settings', async () => {
    const before = await rowCells(VM);
    await row(VM).getByRole('button', { name: `Settings of VM ${VM}` }).click();
    const text = await dialogText();
    assert.match(text, /apply when the VM is next started/);
    assert.equal(await page.inputValue('#dialog-field-memory'), before.Memory.replace(' MiB', ''));
    await page.fill('#dialog-field-memory', '256');
    await page.fill('#dialog-field-cpus', '3');
    await page.press('#dialog-field-cpus', 'Enter');
    const cells = await until(() => rowCells(VM), (c) => c.Memory === '256 MiB' && c.CPUs === '3', '256 MiB, 3 CPUs');
    // The row was drawn anew: the focus is on its Settings button again, not lost.
    assert.deepEqual(await page.evaluate(() => [document.activeElement.dataset.vm, document.activeElement.dataset.action,
      document.activeElement.isConnected]), [VM, 'settings', true]);
    assert.equal(cells.Snapshots, before.Snapshots);
    const vm = await apiCall('GET', `/vms/${encodeURIComponent(VM)}`);
    assert.equal(vm.memory, 256);
    assert.equal(vm.cpus, 3);
    assert.ok(requests.includes(`PUT ${base}/vms/${encodeURIComponent(VM)}`), 'the dialog PUTs the VM');
  });

  step('a running VM\'s settings change shows as waiting for its next start', async () => {
    const before = await rowCells('test');
    assert.equal(before.State, 'running');
    const runs = Number(before.Memory.replace(' MiB', ''));
    await row('test').getByRole('button', { name: 'Settings of VM test' }).click();
    assert.match(await dialogText(), /keeps what it has until it is shut off/);
    await page.fill('#dialog-field-memory', String(runs / 2));
    await page.press('#dialog-field-memory', 'Enter');
    const cells = await until(() => rowCells('test'), (c) => c.Memory.includes('from its next start'),
      'the memory of the next start');
    assert.equal(cells.Memory, `${runs} MiB (${runs / 2} MiB from its next start)`);
    // (its notice comes with the change's own answer, which a refresh by itself may precede)
    await page.locator('#messages .message', { hasText: `now has ${runs / 2} MiB` }).waitFor();
    // The dialog opens on the next start's figures, and the VM page says what waits.
    await row('test').getByRole('button', { name: 'Settings of VM test' }).click();
    await dialogText();
    assert.equal(await page.inputValue('#dialog-field-memory'), String(runs / 2));
    await page.click('#dialog-cancel');
    await row('test').locator('a.vm-link').click();
    await until(() => page.locator('#vm-facts').textContent(), (t) => t.includes(`from its next start: ${runs / 2} MiB`),
      'the VM page says what the next start brings');
    await page.click('#vm-back');
    await apiCall('PUT', '/vms/test', { memory: runs }); // as it was
    await until(() => rowCells('test'), (c) => c.Memory === `${runs} MiB`, 'nothing waits any more');
  });

  step('powers off a transient VM with snapshots after one question, and goes to the list', async () => {
    // virtsnapd makes no transient VM (other tools do): VM "tr" is VM's answers, made
    // transient and running, its requests answered here; the list is virtsnapd's own.
    const real = await apiCall('GET', vmUrl(VM));
    const snaps = await apiCall('GET', `${vmUrl(VM)}/snapshots?all=true`);
    assert.ok(snaps.length > 0);
    const tr = { ...real, name: 'tr', persistent: false, state: 'running', snapshots: snaps.length };
    let gone = false;
    const posted = [];
    const json = (route, status, body) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
    await page.route((url) => url.pathname === '/vms', async (route) => {
      const answer = await route.fetch();
      const list = await answer.json();
      await json(route, answer.status(), gone || route.request().method() !== 'GET' ? list : [...list, tr]).catch(() => {});
    });
    await page.route((url) => url.pathname.startsWith('/vms/tr'), async (route) => {
      const url = new URL(route.request().url());
      if (route.request().method() === 'POST') {
        posted.push(`${url.pathname}${url.search}`);
        gone = true;
        return json(route, 200, { ...tr, state: 'shut off' });
      }
      if (gone) return json(route, 404, { error: "VM 'tr' does not exist", reason: "VM 'tr' does not exist" });
      return json(route, 200, url.pathname === '/vms/tr' ? tr : snaps);
    });
    try {
      await page.evaluate(() => { location.hash = '#/vm/tr'; });
      await page.locator('#vm-view').waitFor();
      await until(treeState, (st) => st.nodes.length === snaps.length, 'the transient VM\'s tree');
      assert.equal(await page.locator('#vm-actions button[data-action=settings]').isDisabled(), true, 'no definition to change');
      await page.click('#vm-actions button[data-action=poweroff]');
      const text = await dialogText();
      assert.match(text, /Power off VM “tr”\?/);
      assert.match(text, /VM “tr” is transient: powering it off ends it, and libvirt keeps no snapshot metadata/);
      assert.match(text, /no longer be listed or reverted to/);
      assert.equal(await page.locator('#dialog-ok').textContent(), "Power off and drop the snapshots' metadata");
      await page.click('#dialog-ok');
      await page.locator('.message.notice', { hasText: "VM “tr” powered off; its snapshots' metadata is gone; being transient, it is gone." }).waitFor();
      assert.deepEqual(posted, ['/vms/tr/poweroff?discard_snapshots=true'], 'one power-off, with the metadata dropped');
      await page.locator('#list-view').waitFor();
      assert.equal(new URL(page.url()).hash, '#/');
      await row(VM).waitFor();
      assert.equal(await row('tr').count(), 0, 'gone from the list');
      assert.equal(await page.locator('.message.error').count(), 0, 'no "no such VM" error for the page it left');
    } finally {
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    }
  });

  step('clones the VM with its tree and renames the clone', async () => {
    await row(VM).getByRole('button', { name: `Clone VM ${VM}` }).click();
    await dialogText();
    await page.fill('#dialog-input', 'clone ω');
    await page.click('#dialog-ok');
    await page.locator('#tasks .task', { hasText: 'Cloning' }).waitFor();
    await row('clone ω').waitFor();
    // (the clone's tree is defined after the clone: a refresh may draw it in between)
    let cells = await until(() => rowCells('clone ω'), (c) => c.Snapshots === '2', 'the clone with its tree');
    assert.equal(cells['Current snapshot'], 'A');

    await row('clone ω').getByRole('button', { name: 'Rename VM clone ω' }).click();
    await dialogText();
    await page.fill('#dialog-input', 'clone <2>');
    await page.click('#dialog-ok');
    await row('clone <2>').waitFor();
    assert.equal(await row('clone ω').count(), 0);
    // (a rename defines the tree again after it: likewise)
    cells = await until(() => rowCells('clone <2>'), (c) => c.Snapshots === '2', 'the renamed clone with its tree');
    assert.equal(cells['Current snapshot'], 'A');

    // A name with spaces around it, saved unchanged: no rename goes out.
    await apiCall('PUT', `/vms/${encodeURIComponent('clone <2>')}`, { name: ' clone 3 ' });
    await page.click('#list-refresh');
    await row(' clone 3 ').waitFor();
    await row(' clone 3 ').getByRole('button', { name: 'Rename VM  clone 3 ' }).click();
    await dialogText();
    assert.equal(await page.inputValue('#dialog-input'), ' clone 3 ');
    const before = requests.length;
    await page.click('#dialog-ok');
    await page.locator('#dialog[open]').waitFor({ state: 'detached' });
    assert.deepEqual(requests.slice(before).filter((r) => r.startsWith('PUT ')), [], 'no rename sent');
    await apiCall('PUT', `/vms/${encodeURIComponent(' clone 3 ')}`, { name: 'clone <2>' });
    await page.click('#list-refresh');
    await row('clone <2>').waitFor();
  });

  step('asks about a VM delete from the VM as it is now, and with its count when the names cannot be listed', async () => {
    // Started behind the page's back, while the list keeps showing it as it was (its
    // refreshes get the old answer); listing its snapshots fails.
    const stale = await apiCall('GET', '/vms');
    const list = (url) => url.pathname === '/vms';
    await page.route(list, (route) => (route.request().method() === 'GET'
      ? route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(stale) })
      : route.fallback()));
    await apiCall('POST', `${vmUrl(VM)}/start`);
    const listing = (url) => url.pathname === `${vmUrl(VM)}/snapshots`;
    await page.route(listing, (route) => route.fulfill({ status: 409, contentType: 'application/json',
      body: JSON.stringify({ code: 409, reason: 'an earlier, interrupted operation on this VM is not settled yet' }) }));
    try {
      await page.click('#list-refresh');
      assert.equal((await rowCells(VM)).State, 'shut off', 'the list shows the old state');
      await row(VM).getByRole('button', { name: `Delete VM ${VM}` }).click();
      const text = await dialogText();
      assert.match(text, new RegExp(`VM “${escapeRe(VM)}” and its 2 snapshots will be deleted`));
      assert.doesNotMatch(text, /no snapshots/);
      assert.match(text, /Their names could not be listed: An earlier, interrupted operation on this VM is not settled yet\./);
      assert.match(text, /It is running: it will be powered off first\./);
      assert.equal(await page.locator('#dialog-ok').textContent(), 'Delete VM and 2 snapshots');
      await page.click('#dialog-cancel');
    } finally {
      await page.unroute(listing);
      await page.unroute(list);
    }
    await apiCall('POST', `${vmUrl(VM)}/poweroff`);
    await page.click('#list-refresh');
    await until(() => rowCells(VM), (c) => c.State === 'shut off', 'shut off again');
  });

  step('deletes a VM after saying how many snapshots go, keeping disks', async () => {
    await row(VM).getByRole('button', { name: `Delete VM ${VM}` }).click();
    const text = await dialogText();
    assert.match(text, new RegExp(`VM “${escapeRe(VM)}” and its 2 snapshots will be deleted`));
    assert.deepEqual(await page.locator('#dialog .name-list li').allTextContents(), ['A', 'C']);
    await page.check('#dialog-check');
    assert.equal(await page.locator('#dialog-ok').textContent(), 'Delete VM and 2 snapshots');
    const held = await hold('DELETE', vmUrl(VM));
    try {
      await page.click('#dialog-ok');
      await held.arrived;
      await page.locator('#tasks .task', { hasText: `Deleting VM “${VM}”…` }).waitFor();
      for (const action of ['delete', 'start', 'clone']) {
        assert.equal(await row(VM).locator(`button[data-action=${action}]`).isDisabled(), true, `${action} off while the delete waits`);
      }
    } finally {
      await held.done();
    }
    await until(() => row(VM).count(), (n) => n === 0, 'VM row gone');
    assert.ok(requests.includes(`DELETE ${base}/vms/${encodeURIComponent(VM)}?disks=keep`), 'DELETE with disks=keep');
    assert.equal(await row('test').count(), 1, 'the other VMs stay');
  });

  step('refuses to send a name "." or "..", which the browser would resolve to another path', async () => {
    // Another tool may name a snapshot "..": fetch would send DELETE …/snapshots/%2E%2E as
    // DELETE /vms/test/, the VM. A name that only looks like one ("%2E%2E") still goes.
    const before = requests.length;
    const outcomes = await page.evaluate(async () => {
      const { api, snapPath, vmPath } = await import('/static/api.js');
      const outcome = (p) => p.then(() => 'sent', (e) => `${e.status} ${e.message}`);
      return [
        await outcome(api.del(snapPath('test', '..'))),
        await outcome(api.put(vmPath('.'), { name: 'x' })),
        await outcome(api.get(snapPath('test', '%2E%2E'))),
      ];
    });
    assert.match(outcomes[0], /^400 .*cannot be reached from a browser/);
    assert.match(outcomes[1], /^400 .*cannot be reached from a browser/);
    assert.match(outcomes[2], /^404 .*does not exist/);
    const sent = requests.slice(before);
    assert.deepEqual(sent.filter((r) => !r.startsWith('GET ')), [], 'no DELETE or PUT went out');
    assert.ok(sent.includes(`GET ${base}/vms/test/snapshots/%252E%252E`), 'the look-alike name was sent encoded');
    assert.equal(await row('test').count(), 1, 'VM test stays');
  });

  step('ends a session cleanly while following a task: no dialog left open, no old or "lost track" messages', async () => {
    const t = { id: 't401', status: 'running', message: '', created: 0, target_uri: '/vms/test/snapshots/x' };
    const json = (route, status, body) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
    let letGo;
    const gate = new Promise((r) => { letGo = r; });
    await page.route((url) => url.pathname === '/tasks', (route) => json(route, 200, [t]));
    await page.route((url) => url.pathname === '/tasks/t401', async (route) => {
      await gate;
      await json(route, 401, { code: 401, reason: 'the session has ended' }).catch(() => {});
    });
    try {
      await page.reload();
      await page.locator('#tasks .task[data-task="t401"]').waitFor();
      await page.fill('#new-vm-name', 'test'); // an error message from before
      await page.click('#create-vm button[type=submit]');
      await page.locator('.message.error', { hasText: 'already exists' }).waitFor();
      await row('test').getByRole('button', { name: 'Settings of VM test' }).click(); // a dialog open
      await dialogText();
      letGo();
      await page.locator('#login-view').waitFor();
      assert.match(await page.locator('#login-message').textContent(), /session has ended/);
      await sleep(300);
      assert.equal(await page.locator('#dialog[open]').count(), 0, 'the dialog is closed');
      assert.deepEqual(await page.locator('#messages .message').allTextContents(), [], 'no messages left');
    } finally {
      letGo();
      await page.unrouteAll({ behavior: 'ignoreErrors' });
    }
    await loginWithToken(token);
    await row('test').waitFor();
    await sleep(300);
    assert.equal(await page.locator('#messages .message.error').count(), 0, 'nothing about losing track');
    await page.fill('#new-vm-name', '');
  });

  step('sends the user back to the login page when the session ends', async () => {
    await page.evaluate(() => sessionStorage.setItem('virtsnap.token', 'expired-token'));
    await page.click('#list-refresh');
    await page.locator('#login-view').waitFor();
    assert.match(await page.locator('#login-message').textContent(), /session has ended/);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.equal(await page.locator('#vm-rows tr').count(), 0, 'no VM data left on the page');
  });

  step('logs out', async () => {
    await loginWithToken(token);
    await row('test').waitFor();
    await page.click('#logout');
    await page.locator('#login-view').waitFor();
    assert.equal(await page.locator('#login-message').textContent(), 'You are signed out.');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.equal(await page.locator('#logout').isHidden(), true);
    // Work of the ended session still under way (a task followed, a shutdown watched) says
    // nothing on the sign-in page: its 401 did replace "You are signed out." with "Your
    // session has ended", and a failure it saw was shown there.
    await page.evaluate(async () => {
      const { api } = await import('/static/api.js');
      const { showError } = await import('/static/ui.js');
      await api.get('/vms').catch(() => {});
      showError('Taking snapshot “x” of “y” failed', { reason: 'late' });
    });
    await sleep(200);
    assert.equal(await page.locator('#login-message').textContent(), 'You are signed out.');
    assert.equal(await page.locator('#messages .message').count(), 0, 'nothing of the old session shown');
  });

  step('logs in with a system account: the session cookie works only beside its key', async (t) => {
    if (!pamUsable || process.env.VS_DAEMON) {
      t.skip('needs libpam-wrapper and the normal build of the daemon');
      return;
    }
    await page.fill('#login-user', 'alice');
    await page.fill('#login-password', 'wonderland');
    await page.click('#login-pam button[type=submit]');
    await row('test').waitFor();
    assert.equal(await page.locator('#whoami').textContent(), 'Signed in as alice');
    const key = await page.evaluate(() => localStorage.getItem('virtsnap.sessionKey'));
    assert.match(key || '', /^[0-9a-f]{64}$/, 'the session key is kept in localStorage');
    // The browser sends the cookie with any request to this host, as it would to a page
    // another local user serves on another port; without the key it is refused.
    // (X-Requested-With: a 401 without it challenges for Basic, and the browser would ask.)
    const xhr = { 'X-Requested-With': 'XMLHttpRequest' };
    const statuses = await page.evaluate(async ([k, h]) => [
      (await fetch('/vms', { headers: h })).status,
      (await fetch('/vms', { headers: { ...h, 'X-Virtsnap-Key': k } })).status,
    ], [key, xhr]);
    assert.deepEqual(statuses, [401, 200]);
    // A second tab of the same browser is signed in too (the cookie and the key).
    const other = await context.newPage();
    await other.goto(`${base}/`);
    await other.locator('#vm-rows tr').first().waitFor();
    assert.equal(await other.locator('#login-view').isHidden(), true);
    // A 401 in that tab (a token that is not accepted) signs only that tab out.
    await other.evaluate(() => sessionStorage.setItem('virtsnap.token', 'not-the-token'));
    await other.click('#list-refresh');
    await other.locator('#login-view').waitFor();
    assert.equal(await other.evaluate(() => localStorage.getItem('virtsnap.sessionKey')), key);
    // A wrong password typed there costs the first tab nothing (a login sends no key; its
    // 401 used to drop the shared key).
    await other.fill('#login-user', 'alice');
    await other.fill('#login-password', 'not-her-password');
    await other.click('#login-pam button[type=submit]');
    await other.locator('#login-message', { hasText: 'Sign-in failed' }).waitFor();
    assert.equal(await other.evaluate(() => localStorage.getItem('virtsnap.sessionKey')), key,
      'a wrong password leaves the shared key');
    // Signed in there with the API token, and out again: the first tab's session stays (a
    // token tab's sign-out used to drop the shared key too).
    await other.fill('#login-token-input', token);
    await other.click('#login-token button[type=submit]');
    await other.locator('#vm-rows tr').first().waitFor();
    await other.click('#logout');
    await other.locator('#login-view').waitFor();
    assert.equal(await other.evaluate(() => localStorage.getItem('virtsnap.sessionKey')), key,
      "a token tab's sign-out leaves the shared key");
    await other.close();
    await page.click('#list-refresh');
    await row('test').waitFor();
    assert.equal(await page.locator('#login-view').isHidden(), true, 'the first tab stays in');
    // Logging out ends the session at the daemon: the cookie, put back, is refused.
    const cookies = await context.cookies();
    await page.click('#logout');
    await page.locator('#login-view').waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('virtsnap.sessionKey')), null);
    await context.addCookies(cookies.filter((c) => c.name === 'virtsnap_session'));
    const after = await page.evaluate(async ([k, h]) =>
      (await fetch('/vms', { headers: { ...h, 'X-Virtsnap-Key': k } })).status, [key, xhr]);
    assert.equal(after, 401, 'the session ended at the daemon');
    await context.clearCookies();
  });

  step('keeps a 200-snapshot tree readable: folded chains, collapse, zoom, keyboard', async () => {
    // Built through the API: 200 snapshots, a new branch every 25 (reverting to an older one).
    const big = 'big tree';
    await apiCall('POST', '/vms', { name: big, memory: 64 });
    const names = [];
    for (let i = 0; i < 200; i++) {
      if (i > 0 && i % 25 === 0) await apiCall('POST', `/vms/${encodeURIComponent(big)}/snapshots/${names[i - 13]}/revert`);
      const name = `s${String(i).padStart(3, '0')}`;
      await apiTask(`/vms/${encodeURIComponent(big)}/snapshots`, { name, description: `step ${i}` });
      names.push(name);
    }
    await loginWithToken(token);
    await row(big).waitFor();
    assert.equal((await rowCells(big)).Snapshots, '200');
    await row(big).locator('a.vm-link').click();
    let s = await until(treeState, (st) => st.summary.startsWith('200 snapshots'), 'big tree drawn', 15000);

    // Big trees start with runs of single-child snapshots folded into "⋯ N snapshots" nodes.
    assert.equal(await page.getAttribute('#tree-compact', 'aria-pressed'), 'true');
    assert.ok(s.chains.length > 0 && s.nodes.length < 60, `folded: ${s.nodes.length} cards, ${s.chains.length} chains`);
    assert.equal(s.nodes.length + s.chains.reduce((a, c) => a + c.count, 0), 200, 'every snapshot is a card or in a chain');
    for (const c of s.chains) assert.equal(c.text[0], `⋯ ${c.count} snapshots`);
    assert.equal(s.summary, `200 snapshots (${200 - s.nodes.length} hidden) · current: s199`);
    assert.equal(s.nodes.filter((n) => n.current).map((n) => n.name).join(), 's199');
    assert.equal(s.details.name, 's199', 'the current snapshot is selected');
    for (const n of s.nodes) assert.equal(n.label, n.name);
    // The current snapshot is scrolled into view.
    const cur = await node('s199').boundingBox();
    const box = await page.locator('#tree-scroller').boundingBox();
    assert.ok(cur && cur.y >= box.y && cur.y + cur.height <= box.y + box.height + 1, 'current snapshot visible');
    await page.locator('#tree-scroller').screenshot({ path: path.join(ARTIFACTS, 'tree-200.png') });
    await page.click('#zoom-fit');
    await page.locator('#tree-scroller').screenshot({ path: path.join(ARTIFACTS, 'tree-200-fit.png') });
    await page.click('#zoom-reset');

    // Unfolding one chain shows its snapshots.
    const chain = s.chains[0];
    await page.locator(`#tree g.chain-node[data-first=${JSON.stringify(chain.first)}]`).click();
    s = await until(treeState, (st) => byName(st)[chain.first] && byName(st)[chain.last], 'chain unfolded');
    assert.equal(s.chains.length, (await treeState()).chains.length);

    // Everything, unfolded: 200 cards; the keyboard walks the tree.
    await page.click('#tree-compact');
    s = await until(treeState, (st) => st.nodes.length === 200, '200 cards');
    assert.equal(s.chains.length, 0);
    assert.equal(s.summary, '200 snapshots · current: s199');
    await node('s199').focus();
    await page.keyboard.press('ArrowUp');
    s = await until(treeState, (st) => st.details && st.details.name === 's198', 'parent selected by ArrowUp');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.name), 's198');
    await page.keyboard.press('ArrowDown');
    await until(treeState, (st) => st.details && st.details.name === 's199', 'child selected by ArrowDown');

    await page.click('#tree-collapse');
    s = await treeState();
    assert.ok(s.nodes.length < 200, 'collapse all hides snapshots');
    assert.match(s.summary, new RegExp(`^200 snapshots \\(${200 - s.nodes.length} hidden\\) · current: s199$`));
    assert.ok(byName(s).s199.current, 'the current snapshot stays visible');
    assert.ok(s.nodes.some((n) => n.toggle && /^\+\d+$/.test(n.toggle)), 'collapsed nodes say how many are hidden');
    await page.click('#tree-expand');
    assert.equal((await treeState()).nodes.length, 200);

    await page.click('#zoom-fit');
    s = await treeState();
    assert.ok(parseInt(s.zoom, 10) < 100, `fit zooms out (${s.zoom})`);
    await page.click('#zoom-reset');
    assert.equal((await treeState()).zoom, '100%');
  });

  step('stays usable in a narrow window', async () => {
    await page.setViewportSize({ width: 420, height: 800 });
    await page.waitForTimeout(100);
    const scroller = await page.locator('#tree-scroller').boundingBox();
    const details = await page.locator('#snap-details').boundingBox();
    assert.ok(scroller.width <= 420, 'tree fits the width');
    assert.ok(details.y >= scroller.y + scroller.height - 1, 'details go below the tree');
    await page.screenshot({ path: path.join(ARTIFACTS, 'narrow.png') });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  step('asks before a shutdown, and clears a load error once the list loads again', async () => {
    await page.click('#vm-back');
    await row('test').waitFor();
    // The list fails to load twice (virtsnapd away): one error on screen, not two; gone
    // once a load works (it stayed, and each Refresh added another).
    const failing = (url) => url.pathname === '/vms';
    let failed = 0;
    await page.route(failing, (route) => {
      if (route.request().method() !== 'GET') return route.fallback();
      failed += 1;
      return route.fulfill({ status: 503, contentType: 'application/json',
        body: JSON.stringify({ code: 503, reason: 'virtsnapd cannot reach libvirt' }) });
    });
    await page.click('#list-refresh');
    await page.locator('.message.error', { hasText: 'Could not load the VM list' }).waitFor();
    const seen = failed;
    await page.click('#list-refresh');
    await until(() => failed, (n) => n > seen, 'the second load answered');
    await sleep(300);
    assert.equal(await page.locator('.message.error', { hasText: 'Could not load the VM list' }).count(), 1);
    await page.unroute(failing);
    await page.click('#list-refresh');
    await until(() => page.locator('.message.error', { hasText: 'Could not load the VM list' }).count(),
      (n) => n === 0, 'the load error gone');

    // Shut down asks first (it did not), and Cancel sends nothing.
    const shutdowns = () => requests.filter((r) => r === `POST ${base}/vms/test/shutdown`).length;
    const button = () => row('test').getByRole('button', { name: 'Shut down VM test' });
    await button().click();
    const text = await dialogText();
    assert.match(text, /Shut down VM “test”\?/);
    assert.match(text, /Power off then stops it/);
    await page.click('#dialog-cancel');
    await sleep(200);
    assert.equal(shutdowns(), 0, 'cancelled: nothing sent');
    await button().click();
    await dialogText();
    // The page's follow of the shutdown (a GET each second; the list makes none of
    // /vms/test) sees it shut off and ends before the VM is started again.
    const follows = () => requests.filter((r) => r === `GET ${base}/vms/test`).length;
    const followed = follows();
    await page.click('#dialog-ok');
    await until(() => rowCells('test').then((c) => c.State), (st) => st === 'shut off', 'test shut down');
    assert.equal(shutdowns(), 1);
    await until(follows, (n) => n > followed, 'the follow of the shutdown', 10000);
    await sleep(200);
    await apiCall('POST', '/vms/test/start');
  });

  it('had no script errors and no CSP violations', () => {
    assert.deepEqual(pageProblems, []);
  });
});
