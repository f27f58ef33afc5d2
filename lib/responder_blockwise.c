/*
 * RFC 7959 on the server side (aiocoap's Responder blockwise handling), for
 * resources that want whole requests and responses
 * (needs_blockwise_assembly, the default):
 *
 * - Block1 (§2.3, §2.5): blocks of one upload are collected per (remote,
 *   request cache key); each but the last is answered 2.31 Continue without
 *   the resource, the last hands the resource the whole body once.
 * - Block2 (§2.4): a response larger than a block is sliced; the rendered
 *   representation is kept for a while, so later blocks are served from it
 *   without rendering again, and gets an ETag so clients notice a change.
 *
 * Both tables are small lists in least-recently-used order: an upload
 * lives block1_idle_timeout_ms after its last block, a representation
 * EXCHANGE_LIFETIME after its last use, so each head expires first and one
 * timer on the context's heap serves both lists.
 */
#include "alloc-internal.h"
#include "hash-internal.h"
#include "message-internal.h"
#include "observation-internal.h"
#include "resource-internal.h"
#include "responder-internal.h"

#include <string.h>

/* Largest encoding of a Block option (one header byte, two of extended
 * delta, three of value), of a Size option (four of value), and of an
 * 8-byte ETag. */
#define BLOCK_OPTION_MAX 6u
#define SIZE_OPTION_MAX 7u
#define ETAG_OPTION_MAX 11u

/* RFC 7959 §2.2: NUM has 20 bits. */
#define BLOCK_NUM_LIMIT (1u << 20)

/* One Block1 upload being reassembled. */
typedef struct upload {
  coap__queue link; /* server->uploads, least recently used first */
  uint64_t deadline;
  uint64_t hash;
  coap_remote remote;
  uint8_t *key;
  size_t key_len;
  uint8_t *body;
  size_t len, cap;
} upload;

/* One rendered representation kept for later Block2 requests. */
typedef struct representation {
  coap__queue link; /* server->representations, least recently used first */
  uint64_t deadline;
  uint64_t hash;
  coap_remote remote;
  uint8_t *key;
  size_t key_len;
  coap_message response; /* code and options; payload owned */
  /* What tells that it is still the resource's current state, so that a
   * new request (block 0) is served from it without rendering again:
   * the resource (a reference) and its ETag (get_etag), or its
   * updated_state generation while it has observers (issue 9: a 1 MiB
   * body was rendered, hashed and copied for every GET). */
  coap_resource *resource;
  bool by_etag, by_generation;
  uint64_t generation;
} representation;

struct coap__blockwise_server {
  coap_context *ctx;
  coap__queue uploads;
  size_t n_uploads;
  coap__queue representations;
  size_t n_representations;
  coap__timer expiry; /* the earlier head deadline of the two lists */
};

typedef struct coap__blockwise_server server;

/* Options that do not tell one body from another: the block options
 * themselves, the size hints, and Observe (RFC 7959 §2.6: later blocks of a
 * notification are asked for without it). */
static const uint16_t key_ignored[] = {COAP_OPT_OBSERVE, COAP_OPT_BLOCK2,
                                       COAP_OPT_BLOCK1, COAP_OPT_SIZE2,
                                       COAP_OPT_SIZE1};

static uint64_t key_hash(const coap_remote *remote, const uint8_t *key,
                         size_t len) {
  uint64_t h = coap__fnv1a(COAP__FNV_OFFSET_BASIS, &remote->addr.sin6_addr,
                           sizeof remote->addr.sin6_addr);
  h = coap__fnv1a(h, &remote->addr.sin6_port, sizeof remote->addr.sin6_port);
  h = coap__fnv1a(h, &remote->addr.sin6_scope_id,
                  sizeof remote->addr.sin6_scope_id);
  return coap__fnv1a(h, key, len);
}

/* Bytes coap_message_get_cache_key can need for msg. */
static size_t key_bound(const coap_message *msg) {
  size_t n = coap_options_count(&msg->opt);
  size_t size = 1;
  for (size_t i = 0; i < n; i++)
    size += 6 + coap_options_at(&msg->opt, i)->len;
  return size;
}

