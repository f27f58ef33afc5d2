/*
 * aiocoap-c — umbrella header: include this one.
 */
#ifndef AIOCOAP_AIOCOAP_H
#define AIOCOAP_AIOCOAP_H

#include "common.h"
#include "error.h"
#include "message.h"
#include "numbers.h"
#include "options.h"
#include "util.h"

#endif
