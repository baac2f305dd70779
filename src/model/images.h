/* images.h: disk image files: creating qcow2 images with qemu-img (libvirt
 * has no API for files outside a storage pool), copying them whole (so their
 * internal snapshots come along) and telling which ones virtsnap owns. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* Runs qemu-img with ARGV (ARGV[0] "qemu-img"); its output in *OUT if OUT.
 * False with the command and its error text when it fails. */
bool vs_image_qemu_img(const char *const *argv, char **out, GError **error);

/* Whether the qcow2 image at PATH holds internal snapshot TAG (readable while
 * a VM uses the image); *VM_STATE_SIZE (optional) gets the size of the memory
 * saved with it (0 for a disk-only one). */
bool vs_image_snapshot_info(const char *path, const char *tag, guint64 *vm_state_size,
                            GError **error);

/* A new qcow2 image at PATH: blank of SIZE_GIB, or an overlay on BACKING
 * (whose format is detected; SIZE_GIB 0 keeps the backing file's size). */
bool vs_image_create(const char *path, guint64 size_gib, const char *backing, GError **error);

/* Copies SRC to DST (which must not exist) byte for byte, calling PROGRESS
 * with 0..100 now and then. On failure DST is removed. */
typedef void (*VsCopyProgress)(int percent, gpointer data);
bool vs_image_copy(const char *src, const char *dst, VsCopyProgress progress, gpointer data,
                   GError **error);

/* COPY, a byte-for-byte copy of the qcow2 image SRC in another directory,
 * finds the backing file SRC names: a name relative to SRC's directory is
 * made absolute in COPY's header (qemu-img rebase -u: the header only).
 * True, doing nothing, for an image without a backing file or with an
 * absolute name. */
bool vs_image_keep_backing(const char *src, const char *copy, GError **error);
/* Whether a copy of SRC elsewhere can name SRC's backing file: false with
 * CONFLICT (and the command that records it) when SRC names it relative
 * to its directory without its format. Checked before a clone copies. */
bool vs_image_backing_movable(const char *src, GError **error);

/* "qcow2" when the file starts with the qcow2 magic, else "raw". */
const char *vs_image_detect_format(const char *path);
/* The format PATH is in when it is neither raw nor qcow2 but one QEMU
 * recognises (vmdk, vdi, vhdx, vpc, qed, qcow…), which virtsnap's
 * overlay would show the guest as raw bytes; NULL otherwise (raw or qcow2,
 * or unreadable: the caller's size check says so). */
const char *vs_image_other_format(const char *path);
/* What a qcow2 image's header says of other files. */
typedef struct {
    char *backing;        /* its backing file as named there (relative to the image's
                           * directory unless absolute), or NULL */
    char *backing_format; /* the format the header gives that file, or NULL */
    bool external_data;   /* qcow2 v3 with its data in another file (data-file) */
    bool unreadable;      /* a qcow2 header whose extensions or name run off the file */
} VsImageRefs;
/* Whether NAME, a backing file's name as an image records it, is a
 * protocol ("json:{…}", "nbd://…", "file:…": a ':' before any '/'), not a
 * file name. */
bool vs_image_name_is_protocol(const char *name);
/* Reads REFS of the image at PATH (all empty when it is not qcow2, or
 * cannot be opened); free with vs_image_refs_clear. */
void vs_image_refs(const char *path, VsImageRefs *refs);
void vs_image_refs_clear(VsImageRefs *refs);
/* The backing file REFS (read of the image NAMED so) names, as QEMU opens
 * it: its name when absolute, else relative to NAMED's directory; NULL
 * when it names none, or names a protocol. */
char *vs_image_backing_path(const char *named, const VsImageRefs *refs);
/* The longest backing chain virtsnap follows (files under the image). */
#define VS_IMAGE_MAX_BACKING_DEPTH 16

/* True when PATH lies in the images directory that virtsnap manages. */
bool vs_image_is_owned(const char *path);

/* A fresh file name in the images directory: "<stem>-<random>.qcow2". */
char *vs_image_new_path(const char *stem);

/* Deletes internal snapshot TAG from the qcow2 image at PATH (not in use). */
bool vs_image_delete_snapshot(const char *path, const char *tag, GError **error);

/* The virtual size of the image at PATH read from the file itself (qcow2
 * header, raw file or block device size): no libvirt job, so it answers
 * while a snapshot or revert holds the domain. False if unreadable. */
bool vs_image_virtual_size(const char *path, guint64 *size);
