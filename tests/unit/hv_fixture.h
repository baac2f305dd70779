/* hv_fixture.h: for unit tests that need model/hv.c connected: test:///default
 * in this process, with a temporary state directory removed afterwards. */
#pragma once
#include "model/hv.h"
#include "model/journal.h"
#include "model/snapnames.h"
#include "model/tasks.h"

#include <glib.h>
#include <stdbool.h>
#include <stdlib.h>

/* Connects hv.c to test:///default with a new state directory (*DIR,
 * named after PREFIX); false if it cannot. */
static inline bool hv_fixture_start(const char *prefix, char **dir)
{
    g_autofree char *template = g_strdup_printf("%s-XXXXXX", prefix);
    *dir = g_dir_make_tmp(template, NULL);
    VsHvConfig config = {.uri = "test:///default", .state_dir = *dir};
    g_autoptr(GError) error = NULL;
    return *dir && vs_hv_init(&config, &error);
}

/* Disconnects and removes the state directory DIR (freed). */
static inline void hv_fixture_stop(char *dir)
{
    vs_hv_shutdown();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    (void)!system(cmd);
    g_free(dir);
}

/* hv_fixture_start with what the model's operations need besides: display
 * names and the journal in *DIR, and the task registry. */
static inline bool hv_fixture_start_model(const char *prefix, char **dir)
{
    g_autoptr(GError) error = NULL;
    if (!hv_fixture_start(prefix, dir) || !vs_snapnames_init(*dir, &error) ||
        !vs_journal_init(*dir, &error))
        return false;
    vs_tasks_init();
    return true;
}

/* Waits for running tasks, then hv_fixture_stop. */
static inline void hv_fixture_stop_model(char *dir)
{
    vs_tasks_shutdown();
    hv_fixture_stop(dir);
}
