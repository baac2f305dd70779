// ui.js: small DOM helpers shared by the views: element building (text only, never HTML),
// messages, the modal dialog, the task tray with progress, and formatting of times and states.

import { TASKS_KEY, waitForTask } from './api.js';

export const $ = (id) => document.getElementById(id);

/** Builds an element; string children become text nodes (names are never parsed as HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/* ---------- the focus through redraws ---------- */

/* A selector that finds the replacement of the focused element NODE after a redraw: its VM
   and action (VM buttons and links), or a tree node's name (a folded chain's first). */
function focusSelector(node) {
  const d = node.dataset || {};
  if (d.vm !== undefined && d.action) return `[data-vm="${CSS.escape(d.vm)}"][data-action="${CSS.escape(d.action)}"]`;
  if (d.name !== undefined && node.matches('g.snap-node')) return `g.snap-node[data-name="${CSS.escape(d.name)}"]`;
  if (d.first !== undefined && node.matches('g.chain-node')) return `g.chain-node[data-first="${CSS.escape(d.first)}"]`;
  return null;
}

/**
 * Runs DRAW(), which replaces what CONTAINER holds. If the keyboard focus was in there, it
 * goes to the replacement of the focused element; failing that (gone, or off), to a control
 * of the same VM that does nothing by itself (its link, its Settings: never another action a
 * second Enter would run), or to the tree's selected node. Focus outside CONTAINER is left
 * alone.
 */
export function keepFocus(container, draw) {
  const old = document.activeElement;
  const inside = old && old !== document.body && container.contains(old);
  const selector = inside ? focusSelector(old) : null;
  draw();
  if (!inside || old.isConnected) return;
  const usable = (n) => n && !n.disabled;
  let next = selector && container.querySelector(selector);
  if (!usable(next) && old.dataset.vm !== undefined) {
    const vm = CSS.escape(old.dataset.vm);
    next = container.querySelector(`a[data-vm="${vm}"]`) ||
      container.querySelector(`button[data-vm="${vm}"][data-action="settings"]:not([disabled])`);
  }
  if (!usable(next)) next = container.querySelector('g[tabindex="0"]');
  if (usable(next)) next.focus({ preventScroll: true });
}

/* ---------- formatting ---------- */

const pad = (n) => String(n).padStart(2, '0');

