/* harness.c: real-daemon test harness over libcurl. */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "harness: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

/* The port the daemon says it listens on in LOG from byte FROM on, or 0,
 * and in *TLS whether over https. The daemon picks it (--listen
 * 127.0.0.1:0): a port the harness picked and freed could be taken by
 * another test's daemon before this one bound it (seen once), and the
 * harness then talked to that one. */
static int listening_port(const char *log, gsize from, bool *tls)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(log, &text, &len, NULL) || len <= from)
        return 0;
    const char *line = strstr(text + from, "listening on http");
    if (!line)
        return 0;
    const char *url = line + strlen("listening on ");
    const char *end = strchr(url, ' ');
    const char *colon = end ? g_strrstr_len(url, end - url, ":") : NULL;
    *tls = g_str_has_prefix(url, "https://");
    return colon ? atoi(colon + 1) : 0;
}

const char *vs_test_daemon_binary(void)
{
    const char *env = g_getenv("VS_DAEMON");
    return env ? env : VS_BUILD_DIR "/virtsnapd";
}

static void spawn(VsTestDaemon *d, const char *const *extra)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(argv, g_strdup(vs_test_daemon_binary()));
    g_ptr_array_add(argv, g_strdup("--listen=127.0.0.1:0"));
    g_ptr_array_add(argv, g_strdup_printf("--state-dir=%s", d->state_dir));
    g_ptr_array_add(argv, g_strdup_printf("--web-dir=%s", VS_SOURCE_DIR "/web"));
    if (d->connect)
        g_ptr_array_add(argv, g_strdup_printf("--connect=%s", d->connect));
    for (const char *const *a = extra; a && *a; a++)
        g_ptr_array_add(argv, g_strdup(*a));
    g_ptr_array_add(argv, NULL);
    GStatBuf st;
    gsize log_start = g_stat(d->log_path, &st) == 0 ? (gsize)st.st_size : 0;
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* A test killed by its timeout must not leave its daemon behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *log = fopen(d->log_path, "a");
        if (log) {
            dup2(fileno(log), STDERR_FILENO);
            dup2(fileno(log), STDOUT_FILENO);
        }
        execv((char *)argv->pdata[0], (char **)argv->pdata);
        _exit(127);
    }
    d->pid = pid;
    /* Wait until it listens and answers (the embedded driver probes QEMU at
     * first start). */
    d->port = 0;
    bool answered = false;
    for (int i = 0; i < 1200 && !answered; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            d->pid = 0;
            g_autofree char *log = NULL;
            g_file_get_contents(d->log_path, &log, NULL, NULL);
            die("virtsnapd exited at start:\n%s", log ? log : "");
        }
        bool tls = false;
        if (!d->port && (d->port = listening_port(d->log_path, log_start, &tls)) > 0) {
            g_free(d->url); /* 127.0.0.1: the tests listen there or on 0.0.0.0 */
            d->url = g_strdup_printf("%s://127.0.0.1:%d", tls ? "https" : "http", d->port);
        }
        g_autoptr(VsTestResponse) r =
            d->port ? vs_http_raw(d, "GET", "/tasks", NULL, 0, NULL) : NULL;
        answered = r && r->status > 0;
        if (!answered)
            g_usleep(100000);
    }
    if (!answered) /* else every later request would get status 0, as from a dead daemon */
        die("virtsnapd did not answer within 120 s (port %d); its log is %s", d->port,
            d->log_path);
    g_autofree char *token_path = g_build_filename(d->state_dir, "token", NULL);
    g_free(d->token);
    d->token = NULL;
    if (!g_file_get_contents(token_path, &d->token, NULL, NULL))
        die("no token in %s", token_path);
    g_strstrip(d->token);
}

VsTestDaemon *vs_test_daemon_start(const char *connect, const char *const *extra_args)
{
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_ALL);
        curl_ready = true;
    }
    VsTestDaemon *d = g_new0(VsTestDaemon, 1);
    d->connect = g_strdup(connect);
    d->extra = g_strdupv((char **)extra_args);
    d->state_dir = g_dir_make_tmp("virtsnap-test-XXXXXX", NULL);
    if (!d->state_dir)
        die("cannot make a temporary directory");
    g_autofree char *log_name = g_strdup_printf("virtsnapd-%d.log", (int)getpid());
    d->log_path = g_build_filename(g_get_tmp_dir(), log_name, NULL);
    spawn(d, (const char *const *)d->extra);
    return d;
}

