/* relay.h: a relay between a libvirt client and libvirtd's socket that can
 * cut the connection at the next call of a given libvirt procedure: before
 * libvirtd sees it, right after passing it on, or after libvirtd's reply
 * (dropped). What a lost link or a libvirtd restart does to a client. */
#pragma once
#include <stdbool.h>

typedef enum {
    VS_CUT_NONE,
    VS_CUT_BEFORE,      /* drop the call: libvirtd never sees it */
    VS_CUT_AFTER_CALL,  /* pass the call on and cut at once */
    VS_CUT_AFTER_REPLY, /* pass the call, wait for libvirtd's reply, drop it */
} VsCut;

/* Listens on PATH and relays each connection to the socket UPSTREAM. */
void vs_relay_start(const char *path, const char *upstream);
/* Stops accepting (connections being relayed go on until they close). */
void vs_relay_stop(void);
/* Procedures of libvirt's remote protocol (src/remote/remote_protocol.x). */
#define VS_PROC_DEFINE_XML 11u
#define VS_PROC_GET_XML_DESC 14u
#define VS_PROC_LOOKUP_BY_NAME 23u
#define VS_PROC_LOOKUP_BY_UUID 24u
#define VS_PROC_SNAPSHOT_CREATE_XML 185u
#define VS_PROC_SNAPSHOT_NUM 187u
#define VS_PROC_SNAPSHOT_LOOKUP_BY_NAME 189u
#define VS_PROC_REVERT_TO_SNAPSHOT 192u
#define VS_PROC_SNAPSHOT_DELETE 193u
#define VS_PROC_UNDEFINE_FLAGS 231u
#define VS_PROC_SNAPSHOT_NUM_CHILDREN 246u
#define VS_PROC_LIST_ALL_DOMAINS 273u

/* Cuts the connection that carries the next call of PROC as CUT says. */
void vs_relay_arm(VsCut cut, unsigned proc);
/* The same at the NTH call of PROC from now (1: the next). */
void vs_relay_arm_nth(VsCut cut, unsigned proc, int nth);
/* HOLD: after the next cut, connections are closed as soon as they are
 * accepted (libvirtd seems away) until this is called with false. */
void vs_relay_hold_after_cut(bool hold);
/* Whether the armed cut is still waiting for its call. */
bool vs_relay_armed(void);
/* How many connections were cut so far. */
int vs_relay_cuts(void);
