/* test_tls.c: beyond loopback virtsnapd serves TLS only. Started on
 * 0.0.0.0 without a certificate, it makes a self-signed one in STATE/tls
 * (the key readable by its owner alone), serves HTTPS with it (the API
 * token still required), answers nothing over plain HTTP, and keeps the
 * same certificate across a restart, so that a client that pinned it
 * (its SHA-256 is logged) can still connect; a key left readable by others
 * is made owner-only again when the pair is made anew. */
#include "api_util.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void test_self_signed_beyond_loopback(void **state)
{
    (void)state;
    const char *args[] = {"--listen=0.0.0.0:0", NULL};
    VsTestDaemon *d = vs_test_daemon_start("test:///default", args);
    assert_true(g_str_has_prefix(d->url, "https://"));
    g_autofree char *cert = g_build_filename(d->state_dir, "tls", "cert.pem", NULL);
    g_autofree char *key = g_build_filename(d->state_dir, "tls", "key.pem", NULL);
    GStatBuf st;
    assert_int_equal(g_stat(key, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    g_autofree char *log = NULL;
    assert_true(g_file_get_contents(d->log_path, &log, NULL, NULL));
    assert_non_null(strstr(log, "self-signed certificate"));
    assert_non_null(strstr(log, "SHA-256"));

    /* HTTPS, verified against that certificate, with the token. */
    g_autoptr(VsTestResponse) vms = vs_http(d, "GET", "/vms", NULL);
    assert_int_equal(vms->status, 200);
    assert_true(json_is_array(vms->json));
    g_autoptr(VsTestResponse) anonymous = vs_http_raw(d, "GET", "/vms", NULL, 0, NULL);
    assert_int_equal(anonymous->status, 401);

    /* Plain HTTP on the same port: no answer at all. */
    g_autofree char *tls_url = d->url;
    d->url = g_strdup_printf("http://127.0.0.1:%d", d->port);
    g_autoptr(VsTestResponse) plain = vs_http(d, "GET", "/vms", NULL);
    assert_int_equal(plain->status, 0);
    g_free(d->url);
    d->url = g_steal_pointer(&tls_url);

    /* A restart keeps the certificate (and serves it again). */
    g_autofree char *before = NULL;
    assert_true(g_file_get_contents(cert, &before, NULL, NULL));
    vs_test_daemon_restart(d);
    g_autofree char *after = NULL;
    assert_true(g_file_get_contents(cert, &after, NULL, NULL));
    assert_string_equal(after, before);
    g_autoptr(VsTestResponse) again = vs_http(d, "GET", "/vms", NULL);
    assert_int_equal(again->status, 200);

    /* A key left readable by others without its certificate (a copy gone
     * wrong): the new pair is written, the key owner-only again. */
    assert_int_equal(g_chmod(key, 0644), 0);
    g_autofree char *leaked = NULL;
    assert_true(g_file_get_contents(key, &leaked, NULL, NULL));
    assert_int_equal(g_unlink(cert), 0);
    vs_test_daemon_restart(d);
    assert_int_equal(g_stat(key, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    g_autofree char *renewed_key = NULL;
    assert_true(g_file_get_contents(key, &renewed_key, NULL, NULL));
    assert_string_not_equal(renewed_key, leaked); /* a new key, not the old one made private */
    assert_true(g_file_test(cert, G_FILE_TEST_EXISTS));
    g_autoptr(VsTestResponse) renewed = vs_http(d, "GET", "/vms", NULL);
    assert_int_equal(renewed->status, 200);
    assert_int_equal(vs_test_daemon_term(d), 0);

    /* A key given with --tls-key that every user can read: refused at
     * start (exit status 2), nothing served; owner and group only: taken. */
    g_autofree char *dir = g_dir_make_tmp("virtsnap-tls-XXXXXX", NULL);
    g_autofree char *given_key = g_build_filename(dir, "key.pem", NULL);
    g_autofree char *pem = NULL;
    assert_true(g_file_get_contents(key, &pem, NULL, NULL));
    assert_true(g_file_set_contents(given_key, pem, -1, NULL));
    assert_int_equal(g_chmod(given_key, 0644), 0);
    g_autofree char *cert_arg = g_strdup_printf("--tls-cert=%s", cert);
    g_autofree char *key_arg = g_strdup_printf("--tls-key=%s", given_key);
    g_autofree char *state_arg = g_strdup_printf("--state-dir=%s", dir);
    const char *argv[] = {vs_test_daemon_binary(), "--connect=test:///default",
                          "--listen=127.0.0.1:0", state_arg, cert_arg, key_arg, NULL};
    g_autofree char *err = NULL;
    int wait_status = 0;
    assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                             NULL, &err, &wait_status, NULL));
    assert_true(WIFEXITED(wait_status));
    assert_int_equal(WEXITSTATUS(wait_status), 2);
    assert_non_null(strstr(err, "every user on this host can read or change it"));
    /* The same key from a config file: the refusal names its key. */
    g_autofree char *conf = g_build_filename(dir, "virtsnapd.conf", NULL);
    g_autofree char *conf_text =
        g_strdup_printf("[virtsnapd]\ntls_cert=%s\ntls_key=%s\n", cert, given_key);
    assert_true(g_file_set_contents(conf, conf_text, -1, NULL));
    g_autofree char *conf_arg = g_strdup_printf("--config=%s", conf);
    const char *from_file[] = {argv[0], argv[1], argv[2], state_arg, conf_arg, NULL};
    g_clear_pointer(&err, g_free);
    assert_true(g_spawn_sync(NULL, (char **)from_file, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                             NULL, NULL, &err, &wait_status, NULL));
    assert_true(WIFEXITED(wait_status));
    assert_int_equal(WEXITSTATUS(wait_status), 2);
    assert_non_null(strstr(err, "it private first (chmod o-rwx"));
    assert_non_null(strstr(err, "(key tls_key in"));
    assert_int_equal(g_unlink(conf), 0);
    assert_int_equal(g_chmod(given_key, 0640), 0);
    const char *for_a_while[] = {"timeout", "--signal=TERM", "6", argv[0], argv[1], argv[2],
                                 state_arg, cert_arg, key_arg, NULL};
    g_clear_pointer(&err, g_free);
    assert_true(g_spawn_sync(NULL, (char **)for_a_while, NULL,
                             G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                             &err, &wait_status, NULL));
    assert_non_null(strstr(err, "listening on https://127.0.0.1:"));
    g_autofree char *rm = g_strdup_printf("rm -rf %s", dir);
    assert_true(g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL));
    vs_test_daemon_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_signed_beyond_loopback),
    };
    return vs_test_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}
