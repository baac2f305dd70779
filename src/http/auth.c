/* auth.c: token, Basic and session-cookie authentication, who may log in,
 * sessions, the login throttle and the memory of Basic credentials that
 * passed. */
#include "auth.h"

#include "../util/log.h"
#include "../util/random.h"
#include "peer.h"
#include "server.h" /* vs_listen_is_loopback */

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <stdio.h>
#include <string.h>

#define FAILURE_MEMORY_US (15 * 60 * G_USEC_PER_SEC)
/* Beyond this many users in the login throttle, those with no recent
 * failure and no attempt in flight are forgotten, then all with none in
 * flight; beyond this many sessions, expired ones are swept and then the
 * least recently used goes; beyond this many remembered Basic pairs, the
 * expired go, then all. */
#define MAX_THROTTLES 4096
#define MAX_SESSIONS 4096
/* Sessions of one user at most: a new login past them ends the user's
 * least recently used (a script that logs in for every call and never
 * logs out), so that one account cannot push every other user's sessions
 * out of the table. */
#define MAX_SESSIONS_PER_USER 64
#define MAX_REMEMBERED 4096
/* Attempts of one user in flight or waiting their turn at most: more are
 * refused at once (503), without PAM (a flood of guesses for one user
 * cannot hold connections for minutes; the API token is never throttled).
 * Not 401: the user's own login, refused while others' guesses wait, must
 * not read as a wrong password. */
#define MAX_WAITING_PER_USER 8
/* Password checks (Basic or login) in flight or waiting, from one client
 * address and from all together: more are refused at once (503), before
 * the account lookup. Each holds its connection's thread (PAM ~0.12 s,
 * pam_faildelay's 2 s after a failure, the throttle's delays), and made-up
 * names each get a throttle of their own: without a bound, logins could
 * keep every connection busy, where none is closed to make room
 * (watchdog.h). The bound per address (an IPv6 /64, peer.h) keeps one
 * client from taking every check; the overall one keeps half of the
 * server's 512 connections from logins. */
#define MAX_CHECKS_PER_ADDRESS 8
#define MAX_CHECKS_AT_ONCE 256

/* A session: its cookie's ID is the hash table's key; KEY must come with
 * it in the X-Virtsnap-Key header. Browsers send a host's cookies to every
 * port of it, so a page another local user serves on 127.0.0.1:<port>
 * receives the cookie; the key lives in the web UI's localStorage, which
 * is the origin's own (port included), and never leaves it but to us. */
typedef struct {
    char *user;
    char *account;    /* the account as NSS names it (account_key): "Alice" is "alice" */
    char *key;
    char *peer;       /* the client's address at the login (PAM_RHOST), or NULL */
    gint64 created;   /* monotonic µs of the login */
    gint64 last_used; /* monotonic µs */
    gint64 checked;   /* monotonic µs of the last account check */
    bool locked;      /* its password was locked (shadow) at the login already */
} Session;

/* One user's login attempts run one after another, each after the delay
 * that the user's recent failures earn: guessing a password goes no
 * faster in parallel. */
typedef struct {
    guint failures;   /* recent failures */
    gint64 last;      /* monotonic µs of the last failure (or of the first attempt) */
    guint waiting;    /* attempts in flight or waiting their turn */
    bool busy;        /* one is being checked */
} Throttle;

static struct {
    char *token;
    char *pam_service;
    char *login_group; /* "": any account PAM accepts */
    gint64 ttl_us;
    gint64 max_age_us;
    gint64 recheck_us;
    GMutex lock;
    GCond turn;
    GHashTable *sessions;  /* id → Session* */
    GHashTable *throttles; /* user → Throttle* */
    guint checks;          /* password checks in flight or waiting (MAX_CHECKS_AT_ONCE) */
    GHashTable *checks_by_peer; /* client address → guint checks from it, as a pointer */
    guint busy_refused;    /* 503s not logged yet (one line a second at most) */
    gint64 busy_logged;    /* monotonic µs of the last such line */
    bool proxied;          /* VsAuthConfig's */
    /* HTTP Basic pairs that passed PAM and the login group: a script's
     * every request would otherwise cost a PAM check (~0.12 s with Debian's
     * yescrypt hashes) and wait its turn in the user's throttle. Keyed by
     * an HMAC-SHA256 of user and password under a key made at start
     * (neither is kept); the value is the monotonic µs of the check. A
     * changed password, or a user taken out of the group, is refused
     * remember_us after the pair's check at the latest. */
    GHashTable *remembered; /* digest → gint64* */
    char *remember_key;
    gint64 remember_us;
    /* How long PAM takes to refuse a password (µs, a moving average of the
     * refusals seen; pam_unix's delay to start with): an account that may
     * not log in is refused without PAM after about as long, so that the
     * answer's time tells nothing of its password. */
    gint64 pam_refusal_us;
} auth;

