// vmactions.js: the buttons and confirmations for one VM (start, shut down, power off,
// suspend, resume, clone, rename, delete), shared by the VM list and the VM page.

import { api, nameFromUri, snapsPath, vmPath } from './api.js';
import { el, nameList, openDialog, quote, showError, showNotice, trackTask } from './ui.js';

const LIFECYCLE = [
  // [action, label, done text, states where it applies]
  ['start', 'Start', 'started', ['shutoff', 'crashed', 'nostate']],
  ['shutdown', 'Shut down', 'asked to shut down', ['running', 'blocked']],
  ['poweroff', 'Power off', 'powered off', ['running', 'paused', 'blocked', 'pmsuspended', 'shutdown', 'crashed']],
  ['suspend', 'Suspend', 'suspended', ['running', 'blocked']],
  ['resume', 'Resume', 'resumed', ['paused']],
];

async function lifecycle(vm, action, label, done, hooks) {
  try {
    await api.post(`${vmPath(vm.name)}/${action}`);
    showNotice(`VM ${quote(vm.name)} ${done}.`);
  } catch (err) {
    showError(`Could not ${label.toLowerCase()} VM ${quote(vm.name)}`, err);
  }
  await hooks.refresh();
}

async function clone(vm, hooks) {
  const name = await openDialog({
    title: `Clone VM ${quote(vm.name)}`,
    body: [`The clone gets copies of the disks and the whole snapshot tree (${vm.snapshots} snapshot${vm.snapshots === 1 ? '' : 's'}). Leave the name empty for the default.`],
    input: { label: 'Name of the clone', value: '' },
    confirm: 'Clone',
  });
  if (name === null) return;
  let task;
  try {
    task = await api.post(`${vmPath(vm.name)}/clone`, name.trim() ? { name: name.trim() } : {});
  } catch (err) {
    showError(`Could not clone VM ${quote(vm.name)}`, err);
    return;
  }
  const target = nameFromUri(task.target_uri);
  const final = await trackTask(task, `Cloning ${quote(vm.name)} as ${quote(target)}`);
  if (final.status === 'finished') showNotice(`VM ${quote(vm.name)} cloned as ${quote(target)}.`);
  await hooks.refresh();
}

async function rename(vm, hooks) {
  const name = await openDialog({
    title: `Rename VM ${quote(vm.name)}`,
    body: ['Its snapshots, their tree and its current snapshot stay as they are.'],
    input: { label: 'New name', value: vm.name },
    confirm: 'Rename',
  });
  if (name === null || name === vm.name) return;
  try {
    const updated = await api.put(vmPath(vm.name), { name });
    showNotice(`VM ${quote(vm.name)} is now called ${quote(updated.name)}.`);
    if (hooks.renamed) hooks.renamed(updated.name);
    else await hooks.refresh();
  } catch (err) {
    showError(`Could not rename VM ${quote(vm.name)}`, err);
  }
}

export async function deleteVm(vm, hooks) {
  let snaps = [];
  try {
    snaps = await api.get(`${snapsPath(vm.name)}?all=true`);
  } catch (err) {
    if (err.status !== 409) {
      showError(`Could not list the snapshots of VM ${quote(vm.name)}`, err);
      return;
    }
  }
  const count = snaps.length;
  const body = [
    el('p', { class: 'dialog-lead' }, count
      ? `VM ${quote(vm.name)} and its ${count} snapshot${count === 1 ? '' : 's'} will be deleted:`
      : `VM ${quote(vm.name)} will be deleted. It has no snapshots.`),
  ];
  if (count) body.push(nameList(snaps.map((s) => s.name)));
  if (vm.state !== 'shutoff') body.push(`It is ${vm.state === 'running' ? 'running' : 'not shut off'}: it will be powered off first.`);
  body.push('Its disk images are deleted too, unless you keep them below (they then stay on disk, snapshot contents included).');
  const answer = await openDialog({
    title: `Delete VM ${quote(vm.name)}?`,
    body,
    checkbox: { label: 'Keep the disk images' },
    confirm: count ? `Delete VM and ${count} snapshot${count === 1 ? '' : 's'}` : 'Delete VM',
    danger: true,
  });
  if (!answer) return;
  try {
    await api.del(`${vmPath(vm.name)}${answer.checked ? '?disks=keep' : ''}`);
    showNotice(`VM ${quote(vm.name)} deleted${answer.checked ? ' (disk images kept)' : ''}.`);
    if (hooks.deleted) hooks.deleted();
    else await hooks.refresh();
  } catch (err) {
    showError(`Could not delete VM ${quote(vm.name)}`, err);
    await hooks.refresh();
  }
}

/**
 * The action buttons for VM. HOOKS: refresh() after any change; optional renamed(newName)
 * and deleted() replace the refresh for those actions.
 */
export function vmActionButtons(vm, hooks) {
  const buttons = [];
  for (const [action, label, done, states] of LIFECYCLE) {
    if (!states.includes(vm.state)) continue;
    buttons.push(el('button', {
      type: 'button', class: 'secondary small', 'data-action': action, text: label,
      'aria-label': `${label} VM ${vm.name}`,
      onclick: () => lifecycle(vm, action, label, done, hooks),
    }));
  }
  const shutoff = vm.state === 'shutoff';
  buttons.push(el('button', {
    type: 'button', class: 'secondary small', 'data-action': 'clone', text: 'Clone',
    'aria-label': `Clone VM ${vm.name}`, disabled: !shutoff,
    title: shutoff ? 'Copy this VM with its disks and snapshot tree' : 'Shut the VM off to clone it',
    onclick: () => clone(vm, hooks),
  }));
  buttons.push(el('button', {
    type: 'button', class: 'secondary small', 'data-action': 'rename', text: 'Rename',
    'aria-label': `Rename VM ${vm.name}`, onclick: () => rename(vm, hooks),
  }));
  buttons.push(el('button', {
    type: 'button', class: 'danger small', 'data-action': 'delete', text: 'Delete',
    'aria-label': `Delete VM ${vm.name}`, onclick: () => deleteVm(vm, hooks),
  }));
  return buttons;
}
