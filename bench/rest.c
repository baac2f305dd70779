/* rest.c: vsbench-rest, the HTTP side of the benchmark. A minimal HTTP/1.1
 * client (keep-alive, one socket per thread, no libcurl) that sets up VMs and
 * snapshot trees through virtsnapd's REST API and times requests: sequential
 * latency, multi-connection throughput (optionally while another VM reverts
 * in a loop), snapshot create (POST, then waiting for the task) and revert, and the gaps
 * in a guest's serial output. Prints "S <key> <value>" samples (µs, req/s)
 * for bench/run.sh; `stats` turns a sample file into medians and p99, and
 * `reap` runs run.sh as a child subreaper (see reap_run).
 *
 *   vsbench-rest URL TOKENFILE COMMAND ARGS...   (see usage()) */
#include "common.h"
#include "watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char host[64] = "127.0.0.1";
static int port;
static char token[256];

/* ---- HTTP client --------------------------------------------------------- */

typedef struct {
    int fd;
    char *buf; /* response bytes; body points inside */
    size_t cap, len;
} Conn;

typedef struct {
    int status;
    const char *body; /* NUL-terminated, valid until the next request */
    size_t body_len;
} Resp;

static void conn_open(Conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("cannot connect to %s:%d: %s", host, port, strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!c->buf) {
        c->cap = 1 << 16;
        c->buf = malloc(c->cap);
    }
    c->len = 0;
}

static void conn_close(Conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads more bytes into c->buf; false on EOF or error. */
static bool fill(Conn *c)
{
    if (c->len + 4096 > c->cap) {
        c->cap *= 2;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t r;
    do
        r = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return false;
    c->len += (size_t)r;
    c->buf[c->len] = '\0';
    return true;
}

static const char *find_header(const char *head, const char *head_end, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p < head_end; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':')
            return p + 3 + n;
    }
    return NULL;
}

/* One request on C (reopened if the server closed it); false on failure. */
static bool try_request(Conn *c, const char *req, size_t req_len, bool head_only, Resp *out)
{
    if (c->fd < 0)
        conn_open(c);
    if (!send_all(c->fd, req, req_len))
        return false;
    c->len = 0;
    char *end;
    while (!(end = c->len ? strstr(c->buf, "\r\n\r\n") : NULL))
        if (!fill(c))
            return false;
    int status = atoi(c->buf + 9);
    const char *cl = find_header(c->buf, end, "Content-Length");
    const char *te = find_header(c->buf, end, "Transfer-Encoding");
    const char *cn = find_header(c->buf, end, "Connection");
    if (te && strstr(te, "chunked") && te < end)
        die("chunked responses are not supported");
    size_t head_len = (size_t)(end + 4 - c->buf);
    bool no_body = head_only || status == 204 || status == 304 || (status >= 100 && status < 200);
    if (cl && cl < end) {
        size_t want = head_len + (size_t)strtoull(cl, NULL, 10);
        while (c->len < want)
            if (!fill(c))
                return false;
    } else if (!no_body) {
        while (fill(c)) /* until close */
            ;
        cn = "close";
    }
    out->status = status;
    out->body = c->buf + head_len;
    out->body_len = c->len - head_len;
    c->buf[c->len] = '\0';
    if (cn && cn < end + 4 && strncasecmp(cn + strspn(cn, " "), "close", 5) == 0)
        conn_close(c);
    return true;
}

static size_t build_request(char *buf, size_t cap, const char *method, const char *path,
                            const char *body)
{
    int n;
    if (body || strcmp(method, "GET") != 0)
        n = snprintf(buf, cap,
                     "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, host, port, token, body ? strlen(body) : 0, body ? body : "");
    else
        n = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n\r\n",
                     method, path, host, port, token);
    if (n < 0 || (size_t)n >= cap)
        die("request too long: %s %s", method, path);
    return (size_t)n;
}

static Resp request(Conn *c, const char *method, const char *path, const char *body)
{
    char req[8192];
    size_t n = build_request(req, sizeof req, method, path, body);
    Resp r;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (try_request(c, req, n, false, &r))
            return r;
        conn_close(c); /* a kept-alive socket the server had closed: retry */
    }
    die("%s %s: no answer from %s:%d", method, path, host, port);
}

static Resp expect(Conn *c, const char *method, const char *path, const char *body, int want)
{
    Resp r = request(c, method, path, body);
    if (r.status != want)
        die("%s %s: HTTP %d (wanted %d): %.400s", method, path, r.status, want, r.body);
    return r;
}

