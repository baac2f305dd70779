/* auth.c: token, Basic and session-cookie authentication, sessions and
 * the login throttle. */
#include "auth.h"

#include "../util/log.h"
#include "../util/random.h"

#include <string.h>

#define FAILURE_MEMORY_US (15 * 60 * G_USEC_PER_SEC)

typedef struct {
    char *user;
    gint64 last_used; /* monotonic µs */
} Session;

typedef struct {
    guint failures;   /* recent failures plus attempts in flight */
    gint64 last;      /* monotonic µs of the last failure */
} Throttle;

static struct {
    char *token;
    char *pam_service;
    gint64 ttl_us;
    GMutex lock;
    GHashTable *sessions;  /* id → Session* */
    GHashTable *throttles; /* user → Throttle* */
} auth;

static void session_free(Session *s)
{
    g_free(s->user);
    g_free(s);
}

void vs_auth_init(const VsAuthConfig *config)
{
    auth.token = g_strdup(config->token);
    auth.pam_service = g_strdup(config->pam_service ? config->pam_service : "virtsnap");
    auth.ttl_us = (config->session_ttl > 0 ? config->session_ttl : 1800) * G_USEC_PER_SEC;
    auth.sessions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify)session_free);
    auth.throttles = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
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
    if (!colon || colon == text || !g_utf8_validate(text, -1, NULL))
        return false;
    *user = g_strndup(text, (gsize)(colon - text));
    *password = g_strdup(colon + 1);
    return true;
}

char *vs_auth_cookie_value(const char *cookie_header, const char *name)
{
    if (!cookie_header)
        return NULL;
    g_auto(GStrv) parts = g_strsplit(cookie_header, ";", -1);
    size_t name_len = strlen(name);
    for (char **p = parts; *p; p++) {
        const char *c = *p;
        while (*c == ' ')
            c++;
        if (strncmp(c, name, name_len) == 0 && c[name_len] == '=')
            return g_strdup(c + name_len + 1);
    }
    return NULL;
}

guint vs_auth_delay_ms(guint failures)
{
    if (failures == 0)
        return 0;
    guint shift = MIN(failures - 1, 5u);
    return MIN(250u << shift, 5000u);
}

static char *session_user(const char *id)
{
    char *user = NULL;
    gint64 now = g_get_monotonic_time();
    g_mutex_lock(&auth.lock);
    Session *s = g_hash_table_lookup(auth.sessions, id);
    if (s && now - s->last_used > auth.ttl_us) {
        g_hash_table_remove(auth.sessions, id);
        s = NULL;
    }
    if (s) {
        s->last_used = now;
        user = g_strdup(s->user);
    }
    g_mutex_unlock(&auth.lock);
    return user;
}

/* Waits out the throttle for USER and counts this attempt as in flight. */
static void throttle_enter(const char *user)
{
    g_mutex_lock(&auth.lock);
    Throttle *t = g_hash_table_lookup(auth.throttles, user);
    if (t && g_get_monotonic_time() - t->last > FAILURE_MEMORY_US)
        t->failures = 0;
    if (!t)
        g_hash_table_insert(auth.throttles, g_strdup(user), t = g_new0(Throttle, 1));
    guint delay = vs_auth_delay_ms(t->failures);
    t->failures++;
    g_mutex_unlock(&auth.lock);
    if (delay)
        g_usleep(delay * 1000);
}

static void throttle_leave(const char *user, bool success)
{
    g_mutex_lock(&auth.lock);
    Throttle *t = g_hash_table_lookup(auth.throttles, user);
    if (t && success)
        g_hash_table_remove(auth.throttles, user);
    else if (t)
        t->last = g_get_monotonic_time();
    g_mutex_unlock(&auth.lock);
}

static bool check_password(const char *user, const char *password)
{
    throttle_enter(user);
    bool ok = vs_pam_authenticate(auth.pam_service, user, password);
    throttle_leave(user, ok);
    if (!ok)
        vs_warn("failed login for user '%s'", user);
    return ok;
}

char *vs_auth_check(const char *authorization, const char *cookie, VsAuthKind *kind)
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
        if (!check_password(user, password))
            return NULL;
        *kind = VS_AUTH_BASIC;
        return g_steal_pointer(&user);
    }
    g_autofree char *id = vs_auth_cookie_value(cookie, VS_SESSION_COOKIE);
    char *session = id ? session_user(id) : NULL;
    if (session)
        *kind = VS_AUTH_SESSION;
    return session;
}

char *vs_auth_login(const char *user, const char *password)
{
    if (!check_password(user, password))
        return NULL;
    char *id = vs_random_hex(32);
    Session *s = g_new0(Session, 1);
    s->user = g_strdup(user);
    s->last_used = g_get_monotonic_time();
    g_mutex_lock(&auth.lock);
    g_hash_table_insert(auth.sessions, g_strdup(id), s);
    g_mutex_unlock(&auth.lock);
    vs_info("user '%s' logged in", user);
    return id;
}

void vs_auth_logout(const char *cookie)
{
    g_autofree char *id = vs_auth_cookie_value(cookie, VS_SESSION_COOKIE);
    if (!id)
        return;
    g_mutex_lock(&auth.lock);
    g_hash_table_remove(auth.sessions, id);
    g_mutex_unlock(&auth.lock);
}

char *vs_auth_cookie_header(const char *id, bool secure)
{
    return g_strdup_printf("%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", VS_SESSION_COOKIE, id,
                           secure ? "; Secure" : "", *id ? "" : "; Max-Age=0");
}
