/* embed.h: for helper modes of the test programs (child processes run while
 * the daemon is down): opens the daemon's embedded QEMU driver directly,
 * as another libvirt client on the host would. QEMU processes outlive it. */
#pragma once
#include <libvirt/libvirt.h>

/* Registers libvirt's default event loop, runs it in a thread of its own
 * (the embedded driver needs one) and opens qemu:///embed?root=ROOT; NULL
 * with libvirt's message printed on stderr when it cannot. */
virConnectPtr vs_embed_open(const char *root);