void vs_test_daemon_restart(VsTestDaemon *d)
{
    vs_test_daemon_term(d);
    spawn(d, (const char *const *)d->extra);
}

/* Prints the end of the daemon's log to stderr, to explain a failure. */
static void show_log_tail(const VsTestDaemon *d, const char *why)
{
    g_autofree char *log = NULL;
    gsize len = 0;
    g_file_get_contents(d->log_path, &log, &len, NULL);
    const char *tail = log && len > 4000 ? log + len - 4000 : log;
    fprintf(stderr, "harness: virtsnapd %s; end of its log (%s):\n%s\n", why, d->log_path,
            tail ? tail : "");
}

/* The parent pid in /proc/PID/stat ("pid (comm) S ppid ..."), or -1. */
static pid_t parent_of(const char *pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%s/stat", pid);
    g_autofree char *stat = NULL;
    if (!g_file_get_contents(path, &stat, NULL, NULL))
        return -1;
    const char *end = strrchr(stat, ')');
    int ppid = -1;
    return end && sscanf(end + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

void vs_test_daemon_explain_stuck_forks(const VsTestDaemon *d)
{
    if (!d->pid)
        return;
    g_autofree char *exe_link = g_strdup_printf("/proc/%d/exe", (int)d->pid);
    g_autofree char *exe = g_file_read_link(exe_link, NULL);
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    const char *entry;
    while (exe && proc && (entry = g_dir_read_name(proc))) {
        if (!g_ascii_isdigit(entry[0]) || parent_of(entry) != d->pid)
            continue;
        g_autofree char *child_link = g_strdup_printf("/proc/%s/exe", entry);
        g_autofree char *child_exe = g_file_read_link(child_link, NULL);
        if (!child_exe || strcmp(child_exe, exe) != 0)
            continue; /* it became another program (QEMU, qemu-img): not stuck in a fork */
        g_autofree char *wchan_path = g_strdup_printf("/proc/%s/wchan", entry);
        g_autofree char *wchan = NULL;
        g_file_get_contents(wchan_path, &wchan, NULL, NULL);
        fprintf(stderr, "harness: pid %s is a fork of virtsnapd that has not run another program; "
                        "it waits in %s\n", entry, wchan ? wchan : "?");
        g_autofree char *gdb = g_strdup_printf("timeout 60 gdb -p %s -batch -ex bt", entry);
        g_autofree char *out = NULL, *err = NULL;
        if (!g_spawn_command_line_sync(gdb, &out, &err, NULL, NULL) || !out)
            continue;
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        for (char **l = lines; *l; l++)
            if ((*l)[0] == '#')
                fprintf(stderr, "  %.200s\n", *l);
        if (strstr(out, "SizeClassAllocator") || strstr(out, "__sanitizer::Mutex"))
            fprintf(stderr,
                    "harness: that child waits for an AddressSanitizer allocator lock that another "
                    "thread of virtsnapd held when it forked: GCC 12's ASan runtime is not "
                    "fork-safe (fixed upstream in LLVM 18, llvm/llvm-project#75290), and libvirt's "
                    "child calls malloc before exec. A hazard of the ASan build, not of "
                    "virtsnapd's code.\n");
    }
}

/* Daemons vs_test_daemon_term() stopped that did not exit with 0. */
static int unclean_exits;

int vs_test_daemon_term(VsTestDaemon *d)
{
    if (!d->pid)
        return -1;
    kill(d->pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 300; i++) {
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            if (WIFSIGNALED(status))
                show_log_tail(d, g_strsignal(WTERMSIG(status)));
            else if (WEXITSTATUS(status) != 0)
                show_log_tail(d, "exited non-zero");
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            unclean_exits += code != 0;
            return code;
        }
        g_usleep(100000);
    }
    show_log_tail(d, "did not stop within 30 s of SIGTERM");
    vs_test_daemon_explain_stuck_forks(d);
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &status, 0);
    d->pid = 0;
    unclean_exits++;
    return -1;
}