/** Seconds since the epoch → "2026-11-22 05:23:30" in local time. */
export function formatTime(seconds) {
  if (!Number.isFinite(seconds)) return '';
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const STATE_WORDS = {
  running: 'running', paused: 'paused', shutoff: 'shut off', crashed: 'crashed',
  pmsuspended: 'suspended (guest)', shutdown: 'shutting down', blocked: 'blocked',
  nostate: 'no state',
};

export const stateWord = (state) => STATE_WORDS[state] || String(state || 'unknown');

/** What a running VM's next start brings, where a settings change waits for it ("" if none). */
export function nextStartText(vm) {
  const next = vm.next_start;
  if (!next) return '';
  const parts = [];
  if (next.memory !== vm.memory) parts.push(`${next.memory} MiB`);
  if (next.cpus !== vm.cpus) parts.push(`${next.cpus} CPU${next.cpus === 1 ? '' : 's'}`);
  if (next.hugepages !== vm.hugepages) parts.push(next.hugepages ? 'on huge pages' : 'not on huge pages');
  return parts.length ? `from its next start: ${parts.join(', ')}` : '';
}

/** "running, with memory" / "shut off, disk only". */
const formatBytes = (n) =>
  n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;

/** "running, with memory (live): guest paused 23 ms, 1.0 MiB of memory". */
export const snapshotStateText = (snap) =>
  `${stateWord(snap.state)}, ${snap.memory ? `with memory${snap.live ? ' (live)' : ''}` : 'disk only'}` +
  (snap.downtime_ms !== undefined
    ? `: guest paused ${Math.round(snap.downtime_ms)} ms, ${formatBytes(snap.memory_bytes)} of memory`
    : '');

/* Characters a name may hold that sentences do not show as they are: format characters
   (bidirectional controls, which would make the rest of a sentence read in another order,
   and zero-width ones) and the blanks that are not white space (Hangul fillers, the braille
   blank, the grapheme joiner). */
const HIDDEN = /[\p{Cf}\uFE00-\uFE0F\u034F\u115F\u1160\u2800\u3164\uFFA0]/gu;
// Scripts whose words take zero-width (non-)joiners between their letters (their marks
// included: Script_Extensions).
const JOINING = /[\p{scx=Arabic}\p{scx=Syriac}\p{scx=Nko}\p{scx=Mongolian}\p{scx=Devanagari}\p{scx=Bengali}\p{scx=Gurmukhi}\p{scx=Gujarati}\p{scx=Oriya}\p{scx=Tamil}\p{scx=Telugu}\p{scx=Kannada}\p{scx=Malayalam}\p{scx=Sinhala}\p{scx=Khmer}\p{scx=Myanmar}]/u;
const PICTURE = /[\p{Extended_Pictographic}\p{Emoji_Modifier}\uFE0F]/u;
const ASCIIISH = /^[\x00-\x7F]?$/; // an ASCII character, or none

/**
 * NAME as a sentence shows it: each character HIDDEN matches is written out (⟨U+202E⟩), so a
 * name cannot turn the words around it ("Delete snapshot …" read backwards), and names that
 * differ only by what cannot be seen differ on screen. What shows as part of the
 * characters around it stays as it is: a zero-width joiner or non-joiner between two
 * letters of a script whose words take them (Arabic, Indic scripts…), a joiner inside an
 * emoji sequence, an emoji's presentation selector, and a flag's tag characters.
 */
export function shownName(name) {
  const chars = Array.from(String(name));
  const kept = []; // whether chars[i] stays as it is
  return chars.map((c, i) => {
    const code = c.codePointAt(0);
    const prev = chars[i - 1] || '';
    const next = chars[i + 1] || '';
    const joins = (code === 0x200c || code === 0x200d || code === 0x180e) && JOINING.test(prev) &&
      JOINING.test(next); // (U+180E: Mongolian's vowel separator)
    const emojiJoin = code === 0x200d && PICTURE.test(prev) && /\p{Extended_Pictographic}/u.test(next);
    const emojiStyle = (code === 0xfe0e || code === 0xfe0f) && /\p{Emoji}/u.test(prev);
    // (VS1-14: standardized variants of CJK, math and Myanmar characters)
    const variant = code >= 0xfe00 && code <= 0xfe0d && !ASCIIISH.test(prev) && !prev.match(HIDDEN);
    // a flag's tags: a run after U+1F3F4
    const tag = code >= 0xe0020 && code <= 0xe007f &&
      (prev.codePointAt(0) === 0x1f3f4 || (kept[i - 1] && prev.codePointAt(0) >= 0xe0020));
    kept[i] = !c.match(HIDDEN) || joins || emojiJoin || emojiStyle || variant || tag;
    return kept[i] ? c : `⟨U+${code.toString(16).toUpperCase().padStart(4, '0')}⟩`;
  }).join('');
}

export const quote = (name) => `“${shownName(name)}”`;

/** Makes the daemon's reason read as a sentence. */
export function sentence(text) {
  const s = shownName(String(text || '').trim()); // (the daemon's reasons name VMs and snapshots)
  if (!s) return '';
  return s[0].toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.');
}

/* ---------- messages ---------- */

/** Shows an error until dismissed. CONTEXT says what was being done. A 401 shows nothing:
 *  the login page says the session has ended. */
export function showError(context, err) {
  // (signed out: what the ended session's work still finds is not shown on the sign-in page)
  if ((err && err.status === 401) || !$('login-view').hidden) return null;
  const reason = err && err.reason !== undefined ? err.reason : (err && err.message) || String(err);
  const box = el('div', { class: 'message error', role: 'alert' },
    el('p', {}, el('strong', { text: context ? `${context}: ` : '' }), sentence(reason)));
  box.append(el('button', {
    type: 'button', class: 'secondary small', text: 'Dismiss',
    'aria-label': 'Dismiss this message', onclick: () => box.remove(),
  }));
  $('messages').append(box);
  return box;
}

/** Shows a short confirmation that goes away by itself. */
export function showNotice(text) {
  if (!$('login-view').hidden) return null; // signed out (showError)
  for (const old of $('messages').querySelectorAll('.message.notice')) old.remove(); // the latest only
  const box = el('div', { class: 'message notice', role: 'status' }, el('p', { text }));
  $('messages').append(box);
  setTimeout(() => box.remove(), 5000);
  return box;
}

export function clearMessages() {
  $('messages').replaceChildren();
}

/* ---------- modal dialog ---------- */

/* The dialog on screen: {settle()}, which ends it as cancelled (unless it was confirmed
   already) without closing the element. */
let shownDialog = null;

/**
 * Opens the modal dialog. BODY is a list of nodes/strings. With INPUT ({label, value,
 * multiline}) the result is the text typed (or null on cancel); with CHECKBOX ({label,
 * checked}) the result is {checked}; with FIELDS ([{name, label, value, min}], numbers) it
 * is {values: {name: number}, checked} (or null on cancel); otherwise true/false. DANGER
 * styles the confirm button.
 */
export function openDialog({
  title, body = [], confirm = 'OK', danger = false, input = null, checkbox = null, fields = null,
}) {
  const dialog = $('dialog');
  const form = $('dialog-form');
  const ok = $('dialog-ok');
  const cancel = $('dialog-cancel');
  // One dialog at a time: a second one asked for while the first is open (a second click
  // while the first action was still reading what it would do) takes its place, and the
  // first counts as cancelled. Else both waited on the one element, and confirming the
  // one on screen carried out the other (session 23, UI audit).
  if (shownDialog) shownDialog.settle();
  $('dialog-title').textContent = title;
  const content = $('dialog-body');
  content.replaceChildren(...body.map((b) => (b instanceof Node ? b : el('p', { text: b }))));
  let field = null;
  let box = null;
  if (input) {
    field = el(input.multiline ? 'textarea' : 'input', {
      id: 'dialog-input', class: 'dialog-input', autocomplete: 'off',
      // 64 characters, checked by virtsnapd (maxlength counts an astral one twice)
      maxlength: input.multiline ? undefined : '128', rows: input.multiline ? '3' : undefined,
    });
    field.value = input.value || '';
    content.append(el('label', { for: 'dialog-input', text: input.label }), field);
  }
  const numbers = (fields || []).map((f) => {
    const id = `dialog-field-${f.name}`;
    const num = el('input', { id, type: 'number', class: 'dialog-input', min: String(f.min), step: '1', required: '' });
    num.value = String(f.value);
    content.append(el('label', { for: id, text: f.label }), num);
    return [f.name, num];
  });
  if (checkbox) {
    box = el('input', { type: 'checkbox', id: 'dialog-check' });
    box.checked = !!checkbox.checked;
    content.append(el('label', { class: 'check' }, box, ` ${checkbox.label}`));
  }
  ok.textContent = confirm;
  ok.className = danger ? 'danger' : '';
  return new Promise((resolve) => {
    let result = input || fields ? null : false;
    const onSubmit = (e) => {
      e.preventDefault();
      if (input) result = field.value;
      else if (fields) {
        result = { values: Object.fromEntries(numbers.map(([n, f]) => [n, Number(f.value)])), checked: box ? box.checked : false };
      } else if (checkbox) result = { checked: box.checked };
      else result = true;
      dialog.close();
    };
    const onCancel = () => dialog.close();
    const me = {};
    const settle = () => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('close', onClose);
      if (shownDialog === me) shownDialog = null;
      resolve(result);
    };
    // (a close event of a dialog this one replaced may come after this one opened)
    const onClose = () => { if (!dialog.open) settle(); };
    me.settle = settle;
    shownDialog = me;
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('close', onClose);
    if (!dialog.open) dialog.showModal();
    if (field || numbers.length) {
      const first = field || numbers[0][1];
      first.focus();
      first.select();
    } else if (danger) {
      cancel.focus(); // destructive: Enter should not destroy by accident
    } else {
      ok.focus();
    }
  });
}

