/* libvirtd.h: a private libvirtd for the reconnect tests, started and
 * stopped at will. It listens on a socket of its own with no
 * authentication and runs in a mount namespace where /etc/libvirt,
 * /run/libvirt and /var/{lib,cache,log}/libvirt are directories of the run:
 * its QEMU driver (QEMU as root, as virtsnapd's embedded one) touches
 * nothing of the host's libvirt. It ends with the test program. Needs
 * root; a lock file lets one program at a time run one. */
#pragma once
#include <sys/types.h>

/* 77 (a skipped test, saying so for TEST) unless root with a libvirtd to
 * run, else 0. */
int vs_libvirtd_skip(const char *test);
/* A test program's exit status: its FAILED tests, or a daemon that did
 * not exit 0 (DAEMON_STATUS, said on stderr; under ASan, a leak). */
int vs_libvirtd_exit_status(int failed, int daemon_status);

/* Takes the lock and writes the configuration into a new directory. */
void vs_libvirtd_setup(void);
/* Starts libvirtd and waits for its socket. */
void vs_libvirtd_start(void);
/* Setup, start, and a cutting relay in front of it (relay.h): the relay's
 * socket, for virtsnapd (owned). */
char *vs_libvirtd_start_relayed(void);
/* Stops it (SIGTERM) if it runs; safe to call at any time. */
void vs_libvirtd_stop(void);
/* Kills it (SIGKILL) as a crash would: its QEMU processes go on. */
void vs_libvirtd_kill(void);
/* Stops it and removes the run's directory (kept with VS_KEEP_STATE). */
void vs_libvirtd_remove(void);
/* Prints to stderr whether libvirtd runs and every thread's stack in it
 * and in process DAEMON (virtsnapd; 0: none), with its log's end: to
 * explain a connection that never came back. */
void vs_libvirtd_explain(pid_t daemon);
/* The socket clients connect to, and the directory of the run. */
const char *vs_libvirtd_socket(void);
const char *vs_libvirtd_dir(void);