static void session_free(Session *s)
{
    g_free(s->user);
    g_free(s->account);
    g_free(s->key);
    g_free(s->peer);
    g_free(s);
}

void vs_auth_init(const VsAuthConfig *config)
{
    auth.proxied = config->proxied;
    auth.pam_refusal_us = 2 * G_USEC_PER_SEC; /* pam_unix's delay */
    auth.token = g_strdup(config->token);
    auth.pam_service = g_strdup(config->pam_service ? config->pam_service : "virtsnap");
    auth.login_group = g_strdup(config->login_group ? config->login_group : "virtsnap");
    auth.ttl_us = (config->session_ttl > 0 ? MIN(config->session_ttl, VS_MAX_SESSION_TTL) : 1800) *
                  G_USEC_PER_SEC;
    auth.max_age_us = (config->session_max_age > 0
                           ? MIN(config->session_max_age, VS_MAX_SESSION_TTL)
                           : VS_DEFAULT_SESSION_MAX_AGE) *
                      G_USEC_PER_SEC;
    /* $VIRTSNAP_SESSION_RECHECK (seconds) is for tests. */
    const char *recheck = g_getenv("VIRTSNAP_SESSION_RECHECK");
    auth.recheck_us = (recheck ? g_ascii_strtoll(recheck, NULL, 10) : VS_SESSION_RECHECK) *
                      G_USEC_PER_SEC;
    if (!*auth.login_group)
        vs_info("logins: every account that PAM service '%s' accepts", auth.pam_service);
    else if (!getgrnam(auth.login_group))
        vs_warn("logins: only root (group '%s' does not exist; create it and add users to it)",
                auth.login_group);
    else
        vs_info("logins: root and members of group '%s' (PAM service '%s')", auth.login_group,
                auth.pam_service);
    auth.sessions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify)session_free);
    auth.throttles = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    auth.checks_by_peer = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    auth.remembered = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    auth.remember_key = vs_random_hex(32);
    auth.remember_us = MIN(config->basic_remember < 0 ? VS_DEFAULT_BASIC_REMEMBER
                                                      : config->basic_remember,
                           VS_MAX_BASIC_REMEMBER) *
                       G_USEC_PER_SEC;
}

bool vs_auth_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
    return diff == 0 && la == lb;
}

