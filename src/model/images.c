/* images.c: qcow2 image creation, whole-file copies, ownership. */
#include "images.h"

#include "../util/files.h"

#include "../util/error.h"
#include "../util/log.h"
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

bool vs_image_qemu_img(const char *const *argv, char **out, GError **error)
{
    g_autofree char *err_text = NULL;
    int status = 0;
    g_autoptr(GError) spawn_error = NULL;
    if (!g_spawn_sync(NULL, (char **)argv, NULL,
                      G_SPAWN_SEARCH_PATH | (out ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL), NULL, NULL,
                      out, &err_text, &status, &spawn_error)) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot run qemu-img: %s",
                    spawn_error->message);
        return false;
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_autofree char *cmd = g_strjoinv(" ", (char **)argv);
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "%s failed: %s", cmd,
                    err_text ? g_strstrip(err_text) : "unknown error");
        return false;
    }
    return true;
}

static guint16 be16(const guint8 *p) { guint16 v; memcpy(&v, p, sizeof v); return GUINT16_FROM_BE(v); }
static guint32 be32(const guint8 *p) { guint32 v; memcpy(&v, p, sizeof v); return GUINT32_FROM_BE(v); }
static guint64 be64(const guint8 *p) { guint64 v; memcpy(&v, p, sizeof v); return GUINT64_FROM_BE(v); }

/* A window on a file, refilled on demand: the snapshot table in a few
 * reads instead of three per entry (a VM's 200th snapshot cost 600 preads). */
typedef struct {
    int fd;
    guint8 data[16 * 1024];
    guint64 start; /* file offset of data[0] */
    gsize len;     /* bytes valid in data */
} Window;

/* A pointer to LEN bytes at file OFFSET, or NULL when they cannot be read
 * (past the end of the file, or an offset no file has: a hostile header). */
static const guint8 *window_at(Window *w, guint64 offset, gsize len)
{
    if (len > sizeof w->data || offset > (guint64)G_MAXINT64 - len)
        return NULL;
    bool inside = offset >= w->start && offset - w->start <= w->len &&
                  len <= w->len - (offset - w->start);
    if (!inside) {
        ssize_t n = pread(w->fd, w->data, sizeof w->data, (off_t)offset);
        w->start = offset;
        w->len = n > 0 ? (gsize)n : 0;
        if (w->len < len)
            return NULL;
    }
    return w->data + (offset - w->start);
}

/* Reads the qcow2 snapshot table (docs/interop/qcow2.txt in QEMU) straight
 * from the file: no qemu-img process, which cost more than a small VM's
 * whole snapshot. Each entry: a 40-byte header, extra data, ID, name, padded
 * to 8 bytes; the extra data's first field is the 64-bit vm-state size. An
 * entry is skipped by its header: only a name as long as TAG is read. */
bool vs_image_snapshot_info(const char *path, const char *tag, guint64 *vm_state_size,
                            GError **error)
{
    g_autofree Window *w = g_new0(Window, 1);
    w->fd = open(path, O_RDONLY | O_CLOEXEC);
    int open_errno = errno;
    const guint8 *header = w->fd >= 0 ? window_at(w, 0, 72) : NULL;
    bool readable = header && memcmp(header, "QFI\xfb", 4) == 0;
    guint32 count = readable ? be32(header + 60) : 0;
    guint64 offset = readable ? be64(header + 64) : 0;
    gsize tag_len = strlen(tag);
    bool found = false;
    for (guint32 i = 0; readable && i < count && i < 65536 && !found; i++) {
        /* Each field is taken before the next read, which may move the window. */
        const guint8 *entry = window_at(w, offset, 40); /* below 2^63: no overflow below */
        readable = entry && be32(entry + 36) <= 1024;   /* QEMU's own bound on extra data */
        if (!readable)
            break;
        guint32 old_state_size = be32(entry + 32);
        guint16 id_size = be16(entry + 12), name_size = be16(entry + 14);
        guint32 extra_size = be32(entry + 36);
        guint64 name_at = offset + 40 + extra_size + id_size;
        if (name_size == tag_len) {
            const guint8 *name = window_at(w, name_at, name_size);
            readable = name != NULL;
            found = readable && memcmp(name, tag, tag_len) == 0;
        }
        if (found && vm_state_size) {
            const guint8 *extra = extra_size >= 8 ? window_at(w, offset + 40, 8) : NULL;
            readable = found = extra || extra_size < 8;
            *vm_state_size = extra ? be64(extra) : old_state_size;
        }
        offset = (name_at + name_size + 7) & ~(guint64)7;
    }
    if (w->fd >= 0)
        close(w->fd);
    if (!readable && !found)
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot read the snapshots of %s: %s", path,
                    w->fd < 0 ? g_strerror(open_errno) : "not a readable qcow2 image");
    return found;
}

