// vmactions.js: the buttons and confirmations for one VM (start, shut down, power off,
// suspend, resume, clone, rename, delete), shared by the VM list and the VM page. They are
// off while their VM is busy (busy.js) or while their own call runs.

import { api, nameFromUri, snapsPath, vmPath } from './api.js';
import { busyWith, onBusyChange, whileBusy } from './busy.js';
import { el, nameList, openDialog, quote, sentence, showError, showNotice, trackTask } from './ui.js';

const LIFECYCLE = [
  // [action, label, done text, states where it applies]
  // (A "crashed" VM is one libvirt keeps after its crash: power it off, then start it.)
  ['start', 'Start', 'started', ['shutoff', 'nostate']],
  ['shutdown', 'Shut down', 'asked to shut down', ['running', 'blocked']],
  ['poweroff', 'Power off', 'powered off', ['running', 'paused', 'blocked', 'pmsuspended', 'shutdown', 'crashed']],
  ['suspend', 'Suspend', 'suspended', ['running', 'blocked']],
  ['resume', 'Resume', 'resumed', ['paused']],
];

/* Powering off or shutting down a transient VM ends it: virtsnapd refuses while it has
   snapshots (their metadata would go with it) unless asked to discard them. */
const discardWords = (vm) => [
  el('p', { class: 'dialog-lead' }, `VM ${quote(vm.name)} is transient: powering it off ends it, and libvirt keeps no snapshot metadata for a VM that is gone.`),
  el('p', { class: 'warning' }, 'Its snapshots will no longer be listed or reverted to. Their contents stay inside the disk images (qemu-img snapshot -l lists them).'),
];

function confirmDiscard(vm, label) {
  return openDialog({
    title: `${label} transient VM ${quote(vm.name)}?`,
    body: discardWords(vm),
    confirm: `${label} and drop the snapshots' metadata`,
    danger: true,
  });
}

/* Power off is forced (libvirt's destroy): asked first, saying what is lost and what Shut
   down does instead. DISCARD: a transient VM with snapshots, whose metadata goes too. */
function confirmPowerOff(vm, discard) {
  const canShutDown = vm.state === 'running' || vm.state === 'blocked';
  return openDialog({
    title: `Power off VM ${quote(vm.name)}?`,
    body: [
      el('p', { class: 'dialog-lead' }, `Powering off stops VM ${quote(vm.name)} at once, as pulling the plug would.`),
      el('p', { class: 'warning' }, 'Whatever the guest has not saved to its disks is lost.'),
      canShutDown
        ? 'Shut down asks the guest to shut itself down instead, saving its data first.'
        : 'Shut down asks the guest to shut itself down instead, saving its data first; it needs the VM running.',
      ...(discard ? discardWords(vm) : []),
      ...(!vm.persistent && !discard
        ? [`VM ${quote(vm.name)} is transient: powering it off ends it, and it is no longer listed.`] : []),
    ],
    confirm: discard ? "Power off and drop the snapshots' metadata" : 'Power off',
    danger: true,
  });
}

const following = new Set(); // VMs whose shutdown is being followed
const inFlight = new Set(); // "<vm>\n<action>" calls under way (buttons redrawn meanwhile stay off)

/* Whether the ACTION button of VM NAME is off for the moment: its VM busy, or its call running. */
const offForNow = (name, action) => !!busyWith(name) || inFlight.has(`${name}\n${action}`);

/** Sets every VM action button on the page (data-vm, data-action) from the state above. */
export function syncVmButtons() {
  for (const b of document.querySelectorAll('button[data-vm][data-action]')) {
    if (b.offAnyway !== undefined) b.disabled = b.offAnyway || offForNow(b.dataset.vm, b.dataset.action);
  }
}
onBusyChange(syncVmButtons);