static uint64_t lifetime(const coap_context *ctx) {
  return coap_exchange_lifetime_ms(&ctx->config.transmission);
}

static uint8_t our_szx(const coap_context *ctx) {
  return ctx->config.block_size_exp > 6 ? 6 : ctx->config.block_size_exp;
}

/* An answer made here, with a diagnostic payload (RFC 7252 §5.5.2). */
static void answer(coap__responder *r, uint8_t code, const char *diagnostic) {
  coap__message_reset(&r->response);
  r->response.code = code;
  if (diagnostic != NULL)
    coap_message_set_payload_borrowed(&r->response, diagnostic,
                                      strlen(diagnostic));
}

static void on_expiry(coap__timer *timer);

static server *server_get(coap_context *ctx) {
  if (ctx->blockwise != NULL)
    return ctx->blockwise;
  server *s = coap__calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->ctx = ctx;
  coap__queue_init(&s->uploads);
  coap__queue_init(&s->representations);
  coap__heap_node_init(&s->expiry.node);
  s->expiry.cb = on_expiry;
  ctx->blockwise = s;
  return s;
}

static void rearm(server *s) {
  uint64_t due = UINT64_MAX;
  if (!coap__queue_empty(&s->uploads))
    due =
        coap__queue_data(coap__queue_head(&s->uploads), upload, link)->deadline;
  if (!coap__queue_empty(&s->representations)) {
    uint64_t d = coap__queue_data(coap__queue_head(&s->representations),
                                  representation, link)
                     ->deadline;
    if (d < due)
      due = d;
  }
  if (due == UINT64_MAX)
    coap__context_unschedule(s->ctx, &s->expiry);
  else if (!coap__heap_node_active(&s->expiry.node) ||
           s->expiry.node.deadline != due)
    coap__context_schedule(s->ctx, &s->expiry, due);
}

static void upload_free(server *s, upload *u) {
  coap__queue_remove(&u->link);
  s->n_uploads--;
  coap__free(u->body);
  coap__free(u->key);
  coap__free(u);
}

static void representation_free(server *s, representation *rep) {
  coap__queue_remove(&rep->link);
  s->n_representations--;
  coap_resource_unref(rep->resource);
  coap_message_clear(&rep->response);
  coap__free(rep->key);
  coap__free(rep);
}

static void on_expiry(coap__timer *timer) {
  server *s = coap__container_of(timer, server, expiry);
  uint64_t now = coap__context_now(s->ctx);
  while (!coap__queue_empty(&s->uploads)) {
    upload *u = coap__queue_data(coap__queue_head(&s->uploads), upload, link);
    if (u->deadline > now)
      break;
    /* RFC 7959 §2.5: an upload left unfinished is given up; a late block
     * will get 4.08. */
    upload_free(s, u);
  }
  while (!coap__queue_empty(&s->representations)) {
    representation *rep = coap__queue_data(
        coap__queue_head(&s->representations), representation, link);
    if (rep->deadline > now)
      break;
    representation_free(s, rep);
  }
  rearm(s);
}

void coap__blockwise_server_free(coap_context *ctx) {
  server *s = ctx->blockwise;
  if (s == NULL)
    return;
  coap__context_unschedule(ctx, &s->expiry);
  while (!coap__queue_empty(&s->uploads))
    upload_free(s,
                coap__queue_data(coap__queue_head(&s->uploads), upload, link));
  while (!coap__queue_empty(&s->representations))
    representation_free(s,
                        coap__queue_data(coap__queue_head(&s->representations),
                                         representation, link));
  coap__free(s);
  ctx->blockwise = NULL;
}

/* Moves an entry to the tail with a fresh deadline, lifetime from now. */
static void touch(server *s, coap__queue *head, coap__queue *link,
                  uint64_t *deadline, uint64_t lifetime) {
  *deadline = coap__context_now(s->ctx) + lifetime;
  coap__queue_remove(link);
  coap__queue_insert_tail(head, link);
  rearm(s);
}

