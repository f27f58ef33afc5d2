/*
 * aiocoap-c — the interfaces (aiocoap.interfaces): what a resource, an
 * observable resource and a request provider look like.
 */
#ifndef AIOCOAP_INTERFACES_H
#define AIOCOAP_INTERFACES_H

#include "common.h"
#include "future.h"
#include "message.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coap_resource coap_resource;
typedef struct coap_server_observation coap_server_observation;

/*
 * Renders request into a response, the way aiocoap's render() coroutine
 * does, in one of two ways:
 *
 * - at once: fill in response (initialised, empty, owned by the library) and
 *   return 0 leaving *later NULL.  This path allocates nothing.
 * - later: set *later to a future (the library takes the reference) that
 *   resolves with a heap coap_message (coap_message_new; result free
 *   function coap_message_free) or fails with an error code, and return 0.
 *   The request stays valid until the future completes.  A response that
 *   takes longer than EMPTY_ACK_DELAY goes out as a separate response.
 *
 * A response whose code is left 0 gets 2.05 Content for GET and FETCH, 2.04
 * Changed for POST, PUT, PATCH and iPATCH, 2.02 Deleted for DELETE.
 *
 * Returning (or failing the future with) a negative error answers with
 * coap_error_to_code(err) and coap_strerror(err) as diagnostic payload:
 * COAP_ENOT_FOUND gives 4.04, COAP_EBAD_REQUEST 4.00, and so on (aiocoap's
 * RenderableError); any other error gives 5.00.
 *
 * The resource may change request (a site strips the path prefix it
 * matched before handing the request on).
 */
typedef int (*coap_render_fn)(coap_resource *resource, coap_message *request,
                              coap_message *response, coap_future **later);

/* aiocoap.interfaces.Resource and ObservableResource as a vtable.  Every
 * member but render may be NULL. */
typedef struct coap_resource_vtable {
  coap_render_fn render;
  /* True (the default when NULL) when the resource wants whole requests:
   * the library assembles Block1 uploads and slices Block2 responses. */
  bool (*needs_blockwise_assembly)(coap_resource *resource,
                                   const coap_message *request);
  /* ObservableResource.add_observation: called for a GET with Observe=0
   * before rendering; call coap_server_observation_accept to accept. */
  void (*add_observation)(coap_resource *resource, const coap_message *request,
                          coap_server_observation *observation);
  /* Frees what the resource owns besides the coap_resource itself (called
   * when the last reference goes). */
  void (*destroy)(coap_resource *resource);
} coap_resource_vtable;

#ifdef __cplusplus
}
#endif

#endif
