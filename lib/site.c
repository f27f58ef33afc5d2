/*
 * aiocoap.resource.Site: a tree of Uri-Path segments whose nodes may hold a
 * resource, routing each request to the resource at its path.
 *
 * Each node keeps its children sorted by segment (bytewise), so lookup is a
 * binary search per segment and the link format comes out in path order.
 *
 * The site lives inside its own coap_resource (the first member), so a site
 * nested in another stays alive as long as the parent holds its resource:
 * coap_site_unref only drops the reference the site's creator holds.
 */
#include "alloc-internal.h"
#include "message-internal.h"
#include "resource-internal.h"

#include <assert.h>
#include <string.h>

/* RFC 7252 §5.10: a Uri-Path option is 0..255 bytes. */
#define SEGMENT_MAX 255

typedef struct site_node {
  char *segment; /* owned, NUL-terminated; NULL at the root */
  size_t len;
  coap_resource *resource; /* one reference, or NULL */
  struct site_node **children;
  size_t n_children;
  size_t cap_children;
} site_node;

struct coap_site {
  coap_resource resource; /* first: its last unref frees the site */
  site_node root;
  coap_resource *proxy; /* coap_site_set_proxy's, one reference, or NULL */
  bool visiting; /* coap__site_visit is inside this site */
};

static_assert(offsetof(coap_site, resource) == 0,
              "coap_resource_unref frees the site through its resource");

static int site_render(coap_resource *self, coap_message *request,
                       coap_message *response, coap_future **later);
static void site_destroy(coap_resource *self);

static void site_add_observation(coap_resource *self,
                                 const coap_message *request,
                                 coap_server_observation *observation);

static const coap_resource_vtable site_vtable = {
    .render = site_render,
    .add_observation = site_add_observation,
    .destroy = site_destroy,
};

coap_site *coap__site_from_resource(coap_resource *resource) {
  if (resource == NULL || resource->vtable != &site_vtable)
    return NULL;
  return coap__container_of(resource, coap_site, resource);
}

static int segment_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n > 0 ? memcmp(a, b, n) : 0;
  if (c != 0)
    return c;
  return alen < blen ? -1 : alen > blen;
}

