/* random.h: secrets from the kernel's CSPRNG (tokens, session ids). */
#pragma once
#include <stddef.h>

/* NBYTES random bytes as 2*NBYTES lowercase hex characters (newly allocated). */
char *vs_random_hex(size_t nbytes);
