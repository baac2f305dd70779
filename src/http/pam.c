/* pam.c: checks a user name and password against PAM, and an account
 * alone (for sessions, which are checked again while they last). */
#include "auth.h"

#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

static int answer(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    const char *password = data;
    struct pam_response *replies = calloc((size_t)n, sizeof *replies);
    if (!replies)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
            replies[i].resp = strdup(password);
    }
    *resp = replies;
    return PAM_SUCCESS;
}

bool vs_pam_authenticate(const char *service, const char *user, const char *password,
                         const char *rhost)
{
    struct pam_conv conv = {answer, (void *)password};
    pam_handle_t *pamh = NULL;
    int rc = pam_start(service, user, &conv, &pamh);
    if (rc == PAM_SUCCESS && rhost) /* for pam_faillock, pam_access and the logs */
        rc = pam_set_item(pamh, PAM_RHOST, rhost);
    if (rc == PAM_SUCCESS)
        rc = pam_authenticate(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (rc == PAM_SUCCESS)
        rc = pam_acct_mgmt(pamh, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (pamh)
        pam_end(pamh, rc);
    return rc == PAM_SUCCESS;
}

VsAccountCheck vs_pam_account_check(const char *service, const char *user, const char *rhost)
{
    struct pam_conv conv = {answer, (void *)""};
    pam_handle_t *pamh = NULL;
    int rc = pam_start(service, user, &conv, &pamh);
    if (rc == PAM_SUCCESS && rhost)
        rc = pam_set_item(pamh, PAM_RHOST, rhost);
    if (rc == PAM_SUCCESS)
        rc = pam_acct_mgmt(pamh, PAM_SILENT);
    if (pamh)
        pam_end(pamh, rc);
    switch (rc) {
    case PAM_SUCCESS:
        return VS_ACCOUNT_VALID;
    case PAM_ACCT_EXPIRED:
    case PAM_USER_UNKNOWN:
    case PAM_PERM_DENIED:
    case PAM_AUTH_ERR:
    case PAM_NEW_AUTHTOK_REQD: /* a password to change: a login would fail too */
        return VS_ACCOUNT_REFUSED;
    default: /* PAM_SYSTEM_ERR, PAM_AUTHINFO_UNAVAIL, PAM_BUF_ERR, …: ask again later */
        return VS_ACCOUNT_UNKNOWN;
    }
}
