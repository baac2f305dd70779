/* error.h: the typed errors that the model returns (as GError in the
 * VS_ERROR domain) and that src/api maps to HTTP status codes in one place. */
#pragma once
#include <glib.h>

#define VS_ERROR (vs_error_quark())
GQuark vs_error_quark(void);

typedef enum {
    VS_ERR_INVALID,     /* bad input: 400 */
    VS_ERR_NOT_FOUND,   /* no such VM, snapshot, task: 404 */
    VS_ERR_CONFLICT,    /* state or name does not allow it: 409 */
    VS_ERR_UNAVAILABLE, /* hypervisor connection lost: 503 */
    VS_ERR_FAILED,      /* the operation itself failed: 500 */
    VS_ERR_BUSY,        /* too much already queued for that VM: 429 */
    VS_ERR_NO_SPACE,    /* no room to save the change: 507 */
} VsErrorCode;
