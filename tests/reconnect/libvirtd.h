/* libvirtd.h: a private libvirtd for the reconnect tests, started and
 * stopped at will. It listens on a socket of its own with no
 * authentication; as root its QEMU driver still uses the host's /run paths,
 * so one test at a time holds it (a lock file serialises the programs). */
#pragma once
#include <sys/types.h>

/* Takes the lock and writes the configuration into a new directory. */
void vs_libvirtd_setup(void);
/* Starts libvirtd and waits for its socket. */
void vs_libvirtd_start(void);
/* Stops it (SIGTERM) if it runs; safe to call at any time. */
void vs_libvirtd_stop(void);
/* The socket clients connect to, and the directory of the run. */
const char *vs_libvirtd_socket(void);
const char *vs_libvirtd_dir(void);