const char *vs_image_detect_format(const char *path)
{
    unsigned char magic[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, magic, sizeof magic);
        close(fd);
        if (n == 4 && memcmp(magic, "QFI\xfb", 4) == 0)
            return "qcow2";
    }
    return "raw";
}

const char *vs_image_other_format(const char *path)
{
    /* The signatures QEMU's own probes look for (block/<format>.c). Not
     * LUKS: a raw disk may well hold a whole-disk LUKS volume its guest
     * opens itself. */
    static const struct {
        const char *format;
        size_t at;
        const char *magic;
        size_t len;
    } formats[] = {
        {"vmdk", 0, "KDMV", 4},
        {"vmdk", 0, "COWD", 4},
        {"vmdk", 0, "# Disk DescriptorFile", 21},
        {"vdi", 64, "\x7f\x10\xda\xbe", 4},
        {"vhdx", 0, "vhdxfile", 8},
        {"vpc", 0, "conectix", 8},
        {"qed", 0, "QED\0", 4},
        {"parallels", 0, "WithoutFreeSpace", 16},
        {"parallels", 0, "WithouFreSpacExt", 16},
        {"bochs", 0, "Bochs Virtual HD Image", 22},
    };
    unsigned char head[128] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, head, sizeof head) : -1;
    if (fd >= 0)
        close(fd);
    /* qcow2's magic: qcow2 (opened as such, whatever else is in the
     * header), or with version 1 the older qcow, which qcow2 cannot read */
    if (n >= 8 && memcmp(head, "QFI\xfb", 4) == 0)
        return be32(head + 4) < 2 ? "qcow" : NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(formats); i++)
        if (n >= (ssize_t)(formats[i].at + formats[i].len) &&
            memcmp(head + formats[i].at, formats[i].magic, formats[i].len) == 0)
            return formats[i].format;
    return NULL;
}

bool vs_image_create(const char *path, guint64 size_gib, const char *backing, GError **error)
{
    g_autofree char *size = size_gib ? g_strdup_printf("%" G_GUINT64_FORMAT "G", size_gib) : NULL;
    const char *blank[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL};
    const char *overlay[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F",
                             backing ? vs_image_detect_format(backing) : NULL, path, size, NULL};
    if (!vs_image_qemu_img(backing ? overlay : blank, NULL, error))
        return false;
    /* The guest's data: its owner's only (qemu-img follows the umask), as
     * copies are (vs_image_copy); libvirt gives it to QEMU's user. */
    if (g_chmod(path, 0600) != 0)
        vs_warn("cannot make %s private: %s", path, g_strerror(errno));
    return true;
}

bool vs_image_name_is_protocol(const char *name)
{
    const char *colon = name ? strchr(name, ':') : NULL;
    const char *slash = name ? strchr(name, '/') : NULL;
    return colon && (!slash || colon < slash);
}

/* The absolute name of the backing file SRC (with REFS) names relative to
 * its directory, which a copy elsewhere must record instead; NULL when it
 * names none, or names it absolutely or by a protocol (the same from
 * anywhere). */
