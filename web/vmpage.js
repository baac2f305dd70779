// vmpage.js: the page of one VM: its state and actions, "Take a snapshot" with task
// progress, the snapshot tree (tree.js) and the details panel of the selected snapshot
// (revert, rename and edit description in place, delete one or a subtree). While a revert
// or delete runs (busy.js), the buttons that would conflict with it are off. The page
// refreshes by itself (app.js); a load that brings what is shown already draws nothing.

import { api, nameFromUri, snapPath, snapsPath, vmPath } from './api.js';
import { busyWith, creating, onBusyChange, whileBusy, whileCreating } from './busy.js';
import {
  $, el, formatTime, keepFocus, nameList, openDialog, quote, showError, showNotice, snapshotStateText,
  nextStartText, stateWord, trackTask,
} from './ui.js';
import { SnapshotTree } from './tree.js';
import { vmActionButtons } from './vmactions.js';

let nav = null;
let tree = null;
let vm = null; // the VM as last loaded
let vmName = null; // the VM this page shows
let loading = 0;
let revealOnLoad = false; // scroll to the selected (current) snapshot after the first load
let detailsFor = null; // the snapshot the details panel shows (its open edit forms survive a reload)
let drawnFrom = null; // the answers the page was drawn from
let failing = false; // the last load failed (a refresh by itself says so once)
let loadError = null; // its message: replaced by the next failure's, gone once a load works

export function initVmPage(navigation) {
  nav = navigation;
  tree = new SnapshotTree($('tree-scroller'), $('tree'), {
    onSelect: showDetails,
    onRename: (name) => {
      tree.select(name);
      startRename();
    },
    onDelete: (name) => deleteSnapshot(name, false),
    onChange: updateToolbar,
  });
  $('vm-back').addEventListener('click', () => nav.goToList());
  $('vm-refresh').addEventListener('click', () => reload());
  $('snap-form').addEventListener('submit', takeSnapshot);
  $('tree-current').addEventListener('click', () => {
    const cur = tree.current();
    if (cur) tree.select(cur, true);
  });
  $('tree-collapse').addEventListener('click', () => tree.collapseAll());
  $('tree-expand').addEventListener('click', () => tree.expandAll());
  $('tree-compact').addEventListener('click', () => tree.setCompact(!tree.compact));
  $('zoom-in').addEventListener('click', () => tree.zoomBy(1.25));
  $('zoom-out').addEventListener('click', () => tree.zoomBy(0.8));
  $('zoom-fit').addEventListener('click', () => tree.fit());
  $('zoom-reset').addEventListener('click', () => tree.zoomTo(1));

  $('d-rename').addEventListener('click', startRename);
  $('d-rename-cancel').addEventListener('click', () => endEdit('rename'));
  $('d-rename-form').addEventListener('submit', saveRename);
  $('d-edit-desc').addEventListener('click', startDescEdit);
  $('d-desc-cancel').addEventListener('click', () => endEdit('desc'));
  $('d-desc-form').addEventListener('submit', saveDescription);
  for (const id of ['d-rename-input', 'd-desc-input']) {
    $(id).addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        endEdit(id === 'd-rename-input' ? 'rename' : 'desc');
      }
    });
  }
  $('d-revert').addEventListener('click', () => revert(tree.selected));
  $('d-toggle').addEventListener('click', () => tree.toggle(tree.selected));
  $('d-delete').addEventListener('click', () => deleteSnapshot(tree.selected, false));
  $('d-delete-tree').addEventListener('click', () => deleteSnapshot(tree.selected, true));
  onBusyChange(syncButtons);
}

/* Revert, delete and take are off while the VM shown is busy with a revert or a delete;
   take also while a create of that VM is being followed. */
function syncButtons() {
  const busy = !!busyWith(vmName);
  for (const id of ['d-revert', 'd-delete', 'd-delete-tree']) $(id).disabled = busy;
  $('snap-take').disabled = busy || creating(vmName);
}

/* Says that the VM is busy (the keyboard reaches actions whose buttons are off): true if so. */
function refuseWhileBusy(forVm) {
  const what = busyWith(forVm);
  if (what) showNotice(`VM ${quote(forVm)} is busy: ${what} Wait until that is done.`);
  return !!what;
}

