/* api_util.h: small helpers shared by the API test programs (on top of
 * tests/common/harness.h): request shorthands, error-body checks, VM and
 * snapshot fixtures, and a writer for test-driver node files (for VMs that
 * test:///default cannot make: transient ones, or snapshot trees that must
 * survive a daemon restart). Every check fails the running cmocka test. */
#pragma once
#include "harness.h"

#include <glib/gstdio.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The daemon the current group runs against (set by the group setup). */
extern VsTestDaemon *api_d;

/* A request with the token; PATH is a printf format. */
VsTestResponse *api_req(const char *method, const char *body, const char *path_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Asserts R is an error answer: STATUS, a JSON object {"code": STATUS,
 * "reason": non-empty string}, and when MENTIONS is not NULL the reason
 * contains it. */
void api_check_error(const VsTestResponse *r, long status, const char *mentions);

/* "/vms/<enc vm>" + SUFFIX (may be "" or NULL). Newly allocated. */
char *api_vm_path(const char *vm, const char *suffix);
/* "/vms/<enc vm>/snapshots/<enc snap>" + SUFFIX. Newly allocated. */
char *api_snap_path(const char *vm, const char *snap, const char *suffix);

/* GET PATH, assert 200, return the JSON (caller decrefs). */
json_t *api_get_json(const char *path);
/* POST /vms {"name": NAME} (+ extra JSON members in EXTRA, e.g.
 * "\"memory\": 256", or NULL); asserts 201; returns the VM object. */
json_t *api_create_vm(const char *name, const char *extra);
/* DELETE the VM, asserting 204 (or 404 when it is already gone). */
void api_delete_vm(const char *name);
/* POST a VM action; asserts 200 and returns the VM's new state (static
 * storage is not used: caller g_free). */
char *api_vm_action(const char *vm, const char *action);
/* Takes a snapshot and asserts the task finished. */
void api_snap(const char *vm, const char *name, const char *description);
/* GET one snapshot (asserts 200). */
json_t *api_get_snap(const char *vm, const char *name);
/* The VM's current-snapshot field. Newly allocated. */
char *api_current(const char *vm);
/* The names of a JSON array of objects joined with "|". Newly allocated. */
char *api_names(json_t *array);
/* The snapshot listing (PATH_QUERY such as "?all=true" or "") as "|"-joined names. */
char *api_snap_names(const char *vm, const char *query);
/* The parent of the snapshot (newly allocated). */
char *api_parent(const char *vm, const char *snap);

/* True when S contains NEEDLE (for assert_true with nicer intent). */
bool api_contains(const char *s, const char *needle);

/* Writes a test-driver node file DIR/node.xml holding DOMAINS (each a full
 * <domain> element, in the test namespace) and returns its test:// URI. */
char *api_test_driver_uri(const char *dir, const char *domains);

/* Number of regular files in DIR. */
int api_count_files(const char *dir);
