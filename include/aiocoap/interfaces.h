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

/* RFC 7252 §5.10.6: an ETag is 1..8 bytes. */
#define COAP_ETAG_MAX_LENGTH 8

/*
 * Tells the resource's current ETag (RFC 7252 §5.10.6) for request, so that
 * the library can evaluate conditional requests before rendering (see
 * coap_resource_render).  etag has room for *len bytes (at least
 * COAP_ETAG_MAX_LENGTH); write the ETag there and its length (1..8) into
 * *len.  request is borrowed for the call (a site has already stripped the
 * path prefix it matched).  Returns 0 with an ETag; COAP_ENOENT when the
 * resource has no current representation (it does not exist, so If-Match
 * fails and If-None-Match succeeds); any other negative error answers the
 * request as a render error would (coap_render_fn), without rendering.
 * coap_hashing_etag_compute makes an ETag from a representation's payload.
 */
typedef int (*coap_get_etag_fn)(coap_resource *resource,
                                const coap_message *request, uint8_t *etag,
                                size_t *len);

/* aiocoap.interfaces.Resource and ObservableResource as a vtable.  Every
 * member but render may be NULL (or 0). */
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
  /* The resource's current ETag, for conditional requests (If-Match,
   * If-None-Match, ETag; RFC 7252 §5.10.8, §5.10.6.2).  NULL: the library
   * evaluates none of them and render sees the options as they came. */
  coap_get_etag_fn get_etag;
  /* The Content-Formats GET and FETCH responses can come in (RFC 7252
   * §5.10.4): n_content_formats numbers at content_formats (borrowed,
   * usually static).  A GET or FETCH whose Accept names none of them gets
   * 4.06 Not Acceptable without rendering.  0: every Accept reaches render,
   * which then answers 4.06 itself when it must. */
  const uint16_t *content_formats;
  size_t n_content_formats;
} coap_resource_vtable;

#ifdef __cplusplus
}
#endif

#endif
