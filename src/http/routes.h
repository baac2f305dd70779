/* routes.h: the REST API's route table. */
#pragma once
#include "router.h"

#include <stddef.h>

const VsRoute *vs_api_routes(size_t *n);