static int cleanup_failures;

void vs_test_cleanup_failed(void)
{
    cleanup_failures++;
}

int vs_test_exit_status(int failed)
{
    if (unclean_exits)
        fprintf(stderr, "harness: %d virtsnapd process(es) did not exit with 0 when stopped "
                        "(see \"end of its log\" above)\n", unclean_exits);
    if (cleanup_failures)
        fprintf(stderr, "harness: %d clean-up step(s) failed (see above)\n", cleanup_failures);
    return failed ? failed : (unclean_exits || cleanup_failures) ? 1 : 0;
}

static void remove_tree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    if (dir) {
        const char *name;
        while ((name = g_dir_read_name(dir))) {
            g_autofree char *child = g_build_filename(path, name, NULL);
            if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
                remove_tree(child);
            else
                g_unlink(child);
        }
        g_dir_close(dir);
    }
    g_rmdir(path);
}

GArray *vs_qemu_pids(const char *state_dir, const char *vm)
{
    GArray *pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
    g_autofree char *guest = vm ? g_strdup_printf("guest=%s,", vm) : NULL;
    GDir *proc = g_dir_open("/proc", 0, NULL);
    const char *name;
    while (proc && (name = g_dir_read_name(proc))) {
        if (!g_ascii_isdigit(name[0]))
            continue;
        g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", name);
        g_autofree char *cmdline = NULL;
        gsize len = 0;
        if (!g_file_get_contents(path, &cmdline, &len, NULL) || len == 0)
            continue;
        for (gsize i = 0; i + 1 < len; i++)
            if (cmdline[i] == '\0')
                cmdline[i] = ' ';
        if (strstr(cmdline, "qemu-system") && strstr(cmdline, state_dir) &&
            (!guest || strstr(cmdline, guest))) {
            pid_t pid = (pid_t)atoi(name);
            g_array_append_val(pids, pid);
        }
    }
    if (proc)
        g_dir_close(proc);
    return pids;
}

/* QEMU processes of the embedded driver outlive the daemon by design: kill
 * those that belong to this test's state directory. */
static void kill_leftover_qemu(const char *state_dir)
{
    g_autoptr(GArray) pids = vs_qemu_pids(state_dir, NULL);
    for (guint i = 0; i < pids->len; i++)
        kill(g_array_index(pids, pid_t, i), SIGKILL);
}

int vs_test_log_count(const VsTestDaemon *d, const char *line)
{
    g_autofree char *log = NULL;
    int count = 0;
    if (g_file_get_contents(d->log_path, &log, NULL, NULL))
        for (const char *p = log; (p = strstr(p, line)); p++)
            count++;
    return count;
}

bool vs_test_wait_logged(const VsTestDaemon *d, const char *line, int at_least)
{
    for (int i = 0; i < 3000 && vs_test_log_count(d, line) < at_least; i++) /* 60 s */
        g_usleep(20000);
    return vs_test_log_count(d, line) >= at_least;
}

void vs_test_daemon_free(VsTestDaemon *d)
{
    if (!d)
        return;
    vs_test_daemon_term(d);
    kill_leftover_qemu(d->state_dir);
    if (!g_getenv("VS_KEEP_STATE"))
        remove_tree(d->state_dir);
    g_free(d->url);
    g_free(d->state_dir);
    g_free(d->token);
    g_free(d->log_path);
    g_free(d->connect);
    g_strfreev(d->extra);
    g_free(d);
}

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
    g_string_append_len(userdata, data, (gssize)(size * n));
    return size * n;
}

VsTestResponse *vs_http_raw(VsTestDaemon *d, const char *method, const char *path,
                            const char *body, size_t body_len, const char *const *headers)
{
    VsTestResponse *r = g_new0(VsTestResponse, 1);
    CURL *curl = curl_easy_init();
    g_autofree char *url = g_strdup_printf("%s%s", d->url, path);
    GString *out = g_string_new(NULL), *hdrs = g_string_new(NULL);
    struct curl_slist *list = NULL;
    for (const char *const *h = headers; h && *h; h++)
        list = curl_slist_append(list, *h);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, hdrs);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    /* Over TLS: the daemon's own self-signed certificate is the one trusted
     * (it names the host, not 127.0.0.1). */
    g_autofree char *cert = g_build_filename(d->state_dir, "tls", "cert.pem", NULL);
    if (g_str_has_prefix(url, "https://")) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, cert);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    r->body = g_string_free(out, FALSE);
    r->headers = g_string_free(hdrs, FALSE);
    r->json = *r->body ? json_loads(r->body, 0, NULL) : NULL;
    return r;
}