static upload *upload_find(server *s, const coap_remote *remote, uint64_t hash,
                           const uint8_t *key, size_t key_len) {
  coap__queue *q;
  for (q = coap__queue_head(&s->uploads); q != &s->uploads; q = q->next) {
    upload *u = coap__queue_data(q, upload, link);
    if (u->hash == hash && u->key_len == key_len &&
        coap_remote_equal(&u->remote, remote) &&
        memcmp(u->key, key, key_len) == 0)
      return u;
  }
  return NULL;
}

static representation *representation_find(server *s, const coap_remote *remote,
                                           uint64_t hash, const uint8_t *key,
                                           size_t key_len) {
  coap__queue *q;
  for (q = coap__queue_head(&s->representations); q != &s->representations;
       q = q->next) {
    representation *rep = coap__queue_data(q, representation, link);
    if (rep->hash == hash && rep->key_len == key_len &&
        coap_remote_equal(&rep->remote, remote) &&
        memcmp(rep->key, key, key_len) == 0)
      return rep;
  }
  return NULL;
}

static bool body_reserve(uint8_t **body, size_t *cap, size_t need,
                         size_t limit) {
  if (need <= *cap)
    return true;
  size_t grown = *cap ? *cap : 4096;
  while (grown < need)
    grown *= 2;
  if (grown > limit)
    grown = limit;
  uint8_t *p = coap__realloc(*body, grown);
  if (p == NULL)
    return false;
  *body = p;
  *cap = grown;
  return true;
}

/* Whether a new upload from remote may start: below its own limit, and
 * with room in the table, made if need be by giving up the upload idle
 * longest (the head), so that abandoned first blocks cannot lock others
 * out until they expire. */
static bool upload_room(server *s, const coap_remote *remote) {
  const coap_context_config *c = &s->ctx->config;
  size_t mine = 0;
  coap__queue *q;
  for (q = coap__queue_head(&s->uploads); q != &s->uploads; q = q->next)
    if (coap_remote_equal(&coap__queue_data(q, upload, link)->remote, remote))
      mine++;
  if (mine >= c->max_block1_reassemblies_per_peer ||
      c->max_block1_reassemblies == 0)
    return false;
  if (s->n_uploads >= c->max_block1_reassemblies) {
    upload_free(s,
                coap__queue_data(coap__queue_head(&s->uploads), upload, link));
    rearm(s);
  }
  return true;
}

/* RFC 7959 §2.9.3: 4.13 tells the largest body accepted in Size1. */
static int too_large(coap__responder *r) {
  answer(r, COAP_CODE_REQUEST_ENTITY_TOO_LARGE, "request entity too large");
  coap_options_set_size1(&r->response.opt, r->ctx->config.max_body_size);
  return 1;
}

/* The last block: the whole body becomes the request's payload, and the
 * Block1 and Size1 options go, so the resource sees one plain request. */
static void finish_upload(coap__responder *r, upload *u, const coap_block *b1) {
  coap_message *req = &r->request;
  if (u != NULL) {
    coap__free(req->payload_buf);
    req->payload_buf = u->body;
    req->payload_cap = u->cap;
    req->payload = u->body;
    req->payload_len = u->len;
    u->body = NULL;
    upload_free(r->ctx->blockwise, u);
    rearm(r->ctx->blockwise);
  }
  coap_options_delete(&req->opt, COAP_OPT_BLOCK1);
  coap_options_delete(&req->opt, COAP_OPT_SIZE1);
  r->bw.block1_final = true;
  r->bw.block1 = *b1;
}

/* One Block1 block (RFC 7959 §2.5).  Returns as
 * coap__responder_blockwise_request. */