char *vs_auth_parse_bearer(const char *header)
{
    if (!header || g_ascii_strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    const char *p = header + 7;
    while (*p == ' ')
        p++;
    return *p ? g_strstrip(g_strdup(p)) : NULL;
}

bool vs_auth_parse_basic(const char *header, char **user, char **password)
{
    if (!header || g_ascii_strncasecmp(header, "Basic ", 6) != 0)
        return false;
    g_autofree char *encoded = g_strstrip(g_strdup(header + 6));
    /* g_base64_decode skips what is not base64: accept only clean base64 */
    size_t n_b64 = strspn(encoded, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    size_t n_pad = strspn(encoded + n_b64, "=");
    if (encoded[n_b64 + n_pad] != '\0' || n_pad > 2 || (n_b64 + n_pad) % 4 != 0)
        return false;
    gsize len = 0;
    g_autofree guchar *raw = g_base64_decode(encoded, &len);
    if (!raw || len == 0 || memchr(raw, '\0', len))
        return false;
    g_autofree char *text = g_strndup((const char *)raw, len);
    char *colon = strchr(text, ':');
    if (!colon || colon == text || !g_utf8_validate(text, -1, NULL) ||
        colon - text > VS_AUTH_MAX_USER || strlen(colon + 1) > VS_AUTH_MAX_PASSWORD)
        return false;
    *user = g_strndup(text, (gsize)(colon - text));
    *password = g_strdup(colon + 1);
    return true;
}

GStrv vs_auth_cookie_values(const char *cookie_header, const char *name)
{
    GPtrArray *values = g_ptr_array_new();
    g_auto(GStrv) parts = cookie_header ? g_strsplit(cookie_header, ";", -1) : NULL;
    size_t name_len = strlen(name);
    for (char **p = parts; p && *p && values->len < VS_MAX_SESSION_COOKIES; p++) {
        const char *c = *p;
        while (*c == ' ')
            c++;
        if (strncmp(c, name, name_len) == 0 && c[name_len] == '=')
            g_ptr_array_add(values, g_strdup(c + name_len + 1));
    }
    g_ptr_array_add(values, NULL);
    return (GStrv)g_ptr_array_free(values, FALSE);
}

guint vs_auth_delay_ms(guint failures)
{
    if (failures == 0)
        return 0;
    guint shift = MIN(failures - 1, 5u);
    return MIN(250u << shift, 5000u);
}

static void end_session(const char *id)
{
    g_mutex_lock(&auth.lock);
    g_hash_table_remove(auth.sessions, id);
    g_mutex_unlock(&auth.lock);
}

static bool session_expired(const Session *s, gint64 now)
{
    return now - s->last_used > auth.ttl_us || now - s->created > auth.max_age_us;
}

static VsAccountCheck user_allowed(const char *user, const char *group);

bool vs_auth_hash_locked(const char *hash)
{
    return hash && (hash[0] == '!' || hash[0] == '*');
}

/* Whether USER's shadow password is locked (passwd -l, usermod -L) or none
 * ("*"): one locked since a session's login ends it, as pam_unix's account
 * check looks at the expiry dates only and the session's one proof was
 * that password. (One locked at the login already was not what PAM asked
 * about: pam_sss, say.) An account /etc/shadow does not hold (a
 * directory's) is left to PAM. */
static bool password_locked(const char *user)
{
    /* $VIRTSNAP_SHADOW: another file in /etc/shadow's form, for tests */
    const char *path = g_getenv("VIRTSNAP_SHADOW");
    FILE *file = fopen(path ? path : "/etc/shadow", "re");
    if (!file)
        return false;
    struct spwd sp, *found = NULL;
    char buf[4096];
    bool locked = false;
    while (fgetspent_r(file, &sp, buf, sizeof buf, &found) == 0 && found)
        if (strcmp(found->sp_namp, user) == 0) {
            locked = vs_auth_hash_locked(found->sp_pwdp);
            break;
        }
    fclose(file);
    return locked;
}

static VsAccountCheck account_check(const char *user, const char *peer)
{
    VsAccountCheck pam = vs_pam_account_check(auth.pam_service, user, peer);
    return pam != VS_ACCOUNT_VALID ? pam : user_allowed(user, auth.login_group);
}

/* The user of session ID if KEY is its key and it has not expired. Every
 * recheck_us its account is checked again (outside the lock: PAM and NSS
 * may be slow), and the session ends when the account may, for certain, no
 * longer log in (a check that cannot tell keeps it: a directory server
 * down must not log everyone out). */
static char *session_user(const char *id, const char *key)
{
    char *user = NULL;
    g_autofree char *peer = NULL;
    bool recheck = false, was_locked = false;
    gint64 now = g_get_monotonic_time();
    g_mutex_lock(&auth.lock);
    Session *s = g_hash_table_lookup(auth.sessions, id);
    if (s && session_expired(s, now)) {
        g_hash_table_remove(auth.sessions, id);
        s = NULL;
    }
    if (s && !(key && vs_auth_equal(key, s->key)))
        s = NULL;
    if (s) {
        s->last_used = now;
        user = g_strdup(s->user);
        recheck = now - s->checked >= auth.recheck_us;
        if (recheck) {
            s->checked = now; /* one check at a time, not one per request */
            peer = g_strdup(s->peer);
            was_locked = s->locked;
        }
    }
    g_mutex_unlock(&auth.lock);
    bool locked_since = recheck && !was_locked && password_locked(user);
    VsAccountCheck check = locked_since ? VS_ACCOUNT_REFUSED
                           : recheck    ? account_check(user, peer)
                                        : VS_ACCOUNT_VALID;
    g_autofree char *logged = check != VS_ACCOUNT_VALID ? vs_log_word(user) : NULL;
    if (check == VS_ACCOUNT_UNKNOWN)
        vs_warn("could not check the account of user '%s' again (PAM or NSS did not answer); "
                "its session goes on", logged);
    if (check == VS_ACCOUNT_REFUSED && locked_since)
        vs_warn("ended the session of user '%s': its password was locked since the login "
                "(passwd -l, usermod -L)", logged);
    else if (check == VS_ACCOUNT_REFUSED)
        vs_warn("ended the session of user '%s': the account may no longer log in (PAM's "
                "account check, or not root and not in group '%s')",
                logged, auth.login_group);
    if (check == VS_ACCOUNT_REFUSED) {
        end_session(id);
        g_clear_pointer(&user, g_free);
    }
    return user;
}


/* Fewer failures first, then the older last one. */
static gint by_failures(gconstpointer a, gconstpointer b, gpointer table)
{
    const Throttle *x = g_hash_table_lookup(table, *(char *const *)a);
    const Throttle *y = g_hash_table_lookup(table, *(char *const *)b);
    if (x->failures != y->failures)
        return x->failures < y->failures ? -1 : 1;
    return x->last < y->last ? -1 : x->last > y->last;
}

/* Once the table is full (random user names): forgets users with no recent
 * failure and nothing in flight, and if it is still over half full, those
 * with nothing in flight and the fewest failures, down to half: a flood of
 * names failing once does not wipe out the count of one being guessed at.
 * A scan frees at least half the table, so scans stay rare. */
static void throttles_prune(gint64 now)
{
    if (g_hash_table_size(auth.throttles) < MAX_THROTTLES)
        return;
    GHashTableIter it;
    gpointer key, value;
    g_autoptr(GPtrArray) idle = g_ptr_array_new();
    g_hash_table_iter_init(&it, auth.throttles);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        Throttle *t = value;
        if (t->waiting == 0 && now - t->last > FAILURE_MEMORY_US)
            g_hash_table_iter_remove(&it);
        else if (t->waiting == 0)
            g_ptr_array_add(idle, key);
    }
    if (g_hash_table_size(auth.throttles) > MAX_THROTTLES / 2) {
        g_ptr_array_sort_with_data(idle, by_failures, auth.throttles);
        for (guint i = 0; i < idle->len && g_hash_table_size(auth.throttles) > MAX_THROTTLES / 2; i++)
            g_hash_table_remove(auth.throttles, g_ptr_array_index(idle, i));
    }
    if (g_hash_table_size(auth.throttles) >= MAX_THROTTLES)
        vs_warn("login throttle: %u users have attempts in flight",
                g_hash_table_size(auth.throttles));
}

/* Waits for USER's turn and out the delay its failures earn, true; the
 * caller then checks the password and calls throttle_leave(). False, at
 * once, when too many attempts for USER wait already. */
static bool throttle_enter(const char *user)
{
    g_mutex_lock(&auth.lock);
    gint64 now = g_get_monotonic_time();
    Throttle *t = g_hash_table_lookup(auth.throttles, user);
    if (!t) {
        throttles_prune(now);
        t = g_new0(Throttle, 1);
        t->last = now;
        g_hash_table_insert(auth.throttles, g_strdup(user), t);
    }
    if (t->waiting >= MAX_WAITING_PER_USER) {
        g_mutex_unlock(&auth.lock);
        return false;
    }
    t->waiting++;
    while (t->busy)
        g_cond_wait(&auth.turn, &auth.lock);
    t->busy = true;
    if (g_get_monotonic_time() - t->last > FAILURE_MEMORY_US)
        t->failures = 0;
    guint delay = vs_auth_delay_ms(t->failures);
    g_mutex_unlock(&auth.lock);
    if (delay)
        g_usleep(delay * 1000);
    return true;
}

static void throttle_leave(const char *user, bool success)
{
    g_mutex_lock(&auth.lock);
    Throttle *t = g_hash_table_lookup(auth.throttles, user);
    t->busy = false;
    t->waiting--;
    if (success) {
        t->failures = 0;
    } else {
        t->failures++;
        t->last = g_get_monotonic_time();
    }
    if (t->waiting == 0 && t->failures == 0)
        g_hash_table_remove(auth.throttles, user);
    g_cond_broadcast(&auth.turn);
    g_mutex_unlock(&auth.lock);
}

/* Whether USER may use virtsnap once PAM has accepted it: root, or a member
 * of the login group (primary or supplementary), or anyone when the group
 * is "". */
/* Whether USER may log in (root, a member of GROUP, anyone if GROUP is
 * ""), or UNKNOWN when NSS could not tell (a directory down). */
static VsAccountCheck user_allowed(const char *user, const char *group)
{
    if (!*group)
        return VS_ACCOUNT_VALID;
    char buf[16384];
    struct passwd pw, *found = NULL;
    int rc = getpwnam_r(user, &pw, buf, sizeof buf, &found);
    if (rc != 0)
        return VS_ACCOUNT_UNKNOWN;
    if (!found)
        return VS_ACCOUNT_REFUSED;
    if (pw.pw_uid == 0)
        return VS_ACCOUNT_VALID;
    /* The group's id (a big directory group needs a big buffer), then the
     * user's groups as NSS lists them (members need not be listed in the
     * group's own entry, as with SSSD's ignore_group_members). */
    gid_t gid = 0;
    bool known = false;
    for (size_t size = 65536; size <= 16 * 1024 * 1024 && !known; size *= 4) {
        g_autofree char *gbuf = g_malloc(size);
        struct group gr, *gfound = NULL;
        rc = getgrnam_r(group, &gr, gbuf, size, &gfound);
        if (rc == ERANGE)
            continue;
        if (rc != 0)
            return VS_ACCOUNT_UNKNOWN;
        if (!gfound)
            return VS_ACCOUNT_REFUSED;
        gid = gr.gr_gid;
        known = true;
    }
    if (!known)
        return VS_ACCOUNT_UNKNOWN;
    if (pw.pw_gid == gid)
        return VS_ACCOUNT_VALID;
    int n = 64, size = n;
    g_autofree gid_t *groups = g_new(gid_t, size);
    while (getgrouplist(user, pw.pw_gid, groups, &n) < 0) {
        if (n <= size || n > 65536)
            return VS_ACCOUNT_UNKNOWN;
        groups = g_renew(gid_t, groups, size = n);
    }
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return VS_ACCOUNT_VALID;
    return VS_ACCOUNT_REFUSED;
}

bool vs_auth_user_allowed(const char *user, const char *group)
{
    return user_allowed(user, group) == VS_ACCOUNT_VALID;
}

/* The key under which a Basic pair is remembered. */
static char *basic_digest(const char *user, const char *password)
{
    GString *pair = g_string_new(user);
    g_string_append_c(pair, '\0');
    g_string_append(pair, password);
    char *digest = g_compute_hmac_for_data(G_CHECKSUM_SHA256, (const guchar *)auth.remember_key,
                                           strlen(auth.remember_key), (const guchar *)pair->str,
                                           pair->len);
    explicit_bzero(pair->str, pair->len);
    g_string_free(pair, TRUE);
    return digest;
}

/* Whether DIGEST passed within the last remember_us (an expired one is
 * forgotten). */
static bool is_remembered(const char *digest)
{
    g_mutex_lock(&auth.lock);
    gint64 *checked = g_hash_table_lookup(auth.remembered, digest);
    bool known = checked && g_get_monotonic_time() - *checked < auth.remember_us;
    if (checked && !known)
        g_hash_table_remove(auth.remembered, digest);
    g_mutex_unlock(&auth.lock);
    return known;
}

/* Remembers DIGEST as passed now. When the table is full, the expired go,
 * then all (scripts rotating through many accounts only lose the speed-up). */
static void remember(const char *digest)
{
    g_mutex_lock(&auth.lock);
    gint64 now = g_get_monotonic_time();
    if (g_hash_table_size(auth.remembered) >= MAX_REMEMBERED) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, auth.remembered);
        while (g_hash_table_iter_next(&it, NULL, &value))
            if (now - *(gint64 *)value >= auth.remember_us)
                g_hash_table_iter_remove(&it);
        if (g_hash_table_size(auth.remembered) >= MAX_REMEMBERED)
            g_hash_table_remove_all(auth.remembered);
    }
    g_hash_table_insert(auth.remembered, g_strdup(digest), g_memdup2(&now, sizeof now));
    g_mutex_unlock(&auth.lock);
}