/** Shows VM NAME (called by the router). */
export async function showVmPage(name) {
  if (name !== vmName) {
    vmName = name;
    vm = null;
    $('vm-title').textContent = name;
    $('vm-state').textContent = '';
    $('vm-facts').textContent = '';
    $('vm-files').textContent = ''; // not the last VM's files while this one loads
    $('vm-actions').replaceChildren();
    $('snap-name').value = '';
    $('snap-desc').value = '';
    detailsFor = null; // an edit begun on another VM's snapshot of the same name ends here
    endEdit('rename');
    endEdit('desc');
    tree.setData(name, []);
    drawnFrom = null;
    $('tree-summary').textContent = 'Loading…';
    revealOnLoad = true;
    syncButtons();
  }
  await reload();
}

/** Forgets what the page shows (signed out): the next showVmPage starts afresh. */
export function forgetVmPage() {
  vmName = null;
  drawnFrom = null;
  $('tree').replaceChildren();
}

/** A refresh by itself: not while a revert or delete of this VM runs (its end reloads). */
export function refreshVmPage() {
  return vmName === null || busyWith(vmName) ? Promise.resolve(false) : reload({ auto: true });
}

/** Reloads the VM and its snapshots and redraws what changed: true if the page shows them
 * (this VM's page still shown, no newer reload, no error). AUTO: a refresh by itself. */
async function reload({ auto = false } = {}) {
  const ticket = ++loading;
  const name = vmName;
  let v;
  let snaps;
  try {
    [v, snaps] = await Promise.all([api.get(vmPath(name)), api.get(`${snapsPath(name)}?all=true`)]);
  } catch (err) {
    if (err.status === 401) return false;
    // The page moved on meanwhile (another load, a rename, the list): the answer is stale.
    if (ticket !== loading || name !== vmName || $('vm-view').hidden) return false;
    if (err.status === 404) {
      showError(`VM ${quote(name)}`, err);
      nav.goToList();
      return false;
    }
    if (!(auto && failing)) {
      if (loadError) loadError.remove();
      loadError = showError(`Could not load VM ${quote(name)}`, err);
    }
    failing = true;
    return false;
  }
  if (ticket !== loading || name !== vmName || $('vm-view').hidden) return false;
  failing = false;
  if (loadError) loadError.remove(); // the page loads again: its failure is over
  loadError = null;
  const key = JSON.stringify([v, snaps]);
  if (key === drawnFrom) return true; // shown already
  vm = v;
  drawVm();
  tree.setData(name, snaps);
  drawnFrom = key; // only once drawn: a draw that threw is tried again by the next load
  $('tree-empty').hidden = snaps.length > 0;
  showDetails(tree.selected);
  if (revealOnLoad && tree.selected !== null) tree.reveal(tree.selected, false);
  revealOnLoad = false;
  return true;
}

/** BYTES as GiB, one decimal (8.0 GiB), or MiB below one GiB. */
function gib(bytes) {
  return bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : `${Math.round(bytes / (1 << 20))} MiB`;
}

function drawVm() {
  $('vm-title').textContent = vm.name;
  const badge = $('vm-state');
  badge.textContent = stateWord(vm.state);
  badge.className = `badge state-${vm.state}`;
  const disk = vm.disks && vm.disks.length
    ? vm.disks.map((d) => `${d.target} ${d.format}`).join(', ')
    : 'no disk';
  const pending = nextStartText(vm);
  $('vm-facts').textContent = `${vm.memory} MiB${vm.hugepages ? ' on huge pages' : ''} · ${vm.cpus} CPU${vm.cpus === 1 ? '' : 's'} · ${disk}` +
    (pending ? ` · ${pending}` : '');
  // Where its files are: each disk (with its size) and the serial console's log.
  const files = (vm.disks || []).filter((d) => d.path)
    .map((d) => `${d.target}: ${d.path}${d.size ? ` (${gib(d.size)})` : ''}`);
  if (vm.serial_log) files.push(`serial log: ${vm.serial_log}`);
  $('vm-files').textContent = files.join(' · ');
  keepFocus($('vm-actions'), () => $('vm-actions').replaceChildren(...vmActionButtons(vm, {
    refresh: reload,
    renamed: (newName) => {
      vmName = newName; // keeps the tree's selection and collapse state
      tree.vm = newName;
      nav.goToVm(newName);
    },
    deleted: () => nav.goToList(),
  })));
}

