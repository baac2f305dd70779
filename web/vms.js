// vms.js: the VM list view: every VM with its state, size, snapshot count and current
// snapshot, its action buttons, and the "New VM" form. A load that brings what is shown
// already draws nothing (the list refreshes by itself every few seconds); a redraw keeps
// the keyboard focus where it was.

import { api } from './api.js';
import { $, el, keepFocus, nextStartText, quote, showError, showNotice, stateWord } from './ui.js';
import { vmActionButtons } from './vmactions.js';

let nav = null;
let loading = 0;
let drawnFrom = null; // the answer the rows were drawn from
let failing = false; // the last load failed (a refresh by itself says so once)
let loadError = null; // its message: replaced by the next failure's, gone once a load works

export function initVmList(navigation) {
  nav = navigation;
  $('list-refresh').addEventListener('click', () => showVmList());
  $('create-vm').addEventListener('submit', createVm);
  // Whether Disk was typed in: over a base image an untouched Disk means the image's size.
  $('new-vm-disk').addEventListener('input', (e) => { e.target.dataset.typed = '1'; });
}

function vmRow(vm) {
  const open = el('a', {
    href: `#/vm/${encodeURIComponent(vm.name)}`, class: 'vm-link', text: vm.name, 'data-vm': vm.name, 'data-action': 'open',
  });
  const current = vm['current-snapshot']
    ? el('span', { class: 'current-name', text: vm['current-snapshot'] })
    : el('span', { class: 'none', text: '—' });
  return el('tr', { 'data-vm': vm.name },
    el('th', { scope: 'row', 'data-label': 'Name' }, open),
    el('td', { 'data-label': 'State' }, el('span', { class: `badge state-${vm.state}`, text: stateWord(vm.state) })),
    el('td', { 'data-label': 'Memory', text: `${vm.memory} MiB` },
      ...(vm.next_start && vm.next_start.memory !== vm.memory
        ? [el('span', { class: 'pending', text: ` (${vm.next_start.memory} MiB from its next start)` })] : [])),
    el('td', { 'data-label': 'CPUs', text: String(vm.cpus) },
      ...(vm.next_start && vm.next_start.cpus !== vm.cpus
        ? [el('span', { class: 'pending', text: ` (${vm.next_start.cpus} from its next start)` })] : [])),
    el('td', { 'data-label': 'Snapshots', class: 'snap-count', text: String(vm.snapshots) }),
    el('td', { 'data-label': 'Current snapshot' }, current),
    el('td', { 'data-label': 'Actions' },
      el('div', { class: 'actions', role: 'group', 'aria-label': `Actions for ${vm.name}` },
        vmActionButtons(vm, { refresh: showVmList }))));
}

/** Empties the list (signed out): nothing of the session stays, the next load draws. */
export function forgetVmList() {
  drawnFrom = null;
  $('vm-rows').replaceChildren();
}

/** Loads the VM list and draws it. AUTO: a refresh by itself. */
export async function showVmList({ auto = false } = {}) {
  const ticket = ++loading;
  let vms;
  try {
    vms = await api.get('/vms');
  } catch (err) {
    if (ticket !== loading || $('list-view').hidden) return; // a newer load or another view won
    if (err.status !== 401 && !(auto && failing)) {
      if (loadError) loadError.remove();
      loadError = showError('Could not load the VM list', err);
    }
    failing = true;
    return;
  }
  if (ticket !== loading || $('list-view').hidden) return; // a newer load or another view won
  failing = false;
  if (loadError) loadError.remove();
  loadError = null;
  const key = JSON.stringify(vms);
  if (key === drawnFrom) return;
  keepFocus($('vm-rows'), () => $('vm-rows').replaceChildren(...vms.map(vmRow)));
  $('vm-empty').hidden = vms.length > 0;
  drawnFrom = key; // only once drawn
}

async function createVm(e) {
  e.preventDefault();
  const name = $('new-vm-name').value;
  const body = {
    name,
    memory: Number($('new-vm-memory').value),
    cpus: Number($('new-vm-cpus').value),
  };
  const image = $('new-vm-image').value.trim();
  const disk = $('new-vm-disk');
  // Over a base image the disk is the image's size, unless a size was typed in.
  if (!image || disk.dataset.typed) body.disk = Number(disk.value);
  if (image) body.image = image;
  if ($('new-vm-hugepages').checked) body.hugepages = true;
  const button = e.submitter || $('create-vm').querySelector('button');
  button.disabled = true;
  try {
    const vm = await api.post('/vms', body);
    showNotice(`VM ${quote(vm.name)} created.`);
    $('new-vm-name').value = '';
    $('new-vm-image').value = '';
    delete disk.dataset.typed;
    await showVmList();
  } catch (err) {
    showError(`Could not create VM ${quote(name)}`, err);
  } finally {
    button.disabled = false;
  }
}