/* The account USER names as the system's user database spells it (one
 * that matches names in any case, as LDAP or SSSD may, gives one spelling
 * for "alice" and "Alice"), or USER itself when it names none: what failed
 * attempts are counted under, so that respelling a name does not start
 * its count over. */
static char *account_key(const char *user)
{
    struct passwd pw, *found = NULL;
    int rc = ERANGE;
    for (gsize size = 4096; rc == ERANGE && size <= 1024 * 1024; size *= 4) {
        g_autofree char *buf = g_malloc(size); /* (an entry with many fields: ERANGE) */
        rc = getpwnam_r(user, &pw, buf, size, &found);
        if (rc == 0 && found && found->pw_name)
            return g_strdup(found->pw_name);
    }
    return g_strdup(user);
}

/* PAM's check of USER/PASSWORD; a refusal's time goes into the average
 * that refusals without PAM take (auth.pam_refusal_us). */
static bool pam_check(const char *user, const char *password, const char *peer)
{
    gint64 began = g_get_monotonic_time();
    bool ok = vs_pam_authenticate(auth.pam_service, user, password,
                                  peer && strcmp(peer, "?") != 0 ? peer : NULL);
    if (!ok) {
        gint64 took = g_get_monotonic_time() - began;
        g_mutex_lock(&auth.lock);
        auth.pam_refusal_us = (3 * auth.pam_refusal_us + took) / 4;
        g_mutex_unlock(&auth.lock);
    }
    return ok;
}