/* A shutdown only asks the guest (ACPI): confirmed first, as virt-manager and Proxmox do. */
function confirmShutdown(vm) {
  return openDialog({
    title: `Shut down VM ${quote(vm.name)}?`,
    body: [
      `The guest of VM ${quote(vm.name)} is asked to shut itself down, saving its data first; this page follows it for two minutes.`,
      'A guest that ignores the request keeps running: Power off then stops it at once.',
      ...(!vm.persistent ? [`VM ${quote(vm.name)} is transient: once shut down, it is no longer listed.`] : []),
    ],
    confirm: 'Shut down',
  });
}

/* After a shutdown request the guest takes its time: follow the VM (once) for up to two
   minutes and refresh once it has stopped, or leave its page quietly if it is gone (a
   transient VM ends with its shutdown). A guest still running after that is said so. */
async function followShutdown(vm, hooks) {
  if (following.has(vm.name)) return;
  following.add(vm.name);
  try {
    const deadline = Date.now() + 120000;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      let state;
      try {
        state = (await api.get(vmPath(vm.name))).state;
      } catch (err) {
        if (err.status !== 404) return; // signed out, or virtsnapd away: stop following
        state = 'gone';
      }
      if (state === 'gone' && hooks.deleted) {
        hooks.deleted();
        return;
      }
      if (state !== 'running' && state !== 'shutdown') {
        await hooks.refresh();
        return;
      }
    }
    showError(`VM ${quote(vm.name)} has not shut down`,
      { reason: 'its guest did not act on the request in two minutes; Power off stops it at once' });
  } finally {
    following.delete(vm.name);
  }
}

async function lifecycle(vm, action, label, done, hooks) {
  const path = `${vmPath(vm.name)}/${action}`;
  const key = `${vm.name}\n${action}`;
  if (offForNow(vm.name, action)) return;
  // (A transient VM that has snapshots, as last loaded: one question for both.)
  const discard = action === 'poweroff' && !vm.persistent && vm.snapshots > 0;
  if (action === 'poweroff' && !(await confirmPowerOff(vm, discard))) return;
  if (action === 'shutdown' && !(await confirmShutdown(vm))) return;
  if (offForNow(vm.name, action)) {
    showNotice(`VM ${quote(vm.name)} is busy (${busyWith(vm.name) || `${label} is under way`}); it was not sent.`);
    return;
  }
  inFlight.add(key); // a slow call is not sent twice
  syncVmButtons();
  let ended = false; // a transient VM powered off: gone
  let sent = false; // the request was taken (a shutdown is then followed)
  try {
    await api.post(discard ? `${path}?discard_snapshots=true` : path);
    sent = true;
    ended = action === 'poweroff' && !vm.persistent;
    showNotice(`VM ${quote(vm.name)} ${done}${discard ? "; its snapshots' metadata is gone" : ''}${ended ? '; being transient, it is gone' : ''}.`);
  } catch (err) {
    // (Only for a power-off: a shutdown would drop the metadata at once, whether or
    // not the guest then shuts down.)
    if (err.status === 409 && action === 'poweroff' && /discard_snapshots=true/.test(err.reason) &&
        await confirmDiscard(vm, label)) {
      try {
        await api.post(`${path}?discard_snapshots=true`);
        ended = true;
        showNotice(`VM ${quote(vm.name)} ${done}; its snapshots' metadata is gone, and being transient, it is gone.`);
      } catch (again) {
        showError(`Could not ${label.toLowerCase()} VM ${quote(vm.name)}`, again);
      }
    } else if (err.status === 409 && action === 'shutdown' && /discard_snapshots=true/.test(err.reason)) {
      // The way on from here in the page: Power off asks about the snapshots first.
      showError(`Could not ${label.toLowerCase()} VM ${quote(vm.name)}`,
        { reason: `${err.reason.replace(/[.\s]+$/, '')}. Power off asks whether to discard them and ends the VM at once` });
    } else {
      showError(`Could not ${label.toLowerCase()} VM ${quote(vm.name)}`, err);
    }
  } finally {
    inFlight.delete(key);
    syncVmButtons();
  }
  // (its own page reloaded would say "no such VM" as an error: the list is shown instead)
  if (ended && hooks.deleted) await hooks.deleted();
  else await hooks.refresh();
  if (action === 'shutdown' && sent) await followShutdown(vm, hooks);
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
  const final = await trackTask(task, `Cloning ${quote(vm.name)} as ${quote(target)}`, true);
  if (final.status === 'finished') showNotice(`VM ${quote(vm.name)} cloned as ${quote(target)}.`);
  await hooks.refresh();
}

