/* tls.c: makes and reuses a self-signed ECDSA P-256 certificate with GnuTLS. */
#include "tls.h"

#include "../util/error.h"
#include "../util/log.h"

#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Writes DATA to PATH through a new file of mode 0600 renamed over it: not
 * into a file left there (whose mode, or a descriptor someone holds open
 * on it, could let others read the key), nor through a symbolic link. */
static bool write_private(const char *path, const gnutls_datum_t *data)
{
    g_autofree char *tmp = g_strdup_printf("%s.new", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && write(fd, data->data, data->size) == (ssize_t)data->size &&
              fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    ok = ok && rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
    return ok;
}

static bool generate(const char *cert_path, const char *key_path)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t key_pem = {0}, crt_pem = {0};
    unsigned char serial[16];
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, serial, sizeof serial) == (ssize_t)sizeof serial;
    if (fd >= 0)
        close(fd);
    serial[0] &= 0x7f;
    ok = ok && gnutls_x509_privkey_init(&key) == 0 &&
         gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                      GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) == 0 &&
         gnutls_x509_crt_init(&crt) == 0 && gnutls_x509_crt_set_version(crt, 3) == 0 &&
         gnutls_x509_crt_set_serial(crt, serial, sizeof serial) == 0 &&
         gnutls_x509_crt_set_activation_time(crt, now - 3600) == 0 &&
         gnutls_x509_crt_set_expiration_time(crt, now + 10L * 365 * 24 * 3600) == 0 &&
         gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, host,
                                       (unsigned)strlen(host)) == 0 &&
         gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
                                              (unsigned)strlen(host), GNUTLS_FSAN_SET) == 0 &&
         gnutls_x509_crt_set_key(crt, key) == 0 &&
         gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) == 0 &&
         gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) == 0 &&
         gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &key_pem) == 0 &&
         gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem) == 0 &&
         write_private(key_path, &key_pem) && write_private(cert_path, &crt_pem);
    gnutls_free(key_pem.data);
    gnutls_free(crt_pem.data);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return ok;
}

static char *fingerprint_of(const char *cert_path)
{
    g_autofree char *pem = NULL;
    gsize len = 0;
    if (!g_file_get_contents(cert_path, &pem, &len, NULL))
        return NULL;
    gnutls_x509_crt_t crt;
    gnutls_datum_t datum = {(unsigned char *)pem, (unsigned)len};
    unsigned char digest[32];
    size_t size = sizeof digest;
    char *out = NULL;
    if (gnutls_x509_crt_init(&crt) == 0) {
        if (gnutls_x509_crt_import(crt, &datum, GNUTLS_X509_FMT_PEM) == 0 &&
            gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, digest, &size) == 0) {
            GString *hex = g_string_new(NULL);
            for (size_t i = 0; i < size; i++)
                g_string_append_printf(hex, "%s%02X", i ? ":" : "", digest[i]);
            out = g_string_free(hex, FALSE);
        }
        gnutls_x509_crt_deinit(crt);
    }
    return out;
}

bool vs_tls_self_signed(const char *state_dir, char **cert_path, char **key_path,
                        char **fingerprint, GError **error)
{
    g_autofree char *dir = g_build_filename(state_dir, "tls", NULL);
    g_autofree char *cert = g_build_filename(dir, "cert.pem", NULL);
    g_autofree char *key = g_build_filename(dir, "key.pem", NULL);
    bool have = g_file_test(cert, G_FILE_TEST_EXISTS) && g_file_test(key, G_FILE_TEST_EXISTS);
    if (!have && (g_mkdir_with_parents(dir, 0700) != 0 || !generate(cert, key))) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot make a self-signed certificate in %s", dir);
        return false;
    }
    if (!have)
        vs_info("made a self-signed TLS certificate in %s", dir);
    *fingerprint = fingerprint_of(cert);
    if (!*fingerprint) {
        g_set_error(error, VS_ERROR, VS_ERR_FAILED, "cannot read the certificate %s", cert);
        return false;
    }
    *cert_path = g_steal_pointer(&cert);
    *key_path = g_steal_pointer(&key);
    return true;
}