function updateToolbar() {
  const n = tree.snaps.length;
  const cur = tree.current();
  const visible = tree.visibleCount();
  let text = n === 0 ? 'No snapshots' : `${n} snapshot${n === 1 ? '' : 's'}`;
  if (n && visible < n) text += ` (${n - visible} hidden)`;
  if (n) text += cur ? ` · current: ${cur}` : ' · no current snapshot';
  $('tree-summary').textContent = text;
  $('zoom-level').textContent = `${Math.round(tree.scale * 100)}%`;
  $('tree-current').disabled = !cur;
  $('tree-compact').setAttribute('aria-pressed', tree.compact ? 'true' : 'false');
  for (const id of ['tree-collapse', 'tree-expand', 'tree-compact', 'zoom-in', 'zoom-out', 'zoom-fit', 'zoom-reset']) {
    $(id).disabled = n === 0;
  }
  $('tree-empty').hidden = n > 0;
}

/* ---------- details panel ---------- */

function showDetails(name) {
  const s = name === null ? null : tree.byName.get(name);
  $('details-none').hidden = !!s;
  $('details-body').hidden = !s;
  // A reload (a task ending, Refresh) must not throw away what the user is typing.
  if (!s || name !== detailsFor) {
    endEdit('rename');
    endEdit('desc');
  }
  detailsFor = s ? name : null;
  if (!s) return;
  $('d-name').textContent = s.name;
  $('d-here').hidden = !s.current;
  $('d-created').textContent = formatTime(s.created);
  $('d-state').textContent = snapshotStateText(s);
  $('d-parent').textContent = s.parent || '— (a root snapshot)';
  const kids = tree.children(s.name);
  const all = tree.descendants(s.name);
  $('d-children').textContent = kids.length
    ? `${kids.join(', ')}${all.length > kids.length ? ` (${all.length} descendants in all)` : ''}`
    : 'none';
  const desc = $('d-desc');
  desc.textContent = s.description || 'No description.';
  desc.classList.toggle('none', !s.description);
  $('d-revert').textContent = s.current ? 'Revert to this snapshot again' : 'Revert to this snapshot';
  $('d-toggle').hidden = kids.length === 0;
  $('d-toggle').textContent = tree.isCollapsed(s.name) ? `Expand subtree (${all.length} hidden)` : 'Collapse subtree';
  $('d-delete-tree').hidden = kids.length === 0;
  $('d-delete-tree').textContent = `Delete with ${all.length} descendant${all.length === 1 ? '' : 's'}`;
}

function startRename() {
  const s = tree.byName.get(tree.selected);
  if (!s) return;
  endEdit('desc');
  $('d-rename-form').hidden = false;
  $('d-rename').hidden = true;
  $('d-name').hidden = true;
  const input = $('d-rename-input');
  input.value = s.name;
  input.focus();
  input.select();
}

function startDescEdit() {
  const s = tree.byName.get(tree.selected);
  if (!s) return;
  endEdit('rename');
  $('d-desc-form').hidden = false;
  $('d-edit-desc').hidden = true;
  $('d-desc').hidden = true;
  const input = $('d-desc-input');
  input.value = s.description || '';
  input.focus();
}

function endEdit(which) {
  if (which === 'rename') {
    $('d-rename-form').hidden = true;
    $('d-rename').hidden = false;
    $('d-name').hidden = false;
  } else {
    $('d-desc-form').hidden = true;
    $('d-edit-desc').hidden = false;
    $('d-desc').hidden = false;
  }
}

const renamesSent = new Set(); // "<vm>\n<snapshot>" whose rename's PUT is on its way

async function saveRename(e) {
  e.preventDefault();
  // A second submit (Enter twice, a double click) while the first is sent is dropped: it
  // asked for the same rename, and its PUT of the old name answered 404 after the first.
  const forVm = vmName;
  const sentKey = `${forVm}\n${tree.selected}`;
  if (renamesSent.has(sentKey)) return;
  const old = tree.selected;
  const typed = $('d-rename-input').value;
  const name = typed.trim(); // as a new snapshot's name is
  // Unchanged (a name another tool gave with spaces around it stays as it is).
  if (typed === old || name === old) {
    endEdit('rename');
    return;
  }
  renamesSent.add(sentKey);
  try {
    const updated = await api.put(snapPath(forVm, old), { name });
    showNotice(`Snapshot ${quote(old)} renamed to ${quote(updated.name)}.`);
    if (vmName !== forVm) return; // another VM's page is shown now: it is left as it is
    endEdit('rename');
    if (tree.collapsed.delete(old)) tree.collapsed.add(updated.name);
    tree.selected = updated.name;
    await reload();
    if (vmName === forVm) tree.select(updated.name, true);
  } catch (err) {
    showError(`Could not rename snapshot ${quote(old)}`, err);
    if (vmName === forVm) $('d-rename-input').focus();
  } finally {
    renamesSent.delete(sentKey);
  }
}