/* Memory, CPUs and huge pages: the persistent definition, used from the next start. */
async function settings(vm, hooks) {
  const next = vm.next_start || vm; /* the definition the dialog changes */
  const answer = await openDialog({
    title: `Settings of VM ${quote(vm.name)}`,
    body: [vm.state === 'shutoff'
      ? 'They apply when the VM is next started.'
      : 'They apply when the VM is next started; it keeps what it has until it is shut off.'],
    fields: [
      { name: 'memory', label: 'Memory (MiB)', value: next.memory, min: 16 },
      { name: 'cpus', label: 'CPUs', value: next.cpus, min: 1 },
    ],
    checkbox: { label: "Guest RAM on the host's huge pages", checked: next.hugepages },
    confirm: 'Save',
  });
  if (!answer) return;
  const change = {};
  if (answer.values.memory !== next.memory) change.memory = answer.values.memory;
  if (answer.values.cpus !== next.cpus) change.cpus = answer.values.cpus;
  if (answer.checked !== !!next.hugepages) change.hugepages = answer.checked;
  if (!Object.keys(change).length) return;
  try {
    const answered = await api.put(vmPath(vm.name), change);
    const updated = answered.next_start || answered; /* a running VM keeps what it has */
    showNotice(`VM ${quote(vm.name)} now has ${updated.memory} MiB and ${updated.cpus} CPU${updated.cpus === 1 ? '' : 's'}` +
      `${updated.hugepages ? ' on huge pages' : ''} (from its next start).`);
  } catch (err) {
    showError(`Could not change the settings of VM ${quote(vm.name)}`, err);
  }
  await hooks.refresh();
}

async function rename(vm, hooks) {
  const name = await openDialog({
    title: `Rename VM ${quote(vm.name)}`,
    body: ['Its snapshots, their tree and its current snapshot stay as they are.'],
    input: { label: 'New name', value: vm.name },
    confirm: 'Rename',
  });
  // Unchanged (a name another tool gave with spaces around it stays as it is).
  if (name === null || name === vm.name || name.trim() === vm.name) return;
  try {
    const updated = await api.put(vmPath(vm.name), { name: name.trim() });
    showNotice(`VM ${quote(vm.name)} is now called ${quote(updated.name)}.`);
    if (hooks.renamed) hooks.renamed(updated.name);
    else await hooks.refresh();
  } catch (err) {
    showError(`Could not rename VM ${quote(vm.name)}`, err);
  }
}

/* The VM delete says what goes as it is now: the VM (state, snapshot count) and its
   snapshots are asked for again; should the snapshots not list, the VM's count says how
   many go, with the reason. */
