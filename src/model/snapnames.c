/* snapnames.c: display names of renamed snapshots, one key file per VM, and
 * the figures measured when each snapshot was taken, one small key file per
 * snapshot in a directory per VM (so that taking a snapshot writes one small
 * file, whatever the size of the tree). Both are loaded once per VM. */
#include "snapnames.h"

#include "../util/error.h"
#include "../util/files.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct {
    GHashTable *display_of;  /* internal → display, only where they differ */
    GHashTable *internal_of; /* display → internal */
    GHashTable *figures;     /* internal → VsSnapFigures* */
    bool unsaved;            /* the last save failed: the file is behind */
} NameMap;

static GMutex lock;
static char *dir;
static GHashTable *maps; /* uuid → NameMap* (loaded lazily) */

static void map_free(NameMap *map)
{
    g_hash_table_unref(map->display_of);
    g_hash_table_unref(map->internal_of);
    g_hash_table_unref(map->figures);
    g_free(map);
}

static NameMap *map_new(void)
{
    NameMap *map = g_new0(NameMap, 1);
    map->display_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    map->internal_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    map->figures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return map;
}

static char *map_path(const char *uuid)
{
    g_autofree char *file = g_strdup_printf("%s.conf", uuid);
    return g_build_filename(dir, file, NULL);
}

/* Shows INTERNAL as DISPLAY; false when it already was (nothing changed). */
static bool map_put(NameMap *map, const char *internal, const char *display)
{
    const char *old = g_hash_table_lookup(map->display_of, internal);
    if (strcmp(old ? old : internal, display) == 0)
        return false;
    if (old)
        g_hash_table_remove(map->internal_of, old);
    if (strcmp(internal, display) == 0) {
        g_hash_table_remove(map->display_of, internal);
        return true;
    }
    g_hash_table_insert(map->display_of, g_strdup(internal), g_strdup(display));
    g_hash_table_insert(map->internal_of, g_strdup(display), g_strdup(internal));
    return true;
}

/* STATE/snapnames/<uuid>.figures, or the file of INTERNAL in it. */
static char *figures_path(const char *uuid, const char *internal)
{
    g_autofree char *name = g_strdup_printf("%s.figures", uuid);
    return g_build_filename(dir, name, internal, NULL);
}

static bool figures_save(const char *uuid, const char *internal, const VsSnapFigures *f,
                         GError **error)
{
    g_autofree char *figures_dir = figures_path(uuid, NULL);
    g_autofree char *file = figures_path(uuid, internal);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_key_file_set_double(kf, "figures", "downtime_ms", f->downtime_ms);
    g_key_file_set_uint64(kf, "figures", "memory_bytes", f->memory_bytes);
    if (g_mkdir_with_parents(figures_dir, 0700) != 0) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot create %s", figures_dir);
        return false;
    }
    return g_key_file_save_to_file(kf, file, error);
}

/* Called with LOCK held. */
static NameMap *map_for(const char *uuid)
{
    NameMap *map = g_hash_table_lookup(maps, uuid);
    if (map)
        return map;
    map = map_new();
    g_autofree char *path = map_path(uuid);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL)) {
        g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++) {
            g_autofree char *internal = g_key_file_get_string(kf, *g, "internal", NULL);
            g_autofree char *display = g_key_file_get_string(kf, *g, "display", NULL);
            if (internal && display)
                map_put(map, internal, display);
        }
    }
    g_autofree char *figures_dir = figures_path(uuid, NULL);
    g_autoptr(GDir) listing = g_dir_open(figures_dir, 0, NULL);
    const char *internal;
    while (listing && (internal = g_dir_read_name(listing))) {
        g_autofree char *file = g_build_filename(figures_dir, internal, NULL);
        g_autoptr(GKeyFile) one = g_key_file_new();
        if (!g_key_file_load_from_file(one, file, G_KEY_FILE_NONE, NULL))
            continue; /* a temporary file of an interrupted write */
        VsSnapFigures *f = g_new0(VsSnapFigures, 1);
        f->downtime_ms = g_key_file_get_double(one, "figures", "downtime_ms", NULL);
        f->memory_bytes = g_key_file_get_uint64(one, "figures", "memory_bytes", NULL);
        g_hash_table_replace(map->figures, g_strdup(internal), f);
    }
    g_hash_table_insert(maps, g_strdup(uuid), map);
    return map;
}