async function saveDescription(e) {
  e.preventDefault();
  const forVm = vmName;
  const name = tree.selected;
  const description = $('d-desc-input').value;
  try {
    await api.put(snapPath(forVm, name), { description });
    showNotice(`Description of snapshot ${quote(name)} saved.`);
    if (vmName !== forVm) return;
    endEdit('desc');
    await reload();
    if (vmName === forVm) $('d-edit-desc').focus();
  } catch (err) {
    showError(`Could not save the description of snapshot ${quote(name)}`, err);
  }
}

/* ---------- snapshot operations ---------- */

async function takeSnapshot(e) {
  e.preventDefault();
  const forVm = vmName;
  if (refuseWhileBusy(forVm) || creating(forVm)) return;
  const name = $('snap-name').value.trim();
  const description = $('snap-desc').value;
  const body = {};
  if (name) body.name = name;
  if (description) body.description = description;
  if ($('snap-mode').value) body.live = $('snap-mode').value === 'true';
  await whileCreating(forVm, async () => {
    let task;
    try {
      task = await api.post(snapsPath(forVm), body);
    } catch (err) {
      showError(`Could not take a snapshot of VM ${quote(forVm)}`, err);
      return;
    }
    const snap = nameFromUri(task.target_uri);
    const final = await trackTask(task, `Taking snapshot ${quote(snap)} of ${quote(forVm)}`, true);
    if (final.status === 'finished') showNotice(`Snapshot ${quote(snap)} taken; it is now the current snapshot.`);
    if (forVm !== vmName) return;
    // Taken: the form empties, unless something else has been typed since. A failed
    // create keeps what was typed for another try.
    if (final.status === 'finished' && $('snap-name').value.trim() === name && $('snap-desc').value === description) {
      $('snap-name').value = '';
      $('snap-desc').value = '';
    }
    if (final.status === 'finished') tree.selected = snap;
    await reload();
    // (unless another node was picked while it loaded)
    if (forVm === vmName && final.status === 'finished' && tree.byName.has(snap) && tree.selected === snap) tree.select(snap);
  });
}

/* Revert and delete hold their VM fixed: the user may go to another VM (a clone has the
   same snapshot names) while they wait. A confirmed one is carried out for the VM its
   dialog named; after each wait, only that VM's page is touched, and only if it is shown. */

async function revert(name) {
  const forVm = vmName;
  const s = tree.byName.get(name);
  if (!s || refuseWhileBusy(forVm)) return;
  const cur = tree.current();
  const lost = cur
    ? `Everything that changed in VM ${quote(forVm)} since its current snapshot ${quote(cur)}` +
      ' (the disks, and the memory if it is running) and is not saved in a snapshot will be lost.'
    : `Everything that changed in VM ${quote(forVm)} and is not saved in a snapshot will be lost.`;
  const after = s.state === 'running' || s.state === 'paused'
    ? `Afterwards the VM is ${stateWord(s.state)}${s.memory ? ', with the memory it had then' : ''}.`
    : 'Afterwards the VM is shut off, with the disks as they were then.';
  const ok = await openDialog({
    title: `Revert to snapshot ${quote(name)}?`,
    body: [
      el('p', { class: 'dialog-lead' }, `VM ${quote(forVm)} goes back to snapshot ${quote(name)}, taken ${formatTime(s.created)}.`),
      el('p', { class: 'warning' }, lost),
      after,
      `No snapshot is deleted; ${quote(name)} becomes the current snapshot and the next snapshot will be its child.`,
    ],
    confirm: 'Revert',
    danger: true,
  });
  if (!ok || refuseWhileBusy(forVm)) return;
  try {
    await whileBusy(forVm, `Reverting ${quote(forVm)} to ${quote(name)}…`,
      () => api.post(`${snapPath(forVm, name)}/revert`));
    showNotice(`VM ${quote(forVm)} reverted to snapshot ${quote(name)}.`);
  } catch (err) {
    showError(`Could not revert VM ${quote(forVm)} to snapshot ${quote(name)}`, err);
  }
  if (vmName !== forVm) return;
  await reload();
  if (vmName !== forVm) return;
  tree.select(tree.byName.has(name) ? name : tree.current(), focusIsFree());
}

