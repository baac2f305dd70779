/* fuzz_name.c: libFuzzer harness for VM and snapshot name validation and
 * for everything a valid name then travels through.
 *
 * Input: the candidate name (bytes up to the first NUL).
 * Properties beyond "no crash, no leak, no UB":
 *   - vs_name_valid agrees with the contract's rule, worked out here
 *     independently, and gives a reason exactly when it refuses; a new VM's
 *     name (vs_vm_name_valid) is that and at most 200 bytes;
 *   - a valid name round-trips through the URIs the API hands out
 *     (/vms/<vm>/snapshots/<snap>) and the router;
 *   - a valid name written into libvirt XML (name and description) comes
 *     back exactly after serialising and parsing, with no markup injected;
 *   - a valid name survives the display-name map on disk
 *     (vs_snapnames_set, then a reload). */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "api/api.h"
#include "fuzz.h"
#include "http/router.h"
#include "http/routes.h"
#include "model/snapnames.h"
#include "util/names.h"
#include "util/xml.h"

static char *state_dir;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    state_dir = g_dir_make_tmp("vs-fuzz-name-XXXXXX", NULL);
    FUZZ_ASSERT(state_dir);
    FUZZ_ASSERT(vs_snapnames_init(state_dir, NULL));
    return 0;
}

/* The contract: 1 to 64 Unicode characters of UTF-8, no '/', no control
 * characters, not starting with '.', not only white space and invisible
 * format characters (Unicode category Cf: a zero-width space alone); and
 * (found by this harness) only characters that XML 1.0 can carry, as names
 * end up in libvirt XML: U+FFFE and U+FFFF cannot. */
static bool contract_valid(const char *name)
{
    if (!*name || !g_utf8_validate(name, -1, NULL) || g_utf8_strlen(name, -1) > 64 ||
        name[0] == '.' || strchr(name, '/'))
        return false;
    bool any_non_space = false;
    for (const char *p = name; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        GUnicodeType t = g_unichar_type(c);
        if (t == G_UNICODE_CONTROL || c == 0x2028 || c == 0x2029 || c == 0xFFFE || c == 0xFFFF)
            return false;
        if (!g_unichar_isspace(c) && t != G_UNICODE_FORMAT)
            any_non_space = true;
    }
    return any_non_space;
}

static void check_uris(const char *name)
{
    size_t n_routes = 0;
    const VsRoute *routes = vs_api_routes(&n_routes);
    g_autofree char *uri = vs_api_snapshot_uri(name, name);
    VsRouteMatch m;
    vs_route_match(routes, n_routes, "GET", uri, &m);
    FUZZ_ASSERT(m.status == VS_ROUTE_FOUND);
    FUZZ_ASSERT(strcmp(m.route->pattern, "/vms/{vm}/snapshots/{snap}") == 0);
    FUZZ_ASSERT(m.n_params == 2);
    FUZZ_ASSERT(strcmp(m.params[0], name) == 0 && strcmp(m.params[1], name) == 0);
    vs_route_match_clear(&m);
    g_autofree char *revert = g_strconcat(uri, "/revert", NULL);
    vs_route_match(routes, n_routes, "POST", revert, &m);
    FUZZ_ASSERT(m.status == VS_ROUTE_FOUND && m.n_params == 2);
    FUZZ_ASSERT(strcmp(m.params[1], name) == 0);
    vs_route_match_clear(&m);
}

static void check_xml(const char *name)
{
    g_autoptr(xmlDoc) doc = vs_xml_parse(
        "<domainsnapshot><name>x</name><state>running</state>"
        "<creationTime>1</creationTime></domainsnapshot>", NULL);
    FUZZ_ASSERT(doc);
    xmlNode *root = xmlDocGetRootElement(doc);
    vs_xml_set_child_text(root, "name", name);
    vs_xml_set_child_text(root, "description", name);
    g_autofree char *text = vs_xml_to_string(doc);
    g_autoptr(xmlDoc) back = vs_xml_parse(text, NULL);
    FUZZ_ASSERT(back);
    g_autoptr(GPtrArray) elems = vs_xml_nodes(back, NULL, "/domainsnapshot/*");
    FUZZ_ASSERT(elems->len == 4); /* nothing injected */
    g_autofree char *got = vs_xml_string(back, NULL, "string(/domainsnapshot/name)");
    g_autofree char *desc = vs_xml_string(back, NULL, "string(/domainsnapshot/description)");
    FUZZ_ASSERT(got && strcmp(got, name) == 0);
    FUZZ_ASSERT(desc && strcmp(desc, name) == 0);
    FUZZ_ASSERT(vs_xml_int(back, NULL, "string(/domainsnapshot/creationTime)", 0) == 1);
}

static void check_snapnames(const char *name)
{
    static const char uuid[] = "f0220000-0000-4000-8000-000000000000";
    FUZZ_ASSERT(vs_snapnames_set(uuid, "vs-fuzz-1", name, NULL));
    FUZZ_ASSERT(vs_snapnames_init(state_dir, NULL)); /* a restart */
    g_autofree char *display = vs_snapnames_display(uuid, "vs-fuzz-1");
    g_autofree char *internal = vs_snapnames_internal(uuid, name);
    FUZZ_ASSERT(display && strcmp(display, name) == 0);
    FUZZ_ASSERT(internal && strcmp(internal, "vs-fuzz-1") == 0);
    vs_snapnames_forget_vm(uuid);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024)
        return 0;
    g_autofree char *name = g_strndup((const char *)data, size);
    const char *why = NULL;
    bool valid = vs_name_valid(name, &why);
    FUZZ_ASSERT(valid == (why == NULL));
    FUZZ_ASSERT(valid == contract_valid(name));
    /* a new VM's name: the rule, and at most 200 bytes */
    const char *vm_why = NULL;
    bool vm_valid = vs_vm_name_valid(name, &vm_why);
    FUZZ_ASSERT(vm_valid == (vm_why == NULL));
    FUZZ_ASSERT(vm_valid == (valid && strlen(name) <= 200)); /* (API.md's bound) */
    if (!valid)
        return 0;
    check_uris(name);
    check_xml(name);
    check_snapnames(name);
    return 0;
}
