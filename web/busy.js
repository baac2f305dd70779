// busy.js: what this page is doing to each VM right now. A revert or a delete is a plain
// request that may wait behind work queued on its VM: while it runs it shows in the task
// tray and the VM counts as busy, so the buttons that would conflict with it stay off.
// Snapshot creates being followed (taken here, or found running after a reload) are kept
// per VM too: Take snapshot is off for that VM only. The views listen for the changes.

import { trackRequest } from './ui.js';

const work = new Map(); // VM name → label of the request under way
const creates = new Map(); // VM name → how many of its snapshot creates are being followed
const listeners = [];

/** The label of what VM is busy with, or null. */
export const busyWith = (vm) => work.get(vm) || null;

/** FN() is called whenever a VM becomes busy or idle. */
export function onBusyChange(fn) {
  listeners.push(fn);
}

function changed() {
  for (const fn of listeners) fn();
}

/**
 * Runs REQUEST() (returning the request's promise) with VM busy and LABEL in the tray.
 * Resolves or rejects as the request does.
 */
export async function whileBusy(vm, label, request) {
  work.set(vm, label);
  changed();
  try {
    return await trackRequest(label, request());
  } finally {
    work.delete(vm);
    changed();
  }
}

/** Whether a snapshot create of VM is being followed. */
export const creating = (vm) => creates.has(vm);

/** Runs RUN() (a create and the following of its task) with VM counted as creating. */
export async function whileCreating(vm, run) {
  creates.set(vm, (creates.get(vm) || 0) + 1);
  changed();
  try {
    return await run();
  } finally {
    const left = creates.get(vm) - 1;
    if (left) creates.set(vm, left);
    else creates.delete(vm);
    changed();
  }
}
