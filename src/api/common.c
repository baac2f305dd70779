/* common.c: helpers shared by the REST resources: error bodies, the model
 * error → status table, JSON body and query checks, resource URIs. */
#include "api.h"

#include "../http/router.h"
#include "../util/error.h"
#include "../util/names.h"

#include <stdarg.h>
#include <string.h>

void vs_api_json(VsApiResponse *resp, int status, json_t *body)
{
    if (resp->body)
        json_decref(resp->body);
    if (resp->text)
        g_string_free(g_steal_pointer(&resp->text), TRUE);
    resp->status = status;
    resp->body = body;
}

static int append_json(const char *buffer, size_t size, void *text)
{
    g_string_append_len(text, buffer, (gssize)size);
    return 0;
}

void vs_api_json_array_add(GString *text, json_t *item)
{
    g_string_append_c(text, text->len ? ',' : '[');
    json_dump_callback(item, append_json, text, VS_JSON_DUMP_FLAGS);
    json_decref(item);
}

void vs_api_json_array(VsApiResponse *resp, int status, GString *text)
{
    vs_api_json(resp, status, NULL);
    if (text->len == 0)
        g_string_append_c(text, '[');
    g_string_append_c(text, ']');
    resp->text = text;
}

void vs_api_error(VsApiResponse *resp, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* A name quoted from a malformed request may not be UTF-8; JSON must be. */
    g_autofree char *reason = g_utf8_make_valid(text, -1);
    vs_api_json(resp, status, json_pack("{s:i, s:s}", "code", status, "reason", reason));
}

void vs_api_gerror(VsApiResponse *resp, const GError *error)
{
    static const int status_of[] = {
        [VS_ERR_INVALID] = 400,     [VS_ERR_NOT_FOUND] = 404, [VS_ERR_CONFLICT] = 409,
        [VS_ERR_UNAVAILABLE] = 503, [VS_ERR_FAILED] = 500,  [VS_ERR_BUSY] = 429,
        [VS_ERR_NO_SPACE] = 507,
    };
    int status = 500;
    if (error->domain == VS_ERROR && error->code >= 0 &&
        (size_t)error->code < G_N_ELEMENTS(status_of))
        status = status_of[error->code];
    vs_api_error(resp, status, "%s", error->message);
}

static const char *type_name(VsFieldType type)
{
    switch (type) {
    case VS_FIELD_STRING: return "a string";
    case VS_FIELD_INT: return "an integer";
    case VS_FIELD_BOOL: return "a boolean";
    }
    return "?";
}

static bool type_ok(VsFieldType type, json_t *value)
{
    switch (type) {
    case VS_FIELD_STRING: return json_is_string(value);
    case VS_FIELD_INT: return json_is_integer(value);
    case VS_FIELD_BOOL: return json_is_boolean(value);
    }
    return false;
}

bool vs_api_check_body(const VsApiRequest *req, VsApiResponse *resp, const VsField *fields,
                       size_t n_fields)
{
    const char *key;
    json_t *value;
    if (req->body) {
        json_object_foreach(req->body, key, value) {
            const VsField *field = NULL;
            for (size_t i = 0; i < n_fields && !field; i++)
                if (strcmp(fields[i].name, key) == 0)
                    field = &fields[i];
            if (!field) {
                vs_api_error(resp, 400, "unknown field '%s'", key);
                return false;
            }
            if (!type_ok(field->type, value)) {
                vs_api_error(resp, 400, "field '%s' must be %s", key, type_name(field->type));
                return false;
            }
        }
    }
    for (size_t i = 0; i < n_fields; i++) {
        if (fields[i].required && !(req->body && json_object_get(req->body, fields[i].name))) {
            vs_api_error(resp, 400, "field '%s' is required", fields[i].name);
            return false;
        }
    }
    return true;
}

/* NAME by RULE (names.h); on failure answers 400 naming WHAT. */
static bool check_name_by(bool (*rule)(const char *, const char **), VsApiResponse *resp,
                          const char *what, const char *name)
{
    const char *why = NULL;
    if (rule(name, &why))
        return true;
    vs_api_error(resp, 400, "invalid %s name: it %s", what, why);
    return false;
}

bool vs_api_check_name(VsApiResponse *resp, const char *what, const char *name)
{
    return check_name_by(vs_name_valid, resp, what, name);
}

bool vs_api_check_vm_name(VsApiResponse *resp, const char *name)
{
    return check_name_by(vs_vm_name_valid, resp, "VM", name);
}

bool vs_api_check_addressable(VsApiResponse *resp, const char *what, const char *name)
{
    return check_name_by(vs_name_addressable, resp, what, name);
}

bool vs_api_query_flag(const VsApiRequest *req, VsApiResponse *resp, const char *name, bool *ok)
{
    const char *value = req->query ? g_hash_table_lookup(req->query, name) : NULL;
    /* in any case: Python's requests sends True and False */
    if (!value || !g_ascii_strcasecmp(value, "false") || !strcmp(value, "0") ||
        !g_ascii_strcasecmp(value, "no"))
        return false;
    /* a bare name ("?children") is true; "?children=" with nothing after it
     * is more likely a client's empty variable than a yes, and a flag may
     * delete a subtree */
    bool bare = !*value && req->bare && g_hash_table_contains(req->bare, name);
    if (!g_ascii_strcasecmp(value, "true") || !strcmp(value, "1") ||
        !g_ascii_strcasecmp(value, "yes") || bare)
        return true;
    vs_api_error(resp, 400, "query parameter '%s' must be true or false%s", name,
                 *value ? "" : " (it was given empty: leave it out for false)");
    *ok = false;
    return false;
}

bool vs_api_check_query(const VsApiRequest *req, VsApiResponse *resp, const char *const *allowed)
{
    GHashTableIter iter;
    gpointer key;
    if (!req->query)
        return true;
    g_hash_table_iter_init(&iter, req->query);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        if (!allowed || !g_strv_contains(allowed, key)) {
            vs_api_error(resp, 400, "unknown query parameter '%s'", (const char *)key);
            return false;
        }
    }
    return true;
}

static char *escape_segment(const char *name)
{
    return g_uri_escape_string(name, NULL, FALSE);
}

char *vs_api_vm_uri(const char *vm)
{
    g_autofree char *e = escape_segment(vm);
    return g_strdup_printf("/vms/%s", e);
}

char *vs_api_snapshot_uri(const char *vm, const char *snap)
{
    g_autofree char *v = escape_segment(vm);
    g_autofree char *s = escape_segment(snap);
    return g_strdup_printf("/vms/%s/snapshots/%s", v, s);
}