/** Closes the dialog if open, as Cancel would (the session has ended, say). */
export function closeDialog() {
  if ($('dialog').open) $('dialog').close();
}

/** A bulleted list of names (for confirmations). */
export function nameList(names, cls = 'name-list') {
  return el('ul', { class: cls }, names.map((n) => el('li', { text: shownName(n) })));
}

/* ---------- task tray ---------- */

/* Says TEXT to screen readers (the tray itself is not a live region: its progress changes
   every second). Each announcement is its own line, gone after a while. */
function announce(text) {
  const line = el('p', { text });
  $('tasks-said').append(line);
  setTimeout(() => line.remove(), 15000);
}

const END_WORDS = { finished: 'done', failed: 'failed' };

/* One entry of the tray: LABEL, a progress bar, a status word and what the task says it
   is doing; ID is the task's. Its start and end are announced. */
function trayEntry(label, id) {
  const tray = $('tasks');
  const bar = el('progress', { max: '100', 'aria-label': `${label}: progress` });
  const status = el('span', { class: 'task-status' });
  const message = el('span', { class: 'task-message', hidden: true });
  const name = el('span', { class: 'task-label', text: label });
  const item = el('div', { class: 'task running', 'data-task': id }, name, bar, status, message);
  tray.append(item);
  tray.hidden = false;
  announce(`${label}: started`);
  return {
    /** Names it LABEL from now on. */
    relabel(text) {
      label = text;
      name.textContent = text;
      bar.setAttribute('aria-label', `${text}: progress`);
    },
    /** What it is called now. */
    get label() { return label; },
    /** Shows T ({status, progress?, message?}) as a task answers it. */
    update(t) {
      if (typeof t.progress === 'number') bar.value = t.progress;
      else if (t.status !== 'running') bar.value = t.status === 'unknown' ? 0 : 100;
      else bar.removeAttribute('value'); // indeterminate
      status.textContent = t.status === 'running'
        ? (typeof t.progress === 'number' ? `${Math.round(t.progress)}%` : 'working…')
        : END_WORDS[t.status] || 'not known';
      // What it is doing ("waiting for earlier operations on the VM", "copying disks").
      const says = t.status === 'running' && typeof t.message === 'string' ? shownName(t.message.trim()) : '';
      message.textContent = says;
      message.hidden = !says;
    },
    /** The end (STATUS finished, failed or unknown): announced; the entry goes after a moment. */
    end(st) {
      this.update({ status: st });
      item.classList.remove('running');
      item.classList.add(st === 'unknown' ? 'failed' : st);
      announce(`${label}: ${END_WORDS[st] || 'not known'}`);
      setTimeout(() => {
        item.remove();
        if (!tray.children.length) tray.hidden = true;
      }, st === 'failed' ? 1500 : 2500);
    },
  };
}