/* The string value of "KEY":"..." in compact JSON (first occurrence). */
static char *json_field(const char *body, const char *key, char *out, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(body, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    size_t i = 0;
    while (*p && *p != '"' && i + 1 < len)
        out[i++] = *p++;
    out[i] = '\0';
    return out;
}

/* ---- operations ---------------------------------------------------------- */

/* POST a snapshot and follow its task: POLL_US < 0 waits for its end in the
 * daemon (GET /tasks/<id>?wait=), else polls every POLL_US; the elapsed µs. */
static double create_snapshot(Conn *c, const char *vm, const char *name, int poll_us)
{
    char path[512], body[256], id[32], status[32], tpath[64];
    snprintf(path, sizeof path, "/vms/%s/snapshots", vm);
    /* Classic unless VSBENCH_LIVE=true: the direct libvirt baseline is classic. */
    const char *live = getenv("VSBENCH_LIVE");
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"live\":%s}", name,
             live && !strcmp(live, "true") ? "true" : "false");
    double t0 = now_us();
    Resp r = expect(c, "POST", path, body, 202);
    if (!json_field(r.body, "id", id, sizeof id))
        die("no task id in %s", r.body);
    snprintf(tpath, sizeof tpath, "/tasks/%s%s", id, poll_us < 0 ? "?wait=25" : "");
    for (;;) {
        r = expect(c, "GET", tpath, NULL, 200);
        if (!json_field(r.body, "status", status, sizeof status))
            die("no status in %s", r.body);
        if (strcmp(status, "running") != 0)
            break;
        if (poll_us > 0)
            usleep((useconds_t)poll_us);
    }
    double t = now_us() - t0;
    if (strcmp(status, "finished") != 0)
        die("snapshot '%s' of '%s' failed: %s", name, vm, r.body);
    return t;
}

static double revert_snapshot(Conn *c, const char *vm, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "/vms/%s/snapshots/%s/revert", vm, name);
    double t0 = now_us();
    expect(c, "POST", path, NULL, 200);
    return now_us() - t0;
}

/* ---- load ----------------------------------------------------------------- */

typedef struct {
    const char *path;
    double start, end;
    atomic_bool *reverting; /* when set, count only requests begun during a revert */
    double *lat;
    size_t n, cap;
    long requests, all; /* counted, and all answered (warm-up included) */
    long failed;        /* requests the connection broke under (counted apart, sent again) */
    pthread_barrier_t *barrier;
} Worker;

static void *worker_run(void *data)
{
    Worker *w = data;
    Conn c = {.fd = -1};
    conn_open(&c);
    char req[1024];
    size_t req_len = build_request(req, sizeof req, "GET", w->path, NULL);
    Resp r;
    if (!try_request(&c, req, req_len, false, &r) || r.status != 200) /* warm */
        die("GET %s: HTTP %d %.300s", w->path, r.status, r.body);
    pthread_barrier_wait(w->barrier);
    for (;;) {
        double t0 = now_us();
        if (t0 >= w->end)
            break;
        bool during = w->reverting ? atomic_load(w->reverting) : true;
        bool counted = t0 >= w->start && during;
        /* A request the connection broke under is sent again on a new one,
         * timed from its first send: the lost attempt is in its latency. */
        bool answered = false;
        while (!(answered = try_request(&c, req, req_len, false, &r)) && now_us() < w->end) {
            w->failed += counted;
            conn_close(&c);
            conn_open(&c);
        }
        if (!answered)
            break;
        double t1 = now_us();
        if (r.status != 200)
            die("GET %s: HTTP %d under load", w->path, r.status);
        w->all++;
        if (t0 < w->start || !during)
            continue;
        w->requests++;
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4096;
            w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
        }
        w->lat[w->n++] = t1 - t0;
    }
    conn_close(&c);
    free(c.buf);
    return NULL;
}

typedef struct {
    const char *vm, *snap;
    atomic_bool *reverting, stop;
    int count;
    double total_us;
} Reverter;

static void *reverter_run(void *data)
{
    Reverter *rv = data;
    Conn c = {.fd = -1};
    while (!atomic_load(&rv->stop)) {
        atomic_store(rv->reverting, true);
        rv->total_us += revert_snapshot(&c, rv->vm, rv->snap);
        rv->count++;
    }
    atomic_store(rv->reverting, false);
    conn_close(&c);
    free(c.buf);
    return NULL;
}

