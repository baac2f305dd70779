/* random.c: secrets from getrandom(2). */
#include "random.h"

#include <glib.h>
#include <sys/random.h>

char *vs_random_hex(size_t nbytes)
{
    g_autofree guint8 *bytes = g_malloc(nbytes);
    size_t got = 0;
    while (got < nbytes) {
        ssize_t n = getrandom(bytes + got, nbytes - got, 0);
        if (n < 0)
            g_error("getrandom failed: cannot make a secret");
        got += (size_t)n;
    }
    GString *hex = g_string_sized_new(nbytes * 2);
    for (size_t i = 0; i < nbytes; i++)
        g_string_append_printf(hex, "%02x", bytes[i]);
    return g_string_free(hex, FALSE);
}