static int collect_block1(coap__responder *r, const coap_block *b1,
                          const uint8_t *key, size_t key_len) {
  coap_context *ctx = r->ctx;
  coap_message *req = &r->request;
  size_t limit = ctx->config.max_body_size;
  size_t size = coap_block_size(b1->szx);
  size_t start = coap_block_start(b1);
  /* RFC 7959 §2.2: every block but the last carries exactly its size. */
  if (req->payload_len > size || (b1->more && req->payload_len != size)) {
    answer(r, COAP_CODE_BAD_REQUEST, "block does not match its size");
    return 1;
  }
  server *s = server_get(ctx);
  if (s == NULL) {
    answer(r, COAP_CODE_INTERNAL_SERVER_ERROR, "out of memory");
    return 1;
  }
  uint64_t hash = key_hash(&req->remote, key, key_len);
  upload *u = upload_find(s, &req->remote, hash, key, key_len);
  uint32_t size1;
  bool too_big =
      start + req->payload_len > limit ||
      (coap_options_get_size1(&req->opt, &size1) == 0 && size1 > limit);
  /* Block 0 starts the upload afresh; any other must continue one. */
  if (u != NULL && (b1->num == 0 || too_big || u->len != start)) {
    bool in_sequence = b1->num == 0 || u->len == start;
    upload_free(s, u);
    rearm(s);
    u = NULL;
    if (!in_sequence)
      goto incomplete;
  }
  if (too_big)
    return too_large(r);
  if (u == NULL && b1->num != 0)
    goto incomplete;
  if (!b1->more && u == NULL) {
    /* The whole body in one block: it stays where it is. */
    finish_upload(r, NULL, b1);
    return 0;
  }
  if (u == NULL && !upload_room(s, &req->remote)) {
    /* RFC 7252 §5.9.3.4: Max-Age says when to try again. */
    answer(r, COAP_CODE_SERVICE_UNAVAILABLE, "too many uploads");
    coap_options_set_max_age(&r->response.opt,
                             (ctx->config.block1_idle_timeout_ms + 999) / 1000);
    return 1;
  }
  if (u == NULL) {
    u = coap__calloc(1, sizeof *u);
    if (u == NULL || (u->key = coap__malloc(key_len ? key_len : 1)) == NULL) {
      coap__free(u);
      answer(r, COAP_CODE_INTERNAL_SERVER_ERROR, "out of memory");
      return 1;
    }
    memcpy(u->key, key, key_len);
    u->key_len = key_len;
    u->hash = hash;
    u->remote = req->remote;
    coap__queue_insert_tail(&s->uploads, &u->link);
    s->n_uploads++;
  }
  if (!body_reserve(&u->body, &u->cap, u->len + req->payload_len, limit)) {
    upload_free(s, u);
    rearm(s);
    answer(r, COAP_CODE_INTERNAL_SERVER_ERROR, "out of memory");
    return 1;
  }
  memcpy(u->body + u->len, req->payload, req->payload_len);
  u->len += req->payload_len;
  if (!b1->more) {
    finish_upload(r, u, b1);
    return 0;
  }
  touch(s, &s->uploads, &u->link, &u->deadline,
        ctx->config.block1_idle_timeout_ms);
  /* RFC 7959 §2.3: 2.31 acknowledges the block; a smaller SZX asks for
   * smaller blocks from now on, numbered so the block acknowledged keeps
   * its start (§2.5: the client continues where its bytes ended).  A
   * number too large for 20 bits in our size keeps the client's size. */
  uint8_t szx = our_szx(ctx);
  coap_block ack = *b1;
  if (b1->szx > szx && (start >> (szx + 4)) < BLOCK_NUM_LIMIT)
    ack = (coap_block){.num = (uint32_t)(start >> (szx + 4)), .szx = szx};
  ack.more = true;
  answer(r, COAP_CODE_CONTINUE, NULL);
  int rc = coap_options_set_block1(&r->response.opt, &ack);
  if (rc < 0) /* never a 2.31 that does not name its block */
    answer(r, coap_error_to_code(rc), coap_strerror(rc));
  return 1;

incomplete:
  /* RFC 7959 §2.9.2: a block out of sequence, or of an upload this server
   * does not hold. */
  answer(r, COAP_CODE_REQUEST_ENTITY_INCOMPLETE, "request entity incomplete");
  return 1;
}

