/* api.h: what a REST resource handler sees (a parsed request) and fills in
 * (a status and a JSON body), and the helpers every handler shares: JSON
 * field checks and the one table mapping model errors to status codes. */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

typedef struct {
    const char *method;
    const char *path;       /* raw path, still percent-encoded */
    char *const *params;    /* decoded {…} path captures */
    int n_params;
    GHashTable *query;      /* decoded name → value ("" for none) */
    GHashTable *bare;       /* the names given without '=' ("?children"), or NULL */
    json_t *body;           /* a JSON object, or NULL when the request had no body */
    const char *principal;  /* who is asking ("token", a user name) */
    const char *cookie;     /* the Cookie header, for /logout */
    bool secure;            /* served over TLS */
    const char *peer;       /* the client's address, for the log */
    const char *session_key; /* the X-Virtsnap-Key header, for /logout */
} VsApiRequest;

typedef struct {
    int status;
    json_t *body;        /* owned; NULL answers with no body */
    GString *text;       /* owned; instead of BODY: JSON already written out */
    char *location;      /* owned; Location header */
    char *set_cookie;    /* owned; Set-Cookie header */
} VsApiResponse;

/* How response bodies are written: compact, and reals (downtime_ms) to 15
 * significant digits, so that 23.6 is not sent as 23.600000000000001. */
#define VS_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

typedef void (*VsApiHandler)(const VsApiRequest *req, VsApiResponse *resp);

typedef enum { VS_FIELD_STRING, VS_FIELD_INT, VS_FIELD_BOOL } VsFieldType;
typedef struct {
    const char *name;
    VsFieldType type;
    bool required;
} VsField;

/* Answers STATUS with {"code", "reason"}. */
void vs_api_error(VsApiResponse *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers with the status that ERROR's code maps to and its message. */
void vs_api_gerror(VsApiResponse *resp, const GError *error);
/* Answers STATUS with BODY (stolen). */
void vs_api_json(VsApiResponse *resp, int status, json_t *body);
/* Answers STATUS with the JSON array written into TEXT (stolen) by
 * vs_api_json_array_add: for long lists, written one element at a time
 * instead of building a JSON tree of them all. */
void vs_api_json_array(VsApiResponse *resp, int status, GString *text);
/* Appends ITEM (stolen) to the JSON array being written in TEXT, which
 * starts out empty; vs_api_json_array closes it. */
void vs_api_json_array_add(GString *text, json_t *item);
/* Answers 202 with the task ID and Location: /tasks/<id>. */
/* Answers 202 with the task and Location: /tasks/<id>. */
void vs_api_task_accepted(VsApiResponse *resp, const char *task_id);

/* The bodies the routes take (vs_api_check_body's FIELDS; also what the
 * fuzz harness checks it against): login; VM create, change and clone;
 * snapshot create (all three) and change (the first two). */
#define VS_API_N_LOGIN_FIELDS 2
#define VS_API_N_VM_CREATE_FIELDS 6
#define VS_API_N_VM_UPDATE_FIELDS 4
#define VS_API_N_VM_CLONE_FIELDS 1
#define VS_API_N_SNAPSHOT_FIELDS 3
extern const VsField vs_api_login_fields[VS_API_N_LOGIN_FIELDS];
extern const VsField vs_api_vm_create_fields[VS_API_N_VM_CREATE_FIELDS];
extern const VsField vs_api_vm_update_fields[VS_API_N_VM_UPDATE_FIELDS];
extern const VsField vs_api_vm_clone_fields[VS_API_N_VM_CLONE_FIELDS];
extern const VsField vs_api_snapshot_fields[VS_API_N_SNAPSHOT_FIELDS];

/* Checks the body against FIELDS: unknown fields, wrong types and missing
 * required fields answer 400 and return false. A NULL body passes when no
 * field is required. */
bool vs_api_check_body(const VsApiRequest *req, VsApiResponse *resp, const VsField *fields,
                       size_t n_fields);
/* A validated name; on failure answers 400 naming WHAT and returns false. */
bool vs_api_check_name(VsApiResponse *resp, const char *what, const char *name);
/* A validated new VM name (vs_vm_name_valid: the rule, at most 200 bytes). */
bool vs_api_check_vm_name(VsApiResponse *resp, const char *name);
/* A name to look up (vs_name_addressable): one another tool gave a VM or a
 * snapshot, outside the rule, is listed and so must be reachable; on
 * failure answers 400 naming WHAT and returns false. */
bool vs_api_check_addressable(VsApiResponse *resp, const char *what, const char *name);
/* A query flag such as ?children=true: true for "true"/"1"/"yes", false when
 * absent or "false"/"0"/"no"; anything else answers 400 and sets *ok false. */
bool vs_api_query_flag(const VsApiRequest *req, VsApiResponse *resp, const char *name, bool *ok);
/* Rejects query parameters other than those in ALLOWED (NULL-terminated). */
bool vs_api_check_query(const VsApiRequest *req, VsApiResponse *resp, const char *const *allowed);
/* "/vms/<encoded vm>" or "/vms/<vm>/snapshots/<snap>" with percent-encoding. */
char *vs_api_vm_uri(const char *vm);
char *vs_api_snapshot_uri(const char *vm, const char *snap);

/* The resource handlers. */
void vs_api_tasks_list(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_task_get(const VsApiRequest *req, VsApiResponse *resp);

void vs_api_vms_list(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_vms_create(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_vm_get(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_vm_update(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_vm_delete(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_vm_start(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_vm_poweroff(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_vm_shutdown(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_vm_suspend(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_vm_resume(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_vm_clone(const VsApiRequest *req, VsApiResponse *resp);

void vs_api_snapshots_list(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_snapshots_create(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_snapshot_get(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_snapshot_update(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_snapshot_delete(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_snapshot_revert(const VsApiRequest *req, VsApiResponse *resp);

void vs_api_login(const VsApiRequest *req, VsApiResponse *resp);
void vs_api_logout(const VsApiRequest *req, VsApiResponse *resp);