/**
 * Shows LABEL in the tray while PROMISE (a plain request, such as a revert, that may wait
 * behind work queued on its VM) runs, then "done" or "failed". Resolves or rejects as
 * PROMISE does; the caller says why it failed.
 */
export async function trackRequest(label, promise) {
  const entry = trayEntry(label, undefined);
  entry.update({ status: 'running' });
  try {
    const result = await promise;
    entry.end('finished');
    return result;
  } catch (err) {
    entry.end('failed');
    throw err;
  }
}

const followed = new Map(); // task id → the promise of its end, while followed
const shown = new Map(); // task id → its tray entry, while followed
// "id created" → the final task, of tasks this page followed to their end (the newest 200):
// a list fetched before one ended, answered after, does not show it again.
const seenEnded = new Map();
const endedKey = (task) => `${task.id} ${task.created}`;

/* The tasks this tab started, [{id, created, label}], kept in sessionStorage until this tab
   has seen them end: a failure while the page was reloading is reported when it loads. A
   task is known by its id and creation time (an id given out again after a restart is
   another task; the target URI follows renames, so it does not tell them apart). */
const mine = {
  all() {
    try {
      const list = JSON.parse(sessionStorage.getItem(TASKS_KEY));
      return Array.isArray(list) ? list : [];
    } catch {
      return [];
    }
  },
  save(list) {
    if (list.length) sessionStorage.setItem(TASKS_KEY, JSON.stringify(list));
    else sessionStorage.removeItem(TASKS_KEY);
  },
  add(task, label) {
    this.save([...this.all().filter((t) => t.id !== task.id), { id: task.id, created: task.created, label }]);
  },
  drop(id) {
    this.save(this.all().filter((t) => t.id !== id));
  },
};

