/*
 * RFC 6690 CoRE Link Format for a site (aiocoap's
 * get_resources_as_linkheader), its query filtering (RFC 6690 §4.1) and the
 * /.well-known/core resource (aiocoap's WKCResource).
 */
#include "addr-internal.h"
#include "alloc-internal.h"
#include "resource-internal.h"

#include <aiocoap/util.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* RFC 7252 §12.3: application/link-format. */
#define CONTENT_FORMAT_LINK_FORMAT 40

/* Writes what fits and counts everything, so one pass with cap 0 measures
 * and a second writes. */
typedef struct writer {
  char *buf;
  size_t cap;
  size_t len;
} writer;

/* RFC 7641 §6: "obs" marks an observable resource; one made observable
 * (coap_observable_resource_new*) is, whatever its attributes say, as in
 * aiocoap. */
static bool is_observable(const coap_resource *resource) {
  return resource->attr_obs || resource->observable != NULL;
}

static void put(writer *w, const void *data, size_t n) {
  if (w->len < w->cap) {
    size_t room = w->cap - w->len;
    memcpy(w->buf + w->len, data, n < room ? n : room);
  }
  w->len += n;
}

static void put_str(writer *w, const char *s) {
  put(w, s, strlen(s));
}

/* RFC 6690 §2 takes quoted-string from RFC 2616 §2.2: '"' and '\' are
 * escaped with a backslash. */
static void put_quoted(writer *w, const char *s) {
  put(w, "\"", 1);
  for (; *s != '\0'; s++) {
    if (*s == '"' || *s == '\\')
      put(w, "\\", 1);
    put(w, s, 1);
  }
  put(w, "\"", 1);
}

typedef struct link_ctx {
  writer out;
  const coap_options *query;
  size_t n_filters;
  bool first;
  int error;
  /* The current link's URI-reference, rebuilt for each resource. */
  char *href;
  size_t href_len;
  size_t href_cap;
  char href_stack[256];
} link_ctx;

static bool href_reserve(link_ctx *ctx, size_t more) {
  if (more <= ctx->href_cap - ctx->href_len)
    return true;
  size_t cap = ctx->href_cap;
  while (cap - ctx->href_len < more)
    cap *= 2;
  char *grown;
  if (ctx->href == ctx->href_stack) {
    grown = coap__malloc(cap);
    if (grown != NULL)
      memcpy(grown, ctx->href, ctx->href_len);
  } else {
    grown = coap__realloc(ctx->href, cap);
  }
  if (grown == NULL)
    return false;
  ctx->href = grown;
  ctx->href_cap = cap;
  return true;
}

/* Appends "/" and each segment of path, percent-encoded (RFC 3986 §3.3);
 * false on COAP_ENOMEM. */
static bool href_append(link_ctx *ctx, const coap__path_frame *path) {
  if (path == NULL)
    return true;
  if (!href_append(ctx, path->parent))
    return false;
  /* Every byte encodes to at most three, plus the '/' and the NUL. */
  if (!href_reserve(ctx, 3 * path->len + 2))
    return false;
  ctx->href[ctx->href_len++] = '/';
  int n = coap_percent_encode(path->segment, path->len, false,
                              ctx->href + ctx->href_len,
                              ctx->href_cap - ctx->href_len);
  if (n < 0)
    return false;
  ctx->href_len += (size_t)n;
  return true;
}

static bool build_href(link_ctx *ctx, const coap__path_frame *path) {
  ctx->href_len = 0;
  if (path == NULL) {
    ctx->href[ctx->href_len++] = '/';
    return true;
  }
  return href_append(ctx, path);
}

/* RFC 6690 §4.1: a value ending in '*' matches every attribute value it is
 * a prefix of; otherwise the two must be equal. */
static bool value_matches(const char *value, size_t len, const char *pattern,
                          size_t plen) {
  if (plen > 0 && pattern[plen - 1] == '*') {
    plen--;
    return len >= plen && memcmp(value, pattern, plen) == 0;
  }
  return len == plen && memcmp(value, pattern, plen) == 0;
}