/* Waits about as long as PAM takes to refuse a password (0.75 to 1.25
 * times the average, as libpam spreads its own failure delay), 5 s at
 * most (a PAM that times out on a directory must not hold a check's slot
 * longer). */
static void wait_like_pam_refusal(void)
{
    g_mutex_lock(&auth.lock);
    gint64 average = MIN(auth.pam_refusal_us, 5 * G_USEC_PER_SEC);
    g_mutex_unlock(&auth.lock);
    g_usleep((gulong)g_random_int_range((gint32)(average * 3 / 4), (gint32)(average * 5 / 4) + 1));
}

typedef enum { PASSWORD_WRONG, PASSWORD_OK, PASSWORD_BUSY } PasswordCheck;

/* USER/PASSWORD checked in the user's turn (throttle_enter), or refused
 * at once (BUSY) when too many attempts for the user wait already. An account
 * that may not log in (not root, not in the login group) is refused
 * without asking PAM: its password is never tried, so a client cannot
 * learn it from the answer's time (pam_unix delays only a wrong one, by
 * 2 s) nor add to the account's pam_faillock count; the refusal waits as
 * long as PAM's refusals take and counts as a failure. */
static PasswordCheck check_in_turn(const char *user, const char *password, const char *digest,
                                   const char *peer)
{
    g_autofree char *key = account_key(user);
    g_autofree char *logged = vs_log_word(user);
    if (!throttle_enter(key))
        return PASSWORD_BUSY;
    bool known = digest && is_remembered(digest);
    VsAccountCheck group = known ? VS_ACCOUNT_VALID : user_allowed(user, auth.login_group);
    bool may = group == VS_ACCOUNT_VALID;
    bool allowed = known || (may && pam_check(user, password, peer));
    if (!may)
        wait_like_pam_refusal();
    throttle_leave(key, allowed);
    if (group == VS_ACCOUNT_UNKNOWN)
        vs_warn("refused login for user '%s' from %s: whether it is in group '%s' cannot be "
                "told (NSS did not answer; password not checked)", logged, peer ? peer : "?",
                auth.login_group);
    else if (!may)
        vs_warn("refused login for user '%s' from %s: not root and not in group '%s' "
                "(password not checked)", logged, peer ? peer : "?", auth.login_group);
    else if (!allowed)
        vs_warn("failed login for user '%s' from %s", logged, peer ? peer : "?");
    else if (digest && !known)
        remember(digest);
    return allowed ? PASSWORD_OK : PASSWORD_WRONG;
}

