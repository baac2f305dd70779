/* tls.h: a self-signed certificate for when virtsnapd must listen beyond
 * loopback and was given none (as Kimchi and Cockpit do). */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* Uses STATE/tls/{cert,key}.pem, making them first if missing. Fills the
 * paths and the certificate's SHA-256 fingerprint (hex, colon-separated). */
bool vs_tls_self_signed(const char *state_dir, char **cert_path, char **key_path,
                        char **fingerprint, GError **error);
