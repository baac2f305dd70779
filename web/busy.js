// busy.js: what this page is doing to each VM right now. A revert or a delete is a plain
// request that may wait behind work queued on its VM: while it runs it shows in the task
// tray and the VM counts as busy, so the buttons that would conflict with it stay off
// (the views listen for the changes).

import { trackRequest } from './ui.js';

const work = new Map(); // VM name → label of the request under way
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
