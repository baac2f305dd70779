/* common.h: what the two bench programs share: a monotonic clock, the
 * sample output format that bench/run.sh collects ("S <key> <value>" lines,
 * latencies in microseconds) and the shape of the benchmark snapshot tree.
 *
 * The tree of size N (the same through the REST API and through direct
 * libvirt calls) is: a root "hub" with 100 children "c001".."c100"; the other
 * N - 101 snapshots hang below the children as chains "c017-0001", ...
 * spread round-robin, so listing the hub's children always returns 100 and
 * the tree is at most ~100 deep. Size "100" is therefore 101 snapshots. */
#pragma once
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_HUB "hub"
#define BENCH_FANOUT 100
#define BENCH_LOOKUP "c050"

static inline double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 1, 2), noreturn)) static inline void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* One sample for run.sh: KEY is dot-separated, VALUE in the key's unit. */
static inline void sample(const char *key, double value)
{
    printf("S %s %.3f\n", key, value);
}

/* Name of the child I (1-based) of the hub, and of the J-th (1-based)
 * snapshot of the chain below child I. */
static inline void tree_child_name(char *buf, size_t len, int i)
{
    snprintf(buf, len, "c%03d", i);
}

static inline void tree_chain_name(char *buf, size_t len, int i, int j)
{
    snprintf(buf, len, "c%03d-%04d", i, j);
}

/* How many chain snapshots hang below child I (1-based) in a tree of N. */
static inline int tree_chain_len(int n, int i)
{
    int filler = n - 1 - BENCH_FANOUT;
    if (filler <= 0)
        return 0;
    return filler / BENCH_FANOUT + (i <= filler % BENCH_FANOUT ? 1 : 0);
}
