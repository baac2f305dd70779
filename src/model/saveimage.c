/* saveimage.c: libvirt's QEMU save-image header of a live snapshot's memory
 * file (see saveimage.h). */
#include "saveimage.h"

#include "../util/error.h"
#include "../util/fault.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* libvirt's save-image header (src/qemu/qemu_saveimage.h, ABI since 0.x). */
#define SAVE_MAGIC "LibvirtQemudSave"
#define SAVE_PARTIAL "LibvirtQemudPart"
#define SAVE_VERSION 2
typedef struct {
    char magic[16];
    uint32_t version;
    uint32_t data_len;      /* XML + cookie + padding */
    uint32_t was_running;
    uint32_t compressed;    /* 0: raw */
    uint32_t cookie_offset; /* from the start of the XML; 0: no cookie */
    uint32_t unused[14];
} SaveHeader;
G_STATIC_ASSERT(sizeof(SaveHeader) == 92);

static bool write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool pwrite_all(int fd, const void *buf, size_t len, off_t at)
{
    return pwrite(fd, buf, len, at) == (ssize_t)len;
}

bool vs_save_image_write_header(int fd, const char *xml, const char *cookie)
{
    size_t xml_len = strlen(xml) + 1, cookie_len = cookie ? strlen(cookie) + 1 : 0;
    SaveHeader h = {.version = SAVE_VERSION, .was_running = 1, .compressed = 0};
    memcpy(h.magic, SAVE_PARTIAL, sizeof h.magic);
    /* libvirt leaves 64 KiB of room so the XML can be edited in place. */
    h.data_len = (uint32_t)(xml_len + cookie_len + 64 * 1024);
    h.cookie_offset = cookie ? (uint32_t)xml_len : 0;
    g_autofree char *data = g_malloc0(h.data_len);
    memcpy(data, xml, xml_len);
    if (cookie)
        memcpy(data + xml_len, cookie, cookie_len);
    return write_all(fd, &h, sizeof h) && write_all(fd, data, h.data_len);
}

bool vs_save_image_mark_complete(int fd)
{
    return fdatasync(fd) == 0 && pwrite_all(fd, SAVE_MAGIC, 16, 0) && fdatasync(fd) == 0;
}

bool vs_save_image_complete(const char *path)
{
    char magic[16];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = pread(fd, magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
              memcmp(magic, SAVE_MAGIC, sizeof magic) == 0;
    close(fd);
    return ok;
}

/* The header and data area of the image open at FD (the data one byte
 * longer, NUL: its strings end inside it); NULL with ERROR if unreadable or
 * not a save image. */
static char *read_area(int fd, const char *path, SaveHeader *h, GError **error)
{
    bool ok = pread(fd, h, sizeof *h, 0) == (ssize_t)sizeof *h &&
              (memcmp(h->magic, SAVE_MAGIC, 16) == 0 || memcmp(h->magic, SAVE_PARTIAL, 16) == 0) &&
              h->data_len > 0 && h->data_len <= 64 * 1024 * 1024 && h->cookie_offset < h->data_len;
    char *data = ok ? g_malloc0((gsize)h->data_len + 1) : NULL;
    if (ok && pread(fd, data, h->data_len, sizeof *h) != (ssize_t)h->data_len)
        g_clear_pointer(&data, g_free);
    if (!data)
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot read the save image header of %s%s%s",
                    path, ok ? ": " : " (not a libvirt save image)", ok ? g_strerror(errno) : "");
    return data;
}

/* PATH opened with FLAGS into *FD, and its header and data area read
 * (read_area); NULL with ERROR, nothing left open, if either fails. */
static char *open_area(const char *path, int flags, int *fd, SaveHeader *h, GError **error)
{
    *fd = open(path, flags | O_CLOEXEC);
    if (*fd < 0) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot open %s: %s", path, g_strerror(errno));
        return NULL;
    }
    char *data = read_area(*fd, path, h, error);
    if (!data) {
        close(*fd);
        *fd = -1;
    }
    return data;
}

char *vs_save_image_read(const char *path, char **cookie, GError **error)
{
    int fd = -1;
    SaveHeader h;
    g_autofree char *data = open_area(path, O_RDONLY, &fd, &h, error);
    if (!data)
        return NULL;
    close(fd);
    /* libvirt: the XML is what lies before the cookie, the cookie the rest */
    *cookie = h.cookie_offset ? g_strdup(data + h.cookie_offset) : NULL;
    return g_strndup(data, h.cookie_offset ? h.cookie_offset : h.data_len);
}

/* Crash safety: the cookie the header points at is never written over.
 * When the new XML does not fit before it, a copy of the cookie goes to the
 * end of the data area first (past the old cookie and the new XML), synced,
 * then the header points there, synced: at each step the image is whole,
 * with the old XML. Only then is the XML written (zeros after it up to the
 * cookie), in two halves around a fault point (a test kills it torn). A kill
 * in that write leaves a torn XML before a whole cookie, which writing the
 * XML again repairs. */
bool vs_save_image_set_xml(const char *path, const char *xml, GError **error)
{
    int fd = -1;
    SaveHeader h;
    g_autofree char *data = open_area(path, O_RDWR, &fd, &h, error);
    if (!data)
        return false;
    bool ok = true;
    const char *cookie = h.cookie_offset ? data + h.cookie_offset : NULL;
    size_t xml_len = strlen(xml) + 1, cookie_len = cookie ? strlen(cookie) + 1 : 0;
    size_t room = cookie ? h.cookie_offset : h.data_len; /* for the XML, before the cookie */
    if (strcmp(data, xml) == 0) {
        ok = fdatasync(fd) == 0; /* (a write killed before its sync: synced now) */
        if (!ok)
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot sync %s: %s", path,
                        g_strerror(errno));
        close(fd);
        return ok; /* already there */
    }
    size_t moved_to = h.data_len - cookie_len; /* (where a cookie moved goes) */
    bool move = cookie && xml_len > room;
    if (move ? moved_to < h.cookie_offset + cookie_len || moved_to < xml_len : xml_len > room) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "the new definition does not fit in %s",
                    path);
        ok = false;
    }
    if (ok && move) {
        ok = pwrite_all(fd, cookie, cookie_len, (off_t)(sizeof h + moved_to)) && fdatasync(fd) == 0;
        vs_fault_point("save-image-cookie-copied");
        h.cookie_offset = (uint32_t)moved_to;
        ok = ok && pwrite_all(fd, &h, sizeof h, 0) && fdatasync(fd) == 0;
        vs_fault_point("save-image-header-moved");
        room = moved_to;
    }
    g_autofree char *fresh = ok ? g_malloc0(room) : NULL;
    if (ok) {
        memcpy(fresh, xml, xml_len);
        size_t half = room / 2;
        ok = pwrite_all(fd, fresh, half, sizeof h);
        vs_fault_point("save-image-xml-half");
        ok = ok && pwrite_all(fd, fresh + half, room - half, (off_t)(sizeof h + half)) &&
             fdatasync(fd) == 0;
        if (!ok)
            g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot write %s: %s", path,
                        g_strerror(errno));
    } else if (!(error && *error)) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot write %s: %s", path,
                    g_strerror(errno));
    }
    close(fd);
    return ok;
}