/* A new GET or FETCH that a kept representation may answer: nothing in
 * it asks for more than the representation (a registration goes through
 * Observe, conditions and ETags through coap_resource_render). */
static bool reusable_request(const coap_message *req) {
  return (req->code == COAP_CODE_GET || req->code == COAP_CODE_FETCH) &&
         !coap_options_has(&req->opt, COAP_OPT_OBSERVE) &&
         !coap_options_has(&req->opt, COAP_OPT_ETAG) &&
         !coap_options_has(&req->opt, COAP_OPT_IF_MATCH) &&
         !coap_options_has(&req->opt, COAP_OPT_IF_NONE_MATCH);
}

/* Whether rep is still the current state of the resource the request
 * goes to: by its ETag, or by updated_state while observed. */
static bool still_current(coap__responder *r, const representation *rep) {
  coap_resource *res = r->bw.resource;
  if (res == NULL || rep->resource != res)
    return false;
  if (rep->by_generation && coap_observable_resource_observation_count(res) &&
      coap__observable_generation(res) == rep->generation)
    return true;
  if (!rep->by_etag)
    return false;
  uint8_t now[COAP_ETAG_MAX_LENGTH];
  size_t now_len = 0;
  const uint8_t *kept = NULL;
  size_t kept_len = 0;
  return coap__resource_current_etag(res, &r->request, now, &now_len) == 0 &&
         coap_options_get_etag(&rep->response.opt, &kept, &kept_len) == 0 &&
         kept_len == now_len && memcmp(kept, now, now_len) == 0;
}

/* A block of a representation still kept: r->response becomes that
 * representation (payload borrowed), for the slicing before sending.  A
 * later block is served from whatever was kept (RFC 7959 §2.4: the ETag
 * tells the client if it changed); a new request only from one that is
 * still current. */
static int serve_cached(coap__responder *r, bool current_only) {
  server *s = r->ctx->blockwise;
  const coap__responder_blockwise *bw = &r->bw;
  if (s == NULL || bw->key_len == 0)
    return 0;
  const coap_remote *remote = &r->request.remote;
  representation *rep = representation_find(
      s, remote, key_hash(remote, bw->key, bw->key_len), bw->key, bw->key_len);
  if (rep == NULL || (current_only && !still_current(r, rep)))
    return 0;
  coap_message *resp = &r->response;
  coap__message_reset(resp);
  resp->code = rep->response.code;
  if (coap_options_copy(&resp->opt, &rep->response.opt) < 0)
    return 0;
  coap_message_set_payload_borrowed(resp, rep->response.payload,
                                    rep->response.payload_len);
  r->bw.cached = rep;
  touch(s, &s->representations, &rep->link, &rep->deadline, lifetime(s->ctx));
  return 1;
}

void coap__responder_blockwise_init(coap__responder *r) {
  r->bw.resource = NULL;
  r->bw.assembly = false;
  r->bw.block1_final = false;
  r->bw.has_block2 = false;
  r->bw.size2 = false;
  r->bw.cached = NULL;
  r->bw.key_len = 0;
}