/**
 * Reports this tab's tasks that ended while it was not following them (a reload): TASKS is
 * GET /tasks. A failed one shows its reason; one no longer known (ended over an hour ago,
 * or an id given out again after a restart: made at another time) is forgotten. Returns
 * the labels (id → label) of those still running, for the caller to follow again.
 */
export function reportMyTasks(tasks) {
  const running = new Map();
  for (const t of mine.all()) {
    const task = tasks.find((k) => k.id === t.id && k.created === t.created);
    if (task && task.status === 'running') {
      running.set(t.id, t.label);
      continue;
    }
    if (task && task.status === 'failed') showError(`${t.label} failed`, { reason: task.message || 'the task failed' });
    mine.drop(t.id);
  }
  return running;
}

/** Whether TASK is followed already, or was seen to end. */
export const isFollowed = (task) => followed.has(task.id) || seenEnded.has(endedKey(task));

/**
 * Shows TASK (as answered by a 202) in the tray with its progress and follows it until it
 * ends. Resolves to the final task; a failed task also shows its message as an error. A
 * task already followed (the page found it running as it loaded) is not shown twice: its
 * promise is returned. MINE: this tab started it (kept until seen to end, reportMyTasks).
 */
export function trackTask(task, label, isMine = false) {
  if (seenEnded.has(endedKey(task))) return Promise.resolve(seenEnded.get(endedKey(task)));
  if (isMine) mine.add(task, label);
  // (found by a refresh a moment before this tab's own request was answered: its label)
  if (isMine && shown.has(task.id)) shown.get(task.id).relabel(label);
  if (!followed.has(task.id)) {
    const end = follow(task, label);
    followed.set(task.id, end);
    end.finally(() => followed.delete(task.id));
  }
  return followed.get(task.id);
}

async function follow(task, label) {
  const entry = trayEntry(label, task.id);
  shown.set(task.id, entry);
  let final;
  try {
    final = await waitForTask(task, (t) => entry.update(t));
  } catch (e) {
    // Not a failure of the task: this page could not follow it to its end (or, on a 401,
    // may not: the login page says so, and the next sign-in finds it if it still runs).
    final = { ...task, status: 'unknown', message: e.reason || e.message, signedOut: e.status === 401 };
  }
  entry.end(final.status);
  shown.delete(task.id);
  if (final.signedOut) return final;
  label = entry.label; // (this tab's own label, should a refresh have found it first)
  if (final.status !== 'unknown') {
    mine.drop(task.id); // seen to end (else a later load says)
    seenEnded.set(endedKey(task), final);
    if (seenEnded.size > 200) seenEnded.delete(seenEnded.keys().next().value);
  }
  if (final.status === 'failed') showError(`${label} failed`, { reason: final.message || 'the task failed' });
  if (final.status === 'unknown') {
    showError(`${label}: this page lost track of it`, {
      reason: `${final.message}; it may still be running (Refresh shows what it came to)`,
    });
  }
  return final;
}