/* Called with LOCK held. */
static bool map_save(const char *uuid, NameMap *map, GError **error)
{
    g_autofree char *path = map_path(uuid);
    if (g_hash_table_size(map->display_of) == 0) {
        map->unsaved = g_unlink(path) != 0 && errno != ENOENT;
        if (map->unsaved)
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot remove %s: %s", path,
                        g_strerror(errno));
        return !map->unsaved;
    }
    g_autoptr(GKeyFile) kf = g_key_file_new();
    GHashTableIter iter;
    gpointer internal, display;
    int n = 0;
    g_hash_table_iter_init(&iter, map->display_of);
    while (g_hash_table_iter_next(&iter, &internal, &display)) {
        g_autofree char *group = g_strdup_printf("snapshot %d", n++);
        g_key_file_set_string(kf, group, "internal", internal);
        g_key_file_set_string(kf, group, "display", display);
    }
    map->unsaved = !g_key_file_save_to_file(kf, path, error);
    return !map->unsaved;
}

bool vs_snapnames_init(const char *state_dir, GError **error)
{
    g_free(dir); /* a second init reloads from disk */
    g_clear_pointer(&maps, g_hash_table_unref);
    dir = g_build_filename(state_dir, "snapnames", NULL);
    maps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)map_free);
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot create %s", dir);
        return false;
    }
    return true;
}

char *vs_snapnames_display(const char *uuid, const char *internal)
{
    g_mutex_lock(&lock);
    const char *display = g_hash_table_lookup(map_for(uuid)->display_of, internal);
    char *copy = g_strdup(display ? display : internal);
    g_mutex_unlock(&lock);
    return copy;
}

char *vs_snapnames_renamed(const char *uuid, const char *internal)
{
    g_mutex_lock(&lock);
    char *display = g_strdup(g_hash_table_lookup(map_for(uuid)->display_of, internal));
    g_mutex_unlock(&lock);
    return display;
}

char *vs_snapnames_internal(const char *uuid, const char *display)
{
    g_mutex_lock(&lock);
    NameMap *map = map_for(uuid);
    const char *internal = g_hash_table_lookup(map->internal_of, display);
    char *copy = NULL;
    if (internal)
        copy = g_strdup(internal);
    else if (!g_hash_table_contains(map->display_of, display))
        copy = g_strdup(display);
    g_mutex_unlock(&lock);
    return copy;
}

bool vs_snapnames_set(const char *uuid, const char *internal, const char *display,
                      GError **error)
{
    g_mutex_lock(&lock);
    NameMap *map = map_for(uuid);
    const char *shown = g_hash_table_lookup(map->display_of, internal);
    g_autofree char *before = g_strdup(shown ? shown : internal);
    /* A display name the API gives is free (the API checked): another
     * snapshot's entry for it is stale (that snapshot went without its
     * entry: another client's delete, a metadata drop), and goes. */
    bool changed = false;
    const char *other = g_hash_table_lookup(map->internal_of, display);
    g_autofree char *dropped = other && strcmp(other, internal) != 0 ? g_strdup(other) : NULL;
    if (dropped) {
        g_hash_table_remove(map->display_of, dropped);
        g_hash_table_remove(map->internal_of, display);
        changed = true;
    }
    /* A new snapshot shown under its libvirt name changes nothing else: no
     * write (the file holds every renamed snapshot of the VM and is
     * fsynced). */
    changed |= map_put(map, internal, display);
    bool ok = changed || map->unsaved ? map_save(uuid, map, error) : true;
    if (!ok) { /* a failed set changes nothing */
        map_put(map, internal, before);
        if (dropped)
            map_put(map, dropped, display);
    }
    g_mutex_unlock(&lock);
    return ok;
}

