/* harness.h: what the API and end-to-end tests share: start a real
 * virtsnapd on a free loopback port with its own state directory, talk to it
 * over HTTP with libcurl, and wait for tasks. */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    char *url;       /* "http://127.0.0.1:PORT" */
    char *state_dir; /* a fresh temporary directory (removed by stop) */
    char *token;
    char *log_path;  /* the daemon's stderr */
    char *connect;   /* libvirt URI, NULL for the embedded default */
    char **extra;    /* the start's extra arguments, used again by a restart */
} VsTestDaemon;

typedef struct {
    long status;
    char *body;
    json_t *json;     /* parsed body, or NULL */
    char *headers;    /* raw response headers */
} VsTestResponse;

/* build/virtsnapd, or $VS_DAEMON. */
const char *vs_test_daemon_binary(void);
/* Starts build/virtsnapd (or $VS_DAEMON) with --connect CONNECT (NULL: the
 * embedded QEMU driver) and EXTRA_ARGS (NULL-terminated, may be NULL); waits
 * until it answers. Aborts the test program when it cannot. */
VsTestDaemon *vs_test_daemon_start(const char *connect, const char *const *extra_args);
/* Restarts the daemon with the same state directory and arguments. */
void vs_test_daemon_restart(VsTestDaemon *d);
/* SIGTERM and wait: the exit status (or -1 on a signal/timeout). */
int vs_test_daemon_term(VsTestDaemon *d);
/* A test program's exit status: FAILED (cmocka's count), else 1 if any
 * daemon that vs_test_daemon_term() stopped (directly, or through a restart
 * or vs_test_daemon_free) exited otherwise than with 0: a sanitizer's
 * report at exit, a crash, a stop that hung, or a clean-up step that failed
 * (vs_test_cleanup_failed). Stops in a group teardown, or ignored by a
 * test, count too (cmocka does not count a failed teardown). */
int vs_test_exit_status(int failed);
/* Counts a clean-up step that failed (a VM a teardown could not delete):
 * the program's exit status is 1 then too. */
void vs_test_cleanup_failed(void);
/* Prints, for each fork of the daemon that sleeps without having run another
 * program, its stack (gdb) and, for an AddressSanitizer allocator lock, why:
 * a hang's explanation (called when the daemon or a task does not end). */
void vs_test_daemon_explain_stuck_forks(const VsTestDaemon *d);
/* Stops it (if running) and removes its state directory. */
void vs_test_daemon_free(VsTestDaemon *d);
/* How many times D's log holds LINE; and waiting (60 s at most) until it
 * holds it AT_LEAST times: false if it does not by then (a fault point's
 * "waiting 4 s at '…'" says the daemon is held there). The log goes on
 * from the test program's earlier daemons: count before, wait for one
 * more. */
int vs_test_log_count(const VsTestDaemon *d, const char *line);
bool vs_test_wait_logged(const VsTestDaemon *d, const char *line, int at_least);
/* PIDs (pid_t) of the qemu-system processes whose command line mentions
 * STATE_DIR and, when VM is not NULL, "guest=VM," (owned). */
GArray *vs_qemu_pids(const char *state_dir, const char *vm);

/* A request with the token. BODY is sent with Content-Type: application/json
 * when not NULL. PATH may contain a query string. */
VsTestResponse *vs_http(VsTestDaemon *d, const char *method, const char *path, const char *body);
/* Full control: HEADERS is a NULL-terminated list of "Name: value" lines
 * (no token added unless given there). */
VsTestResponse *vs_http_raw(VsTestDaemon *d, const char *method, const char *path,
                            const char *body, size_t body_len, const char *const *headers);
void vs_response_free(VsTestResponse *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsTestResponse, vs_response_free)

/* The value of header NAME in R (case-insensitive), newly allocated, or NULL. */
char *vs_response_header(const VsTestResponse *r, const char *name);

/* Percent-encodes NAME for a path segment. */
char *vs_enc(const char *name);

/* Polls /tasks/<id> until it is no longer running (TIMEOUT_S at most);
 * returns the final task object (owned by caller). */
json_t *vs_wait_task(VsTestDaemon *d, const char *id, int timeout_s);
/* POSTs a snapshot and waits for its task; returns the final status string
 * ("finished"/"failed") newly allocated. NAME/DESCRIPTION may be NULL. */
char *vs_take_snapshot(VsTestDaemon *d, const char *vm, const char *name, const char *description);
/* Makes VM (POST /vms, the defaults) and takes its snapshot SNAP: whether
 * both were done. */
bool vs_make_vm_with_snapshot(VsTestDaemon *d, const char *vm, const char *snap);

/* Convenience accessors. */
const char *vs_json_str(json_t *obj, const char *key);
long long vs_json_int(json_t *obj, const char *key);