VsTestResponse *vs_http(VsTestDaemon *d, const char *method, const char *path, const char *body)
{
    g_autofree char *auth = g_strdup_printf("Authorization: Bearer %s", d->token);
    const char *headers[] = {auth, body ? "Content-Type: application/json" : NULL, NULL};
    return vs_http_raw(d, method, path, body, body ? strlen(body) : 0, headers);
}

void vs_response_free(VsTestResponse *r)
{
    if (!r)
        return;
    g_free(r->body);
    g_free(r->headers);
    if (r->json)
        json_decref(r->json);
    g_free(r);
}

char *vs_response_header(const VsTestResponse *r, const char *name)
{
    g_auto(GStrv) lines = g_strsplit(r->headers, "\r\n", -1);
    size_t n = strlen(name);
    for (char **l = lines; *l; l++)
        if (g_ascii_strncasecmp(*l, name, n) == 0 && (*l)[n] == ':')
            return g_strstrip(g_strdup(*l + n + 1));
    return NULL;
}

char *vs_enc(const char *name)
{
    return g_uri_escape_string(name, NULL, FALSE);
}

json_t *vs_wait_task(VsTestDaemon *d, const char *id, int timeout_s)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    for (;;) {
        /* The daemon answers when the task ends (?wait=, at most 20 s a request). */
        gint64 left_s = (deadline - g_get_monotonic_time()) / G_USEC_PER_SEC;
        g_autofree char *path =
            g_strdup_printf("/tasks/%s?wait=%d", id, (int)CLAMP(left_s, 0, 20));
        gint64 asked = g_get_monotonic_time();
        VsTestResponse *r = vs_http(d, "GET", path, NULL);
        const char *status = r->json ? vs_json_str(r->json, "status") : NULL;
        if (r->status != 200 || !status)
            die("GET %s answered %ld: %s", path, r->status, r->body);
        if (strcmp(status, "running") != 0 || g_get_monotonic_time() > deadline) {
            if (!strcmp(status, "running"))
                vs_test_daemon_explain_stuck_forks(d);
            json_t *task = json_incref(r->json);
            vs_response_free(r);
            return task;
        }
        vs_response_free(r);
        if (left_s <= 0 || g_get_monotonic_time() < asked + left_s * G_USEC_PER_SEC / 2)
            g_usleep(50000); /* the last second, or answered early (daemon stopping) */
    }
}

bool vs_make_vm_with_snapshot(VsTestDaemon *d, const char *vm, const char *snap)
{
    json_t *req = json_pack("{s:s}", "name", vm);
    g_autofree char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    g_autoptr(VsTestResponse) made = vs_http(d, "POST", "/vms", body);
    if (made->status != 201)
        return false;
    g_autofree char *status = vs_take_snapshot(d, vm, snap, NULL);
    return strcmp(status, "finished") == 0;
}

char *vs_take_snapshot(VsTestDaemon *d, const char *vm, const char *name, const char *description)
{
    json_t *req = json_object();
    if (name)
        json_object_set_new(req, "name", json_string(name));
    if (description)
        json_object_set_new(req, "description", json_string(description));
    g_autofree char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    g_autofree char *vm_enc = vs_enc(vm);
    g_autofree char *path = g_strdup_printf("/vms/%s/snapshots", vm_enc);
    g_autoptr(VsTestResponse) r = vs_http(d, "POST", path, body);
    if (r->status != 202)
        return g_strdup_printf("http-%ld", r->status);
    json_t *task = vs_wait_task(d, vs_json_str(r->json, "id"), 300);
    char *status = g_strdup(vs_json_str(task, "status"));
    json_decref(task);
    return status;
}

const char *vs_json_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

long long vs_json_int(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}