int coap__responder_blockwise_request(coap__responder *r) {
  coap_context *ctx = r->ctx;
  coap_message *req = &r->request;
  coap__responder_blockwise *bw = &r->bw;
  size_t prefix;
  coap_resource *res = coap_site_find(ctx->site, req, &prefix);
  if (res == NULL || (res->vtable->needs_blockwise_assembly != NULL &&
                      !res->vtable->needs_blockwise_assembly(res, req)))
    return 0;
  bw->assembly = true;
  bw->resource = coap_resource_ref(res);
  coap_block b1;
  int rc1 = coap_options_get_block1(&req->opt, &b1);
  int rc2 = coap_options_get_block2(&req->opt, &bw->block2);
  if (rc1 == COAP_EINVAL || rc2 == COAP_EINVAL) {
    /* RFC 7959 §2.2: SZX 7 is reserved and MUST lead to 4.00 (a Block
     * option longer than 3 bytes got 4.02 before, RFC 7252 §5.4.3). */
    answer(r, COAP_CODE_BAD_REQUEST, "Block option with SZX 7");
    return 1;
  }
  bw->has_block2 = rc2 == 0;
  bw->size2 = coap_options_has(&req->opt, COAP_OPT_SIZE2);
  int n = coap_message_get_cache_key(req, key_ignored,
                                     sizeof key_ignored / sizeof key_ignored[0],
                                     bw->key, sizeof bw->key);
  bw->key_len = n > 0 ? (size_t)n : 0;
  if (rc1 == 0) {
    if (bw->key_len > 0)
      return collect_block1(r, &b1, bw->key, bw->key_len);
    /* A key too long to keep here: build it once for this block. */
    size_t cap = key_bound(req);
    uint8_t *key = coap__malloc(cap);
    n = key == NULL ? COAP_ENOMEM
                    : coap_message_get_cache_key(
                          req, key_ignored,
                          sizeof key_ignored / sizeof key_ignored[0], key, cap);
    int rc = 1;
    if (n < 0)
      answer(r, COAP_CODE_INTERNAL_SERVER_ERROR, "out of memory");
    else
      rc = collect_block1(r, &b1, key, (size_t)n);
    coap__free(key);
    return rc;
  }
  /* RFC 8132 §2.2.1: a FETCH's payload is part of what it asks for, so
   * two FETCHes with different bodies must not share a representation. */
  if (req->code == COAP_CODE_FETCH && bw->key_len > 0 &&
      bw->key_len + 8 <= sizeof bw->key) {
    uint64_t h =
        coap__fnv1a(COAP__FNV_OFFSET_BASIS, req->payload, req->payload_len);
    memcpy(bw->key + bw->key_len, &h, sizeof h);
    bw->key_len += sizeof h;
  } else if (req->code == COAP_CODE_FETCH) {
    bw->key_len = 0; /* no room for the body's hash: do not share */
  }
  if (bw->has_block2 && bw->block2.num > 0) {
    if (serve_cached(r, false))
      return 1;
    /* Rendering a POST (or another unsafe method) again for a later block
     * would act twice, and without the body: its response is gone. */
    if (req->code != COAP_CODE_GET && req->code != COAP_CODE_FETCH) {
      answer(r, COAP_CODE_REQUEST_ENTITY_INCOMPLETE, "response expired");
      return 1;
    }
  } else if (reusable_request(req) && serve_cached(r, true)) {
    return 1;
  }
  return 0;
}

/* Keeps the response's representation for later blocks and points the
 * response's payload at the kept copy.  False when it is not kept. */
