/*
 * Resources (aiocoap.interfaces.Resource and aiocoap.resource.Resource):
 * construction, reference counting, link attributes and the dispatch of a
 * request to a render function.
 */
#include "alloc-internal.h"
#include "resource-internal.h"

#include <string.h>

/* Resources made from per-method functions have a vtable with no render:
 * coap_resource_render then dispatches on the request code.  Keeping a
 * vtable on every resource lets callers read its optional members without a
 * NULL check. */
static const coap_resource_vtable methods_vtable = {0};

void coap__resource_init(coap_resource *resource,
                         const coap_resource_vtable *vtable, void *user_data) {
  memset(resource, 0, sizeof *resource);
  resource->vtable = vtable;
  resource->user_data = user_data;
  resource->refs = 1;
  resource->attr_sz = -1;
}

int coap_resource_new(const coap_resource_vtable *vtable, void *user_data,
                      coap_resource **out) {
  if (vtable == NULL || vtable->render == NULL || out == NULL)
    return COAP_EINVAL;
  coap_resource *resource = coap__malloc(sizeof *resource);
  if (resource == NULL)
    return COAP_ENOMEM;
  coap__resource_init(resource, vtable, user_data);
  *out = resource;
  return 0;
}

int coap_resource_new_methods(const coap_resource_methods *methods,
                              void *user_data, coap_resource **out) {
  if (methods == NULL || out == NULL)
    return COAP_EINVAL;
  coap_resource *resource = coap__malloc(sizeof *resource);
  if (resource == NULL)
    return COAP_ENOMEM;
  coap__resource_init(resource, &methods_vtable, user_data);
  resource->methods = methods;
  *out = resource;
  return 0;
}

coap_resource *coap_resource_ref(coap_resource *resource) {
  if (resource != NULL)
    resource->refs++;
  return resource;
}

static void free_attributes(coap_resource *resource) {
  coap__free(resource->attr_rt);
  coap__free(resource->attr_if);
  coap__free(resource->attr_title);
  coap__free(resource->attr_ct);
}

void coap_resource_unref(coap_resource *resource) {
  if (resource == NULL || --resource->refs > 0)
    return;
  if (resource->vtable->destroy != NULL)
    resource->vtable->destroy(resource);
  free_attributes(resource);
  coap__free(resource);
}

void coap_resource_set_path_capable(coap_resource *resource,
                                    bool path_capable) {
  resource->path_capable = path_capable;
}

/* Copies s into *out (NULL stays NULL); false on allocation failure. */
static bool copy_attribute(const char *s, char **out) {
  *out = NULL;
  if (s == NULL)
    return true;
  *out = coap__strdup(s);
  return *out != NULL;
}

int coap_resource_set_link_attributes(coap_resource *resource,
                                      const coap_link_attributes *attrs) {
  if (resource == NULL || attrs == NULL)
    return COAP_EINVAL;
  /* Copy everything before touching the resource, so a failure leaves the
   * old attributes in place. */
  coap_resource fresh = {0};
  if (!copy_attribute(attrs->rt, &fresh.attr_rt) ||
      !copy_attribute(attrs->if_, &fresh.attr_if) ||
      !copy_attribute(attrs->title, &fresh.attr_title) ||
      !copy_attribute(attrs->ct, &fresh.attr_ct)) {
    free_attributes(&fresh);
    return COAP_ENOMEM;
  }
  free_attributes(resource);
  resource->attr_rt = fresh.attr_rt;
  resource->attr_if = fresh.attr_if;
  resource->attr_title = fresh.attr_title;
  resource->attr_ct = fresh.attr_ct;
  /* 0, what a zero-initialised struct holds, means none, as -1 does. */
  resource->attr_sz = attrs->sz <= 0 ? -1 : attrs->sz;
  resource->attr_obs = attrs->obs;
  resource->attr_hidden = attrs->hidden;
  return 0;
}

/* The per-method function for code, or NULL (including for codes that are
 * not methods at all). */
