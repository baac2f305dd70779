/* fuzz_json.c: libFuzzer harness for request body and query validation.
 * The input is parsed as the server does (jansson, JSON_REJECT_DUPLICATES,
 * objects only), then checked with vs_api_check_body against the field
 * table of every route that takes a body; its string members also serve as
 * a query for vs_api_check_query / vs_api_query_flag.
 *
 * Properties beyond "no crash, no leak, no UB": check_body accepts exactly
 * the objects whose members are all known and well-typed and that have
 * every required field; a refusal is a 400 error body
 * {"code": 400, "reason": "..."} that serialises; name fields agree with
 * vs_name_valid; query flags follow their documented values. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "api/api.h"
#include "fuzz.h"
#include "util/names.h"

/* The field tables of src/api itself (login, VM create/update/clone,
 * snapshot create and update), and one with a required bool. */
static const VsField bool_fields[] = {{"flag", VS_FIELD_BOOL, true}};

static const struct {
    const VsField *fields;
    size_t n;
} tables[] = {
    {vs_api_login_fields, VS_API_N_LOGIN_FIELDS},
    {vs_api_vm_create_fields, VS_API_N_VM_CREATE_FIELDS},
    {vs_api_vm_update_fields, VS_API_N_VM_UPDATE_FIELDS},
    {vs_api_vm_clone_fields, VS_API_N_VM_CLONE_FIELDS},
    {vs_api_snapshot_fields, VS_API_N_SNAPSHOT_FIELDS},
    {vs_api_snapshot_fields, VS_API_N_SNAPSHOT_FIELDS - 1},
    {bool_fields, G_N_ELEMENTS(bool_fields)},
    {NULL, 0},
};

static bool type_ok(VsFieldType type, json_t *v)
{
    switch (type) {
    case VS_FIELD_STRING: return json_is_string(v);
    case VS_FIELD_INT: return json_is_integer(v);
    case VS_FIELD_BOOL: return json_is_boolean(v);
    }
    return false;
}

/* The verdict vs_api_check_body should reach, worked out independently. */
static bool expected_ok(json_t *body, const VsField *fields, size_t n)
{
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value) {
        const VsField *f = NULL;
        for (size_t i = 0; i < n && !f; i++)
            if (strcmp(fields[i].name, key) == 0)
                f = &fields[i];
        if (!f || !type_ok(f->type, value))
            return false;
    }
    for (size_t i = 0; i < n; i++)
        if (fields[i].required && !json_object_get(body, fields[i].name))
            return false;
    return true;
}

static void check_error_body(const VsApiResponse *resp, int status)
{
    FUZZ_ASSERT(resp->status == status);
    FUZZ_ASSERT(json_is_object(resp->body));
    FUZZ_ASSERT(json_integer_value(json_object_get(resp->body, "code")) == status);
    const char *reason = json_string_value(json_object_get(resp->body, "reason"));
    FUZZ_ASSERT(reason && *reason);
    char *text = json_dumps(resp->body, JSON_COMPACT);
    FUZZ_ASSERT(text); /* the error body always serialises */
    json_error_t err;
    json_t *back = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    FUZZ_ASSERT(back && json_equal(back, resp->body));
    json_decref(back);
    free(text);
}

static void check_body(json_t *body)
{
    for (size_t t = 0; t < G_N_ELEMENTS(tables); t++) {
        VsApiRequest req = {.method = "POST", .path = "/fuzz", .body = body};
        VsApiResponse resp = {0};
        bool ok = vs_api_check_body(&req, &resp, tables[t].fields, tables[t].n);
        FUZZ_ASSERT(ok == expected_ok(body, tables[t].fields, tables[t].n));
        if (ok) {
            FUZZ_ASSERT(resp.status == 0 && resp.body == NULL);
            /* what the handlers do next with a name field */
            const char *name = json_string_value(json_object_get(body, "name"));
            if (name && tables[t].fields != vs_api_login_fields) {
                VsApiResponse r2 = {0};
                bool valid = vs_api_check_name(&r2, "VM", name);
                FUZZ_ASSERT(valid == vs_name_valid(name, NULL));
                if (!valid)
                    check_error_body(&r2, 400);
                else
                    FUZZ_ASSERT(r2.status == 0 && r2.body == NULL);
                json_decref(r2.body);
            }
        } else {
            check_error_body(&resp, 400);
        }
        json_decref(resp.body);
    }
}

static void check_query(json_t *body)
{
    static const char *const allowed[] = {"parent", "all", "children", NULL};
    g_autoptr(GHashTable) query = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) bare = g_hash_table_new(g_str_hash, g_str_equal);
    const char *key;
    json_t *value;
    bool all_known = true;
    json_object_foreach(body, key, value) {
        /* a string: "?key=value"; true: a bare "?key" */
        if (!json_is_string(value) && !json_is_true(value))
            continue;
        if (json_is_true(value))
            g_hash_table_add(bare, (gpointer)key);
        g_hash_table_insert(query, (gpointer)key,
                            (gpointer)(json_is_true(value) ? "" : json_string_value(value)));
        all_known &= g_strv_contains(allowed, key);
    }
    VsApiRequest req = {.method = "GET", .path = "/fuzz", .query = query, .bare = bare};
    VsApiResponse resp = {0};
    bool ok = vs_api_check_query(&req, &resp, allowed);
    FUZZ_ASSERT(ok == all_known);
    if (!ok)
        check_error_body(&resp, 400);
    json_decref(resp.body);

    const char *flags[] = {"all", "children", "absent"};
    for (size_t i = 0; i < G_N_ELEMENTS(flags); i++) {
        VsApiResponse r = {0};
        bool valid = true;
        bool on = vs_api_query_flag(&req, &r, flags[i], &valid);
        const char *v = g_hash_table_lookup(query, flags[i]);
        /* words in any case (Python's requests sends True) */
        bool yes = v && (!g_ascii_strcasecmp(v, "true") || !strcmp(v, "1") ||
                         !g_ascii_strcasecmp(v, "yes") ||
                         g_hash_table_contains(bare, flags[i])); /* "?children=": refused */
        bool no = !v || !g_ascii_strcasecmp(v, "false") || !strcmp(v, "0") ||
                  !g_ascii_strcasecmp(v, "no");
        FUZZ_ASSERT(on == yes);
        FUZZ_ASSERT(valid == (yes || no));
        if (!valid)
            check_error_body(&r, 400);
        else
            FUZZ_ASSERT(r.body == NULL);
        json_decref(r.body);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    json_error_t err;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    if (!body)
        return 0;
    if (json_is_object(body)) {
        check_body(body);
        check_query(body);
        /* what the API sends back re-parses to the same value */
        char *text = json_dumps(body, JSON_COMPACT);
        FUZZ_ASSERT(text);
        json_t *back = json_loads(text, JSON_REJECT_DUPLICATES, &err);
        FUZZ_ASSERT(back && json_equal(back, body));
        json_decref(back);
        free(text);
    }
    json_decref(body);
    return 0;
}