/* Index of the child with this segment, or where it would be inserted. */
static size_t child_index(const site_node *node, const char *seg, size_t len,
                          bool *found) {
  size_t lo = 0;
  size_t hi = node->n_children;
  *found = false;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const site_node *c = node->children[mid];
    int cmp = segment_cmp(c->segment, c->len, seg, len);
    if (cmp == 0) {
      *found = true;
      return mid;
    }
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static site_node *child_get(const site_node *node, const char *seg,
                            size_t len) {
  bool found;
  size_t i = child_index(node, seg, len, &found);
  return found ? node->children[i] : NULL;
}

/* Frees what node holds (not node itself); resources are detached before
 * they are unreferenced, so a destroy callback never sees a half-freed
 * tree through this node. */
static void node_clear(site_node *node) {
  for (size_t i = 0; i < node->n_children; i++) {
    node_clear(node->children[i]);
    coap__free(node->children[i]);
  }
  coap__free(node->children);
  node->children = NULL;
  node->n_children = node->cap_children = 0;
  coap_resource *resource = node->resource;
  node->resource = NULL;
  coap_resource_unref(resource);
  coap__free(node->segment);
  node->segment = NULL;
}

static bool node_empty(const site_node *node) {
  return node->resource == NULL && node->n_children == 0;
}

static void child_detach(site_node *node, size_t i) {
  site_node *child = node->children[i];
  memmove(&node->children[i], &node->children[i + 1],
          (node->n_children - i - 1) * sizeof node->children[0]);
  node->n_children--;
  node_clear(child);
  coap__free(child);
}

/* Inserts a new empty child at index i; NULL on COAP_ENOMEM. */
static site_node *child_insert(site_node *node, size_t i, const char *seg,
                               size_t len) {
  if (node->n_children == node->cap_children) {
    size_t cap = node->cap_children ? node->cap_children * 2 : 4;
    site_node **grown =
        coap__realloc(node->children, cap * sizeof node->children[0]);
    if (grown == NULL)
      return NULL;
    node->children = grown;
    node->cap_children = cap;
  }
  site_node *child = coap__calloc(1, sizeof *child);
  if (child == NULL)
    return NULL;
  child->segment = coap__strndup(seg, len);
  if (child->segment == NULL) {
    coap__free(child);
    return NULL;
  }
  child->len = len;
  memmove(&node->children[i + 1], &node->children[i],
          (node->n_children - i) * sizeof node->children[0]);
  node->children[i] = child;
  node->n_children++;
  return child;
}

static void site_destroy(coap_resource *self) {
  coap_site *site = coap__site_from_resource(self);
  coap_resource *proxy = site->proxy;
  site->proxy = NULL;
  coap_resource_unref(proxy);
  node_clear(&site->root);
}

int coap_site_new(coap_site **out) {
  if (out == NULL)
    return COAP_EINVAL;
  coap_site *site = coap__calloc(1, sizeof *site);
  if (site == NULL)
    return COAP_ENOMEM;
  coap__resource_init(&site->resource, &site_vtable, NULL);
  /* aiocoap's Site is PathCapable: it takes every path below its own. */
  site->resource.path_capable = true;
  *out = site;
  return 0;
}

coap_site *coap_site_ref(coap_site *site) {
  if (site != NULL)
    coap_resource_ref(&site->resource);
  return site;
}

void coap_site_unref(coap_site *site) {
  if (site != NULL)
    coap_resource_unref(&site->resource);
}

void coap_site_free(coap_site *site) { coap_site_unref(site); }

coap_resource *coap_site_as_resource(coap_site *site) {
  return &site->resource;
}

/* Adds below node, creating nodes as needed and pruning the ones it made
 * when an allocation fails, so a failed add leaves the tree as it was. */
static int node_add(site_node *node, const char *const *path, size_t n,
                    coap_resource *resource) {
  if (n == 0) {
    coap_resource *old = node->resource;
    node->resource = coap_resource_ref(resource);
    coap_resource_unref(old);
    return 0;
  }
  size_t len = strlen(path[0]);
  bool found;
  size_t i = child_index(node, path[0], len, &found);
  site_node *child =
      found ? node->children[i] : child_insert(node, i, path[0], len);
  if (child == NULL)
    return COAP_ENOMEM;
  int r = node_add(child, path + 1, n - 1, resource);
  if (r < 0 && !found)
    child_detach(node, i);
  return r;
}

int coap_site_add_resource(coap_site *site, const char *const *path, size_t n,
                           coap_resource *resource) {
  if (site == NULL || resource == NULL || (path == NULL && n > 0))
    return COAP_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (path[i] == NULL || strlen(path[i]) > SEGMENT_MAX)
      return COAP_EINVAL;
  return node_add(&site->root, path, n, resource);
}

int coap_site_add_resource_path(coap_site *site, const char *path,
                                coap_resource *resource) {
  if (site == NULL || path == NULL || resource == NULL)
    return COAP_EINVAL;
  /* "/a/b" is taken as "a/b", and "/" as the root: a leading slash is how
   * paths are usually written, never a wanted empty first segment. */
  if (*path == '/')
    path++;
  size_t n = *path == '\0' ? 0 : 1;
  for (const char *p = path; *p != '\0'; p++)
    n += *p == '/';
  char *copy = coap__strdup(path);
  const char **segments = coap__calloc(n ? n : 1, sizeof *segments);
  int r = COAP_ENOMEM;
  if (copy != NULL && segments != NULL) {
    char *p = copy;
    for (size_t i = 0; i < n; i++) {
      segments[i] = p;
      p = strchr(p, '/');
      if (p != NULL)
        *p++ = '\0';
    }
    r = coap_site_add_resource(site, segments, n, resource);
  }
  coap__free(segments);
  coap__free(copy);
  return r;
}

static int node_remove(site_node *node, const char *const *path, size_t n) {
  if (n == 0) {
    coap_resource *old = node->resource;
    if (old == NULL)
      return COAP_ENOENT;
    node->resource = NULL;
    coap_resource_unref(old);
    return 0;
  }
  bool found;
  size_t i = child_index(node, path[0], strlen(path[0]), &found);
  if (!found)
    return COAP_ENOENT;
  int r = node_remove(node->children[i], path + 1, n - 1);
  if (r == 0 && node_empty(node->children[i]))
    child_detach(node, i);
  return r;
}

int coap_site_remove_resource(coap_site *site, const char *const *path,
                              size_t n) {
  if (site == NULL || (path == NULL && n > 0))
    return COAP_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (path[i] == NULL)
      return COAP_EINVAL;
  return node_remove(&site->root, path, n);
}

/* coap_site_find over the Uri-Path segments from index skip on. */
static coap_resource *find_from(const coap_site *site,
                                const coap_message *request, size_t skip,
                                size_t *prefix_len) {
  const site_node *node = &site->root;
  coap_resource *best = NULL;
  size_t best_len = 0;
  size_t depth = 0;
  for (;;) {
    const coap_option *seg =
        coap_options_get_nth(&request->opt, COAP_OPT_URI_PATH, skip + depth);
    if (seg == NULL) {
      if (node->resource != NULL) {
        best = node->resource;
        best_len = depth;
      }
      break;
    }
    /* Only a path-capable resource may answer for paths below it. */
    if (node->resource != NULL && node->resource->path_capable) {
      best = node->resource;
      best_len = depth;
    }
    node = child_get(node, (const char *)seg->value, seg->len);
    if (node == NULL)
      break;
    depth++;
  }
  *prefix_len = best != NULL ? best_len : 0;
  return best;
}

/* RFC 7252 §5.7: a request for a proxy, whatever its path. */
static bool is_proxy_request(const coap_message *request) {
  return coap_options_has(&request->opt, COAP_OPT_PROXY_URI) ||
         coap_options_has(&request->opt, COAP_OPT_PROXY_SCHEME);
}

int coap_site_set_proxy(coap_site *site, coap_resource *proxy) {
  if (site == NULL)
    return COAP_EINVAL;
  coap_resource *old = site->proxy;
  site->proxy = coap_resource_ref(proxy);
  coap_resource_unref(old);
  return 0;
}

coap_resource *coap__site_proxy(const coap_site *site) {
  return site != NULL ? site->proxy : NULL;
}

coap_resource *coap_site_find(coap_site *site, const coap_message *request,
                              size_t *prefix_len) {
  size_t k = 0;
  coap_resource *found = NULL;
  if (site != NULL && request != NULL && is_proxy_request(request))
    found = site->proxy;
  else if (site != NULL && request != NULL)
    found = find_from(site, request, 0, &k);
  if (prefix_len != NULL)
    *prefix_len = k;
  return found;
}

/*
 * aiocoap's Site.render: an exact match gets the request untouched; a
 * path-capable resource found at a shorter (or equal) prefix gets the
 * request with that prefix removed from its Uri-Path, so a nested site routes
 * the remainder as if it were the whole path.
 */
static int site_render(coap_resource *self, coap_message *request,
                       coap_message *response, coap_future **later) {
  coap_site *site = coap__site_from_resource(self);
  size_t k;
  coap_resource *found = coap_site_find(site, request, &k);
  if (found == NULL && is_proxy_request(request))
    return COAP_EPROXYING_NOT_SUPPORTED; /* RFC 7252 §5.7.2 */
  if (found == NULL)
    return COAP_ENOT_FOUND;
  if (found->path_capable && k > 0) {
    int r = coap__message_strip_uri_path(request, k);
    if (r < 0)
      return r;
  }
  /* The renderer may remove itself from the site; keep it alive for the
   * call. */
  coap_resource_ref(found);
  int r = coap_resource_render(found, request, response, later);
  coap_resource_unref(found);
  return r;
}

/*
 * aiocoap's Site.add_observation: hands the observation to the resource the
 * request routes to.  The request is const here, so instead of stripping
 * the prefix a nested site continues the lookup from where its parent
 * stopped; a path-capable resource that is not a site sees the full path.
 * Nothing found, or a resource that does not observe, leaves the
 * observation unaccepted (the request is then served without Observe).
 */
static void site_add_observation(coap_resource *self,
                                 const coap_message *request,
                                 coap_server_observation *observation) {
  coap_site *site = coap__site_from_resource(self);
  size_t skip = 0;
  if (is_proxy_request(request)) {
    coap_resource *proxy = site->proxy;
    if (proxy != NULL && proxy->vtable->add_observation != NULL)
      proxy->vtable->add_observation(proxy, request, observation);
    return;
  }
  for (;;) {
    size_t k;
    coap_resource *found = find_from(site, request, skip, &k);
    if (found == NULL)
      return;
    coap_site *nested = coap__site_from_resource(found);
    if (nested == NULL) {
      if (found->vtable->add_observation != NULL)
        found->vtable->add_observation(found, request, observation);
      return;
    }
    /* A site nested in itself at its root would be found again forever. */
    if (k == 0 && nested == site)
      return;
    site = nested;
    skip += k;
  }
}

static int visit_node(const site_node *node, const coap__path_frame *path,
                      coap__site_visit_cb cb, void *ctx);

static int visit_resource(coap_resource *resource, const coap__path_frame *path,
                          coap__site_visit_cb cb, void *ctx) {
  coap_site *nested = coap__site_from_resource(resource);
  if (nested == NULL)
    return cb(path, resource, ctx);
  if (nested->visiting)
    return 0;
  nested->visiting = true;
  int r = visit_node(&nested->root, path, cb, ctx);
  nested->visiting = false;
  return r;
}

static int visit_node(const site_node *node, const coap__path_frame *path,
                      coap__site_visit_cb cb, void *ctx) {
  if (node->resource != NULL) {
    int r = visit_resource(node->resource, path, cb, ctx);
    if (r != 0)
      return r;
  }
  for (size_t i = 0; i < node->n_children; i++) {
    const site_node *child = node->children[i];
    coap__path_frame frame = {path, child->segment, child->len};
    int r = visit_node(child, &frame, cb, ctx);
    if (r != 0)
      return r;
  }
  return 0;
}

int coap__site_visit(coap_site *site, coap__site_visit_cb cb, void *ctx) {
  return visit_resource(&site->resource, NULL, cb, ctx);
}