static coap_render_fn method_for(const coap_resource_methods *m, uint8_t code) {
  switch (code) {
  case COAP_CODE_GET:
    return m->render_get;
  case COAP_CODE_POST:
    return m->render_post;
  case COAP_CODE_PUT:
    return m->render_put;
  case COAP_CODE_DELETE:
    return m->render_delete;
  case COAP_CODE_FETCH:
    return m->render_fetch;
  case COAP_CODE_PATCH:
    return m->render_patch;
  case COAP_CODE_IPATCH:
    return m->render_ipatch;
  default:
    return NULL;
  }
}

/* The success code a response gets when its renderer left it 0, as aiocoap's
 * Message defaults do; 0 for codes that are not methods. */
static uint8_t default_code(uint8_t request_code) {
  switch (request_code) {
  case COAP_CODE_GET:
  case COAP_CODE_FETCH:
    return COAP_CODE_CONTENT;
  case COAP_CODE_POST:
  case COAP_CODE_PUT:
  case COAP_CODE_PATCH:
  case COAP_CODE_IPATCH:
    return COAP_CODE_CHANGED;
  case COAP_CODE_DELETE:
    return COAP_CODE_DELETED;
  default:
    return 0;
  }
}

/* What the resource declares for the checks before rendering, from its
 * vtable or, for a methods resource, its methods. */
typedef struct declared {
  coap_get_etag_fn get_etag;
  const uint16_t *formats;
  size_t n_formats;
} declared;

static declared declared_by(const coap_resource *resource) {
  const coap_resource_vtable *v = resource->vtable;
  const coap_resource_methods *m = resource->methods;
  declared d = {v->get_etag, v->content_formats, v->n_content_formats};
  if (m != NULL && d.get_etag == NULL)
    d.get_etag = m->get_etag;
  if (m != NULL && d.n_formats == 0) {
    d.formats = m->content_formats;
    d.n_formats = m->n_content_formats;
  }
  return d;
}

int coap__resource_current_etag(coap_resource *resource,
                                const coap_message *request, uint8_t *etag,
                                size_t *len) {
  const declared d = declared_by(resource);
  if (d.get_etag == NULL)
    return COAP_ENOENT;
  *len = COAP_ETAG_MAX_LENGTH;
  int rc = d.get_etag(resource, request, etag, len);
  if (rc < 0)
    return rc;
  return *len >= 1 && *len <= COAP_ETAG_MAX_LENGTH ? 0 : COAP_EINVAL;
}

static bool is_retrieval(uint8_t code) {
  return code == COAP_CODE_GET || code == COAP_CODE_FETCH;
}

/* RFC 7252 §5.10.4: a GET or FETCH whose Accept the resource cannot
 * produce.  0, COAP_ENOT_ACCEPTABLE, or COAP_EBAD_OPTION for an Accept
 * too long to read (the responder has answered those 4.02 already). */
static int check_accept(const declared *d, const coap_message *request) {
  if (d->n_formats == 0 || !is_retrieval(request->code))
    return 0;
  uint16_t accept = 0;
  int r = coap_options_get_accept(&request->opt, &accept);
  if (r == COAP_ENOENT)
    return 0;
  if (r < 0)
    return COAP_EBAD_OPTION; /* longer than 2 bytes (§5.4.3) */
  for (size_t i = 0; i < d->n_formats; i++)
    if (d->formats[i] == accept)
      return 0;
  return COAP_ENOT_ACCEPTABLE;
}

/* Whether one of request's options number carries etag. */
static bool lists_etag(const coap_message *request, uint16_t number,
                       const uint8_t *etag, size_t len) {
  for (size_t i = 0;; i++) {
    const coap_option *o = coap_options_get_nth(&request->opt, number, i);
    if (o == NULL)
      return false;
    if (o->len == len && (len == 0 || memcmp(o->value, etag, len) == 0))
      return true;
  }
}

/* RFC 7252 §5.10.8.1: any If-Match value that is the current ETag, or an
 * empty one while a representation exists. */
static bool if_match_holds(const coap_message *request, bool exists,
                           const uint8_t *etag, size_t len) {
  if (!exists)
    return false;
  return lists_etag(request, COAP_OPT_IF_MATCH, NULL, 0) ||
         lists_etag(request, COAP_OPT_IF_MATCH, etag, len);
}