static bool keep_representation(coap__responder *r) {
  coap_context *ctx = r->ctx;
  coap__responder_blockwise *bw = &r->bw;
  coap_message *resp = &r->response;
  if (bw->key_len == 0 || ctx->config.max_block2_cached == 0)
    return false;
  server *s = server_get(ctx);
  if (s == NULL)
    return false;
  const coap_remote *remote = &r->request.remote;
  uint64_t hash = key_hash(remote, bw->key, bw->key_len);
  representation *old =
      representation_find(s, remote, hash, bw->key, bw->key_len);
  if (old != NULL)
    representation_free(s, old);
  while (s->n_representations >= ctx->config.max_block2_cached)
    representation_free(s,
                        coap__queue_data(coap__queue_head(&s->representations),
                                         representation, link));
  representation *rep = coap__calloc(1, sizeof *rep);
  if (rep == NULL)
    return false;
  coap_message_init(&rep->response);
  rep->key = coap__malloc(bw->key_len);
  if (rep->key == NULL || coap_options_copy(&rep->response.opt, &resp->opt) < 0)
    goto fail;
  /* An owned payload moves over; a borrowed one (the resource's own
   * memory, which may change) is copied. */
  if (resp->payload_buf != NULL && resp->payload == resp->payload_buf) {
    rep->response.payload_buf = resp->payload_buf;
    rep->response.payload_cap = resp->payload_cap;
    rep->response.payload = resp->payload_buf;
    rep->response.payload_len = resp->payload_len;
    resp->payload_buf = NULL;
    resp->payload_cap = 0;
  } else if (coap_message_set_payload(&rep->response, resp->payload,
                                      resp->payload_len) < 0) {
    goto fail;
  }
  rep->response.code = resp->code;
  memcpy(rep->key, bw->key, bw->key_len);
  rep->key_len = bw->key_len;
  rep->hash = hash;
  rep->remote = *remote;
  if (bw->resource != NULL) {
    uint8_t etag[COAP_ETAG_MAX_LENGTH];
    size_t etag_len = 0;
    const uint8_t *sent = NULL;
    size_t sent_len = 0;
    rep->resource = coap_resource_ref(bw->resource);
    rep->generation = coap__observable_generation(bw->resource);
    rep->by_generation =
        coap_observable_resource_observation_count(bw->resource) > 0;
    /* Trusted by ETag only when the resource's own ETag is the one the
     * representation went out with. */
    rep->by_etag = coap__resource_current_etag(bw->resource, &r->request, etag,
                                               &etag_len) == 0 &&
                   coap_options_get_etag(&resp->opt, &sent, &sent_len) == 0 &&
                   sent_len == etag_len && memcmp(sent, etag, etag_len) == 0;
  }
  coap_message_set_payload_borrowed(resp, rep->response.payload,
                                    rep->response.payload_len);
  coap__queue_insert_tail(&s->representations, &rep->link);
  s->n_representations++;
  bw->cached = rep;
  touch(s, &s->representations, &rep->link, &rep->deadline, lifetime(s->ctx));
  return true;
fail:
  coap_message_clear(&rep->response);
  coap__free(rep->key);
  coap__free(rep);
  return false;
}

/* Whether a response block of szx fits a datagram with the options about to
 * be added. */
static bool block_fits(const coap__responder *r, uint8_t szx) {
  size_t overhead = COAP_HEADER_LENGTH + r->request.token_len +
                    coap_options_encoded_size(&r->response.opt) +
                    2 * BLOCK_OPTION_MAX + SIZE_OPTION_MAX + ETAG_OPTION_MAX +
                    1;
  return overhead + coap_block_size(szx) <= r->ctx->config.max_datagram_size;
}

/* The block size for this response: the client's (RFC 7959 §2.4: the
 * server uses the size asked for or a smaller one) or ours, and one whose
 * datagram fits. */
static uint8_t response_szx(const coap__responder *r) {
  uint8_t szx = our_szx(r->ctx);
  if (r->bw.has_block2 && r->bw.block2.szx < szx)
    szx = r->bw.block2.szx;
  while (szx > 0 && !block_fits(r, szx))
    szx--;
  return szx;
}

/*
 * The block size for the block at offset: response_szx, unless the block
 * number counted in that size does not fit 20 bits (a client asking with a
 * larger SZX than ours, far into a large body).  Then the smallest larger
 * size up to the client's whose number fits and whose datagram does
 * (§2.4: any size up to the one asked for); offset, a multiple of the
 * client's size, is a multiple of each.  -1 when there is none.
 */
static int slice_szx(const coap__responder *r, size_t offset) {
  uint8_t szx = response_szx(r);
  if ((offset >> (szx + 4)) < BLOCK_NUM_LIMIT)
    return szx;
  uint8_t asked = r->bw.has_block2 ? r->bw.block2.szx : szx;
  for (uint8_t larger = szx + 1; larger <= asked; larger++)
    if ((offset >> (larger + 4)) < BLOCK_NUM_LIMIT && block_fits(r, larger))
      return larger;
  return -1;
}

/* RFC 7959 §2.4: the block asked for (the first when none was), with M
 * telling whether more follow and Size2 the whole length. */
