/* auth.h: who is asking. A request proves itself with the API token
 * (Authorization: Bearer), a system account (HTTP Basic, checked by PAM and
 * then taken again for --basic-remember seconds), or the session cookie that
 * POST /login sets with the key the login answered (VS_SESSION_KEY_HEADER).
 * Login failures are slowed down. */
#pragma once
#include <glib.h>
#include <stdbool.h>

#define VS_SESSION_COOKIE "virtsnap_session"
#define VS_SESSION_KEY_HEADER "X-Virtsnap-Key"

/* BUSY: a Basic pair left unchecked, too many password checks being under
 * way (answered 503, not 401). */
typedef enum { VS_AUTH_NONE, VS_AUTH_TOKEN, VS_AUTH_BASIC, VS_AUTH_SESSION, VS_AUTH_BUSY } VsAuthKind;
/* The longest user name and password a login or a Basic pair may give, in
 * bytes (longer ones are refused before anything is kept or logged). */
#define VS_AUTH_MAX_USER 256
#define VS_AUTH_MAX_PASSWORD 1024
/* The 503's reason for a password left unchecked (a login or a Basic pair). */
#define VS_AUTH_BUSY_REASON "too many logins are being checked at once: try again in a few seconds"

typedef struct {
    const char *token;       /* the API token */
    const char *pam_service; /* "virtsnap" */
    const char *login_group; /* members (and root) may log in ("virtsnap"); "": any PAM account */
    gint64 session_ttl;      /* seconds of idleness before a session expires */
    gint64 session_max_age;  /* seconds after its login a session ends, however used */
    /* Seconds an HTTP Basic user/password pair that passed is taken again
     * without PAM (0: every request asks PAM); negative: the default. */
    gint64 basic_remember;
    /* Clients come through a proxy on loopback (--public-origin): the bound
     * of password checks per client address does not apply to loopback
     * clients, which are the proxy's many (the proxy limits its own). */
    bool proxied;
} VsAuthConfig;

#define VS_MAX_SESSION_TTL (366 * 24 * 3600)
#define VS_DEFAULT_SESSION_MAX_AGE (24 * 3600)
/* How often a session's account is checked again (PAM's account check and
 * the login group): a locked, expired or removed account, or a user taken
 * out of the group, loses its sessions within this many seconds. */
#define VS_SESSION_RECHECK 60
#define VS_DEFAULT_BASIC_REMEMBER 60
#define VS_MAX_BASIC_REMEMBER 3600

void vs_auth_init(const VsAuthConfig *config);

/* The principal ("token" or a user name) that the headers prove, or NULL.
 * A session cookie proves nothing without its SESSION_KEY. KIND tells which
 * proof was used. */
char *vs_auth_check(const char *authorization, const char *cookie, const char *session_key,
                    const char *peer, VsAuthKind *kind);

/* Checks USER/PASSWORD with PAM (slowed after failures); on success a new
 * session id and its *KEY (both newly allocated), else NULL, with *BUSY
 * set when it was not checked (too many password checks under way). PEER
 * (the client's address, or NULL) goes into the log lines of failures and
 * to PAM, so that fail2ban or pam_faillock can act on it. */
char *vs_auth_login(const char *user, const char *password, const char *peer, char **key,
                    bool *busy);
/* Ends the session of COOKIE if SESSION_KEY is its key. */
void vs_auth_logout(const char *cookie, const char *session_key);
/* The Set-Cookie value for session ID (an empty ID clears the cookie). */
char *vs_auth_cookie_header(const char *id, bool secure);

/* Parsing helpers (exposed for tests). */
bool vs_auth_parse_basic(const char *header, char **user, char **password);
char *vs_auth_parse_bearer(const char *header);
/* The values of the cookies called NAME in a Cookie header, in order, at
 * most VS_MAX_SESSION_COOKIES of them (a browser sends one for each
 * (domain, path) that set one); an empty list when none. */
#define VS_MAX_SESSION_COOKIES 8
GStrv vs_auth_cookie_values(const char *cookie_header, const char *name);
bool vs_auth_equal(const char *a, const char *b); /* constant time in the length of B */
/* Whether USER may log in: root, a member of GROUP, or anyone if GROUP is "". */
bool vs_auth_user_allowed(const char *user, const char *group);
/* Whether a shadow password HASH is locked ("!…", as passwd -l leaves it)
 * or none can match ("*"): a session of such an account ends at its next
 * check (VS_SESSION_RECHECK). */
bool vs_auth_hash_locked(const char *hash);
/* The delay before answering a login attempt after FAILURES recent failures. */
guint vs_auth_delay_ms(guint failures);

/* PAM (pam.c). */
/* RHOST: the client's address (PAM_RHOST), or NULL. */
bool vs_pam_authenticate(const char *service, const char *user, const char *password,
                         const char *rhost);
/* What a check of an account that logged in earlier says. */
typedef enum {
    VS_ACCOUNT_VALID,
    VS_ACCOUNT_REFUSED, /* for certain: unknown, expired, locked, refused by the service */
    VS_ACCOUNT_UNKNOWN, /* the check could not tell (PAM or NSS unavailable) */
} VsAccountCheck;
/* PAM's account check alone (no password), with RHOST (or NULL) as at the
 * login. */
VsAccountCheck vs_pam_account_check(const char *service, const char *user, const char *rhost);
