/* fuzz.h: what the libFuzzer harnesses share: an assertion that aborts (so
 * libFuzzer records the input as a crash) whatever NDEBUG says. */
#pragma once
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond)                                                                   \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                        \
        }                                                                                   \
    } while (0)
