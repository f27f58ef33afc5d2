/*
 * aiocoap-c — umbrella header: include this one.
 */
#ifndef AIOCOAP_AIOCOAP_H
#define AIOCOAP_AIOCOAP_H

#include "common.h"
#include "context.h"
#include "error.h"
#include "future.h"
#include "interfaces.h"
#include "message.h"
#include "numbers.h"
#include "observation.h"
#include "options.h"
#include "request.h"
#include "resource.h"
#include "util.h"

#endif