static void slice(coap__responder *r) {
  coap__responder_blockwise *bw = &r->bw;
  coap_message *resp = &r->response;
  size_t offset = bw->has_block2 ? coap_block_start(&bw->block2) : 0;
  if (offset == 0 && resp->payload_len <= coap_block_size(response_szx(r)))
    return;
  if (offset >= resp->payload_len) {
    /* RFC 7959 names no code for a block past the end; aiocoap answers
     * 4.00 Bad Request ("Block request out of bounds"), and so do we. */
    answer(r, COAP_CODE_BAD_REQUEST, "block out of range");
    return;
  }
  int szx = slice_szx(r, offset);
  if (szx < 0) {
    /* A slice must name its block (§2.4): without Block2 the client would
     * take it for the whole body.  No code fits exactly; as for a block
     * out of range, 4.00. */
    answer(r, COAP_CODE_BAD_REQUEST, "block number out of range");
    return;
  }
  if (bw->cached == NULL) {
    /* RFC 7959 §2.4: an ETag lets the client tell that all blocks come
     * from one representation. */
    if (resp->code == COAP_CODE_CONTENT &&
        !coap_options_has(&resp->opt, COAP_OPT_ETAG) &&
        coap_hashing_etag(NULL, resp) < 0) {
      answer(r, COAP_CODE_INTERNAL_SERVER_ERROR, "out of memory");
      return;
    }
    keep_representation(r);
  }
  size_t total = resp->payload_len;
  size_t len = total - offset;
  if (len > coap_block_size((uint8_t)szx))
    len = coap_block_size((uint8_t)szx);
  coap_block b2 = {.num = (uint32_t)(offset >> (szx + 4)),
                   .more = offset + len < total,
                   .szx = (uint8_t)szx};
  int rc = coap_options_set_block2(&resp->opt, &b2);
  if (rc == 0 && (bw->size2 || b2.num == 0))
    rc = coap_options_set_size2(&resp->opt, (uint32_t)total);
  if (rc < 0) {
    /* Never a slice without its Block2 (or Size2 asked for). */
    answer(r, coap_error_to_code(rc), coap_strerror(rc));
    return;
  }
  coap_message_set_payload_borrowed(resp, resp->payload + offset, len);
}

void coap__responder_blockwise_response(coap__responder *r) {
  coap__responder_blockwise *bw = &r->bw;
  coap_message *resp = &r->response;
  if (!bw->assembly)
    return;
  /* RFC 7252 §5.9.1.3: 2.03 Valid carries no representation to slice or
   * size. */
  if (coap_code_is_successful(resp->code) && resp->code != COAP_CODE_CONTINUE &&
      resp->code != COAP_CODE_VALID) {
    slice(r);
    /* RFC 7959 §4: a request with Size2 asks for the representation's
     * size (slice() already gave it for a sliced one). */
    if (bw->size2 && !coap_options_has(&resp->opt, COAP_OPT_SIZE2))
      coap_options_set_size2(&resp->opt, (uint32_t)resp->payload_len);
  }
  /* RFC 7959 §2.3: the response to the last block names it. */
  if (bw->block1_final) {
    coap_block b1 = bw->block1;
    b1.more = false;
    coap_options_set_block1(&resp->opt, &b1);
  }
}

void coap__responder_blockwise_release(coap__responder *r) {
  coap_resource_unref(r->bw.resource);
  r->bw.resource = NULL;
  size_t keep = r->ctx->config.max_datagram_size;
  coap_message *msgs[2] = {&r->request, &r->response};
  for (size_t i = 0; i < 2; i++) {
    coap_message *m = msgs[i];
    if (m->payload_cap <= keep)
      continue;
    if (m->payload == m->payload_buf) {
      m->payload = NULL;
      m->payload_len = 0;
    }
    coap__free(m->payload_buf);
    m->payload_buf = NULL;
    m->payload_cap = 0;
  }
  coap__responder_blockwise_init(r);
}