/* The refusals (503) not logged yet, taken when the last line is a second
 * old or more, else 0 (with the lock held): each refusal costs its sender
 * nothing, so they are logged once a second at most. */
static guint refusals_to_log(void)
{
    gint64 now = g_get_monotonic_time();
    if (!auth.busy_refused || now - auth.busy_logged < G_USEC_PER_SEC)
        return 0;
    guint n = auth.busy_refused;
    auth.busy_refused = 0;
    auth.busy_logged = now;
    return n;
}

/* Says that TO_LOG logins were refused unchecked, the last for USER from
 * PEER. */
static void log_refusals(guint to_log, const char *user, const char *peer)
{
    g_autofree char *logged = vs_log_word(user);
    vs_warn("refused %u login(s) unchecked (the last for user '%s' from %s): %d attempts for "
            "one user, %d password checks from one address, or %d in all, are under way already",
            to_log, logged, peer ? peer : "?", MAX_WAITING_PER_USER, MAX_CHECKS_PER_ADDRESS,
            MAX_CHECKS_AT_ONCE);
}

/* Checks USER/PASSWORD in the user's turn: PAM, then the login group.
 * DIGEST (a Basic pair's key, NULL for a login) is remembered when it
 * passes, and looked up again once the turn comes: the same pair sent on
 * several connections at once is checked once. BUSY, unchecked, when
 * MAX_CHECKS_AT_ONCE (or MAX_CHECKS_PER_ADDRESS from PEER's address) are
 * under way, or MAX_WAITING_PER_USER for USER. */
