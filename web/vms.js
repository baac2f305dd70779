// vms.js: the VM list view: every VM with its state, size, snapshot count and current
// snapshot, its action buttons, and the "New VM" form.

import { api } from './api.js';
import { $, el, quote, showError, showNotice, stateWord } from './ui.js';
import { vmActionButtons } from './vmactions.js';

let nav = null;
let loading = 0;

export function initVmList(navigation) {
  nav = navigation;
  $('list-refresh').addEventListener('click', () => showVmList());
  $('create-vm').addEventListener('submit', createVm);
}

function vmRow(vm) {
  const open = el('a', { href: `#/vm/${encodeURIComponent(vm.name)}`, class: 'vm-link', text: vm.name });
  const current = vm['current-snapshot']
    ? el('span', { class: 'current-name', text: vm['current-snapshot'] })
    : el('span', { class: 'none', text: '—' });
  return el('tr', { 'data-vm': vm.name },
    el('th', { scope: 'row', 'data-label': 'Name' }, open),
    el('td', { 'data-label': 'State' }, el('span', { class: `badge state-${vm.state}`, text: stateWord(vm.state) })),
    el('td', { 'data-label': 'Memory', text: `${vm.memory} MiB` }),
    el('td', { 'data-label': 'CPUs', text: String(vm.cpus) }),
    el('td', { 'data-label': 'Snapshots', class: 'snap-count', text: String(vm.snapshots) }),
    el('td', { 'data-label': 'Current snapshot' }, current),
    el('td', { 'data-label': 'Actions' },
      el('div', { class: 'actions', role: 'group', 'aria-label': `Actions for ${vm.name}` },
        vmActionButtons(vm, { refresh: showVmList }))));
}

/** Loads the VM list and draws it. */
export async function showVmList() {
  const ticket = ++loading;
  let vms;
  try {
    vms = await api.get('/vms');
  } catch (err) {
    if (err.status !== 401) showError('Could not load the VM list', err);
    return;
  }
  if (ticket !== loading || $('list-view').hidden) return; // a newer load or another view won
  $('vm-rows').replaceChildren(...vms.map(vmRow));
  $('vm-empty').hidden = vms.length > 0;
}

async function createVm(e) {
  e.preventDefault();
  const name = $('new-vm-name').value;
  const body = {
    name,
    memory: Number($('new-vm-memory').value),
    cpus: Number($('new-vm-cpus').value),
    disk: Number($('new-vm-disk').value),
  };
  if ($('new-vm-hugepages').checked) body.hugepages = true;
  const button = e.submitter || $('create-vm').querySelector('button');
  button.disabled = true;
  try {
    const vm = await api.post('/vms', body);
    showNotice(`VM ${quote(vm.name)} created.`);
    $('new-vm-name').value = '';
    await showVmList();
  } catch (err) {
    showError(`Could not create VM ${quote(name)}`, err);
  } finally {
    button.disabled = false;
  }
}