/*
 * The conditions of RFC 7252 §5.10.8 and the validation of §5.10.6.2 for
 * a resource that tells its ETag.  Returns 0 to render (with the current
 * ETag in etag[0..*len), *len 0 when there is none), 1 when response is
 * the 2.03 answer, or a negative error to answer with.
 */
static int check_conditions(coap_resource *resource, const declared *d,
                            const coap_message *request, coap_message *response,
                            uint8_t *etag, size_t *len) {
  const size_t cap = *len;
  *len = 0;
  const bool if_match = coap_options_has(&request->opt, COAP_OPT_IF_MATCH);
  const bool if_none_match =
      coap_options_has(&request->opt, COAP_OPT_IF_NONE_MATCH);
  if (d->get_etag == NULL ||
      (!if_match && !if_none_match && !is_retrieval(request->code)))
    return 0;
  size_t n = cap;
  int r = d->get_etag(resource, request, etag, &n);
  if (r < 0 && r != COAP_ENOENT)
    return r;
  const bool exists = r != COAP_ENOENT;
  if (exists && (n == 0 || n > cap))
    return COAP_EINTERNAL_SERVER_ERROR; /* not an ETag (§5.10.6: 1..8) */
  if (if_match && !if_match_holds(request, exists, etag, n))
    return COAP_EPRECONDITION_FAILED;
  /* §5.10.8.2: If-None-Match holds only where nothing exists. */
  if (if_none_match && exists)
    return COAP_EPRECONDITION_FAILED;
  if (!exists)
    return 0;
  *len = n;
  if (is_retrieval(request->code) &&
      lists_etag(request, COAP_OPT_ETAG, etag, n)) {
    /* §5.10.6.2, §5.9.1.3: 2.03 Valid carries the ETag, no payload. */
    r = coap_options_set_etag(&response->opt, etag, n);
    if (r < 0)
      return r;
    coap_message_set_payload_borrowed(response, NULL, 0);
    response->code = COAP_CODE_VALID;
    return 1;
  }
  return 0;
}

int coap_resource_render(coap_resource *resource, coap_message *request,
                         coap_message *response, coap_future **later) {
  if (resource == NULL || request == NULL || response == NULL || later == NULL)
    return COAP_EINVAL;
  *later = NULL;
  coap_render_fn render = resource->vtable->render;
  if (render == NULL) {
    /* aiocoap's Resource.render: no render_<METHOD> (or no method at all,
     * e.g. a response code) is MethodNotAllowed, 4.05 (RFC 7252 §5.9.2.6). */
    if (resource->methods == NULL)
      return COAP_EMETHOD_NOT_ALLOWED;
    render = method_for(resource->methods, request->code);
    if (render == NULL)
      return COAP_EMETHOD_NOT_ALLOWED;
  }
  const declared d = declared_by(resource);
  int r = check_accept(&d, request);
  if (r < 0)
    return r;
  uint8_t etag[COAP_ETAG_MAX_LENGTH];
  size_t etag_len = sizeof etag;
  r = check_conditions(resource, &d, request, response, etag, &etag_len);
  if (r != 0)
    return r < 0 ? r : 0;
  r = render(resource, request, response, later);
  if (r < 0) {
    /* A renderer that fails must not leave a future behind for the caller
     * to wait on; drop it so the error is the whole answer. */
    coap_future_unref(*later);
    *later = NULL;
    return r;
  }
  if (*later != NULL)
    return 0;
  if (response->code == 0)
    response->code = default_code(request->code);
  /* RFC 7252 §5.10.6.1: the representation is tagged, so the client can
   * revalidate it; a retrieval does not change it, so the ETag from before
   * rendering is still current. */
  if (etag_len > 0 && is_retrieval(request->code) &&
      response->code == COAP_CODE_CONTENT &&
      !coap_options_has(&response->opt, COAP_OPT_ETAG))
    return coap_options_set_etag(&response->opt, etag, etag_len);
  return 0;
}
