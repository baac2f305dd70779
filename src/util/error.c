/* error.c: the VS_ERROR GError domain. */
#include "error.h"

G_DEFINE_QUARK(virtsnap-error-quark, vs_error)
