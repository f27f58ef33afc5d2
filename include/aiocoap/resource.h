/*
 * aiocoap-c — server resources (aiocoap.resource): Resource with its render_*
 * convenience, Site, path-capable resources, and the /.well-known/core
 * resource with RFC 6690 link format.
 */
#ifndef AIOCOAP_RESOURCE_H
#define AIOCOAP_RESOURCE_H

#include "common.h"
#include "context.h"
#include "interfaces.h"
#include "message.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The aiocoap convenience: one render function per method.  A method left
 * NULL answers 4.05 Method Not Allowed.  Same contract as coap_render_fn.
 * get_etag, content_formats and n_content_formats mean what they mean in
 * coap_resource_vtable, and may be left NULL (0).
 */
typedef struct coap_resource_methods {
  coap_render_fn render_get;
  coap_render_fn render_post;
  coap_render_fn render_put;
  coap_render_fn render_delete;
  coap_render_fn render_fetch;
  coap_render_fn render_patch;
  coap_render_fn render_ipatch;
  coap_get_etag_fn get_etag;
  const uint16_t *content_formats;
  size_t n_content_formats;
} coap_resource_methods;

/* RFC 6690 attributes shown for the resource in /.well-known/core. */
typedef struct coap_link_attributes {
  const char *rt;  /* resource type(s), space-separated; NULL for none */
  const char *if_; /* interface description(s) */
  const char *title;
  const char *ct; /* content format number(s), space-separated */
  long sz;        /* size estimate; 0 or -1 for none */
  bool obs;       /* observable (implied for an observable resource) */
  bool hidden;    /* not listed at all */
} coap_link_attributes;

struct coap_resource {
  /* public */
  void *user_data;
  /* private */
  const coap_resource_vtable *vtable;
  const coap_resource_methods *methods; /* when made with the methods */
  unsigned refs;
  bool path_capable;
  char *attr_rt, *attr_if, *attr_title, *attr_ct;
  long attr_sz;
  bool attr_obs, attr_hidden;
  struct coap__observable *observable; /* set by coap_observable_resource_* */
};

/*
 * A resource with its own vtable (aiocoap.interfaces.Resource).  vtable is
 * borrowed (usually static).  One reference for the caller.  0, COAP_EINVAL
 * (no render) or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_resource_new(const coap_resource_vtable *vtable,
                                     void *user_data, coap_resource **out);
/*
 * A resource from per-method render functions (aiocoap.resource.Resource);
 * methods is borrowed (usually static).
 */
AIOCOAP_EXTERN int
coap_resource_new_methods(const coap_resource_methods *methods, void *user_data,
                          coap_resource **out);

AIOCOAP_EXTERN coap_resource *coap_resource_ref(coap_resource *resource);
/* The last reference calls vtable->destroy and frees the resource. */
AIOCOAP_EXTERN void coap_resource_unref(coap_resource *resource);

/* aiocoap's PathCapable: the resource also receives requests for any path
 * below the one it is added at, with the matched prefix removed from the
 * request's Uri-Path. */
AIOCOAP_EXTERN void coap_resource_set_path_capable(coap_resource *resource,
                                                   bool path_capable);

/* Sets the link-format attributes (strings copied).  0 or COAP_ENOMEM. */
AIOCOAP_EXTERN int
coap_resource_set_link_attributes(coap_resource *resource,
                                  const coap_link_attributes *attrs);

/*
 * Dispatches request to the resource (its vtable render, or the per-method
 * function: COAP_EMETHOD_NOT_ALLOWED, 4.05, when it is missing or the code
 * is no method).  *later is set to NULL first; after a render that answered
 * at once with response->code left 0, the method's default code is filled
 * in (coap_render_fn).  What the library calls; exposed so that sites and
 * proxies can nest resources.
 *
 * Before rendering, in this order, for a resource that declares them:
 *
 * - content_formats (RFC 7252 §5.10.4): a GET or FETCH whose Accept is none
 *   of them returns COAP_ENOT_ACCEPTABLE (4.06).
 * - get_etag, called for a GET or FETCH and for any request with If-Match
 *   or If-None-Match (its errors are returned as they are):
 *   - If-Match (§5.10.8.1): unless one value is the current ETag, or is
 *     empty while the resource exists, COAP_EPRECONDITION_FAILED (4.12).
 *   - If-None-Match (§5.10.8.2): when the resource exists,
 *     COAP_EPRECONDITION_FAILED.
 *   - a GET or FETCH listing the current ETag among its ETag options
 *     (§5.10.6.2) is answered here: response becomes 2.03 Valid with that
 *     ETag and no payload, and 0 is returned.
 *
 * In each of these cases the renderer is not called, so nothing changes.
 * After a GET or FETCH rendered at once into a 2.05 without ETag, the
 * current ETag is added (§5.10.6.1); a response given later through a
 * future carries it only if the resource sets it.  A resource that
 * declares neither keeps every option for its renderer.
 *
 * Returns what the renderer returned, one of the errors above, or
 * COAP_EINVAL.
 */
AIOCOAP_EXTERN int coap_resource_render(coap_resource *resource,
                                        coap_message *request,
                                        coap_message *response,
                                        coap_future **later);

