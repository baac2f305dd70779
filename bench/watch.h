/* watch.h: timestamps each new "COUNT" line a guest writes to its serial
 * log, to see how long the guest stood still during a snapshot or revert
 * (the tiny test guest prints one line every ~100 ms of guest time). Used by
 * both bench programs. */
#pragma once
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

typedef struct {
    const char *path;
    atomic_bool stop;
    double *stamps;
    size_t n, cap;
    pthread_t thread;
} Watch;

static inline void *watch_run(void *data)
{
    Watch *w = data;
    FILE *f = fopen(w->path, "r");
    if (!f)
        die("cannot open %s", w->path);
    fseek(f, 0, SEEK_END);
    char line[256];
    size_t have = 0;
    while (!atomic_load(&w->stop)) {
        int ch;
        bool got = false;
        while ((ch = fgetc(f)) != EOF) {
            got = true;
            if (ch == '\n') {
                line[have] = '\0';
                if (strstr(line, "COUNT")) {
                    if (w->n == w->cap) {
                        w->cap = w->cap ? w->cap * 2 : 1024;
                        w->stamps = realloc(w->stamps, w->cap * sizeof *w->stamps);
                    }
                    w->stamps[w->n++] = now_us();
                }
                have = 0;
            } else if (have + 1 < sizeof line) {
                line[have++] = (char)ch;
            }
        }
        clearerr(f);
        if (!got)
            usleep(500);
    }
    fclose(f);
    return NULL;
}

static inline void watch_start(Watch *w, const char *path)
{
    memset(w, 0, sizeof *w);
    w->path = path;
    pthread_create(&w->thread, NULL, watch_run, w);
}

static inline void watch_stop(Watch *w)
{
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The longest gap between lines that overlaps [FROM, TO], minus the median
 * gap (the guest's own ~100 ms period): how long the guest stood still. */
static inline double watch_stall(const Watch *w, double from, double to)
{
    if (w->n < 3)
        return -1;
    double *gaps = malloc((w->n - 1) * sizeof *gaps);
    double worst = 0;
    for (size_t i = 1; i < w->n; i++) {
        gaps[i - 1] = w->stamps[i] - w->stamps[i - 1];
        if (w->stamps[i] >= from && w->stamps[i - 1] <= to && gaps[i - 1] > worst)
            worst = gaps[i - 1];
    }
    qsort(gaps, w->n - 1, sizeof *gaps, cmp_double);
    double median = gaps[(w->n - 1) / 2];
    free(gaps);
    return worst > median ? worst - median : 0;
}