static char *relative_backing(const char *src, const VsImageRefs *refs)
{
    return refs->backing && !g_path_is_absolute(refs->backing) ? vs_image_backing_path(src, refs)
                                                                : NULL;
}

char *vs_image_backing_path(const char *named, const VsImageRefs *refs)
{
    if (!refs->backing || !*refs->backing || vs_image_name_is_protocol(refs->backing))
        return NULL;
    if (g_path_is_absolute(refs->backing))
        return g_strdup(refs->backing);
    g_autofree char *dir = g_path_get_dirname(named);
    return g_build_filename(dir, refs->backing, NULL);
}

bool vs_image_backing_movable(const char *src, GError **error)
{
    VsImageRefs refs = {0};
    vs_image_refs(src, &refs);
    g_autofree char *absolute = relative_backing(src, &refs);
    /* qemu-img (6.1 and later) takes no backing name without its format,
     * and a format probed could be wrong */
    bool movable = !absolute || refs.backing_format;
    if (!movable)
        g_set_error(error, VS_ERROR, VS_ERR_CONFLICT,
                    "disk %s names its backing file '%s' relative to its directory and "
                    "without its format: a copy elsewhere could not name it (record it: "
                    "qemu-img rebase -u -b '%s' -F <format> %s)", src, refs.backing,
                    refs.backing, src);
    vs_image_refs_clear(&refs);
    return movable;
}

bool vs_image_keep_backing(const char *src, const char *copy, GError **error)
{
    if (!vs_image_backing_movable(src, error))
        return false;
    VsImageRefs refs = {0};
    vs_image_refs(src, &refs);
    g_autofree char *absolute = relative_backing(src, &refs);
    const char *argv[] = {"qemu-img", "rebase", "-u", "-f", "qcow2", "-b", absolute,
                          "-F", refs.backing_format, copy, NULL};
    bool ok = !absolute || vs_image_qemu_img(argv, NULL, error);
    vs_image_refs_clear(&refs);
    return ok;
}

bool vs_image_copy(const char *src, const char *dst, VsCopyProgress progress, gpointer data,
                   GError **error)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = in >= 0 && out >= 0;
    struct stat st;
    ok = ok && fstat(in, &st) == 0;
    const gsize chunk = 4 << 20;
    g_autofree char *buf = g_malloc(chunk);
    off_t done = 0;
    int last_percent = -1;
    while (ok && done < st.st_size) {
        ssize_t n = read(in, buf, chunk);
        ok = n > 0;
        /* Keep holes: skip all-zero chunks by seeking. */
        bool zero = ok && buf[0] == 0 && memcmp(buf, buf + 1, (size_t)n - 1) == 0;
        if (ok && zero)
            ok = lseek(out, n, SEEK_CUR) >= 0;
        else if (ok)
            ok = write(out, buf, (size_t)n) == n;
        done += ok ? n : 0;
        int percent = st.st_size ? (int)(done * 100 / st.st_size) : 100;
        if (ok && progress && percent != last_percent)
            progress(last_percent = percent, data);
    }
    ok = ok && ftruncate(out, st.st_size) == 0 && fsync(out) == 0;
    int saved = errno;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (!ok) {
        if (out >= 0)
            g_unlink(dst);
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot copy %s to %s: %s", src, dst,
                    g_strerror(saved));
    }
    return ok;
}

bool vs_image_is_owned(const char *path)
{
    return vs_path_is_inside(path, vs_hv_images_dir());
}

char *vs_image_new_path(const char *stem)
{
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *file = g_strdup_printf("%s-%.8s.qcow2", stem, uuid);
    return g_build_filename(vs_hv_images_dir(), file, NULL);
}

bool vs_image_delete_snapshot(const char *path, const char *tag, GError **error)
{
    const char *argv[] = {"qemu-img", "snapshot", "-q", "-d", tag, path, NULL};
    return vs_image_qemu_img(argv, NULL, error);
}