/*
 * aiocoap.resource.Site: routes requests by Uri-Path.  A site is itself a
 * path-capable resource (coap_site_as_resource), so sites nest.
 *
 * Routing (the site's render): the resource added at exactly the request's
 * Uri-Path gets the request untouched; failing that, the path-capable
 * resource at the longest prefix of it (a nested site counts) gets the
 * request with that prefix removed from its Uri-Path, so a nested site
 * routes the remainder as its own path.  No match answers COAP_ENOT_FOUND
 * (4.04).  0, COAP_EINVAL or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_site_new(coap_site **out);
/*
 * References on the site (its own and those on its resource are one
 * count).  The last unref frees the site and drops its references to its
 * resources: a site nested in another may be unreferenced before its
 * parent and keeps working there until the parent drops it.  NULL is
 * ignored.
 */
AIOCOAP_EXTERN coap_site *coap_site_ref(coap_site *site);
AIOCOAP_EXTERN void coap_site_unref(coap_site *site);
/* The name this function had before 0.1.0's lifetime rule (aiocoap.h):
 * the same as coap_site_unref, kept so that older programs still build. */
AIOCOAP_EXTERN void coap_site_free(coap_site *site);
/*
 * Adds resource at path (n segments; n = 0 is the root "/"), taking a
 * reference.  A resource already there is replaced (and its reference
 * dropped).  0, COAP_EINVAL (NULL resource or segment, a segment longer
 * than 255 bytes) or COAP_ENOMEM (the site is then unchanged).
 */
AIOCOAP_EXTERN int coap_site_add_resource(coap_site *site,
                                          const char *const *path, size_t n,
                                          coap_resource *resource);
/* As above with the path as "a/b" text ("" for the root; one leading '/' is
 * ignored, so "/a/b" and "/" work too).  Not percent-decoded. */
AIOCOAP_EXTERN int coap_site_add_resource_path(coap_site *site,
                                               const char *path,
                                               coap_resource *resource);
/* Removes what is at path, dropping the site's reference; 0, COAP_EINVAL or
 * COAP_ENOENT. */
AIOCOAP_EXTERN int coap_site_remove_resource(coap_site *site,
                                             const char *const *path, size_t n);
/*
 * The site's proxy handler (proxy.h): every request carrying Proxy-Uri or
 * Proxy-Scheme is routed to proxy (a reference is taken; NULL removes it),
 * whatever its Uri-Path, and coap_site_find returns it for them.  Without
 * one, such a request is answered 5.05 Proxying Not Supported (RFC 7252
 * §5.7.2).  0 or COAP_EINVAL.
 */
AIOCOAP_EXTERN int coap_site_set_proxy(coap_site *site, coap_resource *proxy);

/* The site as a path-capable resource, for nesting (borrowed: owned by the
 * site; take a reference with coap_resource_ref to keep it). */
AIOCOAP_EXTERN coap_resource *coap_site_as_resource(coap_site *site);

/*
 * The resource for request's Uri-Path: exact match, or the longest
 * path-capable prefix; NULL for none.  *prefix_len is how many segments
 * matched.
 */
AIOCOAP_EXTERN coap_resource *coap_site_find(coap_site *site,
                                             const coap_message *request,
                                             size_t *prefix_len);

/*
 * aiocoap's get_resources_as_linkheader: RFC 6690 link format of every
 * visible resource (nested sites included, with their prefix), filtered by
 * query (the request's Uri-Query items, RFC 6690 §4.1: href, rt, if, ct,
 * title, sz, obs, '*' suffix for prefix match; NULL for none).  Links come
 * in path order as </percent/encoded/path> followed by ;ct=N (or ;ct="N M"),
 * ;rt="..", ;if="..", ;title="..", ;sz=N and ;obs; hidden resources are left
 * out.  Several query items must all match; rt, if and ct match when any of
 * their space-separated values does; an unknown attribute matches nothing.
 * Writes NUL-terminated into buf; returns the length, COAP_ENOSPC,
 * COAP_EINVAL or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_site_link_format(coap_site *site,
                                         const coap_options *query, char *buf,
                                         size_t cap);

/*
 * aiocoap's WKCResource: /.well-known/core for site (borrowed), answering
 * GET with ct=40 link format and honouring the query filter; it lists
 * itself as </.well-known/core>;ct=40 when added at that path.  The site
 * must outlive the resource (adding it to that site is the usual way).  One
 * reference for the caller.  0, COAP_EINVAL or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_wkc_resource_new(coap_site *site, coap_resource **out);

/*
 * aiocoap's hashing_etag: sets response's ETag to the first 8 bytes of the
 * SHA-1 of its payload (as aiocoap does); when request (may be NULL) carries
 * that ETag among its ETags, turns the response into 2.03 Valid without
 * payload.  Only a 2.05 response (or one whose code is still 0) is touched.  0,
 * COAP_EINVAL or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_hashing_etag(const coap_message *request,
                                     coap_message *response);

/*
 * The ETag coap_hashing_etag gives a 2.05 response with this payload
 * (payload_len bytes, borrowed; NULL when 0): the first 8 bytes of its
 * SHA-1, as aiocoap's hashing_etag makes them, so ported servers keep their
 * ETags.  What a get_etag function of a resource that tags its responses
 * that way returns.  Writes 8 bytes into etag and 8 into *len.  0,
 * COAP_EINVAL or COAP_ENOSPC (*len below 8).
 */
AIOCOAP_EXTERN int coap_hashing_etag_compute(const void *payload,
                                             size_t payload_len, uint8_t *etag,
                                             size_t *len);

#ifdef __cplusplus
}
#endif

#endif