/* Whether the end of a long revert or delete may move the keyboard focus to the tree: not
 * when the user has gone on to something else meanwhile (the snapshot form, say). */
function focusIsFree() {
  const a = document.activeElement;
  return !a || a === document.body || $('tree').contains(a) || $('snap-details').contains(a) ||
    $('vm-actions').contains(a);
}

/* The children and all descendants of NAME in SNAPS (a listing, parents first). */
function family(snaps, name) {
  const kidsOf = (n) => snaps.filter((x) => x.parent === n).map((x) => x.name);
  const all = [];
  const stack = kidsOf(name).reverse();
  while (stack.length) {
    const n = stack.pop();
    all.push(n);
    stack.push(...kidsOf(n).reverse());
  }
  return { kids: kidsOf(name), all };
}

async function deleteSnapshot(name, subtree) {
  // What goes is the tree as it is now, not as this page last loaded it (another client
  // may have added snapshots below): it is listed again for the dialog, whatever other
  // load of the page overtakes this one, and the page is brought up to date.
  const forVm = vmName;
  if (name === null || refuseWhileBusy(forVm)) return;
  let snaps;
  try {
    snaps = await api.get(`${snapsPath(forVm)}?all=true`);
  } catch (err) {
    showError(`Could not delete snapshot ${quote(name)} of VM ${quote(forVm)}`, err);
    return;
  }
  const movedOn = () => {
    if (vmName === forVm) return false;
    showNotice(`Snapshot ${quote(name)} of VM ${quote(forVm)} was not deleted: another VM is shown now.`);
    return true;
  };
  if (movedOn()) return;
  await reload(); // the page too, before the dialog: a redraw under it would lose the focus
  if (movedOn()) return;
  const s = snaps.find((x) => x.name === name);
  if (!s) {
    showError(`Snapshot ${quote(name)}`, { reason: 'it is no longer there' });
    return;
  }
  const { kids, all } = family(snaps, name);
  const going = subtree ? [name, ...all] : [name];
  const cur = (snaps.find((x) => x.current) || {}).name;
  const body = [
    el('p', { class: 'dialog-lead' }, going.length === 1
      ? 'This snapshot will be deleted:'
      : `These ${going.length} snapshots will be deleted:`),
    nameList(going, 'name-list doomed'),
  ];
  if (!subtree && kids.length) {
    body.push(`Its ${kids.length === 1 ? 'child' : `${kids.length} children`} (${kids.join(', ')}) ` +
      `move${kids.length === 1 ? 's' : ''} up to ${s.parent ? quote(s.parent) : 'the top of the tree'}.`);
  }
  if (cur && going.includes(cur)) {
    const heir = s.parent || '';
    body.push(heir
      ? `The current snapshot is among them; ${quote(heir)} becomes the current snapshot. The VM itself is not changed.`
      : 'The current snapshot is among them; the VM will have no current snapshot. The VM itself is not changed.');
  } else {
    body.push('The VM itself is not changed.');
  }
  const ok = await openDialog({
    title: going.length === 1
      ? `Delete snapshot ${quote(name)} of VM ${quote(forVm)}?`
      : `Delete ${going.length} snapshots of VM ${quote(forVm)}?`,
    body,
    confirm: going.length === 1 ? 'Delete snapshot' : `Delete ${going.length} snapshots`,
    danger: true,
  });
  if (!ok || refuseWhileBusy(forVm)) return;
  let deleted = false;
  try {
    await whileBusy(forVm, going.length === 1
      ? `Deleting snapshot ${quote(name)} of ${quote(forVm)}…`
      : `Deleting ${going.length} snapshots of ${quote(forVm)}…`,
    () => api.del(`${snapPath(forVm, name)}${subtree ? '?children=true' : ''}`));
    showNotice(going.length === 1
      ? `Snapshot ${quote(name)} deleted.`
      : `${going.length} snapshots deleted.`);
    deleted = true;
  } catch (err) {
    showError(`Could not delete snapshot ${quote(name)} of VM ${quote(forVm)}`, err);
  }
  if (vmName !== forVm) return;
  if (deleted) tree.selected = s.parent && tree.byName.has(s.parent) ? s.parent : null;
  await reload();
  if (vmName === forVm && tree.selected) tree.select(tree.selected, focusIsFree());
}