/* CPU seconds (user + system) used so far by process PID, or by us (0). */
static double cpu_seconds(long pid)
{
    if (pid == 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f))
        die("cannot read %s", path);
    fclose(f);
    const char *p = strrchr(buf, ')'); /* fields after the command name */
    unsigned long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                     &stime) != 2)
        die("cannot parse %s", path);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double pct(const double *v, size_t n, double p);

/* CONNS connections GET PATH for SECS seconds (after 0.3 s of warm-up).
 * With REVERT_VM, another thread reverts it to REVERT_SNAP over and over and
 * only requests begun while a revert is in flight are counted. With
 * $VSBENCH_PID (the daemon), also samples the daemon's and our own CPU time
 * per request over the whole run: what throughput would be on idle cores. */
static void load(const char *key, const char *path, int conns, double secs, const char *revert_vm,
                 const char *revert_snap)
{
    atomic_bool reverting = false;
    Reverter rv = {.vm = revert_vm, .snap = revert_snap, .reverting = &reverting};
    pthread_t rv_thread;
    if (revert_vm) {
        pthread_create(&rv_thread, NULL, reverter_run, &rv);
        while (!atomic_load(&reverting))
            usleep(1000);
        usleep(50000); /* well inside the first revert */
    }
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)conns + 1);
    Worker *ws = calloc((size_t)conns, sizeof *ws);
    pthread_t *ts = calloc((size_t)conns, sizeof *ts);
    for (int i = 0; i < conns; i++) {
        ws[i].path = path;
        ws[i].barrier = &barrier;
        ws[i].reverting = revert_vm ? &reverting : NULL;
        ws[i].start = ws[i].end = 1e300;
        pthread_create(&ts[i], NULL, worker_run, &ws[i]);
    }
    /* Workers read start/end after the barrier. */
    double t0 = now_us();
    for (int i = 0; i < conns; i++) {
        ws[i].start = t0 + 300000;
        ws[i].end = ws[i].start + secs * 1e6;
    }
    const char *pid_env = getenv("VSBENCH_PID");
    long pid = pid_env ? atol(pid_env) : -1;
    double cpu0 = pid > 0 ? cpu_seconds(pid) : 0, self0 = cpu_seconds(0);
    pthread_barrier_wait(&barrier);
    long total = 0, all = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(ts[i], NULL);
        total += ws[i].requests;
        all += ws[i].all;
    }
    double cpu1 = pid > 0 ? cpu_seconds(pid) : 0, self1 = cpu_seconds(0);
    if (revert_vm) {
        atomic_store(&rv.stop, true);
        pthread_join(rv_thread, NULL);
    }
    char k[256];
    /* Under a revert loop only the time spent reverting counts; that is
     * nearly all of it, since the reverter starts the next one at once. */
    snprintf(k, sizeof k, "%s.rps", key);
    sample(k, (double)total / secs);
    snprintf(k, sizeof k, "%s.lat", key);
    size_t n_run = 0;
    long failed = 0;
    for (int i = 0; i < conns; i++)
        n_run += ws[i].n;
    double *run = malloc((n_run ? n_run : 1) * sizeof *run);
    n_run = 0;
    for (int i = 0; i < conns; i++) {
        for (size_t j = 0; j < ws[i].n; j++) {
            sample(k, ws[i].lat[j]);
            run[n_run++] = ws[i].lat[j];
        }
        failed += ws[i].failed;
        free(ws[i].lat);
    }
    /* This run's own p99 (the pooled one hides how far runs differ) and
     * the requests a broken connection lost. */
    qsort(run, n_run, sizeof *run, cmp_double);
    if (n_run) {
        snprintf(k, sizeof k, "%s.p99run", key);
        sample(k, pct(run, n_run, 99));
    }
    free(run);
    snprintf(k, sizeof k, "%s.failed", key);
    sample(k, (double)failed);
    if (revert_vm) {
        snprintf(k, sizeof k, "%s.reverts", key);
        sample(k, rv.count);
    } else if (pid > 0 && all > 0) {
        snprintf(k, sizeof k, "%s.cpu_us", key);
        sample(k, (cpu1 - cpu0) * 1e6 / (double)all);
        snprintf(k, sizeof k, "%s.client_cpu_us", key);
        sample(k, (self1 - self0) * 1e6 / (double)all);
    }
    free(ws);
    free(ts);
    pthread_barrier_destroy(&barrier);
}

