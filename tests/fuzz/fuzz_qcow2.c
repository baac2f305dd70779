/* fuzz_qcow2.c: libFuzzer harness for what virtsnapd reads of disk images
 * itself, without qemu-img: a base image a client names (POST /vms "image")
 * and the snapshot tables of its VMs' disks. Both may hold anything.
 *
 * Input: the image's bytes (a memfd, read through /proc/self/fd/N).
 * Properties beyond "no crash, no leak, no UB":
 *   - vs_image_refs names a backing file only as QEMU bounds it (1 to 1023
 *     bytes, no NUL inside), and says "unreadable" only of a qcow2 header;
 *   - a file is never both qcow2 (vs_image_detect_format) and in another
 *     format (vs_image_other_format);
 *   - vs_image_snapshot_info either finds the tag, or fails with a reason,
 *     or says it is not there: never "found" with an error set. */
#include <glib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "model/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("image", MFD_CLOEXEC);
    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(size == 0 || write(fd, data, size) == (ssize_t)size);
    char path[64];
    g_snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    VsImageRefs refs;
    vs_image_refs(path, &refs);
    bool qcow2 = strcmp(vs_image_detect_format(path), "qcow2") == 0;
    if (refs.backing) {
        size_t len = strlen(refs.backing);
        FUZZ_ASSERT(len >= 1 && len <= 1023);
    }
    FUZZ_ASSERT(!refs.unreadable || qcow2);
    FUZZ_ASSERT(!(refs.backing || refs.backing_format || refs.external_data) || qcow2);
    vs_image_refs_clear(&refs);

    const char *other = vs_image_other_format(path);
    FUZZ_ASSERT(!(other && qcow2 && strcmp(other, "qcow") != 0));

    guint64 vm_state = 0, virtual_size = 0;
    GError *error = NULL;
    bool found = vs_image_snapshot_info(path, "snap-1", &vm_state, &error);
    FUZZ_ASSERT(!(found && error));
    g_clear_error(&error);
    (void)vs_image_virtual_size(path, &virtual_size);
    close(fd);
    return 0;
}
