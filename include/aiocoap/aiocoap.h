/*
 * aiocoap-c — umbrella header: include this one.
 *
 * The callback rule.  The library never calls application code while its
 * own state is half-updated.  Concretely:
 *
 * - Every callback that reports an event runs from the loop, queued the way
 *   asyncio's call_soon queues, never on the stack of the library function
 *   that caused it: future done callbacks, exchange monitor callbacks,
 *   client observation callbacks and errbacks, observer-count callbacks,
 *   server observation cancellation callbacks and the context's shutdown
 *   callback.  They run in the order the library produced the events.  So a
 *   call such as coap_server_observation_deregister returns before its
 *   callback fires, and the callback may do anything: shut the context
 *   down, cancel or unref its own request or observation, start new
 *   requests, drop a resource or the site.  What a callback is handed
 *   (a message, an observation, a resource) is kept alive by the library
 *   until the callback has returned.  A callback still queued when its
 *   subject was cancelled by the application (coap_observation_cancel, the
 *   last coap_observation_unref) does not fire.
 *
 * - Resource methods (coap_resource_vtable: render, add_observation,
 *   needs_blockwise_assembly, ...) are asked for an answer and so are called
 *   synchronously, at points where the library's state is complete; the
 *   library holds references on everything it touches across the call and
 *   checks afterwards whether the context is shutting down.  A render
 *   function may likewise shut the context down or drop its resource or
 *   the site (the context keeps its own reference on the site).
 *
 * - Once coap_context_shutdown has begun, new requests fail at once with
 *   COAP_ESHUTDOWN; the context itself is freed only after every callback
 *   the shutdown caused has run, right after the shutdown callback.
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