export async function deleteVm(shown, hooks) {
  let vm;
  try {
    vm = await api.get(vmPath(shown.name));
  } catch (err) {
    showError(`Could not delete VM ${quote(shown.name)}`, err);
    if (err.status === 404) await (hooks.deleted ? hooks.deleted() : hooks.refresh());
    return;
  }
  let snaps = null;
  let unlisted = null;
  try {
    snaps = await api.get(`${snapsPath(vm.name)}?all=true`);
  } catch (err) {
    if (err.status === 401) return;
    unlisted = err;
  }
  const count = snaps ? snaps.length : vm.snapshots;
  const body = [
    el('p', { class: 'dialog-lead' }, count
      ? `VM ${quote(vm.name)} and its ${count} snapshot${count === 1 ? '' : 's'} will be deleted${snaps ? ':' : '.'}`
      : `VM ${quote(vm.name)} will be deleted. ${snaps ? 'It has no snapshots.' : 'By its count it has no snapshots.'}`),
  ];
  if (snaps && count) body.push(nameList(snaps.map((s) => s.name)));
  if (unlisted) {
    body.push(el('p', { class: 'warning' },
      `${count ? 'Their names' : 'Its snapshots'} could not be listed: ${sentence(unlisted.reason)}`));
  }
  if (vm.state !== 'shutoff') body.push(`It is ${vm.state === 'running' ? 'running' : 'not shut off'}: it will be powered off first.`);
  body.push('The disk images virtsnap created for it are deleted too, with the snapshots inside them, unless you keep them below; ' +
    'disk images of VMs made by other tools are never deleted. Snapshots taken live keep their memory in separate files, which are deleted either way, as is its serial log.');
  const answer = await openDialog({
    title: `Delete VM ${quote(vm.name)}?`,
    body,
    checkbox: { label: 'Keep the disk images' },
    confirm: count ? `Delete VM and ${count} snapshot${count === 1 ? '' : 's'}` : 'Delete VM',
    danger: true,
  });
  if (!answer) return;
  if (busyWith(vm.name)) {
    showNotice(`VM ${quote(vm.name)} is busy (${busyWith(vm.name)}); it was not deleted.`);
    return;
  }
  try {
    await whileBusy(vm.name, `Deleting VM ${quote(vm.name)}…`,
      () => api.del(`${vmPath(vm.name)}${answer.checked ? '?disks=keep' : ''}`));
    showNotice(`VM ${quote(vm.name)} deleted${answer.checked ? ' (disk images kept)' : ''}.`);
    if (hooks.deleted) hooks.deleted();
    else await hooks.refresh();
  } catch (err) {
    showError(`Could not delete VM ${quote(vm.name)}`, err);
    await hooks.refresh();
  }
}

/* One action button of VM; OFF_ANYWAY: off whatever the VM is busy with. */
function actionButton(vm, action, offAnyway, attrs) {
  const button = el('button', {
    type: 'button', 'data-vm': vm.name, 'data-action': action, ...attrs,
    disabled: offAnyway || offForNow(vm.name, action),
  });
  button.offAnyway = offAnyway;
  return button;
}

/**
 * The action buttons for VM. HOOKS: refresh() after any change; optional renamed(newName)
 * and deleted() replace the refresh for those actions.
 */
export function vmActionButtons(vm, hooks) {
  const buttons = [];
  for (const [action, label, done, states] of LIFECYCLE) {
    if (!states.includes(vm.state)) continue;
    buttons.push(actionButton(vm, action, false, {
      class: 'secondary small', text: label, 'aria-label': `${label} VM ${vm.name}`,
      onclick: () => lifecycle(vm, action, label, done, hooks),
    }));
  }
  const shutoff = vm.state === 'shutoff';
  buttons.push(actionButton(vm, 'clone', !shutoff, {
    class: 'secondary small', text: 'Clone', 'aria-label': `Clone VM ${vm.name}`,
    title: shutoff ? 'Copy this VM with its disks and snapshot tree' : 'Shut the VM off to clone it',
    onclick: () => clone(vm, hooks),
  }));
  buttons.push(actionButton(vm, 'settings', !vm.persistent, {
    class: 'secondary small', text: 'Settings', 'aria-label': `Settings of VM ${vm.name}`,
    title: vm.persistent ? 'Memory, CPUs and huge pages, from the next start' : 'A transient VM has no definition to change',
    onclick: () => settings(vm, hooks),
  }));
  buttons.push(actionButton(vm, 'rename', !shutoff, {
    class: 'secondary small', text: 'Rename', 'aria-label': `Rename VM ${vm.name}`,
    title: shutoff ? 'Give this VM another name; its snapshots stay as they are' : 'Shut the VM off to rename it',
    onclick: () => rename(vm, hooks),
  }));
  buttons.push(actionButton(vm, 'delete', false, {
    class: 'danger small', text: 'Delete', 'aria-label': `Delete VM ${vm.name}`,
    onclick: () => deleteVm(vm, hooks),
  }));
  return buttons;
}