/* ---- the benchmark tree ---------------------------------------------------- */

/* Grows VM's tree from size FROM (0: no snapshot yet) to size TO. */
static void grow_tree(Conn *c, const char *vm, int from, int to, const char *key)
{
    char name[64], tip[64];
    double t0 = now_us();
    int made = 0, reverts = 0;
    if (from == 0) {
        sample(key, create_snapshot(c, vm, BENCH_HUB, -1));
        made++;
        for (int i = 1; i <= BENCH_FANOUT; i++) {
            revert_snapshot(c, vm, BENCH_HUB);
            reverts++;
            tree_child_name(name, sizeof name, i);
            sample(key, create_snapshot(c, vm, name, -1));
            made++;
        }
        from = 1 + BENCH_FANOUT;
    }
    for (int i = 1; i <= BENCH_FANOUT; i++) {
        int have = tree_chain_len(from, i), want = tree_chain_len(to, i);
        if (want <= have)
            continue;
        if (have == 0)
            tree_child_name(tip, sizeof tip, i);
        else
            tree_chain_name(tip, sizeof tip, i, have);
        revert_snapshot(c, vm, tip);
        reverts++;
        for (int j = have + 1; j <= want; j++) {
            tree_chain_name(name, sizeof name, i, j);
            sample(key, create_snapshot(c, vm, name, -1));
            made++;
        }
    }
    double total = now_us() - t0;
    char k[256];
    snprintf(k, sizeof k, "%s.total_s", key);
    sample(k, total / 1e6);
    snprintf(k, sizeof k, "%s.count", key);
    sample(k, made);
    fprintf(stderr, "vsbench-rest: %s: %d creates and %d reverts in %.1f s\n", vm, made, reverts,
            total / 1e6);
}

/* ---- stats ------------------------------------------------------------------ */

typedef struct {
    char *key;
    double *v;
    size_t n, cap;
} Series;

/* Nearest-rank percentile of sorted V. */
static double pct(const double *v, size_t n, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static double median(const double *v, size_t n)
{
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A distribution-free 95 % confidence interval of the median of sorted V:
 * [v(r), v(n+1-r)] (1-based order statistics) with the largest r for which
 * P(Binomial(n, 1/2) <= r-1) <= 2.5 %; it covers the true median with at
 * least 95 % probability whatever the distribution. False below 6 samples,
 * where no such r exists. */
static bool median_ci(const double *v, size_t n, double *lo, double *hi)
{
    size_t r = 0;
    double cum = 0;
    for (size_t j = 0; j < n / 2; j++) {
        cum += exp(lgamma((double)n + 1) - lgamma((double)j + 1) - lgamma((double)(n - j) + 1) -
                   (double)n * log(2.0));
        if (cum > 0.025)
            break;
        r = j + 1;
    }
    if (r == 0)
        return false;
    *lo = v[r - 1];
    *hi = v[n - r];
    return true;
}

/* Reads "S key value" lines from FILE; prints "key n median p99 min max
 * ci_low ci_high" (the 95 % confidence interval of the median, "- -" below
 * 6 samples). */
static int stats(const char *file)
{
    FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!f)
        die("cannot open %s", file);
    Series *s = NULL;
    size_t ns = 0, cs = 0;
    char line[512], key[256];
    double v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "S %255s %lf", key, &v) != 2)
            continue;
        size_t i = 0;
        while (i < ns && strcmp(s[i].key, key) != 0)
            i++;
        if (i == ns) {
            if (ns == cs) {
                cs = cs ? cs * 2 : 64;
                s = realloc(s, cs * sizeof *s);
            }
            s[ns++] = (Series){.key = strdup(key)};
        }
        if (s[i].n == s[i].cap) {
            s[i].cap = s[i].cap ? s[i].cap * 2 : 64;
            s[i].v = realloc(s[i].v, s[i].cap * sizeof *s[i].v);
        }
        s[i].v[s[i].n++] = v;
    }
    for (size_t i = 0; i < ns; i++) {
        qsort(s[i].v, s[i].n, sizeof *s[i].v, cmp_double);
        double lo, hi;
        char ci[80] = "- -";
        if (median_ci(s[i].v, s[i].n, &lo, &hi))
            snprintf(ci, sizeof ci, "%.3f %.3f", lo, hi);
        printf("%s %zu %.3f %.3f %.3f %.3f %s\n", s[i].key, s[i].n, median(s[i].v, s[i].n),
               pct(s[i].v, s[i].n, 99), s[i].v[0], s[i].v[s[i].n - 1], ci);
    }
    return 0;
}

