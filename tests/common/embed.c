/* embed.c: the daemon's embedded driver opened from a test's helper
 * process (see embed.h). */
#include "embed.h"

#include <glib.h>
#include <libvirt/virterror.h>
#include <stdio.h>

static gpointer run_events(gpointer unused)
{
    (void)unused;
    for (;;)
        virEventRunDefaultImpl();
    return NULL;
}

virConnectPtr vs_embed_open(const char *root)
{
    virEventRegisterDefaultImpl();
    g_thread_unref(g_thread_new("events", run_events, NULL));
    g_autofree char *uri = g_strdup_printf("qemu:///embed?root=%s", root);
    virConnectPtr conn = virConnectOpen(uri);
    if (!conn)
        fprintf(stderr, "cannot open %s: %s\n", uri, virGetLastErrorMessage());
    return conn;
}