/* RFC 6690 §4.1: for attributes holding space-separated values (rt, if,
 * ct) a link matches when any one of them does. */
static bool words_match(const char *attr, const char *pattern, size_t plen) {
  if (attr == NULL)
    return false;
  const char *p = attr;
  while (*p != '\0') {
    size_t n = strcspn(p, " ");
    if (n > 0 && value_matches(p, n, pattern, plen))
      return true;
    p += n;
    p += strspn(p, " ");
  }
  return false;
}

static bool name_is(const char *name, size_t len, const char *want) {
  return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* One query item ("name=value", or "name" for a flag) against a link. */
static bool item_matches(const link_ctx *ctx, const coap_resource *resource,
                         const coap_option *item) {
  const char *name = (const char *)item->value;
  const char *eq = item->len > 0 ? memchr(name, '=', item->len) : NULL;
  size_t name_len = eq != NULL ? (size_t)(eq - name) : item->len;
  const char *value = eq != NULL ? eq + 1 : "";
  size_t vlen = eq != NULL ? item->len - name_len - 1 : 0;
  if (name_is(name, name_len, "href"))
    return eq != NULL && value_matches(ctx->href, ctx->href_len, value, vlen);
  if (name_is(name, name_len, "rt"))
    return eq != NULL && words_match(resource->attr_rt, value, vlen);
  if (name_is(name, name_len, "if"))
    return eq != NULL && words_match(resource->attr_if, value, vlen);
  if (name_is(name, name_len, "ct"))
    return eq != NULL && words_match(resource->attr_ct, value, vlen);
  if (name_is(name, name_len, "title"))
    return eq != NULL && resource->attr_title != NULL &&
           value_matches(resource->attr_title, strlen(resource->attr_title),
                         value, vlen);
  if (name_is(name, name_len, "sz")) {
    char digits[24];
    if (eq == NULL || resource->attr_sz < 0)
      return false;
    int n = snprintf(digits, sizeof digits, "%ld", resource->attr_sz);
    return value_matches(digits, (size_t)n, value, vlen);
  }
  /* obs is a flag (RFC 7641 §6): "obs" asks for observable resources. */
  if (name_is(name, name_len, "obs"))
    return is_observable(resource) && vlen == 0;
  /* An attribute this server does not know is one no link carries. */
  return false;
}

static bool link_matches(const link_ctx *ctx, const coap_resource *resource) {
  for (size_t i = 0; i < ctx->n_filters; i++) {
    const coap_option *item =
        coap_options_get_nth(ctx->query, COAP_OPT_URI_QUERY, i);
    if (!item_matches(ctx, resource, item))
      return false;
  }
  return true;
}

/* RFC 7252 §7.2.1: ct-value is a bare cardinal (ct=40), or space-separated
 * cardinals in quotes (ct="0 40"). */
static void put_ct(writer *w, const char *ct) {
  put_str(w, ";ct=");
  if (ct[0] != '\0' && strspn(ct, "0123456789") == strlen(ct))
    put_str(w, ct);
  else
    put_quoted(w, ct);
}

static void put_link(link_ctx *ctx, const coap_resource *resource) {
  writer *w = &ctx->out;
  if (!ctx->first)
    put(w, ",", 1);
  ctx->first = false;
  put(w, "<", 1);
  put(w, ctx->href, ctx->href_len);
  put(w, ">", 1);
  if (resource->attr_ct != NULL)
    put_ct(w, resource->attr_ct);
  if (resource->attr_rt != NULL) {
    put_str(w, ";rt=");
    put_quoted(w, resource->attr_rt);
  }
  if (resource->attr_if != NULL) {
    put_str(w, ";if=");
    put_quoted(w, resource->attr_if);
  }
  if (resource->attr_title != NULL) {
    put_str(w, ";title=");
    put_quoted(w, resource->attr_title);
  }
  if (resource->attr_sz >= 0) {
    char digits[24];
    int n = snprintf(digits, sizeof digits, ";sz=%ld", resource->attr_sz);
    put(w, digits, (size_t)n);
  }
  if (is_observable(resource))
    put_str(w, ";obs");
}

static int visit_link(const coap__path_frame *path, coap_resource *resource,
                      void *arg) {
  link_ctx *ctx = arg;
  if (resource->attr_hidden)
    return 0;
  if (!build_href(ctx, path))
    return COAP_ENOMEM;
  if (link_matches(ctx, resource))
    put_link(ctx, resource);
  return 0;
}

/* Writes as much of the link format as fits buf[0..cap) and stores its full
 * length in *needed.  0 or COAP_ENOMEM. */
static int link_format(coap_site *site, const coap_options *query, char *buf,
                       size_t cap, size_t *needed) {
  link_ctx ctx = {
      .out = {buf, cap, 0},
      .query = query,
      .n_filters =
          query != NULL ? coap_options_count_of(query, COAP_OPT_URI_QUERY) : 0,
      .first = true,
  };
  ctx.href = ctx.href_stack;
  ctx.href_cap = sizeof ctx.href_stack;
  int r = coap__site_visit(site, visit_link, &ctx);
  if (ctx.href != ctx.href_stack)
    coap__free(ctx.href);
  *needed = ctx.out.len;
  return r;
}

int coap_site_link_format(coap_site *site, const coap_options *query, char *buf,
                          size_t cap) {
  if (site == NULL || (buf == NULL && cap > 0))
    return COAP_EINVAL;
  size_t needed;
  int r = link_format(site, query, buf, cap, &needed);
  if (r < 0)
    return r;
  if (needed >= cap || needed > INT_MAX)
    return COAP_ENOSPC;
  buf[needed] = '\0';
  return (int)needed;
}

/* GET /.well-known/core (RFC 6690 §4): measure, reserve exactly, write. */
static int wkc_render_get(coap_resource *self, coap_message *request,
                          coap_message *response, coap_future **later) {
  (void)later;
  coap_site *site = self->user_data;
  size_t needed;
  int r = link_format(site, &request->opt, NULL, 0, &needed);
  if (r < 0)
    return r;
  /* RFC 6690 §4.1: to a multicast query that matches nothing a server says
   * nothing; as an error it is left unsent (RFC 7252 §8.2, responder.c). */
  if (needed == 0 && coap__remote_via_multicast(&request->remote))
    return COAP_ENOT_FOUND;
  char *buf = NULL;
  if (needed > 0) {
    buf = (char *)coap_message_reserve_payload(response, needed);
    if (buf == NULL)
      return COAP_ENOMEM;
  } else {
    coap_message_set_payload_borrowed(response, NULL, 0);
  }
  size_t written;
  r = link_format(site, &request->opt, buf, needed, &written);
  if (r < 0)
    return r;
  return coap_options_set_content_format(&response->opt,
                                         CONTENT_FORMAT_LINK_FORMAT);
}

/* aiocoap's WKCResource answers 4.06 to any Accept but link format. */
static const uint16_t wkc_formats[] = {CONTENT_FORMAT_LINK_FORMAT};

static const coap_resource_methods wkc_methods = {
    .render_get = wkc_render_get,
    .content_formats = wkc_formats,
    .n_content_formats = 1,
};

int coap_wkc_resource_new(coap_site *site, coap_resource **out) {
  if (site == NULL || out == NULL)
    return COAP_EINVAL;
  coap_resource *resource;
  int r = coap_resource_new_methods(&wkc_methods, site, &resource);
  if (r < 0)
    return r;
  /* aiocoap lists its WKCResource as </.well-known/core>;ct=40. */
  const coap_link_attributes attrs = {.ct = "40", .sz = -1};
  r = coap_resource_set_link_attributes(resource, &attrs);
  if (r < 0) {
    coap_resource_unref(resource);
    return r;
  }
  *out = resource;
  return 0;
}