void vs_snapnames_forget(const char *uuid, const char *internal)
{
    g_mutex_lock(&lock);
    NameMap *map = map_for(uuid);
    if (g_hash_table_contains(map->display_of, internal)) {
        map_put(map, internal, internal);
        map_save(uuid, map, NULL);
    }
    if (g_hash_table_remove(map->figures, internal)) {
        g_autofree char *file = figures_path(uuid, internal);
        g_unlink(file);
    }
    g_mutex_unlock(&lock);
}

bool vs_snapnames_forget_vm(const char *uuid)
{
    g_mutex_lock(&lock);
    g_hash_table_remove(maps, uuid);
    g_autofree char *path = map_path(uuid);
    bool removed = g_unlink(path) == 0;
    g_autofree char *figures_dir = figures_path(uuid, NULL);
    removed = vs_dir_remove_files(figures_dir) || removed;
    g_mutex_unlock(&lock);
    return removed;
}

bool vs_snapnames_copy_vm(const char *from_uuid, const char *to_uuid, GError **error)
{
    g_mutex_lock(&lock);
    NameMap *from = map_for(from_uuid);
    NameMap *to = map_for(to_uuid);
    GHashTableIter iter;
    gpointer internal, display;
    g_hash_table_iter_init(&iter, from->display_of);
    while (g_hash_table_iter_next(&iter, &internal, &display))
        map_put(to, internal, display);
    bool ok = map_save(to_uuid, to, error);
    gpointer figures;
    g_hash_table_iter_init(&iter, from->figures);
    while (ok && g_hash_table_iter_next(&iter, &internal, &figures)) {
        g_hash_table_replace(to->figures, g_strdup(internal),
                             g_memdup2(figures, sizeof(VsSnapFigures)));
        ok = figures_save(to_uuid, internal, figures, error);
    }
    g_mutex_unlock(&lock);
    return ok;
}

void vs_snapnames_keep_figures(const char *uuid, const char *internal,
                               const VsSnapFigures *figures)
{
    g_mutex_lock(&lock);
    NameMap *map = map_for(uuid);
    g_hash_table_replace(map->figures, g_strdup(internal), g_memdup2(figures, sizeof *figures));
    g_mutex_unlock(&lock);
}

bool vs_snapnames_save_figures(const char *uuid, const char *internal, GError **error)
{
    g_mutex_lock(&lock);
    const VsSnapFigures *kept = g_hash_table_lookup(map_for(uuid)->figures, internal);
    bool ok = kept ? figures_save(uuid, internal, kept, error) : true;
    g_mutex_unlock(&lock);
    return ok;
}

bool vs_snapnames_figures(const char *uuid, const char *internal, VsSnapFigures *figures)
{
    g_mutex_lock(&lock);
    const VsSnapFigures *known = g_hash_table_lookup(map_for(uuid)->figures, internal);
    if (known)
        *figures = *known;
    g_mutex_unlock(&lock);
    return known != NULL;
}

bool vs_snapnames_safe_internal(const char *name)
{
    if (!name[0] || name[0] == '-' || strlen(name) > 64 ||
        strspn(name, "0123456789") == strlen(name))
        return false;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("-_.:+@", *p))
            return false;
    return true;
}

GStrv vs_snapnames_vms(void)
{
    g_autoptr(GStrvBuilder) uuids = g_strv_builder_new();
    g_mutex_lock(&lock);
    g_autoptr(GDir) listing = dir ? g_dir_open(dir, 0, NULL) : NULL;
    for (const char *name; listing && (name = g_dir_read_name(listing));) {
        const char *dot = strchr(name, '.');
        g_autofree char *uuid = dot ? g_strndup(name, (gsize)(dot - name)) : NULL;
        if (uuid && (!strcmp(dot, ".conf") || !strcmp(dot, ".figures")) &&
            g_uuid_string_is_valid(uuid))
            g_strv_builder_add(uuids, uuid);
    }
    g_mutex_unlock(&lock);
    return g_strv_builder_end(uuids);
}

bool vs_snapnames_has_vm(const char *uuid)
{
    g_autofree char *names = map_path(uuid);
    g_autofree char *figures = figures_path(uuid, NULL);
    return g_file_test(names, G_FILE_TEST_EXISTS) || g_file_test(figures, G_FILE_TEST_EXISTS);
}
