/* api_util.c: helpers shared by the API test programs; see api_util.h. */
#include "api_util.h"

#include <string.h>

VsTestDaemon *api_d;

VsTestResponse *api_req(const char *method, const char *body, const char *path_fmt, ...)
{
    va_list ap;
    va_start(ap, path_fmt);
    g_autofree char *path = g_strdup_vprintf(path_fmt, ap);
    va_end(ap);
    return vs_http(api_d, method, path, body);
}

bool api_contains(const char *s, const char *needle)
{
    return s && needle && strstr(s, needle) != NULL;
}

void api_check_error(const VsTestResponse *r, long status, const char *mentions)
{
    if (r->status != status)
        fail_msg("expected status %ld, got %ld: %s", status, r->status, r->body);
    if (!r->json || !json_is_object(r->json))
        fail_msg("error body is not a JSON object: '%s'", r->body);
    json_t *code = json_object_get(r->json, "code");
    const char *reason = json_string_value(json_object_get(r->json, "reason"));
    if (!json_is_integer(code) || json_integer_value(code) != status)
        fail_msg("error body's code is not %ld: %s", status, r->body);
    if (!reason || !*reason)
        fail_msg("error body has no reason: %s", r->body);
    if (json_object_size(r->json) != 2)
        fail_msg("error body has members beyond code and reason: %s", r->body);
    g_autofree char *type = vs_response_header(r, "Content-Type");
    if (!type || !strstr(type, "application/json"))
        fail_msg("error body's Content-Type is '%s'", type ? type : "(none)");
    if (mentions && !strstr(reason, mentions))
        fail_msg("reason '%s' does not mention '%s'", reason, mentions);
}

char *api_vm_path(const char *vm, const char *suffix)
{
    g_autofree char *e = vs_enc(vm);
    return g_strdup_printf("/vms/%s%s", e, suffix ? suffix : "");
}

char *api_snap_path(const char *vm, const char *snap, const char *suffix)
{
    g_autofree char *v = vs_enc(vm);
    g_autofree char *s = vs_enc(snap);
    return g_strdup_printf("/vms/%s/snapshots/%s%s", v, s, suffix ? suffix : "");
}

json_t *api_get_json(const char *path)
{
    g_autoptr(VsTestResponse) r = vs_http(api_d, "GET", path, NULL);
    if (r->status != 200 || !r->json)
        fail_msg("GET %s: %ld %s", path, r->status, r->body);
    return json_incref(r->json);
}

json_t *api_create_vm(const char *name, const char *extra)
{
    json_t *n = json_string(name);
    g_autofree char *quoted = json_dumps(n, JSON_ENCODE_ANY);
    json_decref(n);
    g_autofree char *body =
        g_strdup_printf("{\"name\": %s%s%s}", quoted, extra ? ", " : "", extra ? extra : "");
    g_autoptr(VsTestResponse) r = vs_http(api_d, "POST", "/vms", body);
    if (r->status != 201 || !r->json)
        fail_msg("POST /vms %s: %ld %s", body, r->status, r->body);
    return json_incref(r->json);
}

void api_delete_vm(const char *name)
{
    g_autofree char *path = api_vm_path(name, NULL);
    g_autoptr(VsTestResponse) r = vs_http(api_d, "DELETE", path, NULL);
    if (r->status != 204 && r->status != 404)
        fail_msg("DELETE %s: %ld %s", path, r->status, r->body);
}

char *api_vm_action(const char *vm, const char *action)
{
    g_autofree char *suffix = g_strdup_printf("/%s", action);
    g_autofree char *path = api_vm_path(vm, suffix);
    g_autoptr(VsTestResponse) r = vs_http(api_d, "POST", path, NULL);
    if (r->status != 200 || !r->json)
        fail_msg("POST %s: %ld %s", path, r->status, r->body);
    return g_strdup(vs_json_str(r->json, "state"));
}

void api_snap(const char *vm, const char *name, const char *description)
{
    g_autofree char *status = vs_take_snapshot(api_d, vm, name, description);
    if (strcmp(status, "finished") != 0)
        fail_msg("snapshot '%s' of VM '%s': %s", name ? name : "(default)", vm, status);
}

json_t *api_get_snap(const char *vm, const char *name)
{
    g_autofree char *path = api_snap_path(vm, name, NULL);
    return api_get_json(path);
}

char *api_current(const char *vm)
{
    g_autofree char *path = api_vm_path(vm, NULL);
    json_t *obj = api_get_json(path);
    char *cur = g_strdup(vs_json_str(obj, "current-snapshot"));
    json_decref(obj);
    if (!cur)
        fail_msg("VM '%s' has no current-snapshot field", vm);
    return cur;
}

char *api_names(json_t *array)
{
    if (!json_is_array(array))
        fail_msg("not a JSON array");
    GString *s = g_string_new(NULL);
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item)
    {
        const char *name = vs_json_str(item, "name");
        g_string_append_printf(s, "%s%s", i ? "|" : "", name ? name : "(null)");
    }
    return g_string_free(s, FALSE);
}

char *api_snap_names(const char *vm, const char *query)
{
    g_autofree char *suffix = g_strdup_printf("/snapshots%s", query ? query : "");
    g_autofree char *path = api_vm_path(vm, suffix);
    json_t *list = api_get_json(path);
    char *names = api_names(list);
    json_decref(list);
    return names;
}

char *api_parent(const char *vm, const char *snap)
{
    json_t *obj = api_get_snap(vm, snap);
    char *parent = g_strdup(vs_json_str(obj, "parent"));
    json_decref(obj);
    return parent;
}

char *api_test_driver_uri(const char *dir, const char *domains)
{
    g_autofree char *path = g_build_filename(dir, "node.xml", NULL);
    g_autofree char *text = g_strdup_printf("<node>\n%s\n</node>\n", domains);
    if (!g_file_set_contents(path, text, -1, NULL))
        fail_msg("cannot write %s", path);
    return g_strdup_printf("test://%s", path);
}

int api_count_files(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    int n = 0;
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_REGULAR))
            n++;
    }
    if (d)
        g_dir_close(d);
    return n;
}
