/*
 * Shared between the files of the resource module: resource.c (resources
 * and their dispatch), site.c (the path tree), linkformat.c (RFC 6690 and
 * /.well-known/core) and etag.c.
 */
#ifndef AIOCOAP_RESOURCE_INTERNAL_H
#define AIOCOAP_RESOURCE_INTERNAL_H

#include <aiocoap/resource.h>

/*
 * Initialises a resource that lives at the start of a larger allocation made
 * with coap__malloc/coap__calloc: one reference, no attributes.  The last
 * coap_resource_unref runs vtable->destroy and then frees the resource
 * pointer, which is the whole allocation because the resource is its first
 * member (that is how a coap_site lives as long as its resource).
 */
void coap__resource_init(coap_resource *resource,
                         const coap_resource_vtable *vtable, void *user_data);

/* The resource's current ETag for request, through the get_etag it
 * declares (vtable or methods): 0 with it in etag (room for
 * COAP_ETAG_MAX_LENGTH) and *len, COAP_ENOENT when it declares none or has
 * no representation, or its error. */
int coap__resource_current_etag(coap_resource *resource,
                                const coap_message *request, uint8_t *etag,
                                size_t *len);

/* The site's proxy handler (coap_site_set_proxy), or NULL; borrowed. */
coap_resource *coap__site_proxy(const coap_site *site);

/* The site whose resource this is, or NULL for any other resource. */
coap_site *coap__site_from_resource(coap_resource *resource);

/*
 * One segment of the path being visited, linked towards the root (NULL
 * parent at the first segment; a resource at the root has no frame).
 */
typedef struct coap__path_frame {
  const struct coap__path_frame *parent;
  const char *segment;
  size_t len;
} coap__path_frame;

/* Called for each resource in path order; a nonzero return stops the walk
 * and is returned by coap__site_visit. */
typedef int (*coap__site_visit_cb)(const coap__path_frame *path,
                                   coap_resource *resource, void *ctx);

/*
 * Walks every resource of site in path order (segments compared bytewise, a
 * resource before those below it).  A nested site is not passed to cb: its
 * resources are, with their full path.  A site already being walked (one
 * nested inside itself) is skipped rather than walked forever.
 */
int coap__site_visit(coap_site *site, coap__site_visit_cb cb, void *ctx);

#endif