/* ---- reaper ------------------------------------------------------------------ */

/* libvirt daemonizes QEMU, so a QEMU that exits is reaped by whoever adopts
 * orphans; and a revert waits (kill(pid, 0) every 200 ms) until the old QEMU
 * is gone. Some container inits reap only every second or two, which would
 * add that to every revert. As a child subreaper we adopt the orphans of
 * everything below us and reap them at once, as a normal init does. */
static pid_t reap_child;

static void forward_signal(int sig)
{
    if (reap_child > 0)
        kill(reap_child, sig);
}

static int reap_run(char **argv)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        die("cannot become a child subreaper: %s", strerror(errno));
    signal(SIGINT, forward_signal);
    signal(SIGTERM, forward_signal);
    reap_child = fork();
    if (reap_child < 0)
        die("fork: %s", strerror(errno));
    if (reap_child == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0 && errno == EINTR)
            continue;
        if (p < 0 || p == reap_child) {
            status = st;
            break;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- main -------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: vsbench-rest stats FILE\n"
            "       vsbench-rest reap COMMAND ARGS...   run COMMAND as a child subreaper\n"
            "       vsbench-rest URL TOKENFILE COMMAND ...\n"
            "  req METHOD PATH [BODY]              one request, prints the body (fails unless 2xx)\n"
            "  vm NAME MEM_MIB [IMAGE]             POST /vms (blank 1 GiB disk without IMAGE)\n"
            "  snap VM NAME                        take a snapshot and wait for its task\n"
            "  tree VM FROM TO KEY                 grow the benchmark tree, one sample per create\n"
            "  lat KEY PATH N                      N sequential GETs, one sample per request\n"
            "  load KEY PATH CONNS SECS [VM SNAP]  throughput, optionally while VM reverts to SNAP\n"
            "  round KEY VM NAME POLL_US [SERIAL]  create NAME (polling its task every POLL_US; -1:\n"
            "                                      wait for its end in the daemon),\n"
            "                                      revert to it; with SERIAL, the guest's stalls\n"
            "  cycle KEY VM PREFIX ROUNDS POLL_US [SERIAL]\n"
            "                                      create PREFIXn (following the task as round does)\n"
            "                                      then revert to it, ROUNDS times (after\n"
            "                                      one unsampled warm-up round)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    if (argc == 3 && strcmp(argv[1], "stats") == 0)
        return stats(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "reap") == 0)
        return reap_run(argv + 2);
    if (argc < 4)
        usage();
    if (sscanf(argv[1], "http://%63[^:]:%d", host, &port) != 2)
        die("bad URL %s", argv[1]);
    FILE *tf = fopen(argv[2], "r");
    if (!tf || !fgets(token, sizeof token, tf))
        die("cannot read the token from %s", argv[2]);
    fclose(tf);
    token[strcspn(token, "\r\n")] = '\0';
    const char *cmd = argv[3];
    char **a = argv + 4;
    int n = argc - 4;
    Conn c = {.fd = -1};

    if (!strcmp(cmd, "req") && (n == 2 || n == 3)) {
        Resp r = request(&c, a[0], a[1], n == 3 ? a[2] : NULL);
        printf("%s\n", r.body);
        return r.status >= 200 && r.status < 300 ? 0 : 1;
    }
    if (!strcmp(cmd, "vm") && (n == 2 || n == 3)) {
        char body[1024];
        if (n == 3)
            snprintf(body, sizeof body, "{\"name\":\"%s\",\"memory\":%s,\"image\":\"%s\"}", a[0],
                     a[1], a[2]);
        else
            snprintf(body, sizeof body, "{\"name\":\"%s\",\"memory\":%s,\"disk\":1}", a[0], a[1]);
        Resp r = expect(&c, "POST", "/vms", body, 201);
        printf("%s\n", r.body);
        return 0;
    }
    if (!strcmp(cmd, "snap") && n == 2) {
        create_snapshot(&c, a[0], a[1], -1);
        return 0;
    }
    if (!strcmp(cmd, "tree") && n == 4) {
        grow_tree(&c, a[0], atoi(a[1]), atoi(a[2]), a[3]);
        return 0;
    }
    if (!strcmp(cmd, "lat") && n == 3) {
        int count = atoi(a[2]);
        for (int i = 0; i < 5; i++) /* warm-up */
            expect(&c, "GET", a[1], NULL, 200);
        double *v = malloc((size_t)count * sizeof *v);
        for (int i = 0; i < count; i++) {
            double t0 = now_us();
            expect(&c, "GET", a[1], NULL, 200);
            v[i] = now_us() - t0;
        }
        for (int i = 0; i < count; i++)
            sample(a[0], v[i]);
        return 0;
    }
    if (!strcmp(cmd, "load") && (n == 4 || n == 6)) {
        load(a[0], a[1], atoi(a[2]), atof(a[3]), n == 6 ? a[4] : NULL, n == 6 ? a[5] : NULL);
        return 0;
    }
    if (!strcmp(cmd, "round") && (n == 4 || n == 5)) {
        const char *key = a[0], *vm = a[1], *name = a[2];
        int poll_us = atoi(a[3]);
        Watch w;
        if (n == 5)
            watch_start(&w, a[4]);
        /* The pause before each timed step: $VSBENCH_SETTLE_MS, the same
         * as the other clients of the round take (run.sh); it also lets a
         * watched guest print between steps. */
        const char *settle_env = getenv("VSBENCH_SETTLE_MS");
        useconds_t settle = settle_env ? (useconds_t)atoi(settle_env) * 1000 : 0;
        char k[256];
        /* Connected before the clock starts, as vsbench-direct's libvirt
         * connection is: a client keeps its connection (keep-alive). And
         * that connection has answered a request before, as a kept-alive
         * one has and as vsbench-direct's has: the first request on a new
         * connection also pays for its new server thread (its stack faulted
         * in again: ~0.3 ms here, session 13), which the create measured
         * first in each round paid and the revert after it did not. */
        conn_open(&c);
        char vm_path[512];
        snprintf(vm_path, sizeof vm_path, "/vms/%s", vm);
        expect(&c, "GET", vm_path, NULL, 200);
        usleep(settle);
        double t0 = now_us();
        double t = create_snapshot(&c, vm, name, poll_us);
        double t1 = now_us();
        snprintf(k, sizeof k, "%s.create", key);
        sample(k, t);
        usleep(settle);
        double t2 = now_us();
        t = revert_snapshot(&c, vm, name);
        double t3 = now_us();
        snprintf(k, sizeof k, "%s.revert", key);
        sample(k, t);
        if (n == 5) {
            usleep(settle);
            watch_stop(&w);
            snprintf(k, sizeof k, "%s.create_stall", key);
            sample(k, watch_stall(&w, t0, t1));
            snprintf(k, sizeof k, "%s.revert_stall", key);
            sample(k, watch_stall(&w, t2, t3));
        }
        return 0;
    }
    if (!strcmp(cmd, "cycle") && (n == 5 || n == 6)) {
        const char *key = a[0], *vm = a[1], *prefix = a[2];
        int rounds = atoi(a[3]), poll_us = atoi(a[4]);
        bool watching = n == 6;
        useconds_t settle = watching ? 400000 : 0; /* let the guest print between steps */
        Watch w;
        if (watching)
            watch_start(&w, a[5]);
        char name[128], k[256];
        for (int i = 0; i <= rounds; i++) { /* round 0: unsampled warm-up */
            snprintf(name, sizeof name, "%s%d", prefix, i);
            if (i == 0) {
                create_snapshot(&c, vm, name, poll_us);
                revert_snapshot(&c, vm, name);
                continue;
            }
            usleep(settle);
            double t0 = now_us();
            double t = create_snapshot(&c, vm, name, poll_us);
            double t1 = now_us();
            snprintf(k, sizeof k, "%s.create", key);
            sample(k, t);
            usleep(settle);
            double t2 = now_us();
            t = revert_snapshot(&c, vm, name);
            double t3 = now_us();
            snprintf(k, sizeof k, "%s.revert", key);
            sample(k, t);
            if (watching) {
                usleep(settle);
                snprintf(k, sizeof k, "%s.create_stall", key);
                sample(k, watch_stall(&w, t0, t1));
                snprintf(k, sizeof k, "%s.revert_stall", key);
                sample(k, watch_stall(&w, t2, t3));
            }
        }
        if (watching)
            watch_stop(&w);
        return 0;
    }
    usage();
}