void vs_image_refs_clear(VsImageRefs *refs)
{
    g_clear_pointer(&refs->backing, g_free);
    g_clear_pointer(&refs->backing_format, g_free);
}

/* qcow2's header extension naming the backing file's format */
#define QCOW2_EXT_BACKING_FORMAT 0xE2792ACAu
/* qcow2 v3's incompatible feature: the guest's data is in another file */
#define QCOW2_INCOMPAT_DATA_FILE (G_GUINT64_CONSTANT(1) << 2)

void vs_image_refs(const char *path, VsImageRefs *refs)
{
    *refs = (VsImageRefs){0};
    /* The header and its extensions fit in the first cluster, which QEMU
     * reads whole; 64 KiB is enough for any header it writes. */
    g_autofree guint8 *head = g_malloc0(64 * 1024);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? pread(fd, head, 64 * 1024, 0) : -1;
    /* qcow2 as vs_image_detect_format says: by its magic, whatever follows
     * (QEMU reads past a short file's end as zeros; HEAD is zeroed too) */
    bool qcow2 = n >= 8 && memcmp(head, "QFI\xfb", 4) == 0 && be32(head + 4) >= 2;
    guint32 version = qcow2 ? be32(head + 4) : 0;
    guint64 name_at = qcow2 ? be64(head + 8) : 0;
    guint32 name_len = qcow2 ? be32(head + 16) : 0;
    refs->external_data = version >= 3 && (be64(head + 72) & QCOW2_INCOMPAT_DATA_FILE);
    /* Extensions: type, length, data padded to 8 bytes, up to type 0. A
     * header cut short, or shorter than QEMU's bound, is not read on. */
    guint64 min_header = version >= 3 ? 104 : 72;
    guint64 at = version >= 3 ? be32(head + 100) : 72;
    bool readable = n >= 0 && (guint64)n >= min_header && at >= min_header;
    while (qcow2 && readable) {
        readable = at + 8 <= (guint64)n;
        guint32 type = readable ? be32(head + at) : 0, len = readable ? be32(head + at + 4) : 0;
        readable = readable && at + 8 + len <= (guint64)n;
        if (!readable || type == 0)
            break;
        if (type == QCOW2_EXT_BACKING_FORMAT) { /* the last one counts, as in QEMU */
            g_free(refs->backing_format);
            refs->backing_format = g_strndup((const char *)head + at + 8, len);
        }
        at += 8 + (((guint64)len + 7) & ~(guint64)7);
    }
    /* QEMU's own bound on the name is 1023 bytes */
    char name[1024];
    bool named = qcow2 && name_at && name_len;
    readable = readable && (!named || (name_len < sizeof name && name_at <= (guint64)G_MAXINT64 &&
                                       pread(fd, name, name_len, (off_t)name_at) == (ssize_t)name_len &&
                                       !memchr(name, '\0', name_len))); /* (a C string cut short) */
    if (readable && named)
        refs->backing = g_strndup(name, name_len);
    refs->unreadable = qcow2 && !readable;
    if (fd >= 0)
        close(fd);
}

bool vs_image_virtual_size(const char *path, guint64 *size)
{
    unsigned char header[32];
    struct stat st;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    bool ok = fd >= 0 && fstat(fd, &st) == 0;
    if (ok && pread(fd, header, sizeof header, 0) == (ssize_t)sizeof header &&
        memcmp(header, "QFI\xfb", 4) == 0) {
        guint64 be;
        memcpy(&be, header + 24, sizeof be);
        *size = GUINT64_FROM_BE(be);
    } else if (ok && S_ISBLK(st.st_mode)) {
        ok = ioctl(fd, BLKGETSIZE64, size) == 0;
    } else if (ok) {
        ok = S_ISREG(st.st_mode);
        *size = (guint64)st.st_size;
    }
    if (fd >= 0)
        close(fd);
    return ok;
}