static PasswordCheck check_password(const char *user, const char *password, const char *digest,
                                    const char *peer)
{
    char from[VS_PEER_KEY_MAX];
    vs_peer_key(peer, from);
    bool per_address = !(auth.proxied && peer && vs_listen_is_loopback(peer));
    g_mutex_lock(&auth.lock);
    guint mine = GPOINTER_TO_UINT(g_hash_table_lookup(auth.checks_by_peer, from));
    bool room = auth.checks < MAX_CHECKS_AT_ONCE && (!per_address || mine < MAX_CHECKS_PER_ADDRESS);
    if (room) {
        auth.checks++;
        vs_peer_count(auth.checks_by_peer, from, +1);
    } else {
        auth.busy_refused++;
    }
    guint to_log = room ? 0 : refusals_to_log();
    g_mutex_unlock(&auth.lock);
    if (to_log)
        log_refusals(to_log, user, peer);
    if (!room)
        return PASSWORD_BUSY;
    PasswordCheck checked = check_in_turn(user, password, digest, peer);
    g_mutex_lock(&auth.lock);
    auth.checks--;
    vs_peer_count(auth.checks_by_peer, from, -1);
    auth.busy_refused += checked == PASSWORD_BUSY; /* the user's turn: too many wait for it */
    to_log = refusals_to_log(); /* (and a burst's end, told by the checks that outlasted it) */
    g_mutex_unlock(&auth.lock);
    if (to_log && checked == PASSWORD_BUSY)
        log_refusals(to_log, user, peer);
    else if (to_log)
        vs_warn("refused %u more login(s) unchecked: too many password checks were under way",
                to_log);
    return checked;
}

/* An HTTP Basic pair: remembered, or checked as a login is and then
 * remembered (unless remembering is off). */
static PasswordCheck check_basic(const char *user, const char *password, const char *peer)
{
    if (auth.remember_us <= 0)
        return check_password(user, password, NULL, peer);
    g_autofree char *digest = basic_digest(user, password);
    return is_remembered(digest) ? PASSWORD_OK : check_password(user, password, digest, peer);
}

