/* login.c: POST /login (PAM user → session cookie and its key) and POST
 * /logout (needs no credentials: it always clears the cookie, and ends the
 * session when the session's key comes with it). */
#include "api.h"

#include "../http/auth.h"

#include <string.h>

const VsField vs_api_login_fields[VS_API_N_LOGIN_FIELDS] = {{"username", VS_FIELD_STRING, true},
                                                           {"password", VS_FIELD_STRING, true}};

void vs_api_login(const VsApiRequest *req, VsApiResponse *resp)
{
    if (!vs_api_check_query(req, resp, NULL) ||
        !vs_api_check_body(req, resp, vs_api_login_fields, VS_API_N_LOGIN_FIELDS))
        return;
    const char *user = json_string_value(json_object_get(req->body, "username"));
    const char *password = json_string_value(json_object_get(req->body, "password"));
    if (!*user || strlen(user) > VS_AUTH_MAX_USER || strlen(password) > VS_AUTH_MAX_PASSWORD) {
        vs_api_error(resp, 400, "field 'username' must be 1 to %d bytes and 'password' at most %d",
                     VS_AUTH_MAX_USER, VS_AUTH_MAX_PASSWORD);
        return;
    }
    g_autofree char *key = NULL;
    bool busy = false;
    g_autofree char *id = vs_auth_login(user, password, req->peer, &key, &busy);
    if (!id && busy) {
        vs_api_error(resp, 503, VS_AUTH_BUSY_REASON);
        return;
    }
    if (!id) {
        vs_api_error(resp, 401, "invalid user name or password");
        return;
    }
    resp->set_cookie = vs_auth_cookie_header(id, req->secure);
    vs_api_json(resp, 200, json_pack("{s:s, s:s}", "username", user, "key", key));
}

void vs_api_logout(const VsApiRequest *req, VsApiResponse *resp)
{
    if (!vs_api_check_query(req, resp, NULL) || !vs_api_check_body(req, resp, NULL, 0))
        return;
    vs_auth_logout(req->cookie, req->session_key);
    resp->set_cookie = vs_auth_cookie_header("", req->secure);
    vs_api_json(resp, 204, NULL);
}