char *vs_auth_check(const char *authorization, const char *cookie, const char *session_key,
                    const char *peer, VsAuthKind *kind)
{
    *kind = VS_AUTH_NONE;
    g_autofree char *bearer = vs_auth_parse_bearer(authorization);
    if (bearer) {
        if (!vs_auth_equal(bearer, auth.token))
            return NULL;
        *kind = VS_AUTH_TOKEN;
        return g_strdup("token");
    }
    g_autofree char *user = NULL, *password = NULL;
    if (vs_auth_parse_basic(authorization, &user, &password)) {
        PasswordCheck checked = check_basic(user, password, peer);
        if (checked == PASSWORD_BUSY)
            *kind = VS_AUTH_BUSY;
        if (checked != PASSWORD_OK)
            return NULL;
        *kind = VS_AUTH_BASIC;
        return g_steal_pointer(&user);
    }
    /* Every session cookie sent, in turn: a page on another port of this
     * host can set one of its own under a longer path, which browsers send
     * first (it carries no key, so it would otherwise sign the user out). */
    g_auto(GStrv) ids = vs_auth_cookie_values(cookie, VS_SESSION_COOKIE);
    char *session = NULL;
    for (char **id = ids; *id && !session; id++)
        session = session_user(*id, session_key);
    if (session)
        *kind = VS_AUTH_SESSION;
    return session;
}

/* Makes room for a new session of ACCOUNT (account_key's): drops the
 * account's least recently used once it has MAX_SESSIONS_PER_USER, however
 * each login spelled its name; sweeps expired sessions once the table is
 * full, then drops the least recently used while it still is (logins by
 * scripts that never log out). */
static void sessions_prune(const char *account, gint64 now)
{
    GHashTableIter it;
    gpointer key, value;
    const char *oldest = NULL, *oldest_mine = NULL;
    gint64 oldest_used = G_MAXINT64, oldest_mine_used = G_MAXINT64;
    guint mine = 0;
    bool full = g_hash_table_size(auth.sessions) >= MAX_SESSIONS;
    g_hash_table_iter_init(&it, auth.sessions);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        Session *s = value;
        if (full && session_expired(s, now)) {
            g_hash_table_iter_remove(&it);
            continue;
        }
        if (strcmp(s->account, account) == 0 && ++mine && s->last_used < oldest_mine_used) {
            oldest_mine_used = s->last_used;
            oldest_mine = key;
        }
        if (s->last_used < oldest_used) {
            oldest_used = s->last_used;
            oldest = key;
        }
    }
    if (mine >= MAX_SESSIONS_PER_USER)
        g_hash_table_remove(auth.sessions, oldest_mine);
    else if (g_hash_table_size(auth.sessions) >= MAX_SESSIONS && oldest)
        g_hash_table_remove(auth.sessions, oldest);
}

char *vs_auth_login(const char *user, const char *password, const char *peer, char **key,
                    bool *busy)
{
    PasswordCheck checked = check_password(user, password, NULL, peer);
    *busy = checked == PASSWORD_BUSY;
    if (checked != PASSWORD_OK)
        return NULL;
    char *id = vs_random_hex(32);
    Session *s = g_new0(Session, 1);
    s->user = g_strdup(user);
    s->account = account_key(user);
    s->key = vs_random_hex(32);
    s->peer = peer && strcmp(peer, "?") != 0 ? g_strdup(peer) : NULL;
    *key = g_strdup(s->key);
    s->created = s->last_used = s->checked = g_get_monotonic_time();
    s->locked = password_locked(user);
    g_mutex_lock(&auth.lock);
    sessions_prune(s->account, s->last_used);
    g_hash_table_insert(auth.sessions, g_strdup(id), s);
    g_mutex_unlock(&auth.lock);
    g_autofree char *logged = vs_log_word(user);
    vs_info("user '%s' logged in from %s", logged, peer ? peer : "?");
    return id;
}

void vs_auth_logout(const char *cookie, const char *session_key)
{
    g_auto(GStrv) ids = vs_auth_cookie_values(cookie, VS_SESSION_COOKIE);
    g_mutex_lock(&auth.lock);
    for (char **id = ids; *id; id++) {
        Session *s = g_hash_table_lookup(auth.sessions, *id);
        if (s && session_key && vs_auth_equal(session_key, s->key))
            g_hash_table_remove(auth.sessions, *id);
    }
    g_mutex_unlock(&auth.lock);
}

char *vs_auth_cookie_header(const char *id, bool secure)
{
    return g_strdup_printf("%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", VS_SESSION_COOKIE, id,
                           secure ? "; Secure" : "", *id ? "" : "; Max-Age=0");
}
