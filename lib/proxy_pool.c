/*
 * aiocoap's ProxyWithPooledObservations: clients observing the same
 * upstream resource through the proxy share one upstream observation.
 *
 * An entry is one upstream observation, keyed by its destination and its
 * cache key (RFC 7252 §5.6, Observe and Hop-Limit left out, since clients
 * reach it with different ones).  It is referenced by the pool while it is
 * there, by each client, and by its first response's callback; it leaves
 * the pool when the last client leaves (the upstream observation is then
 * cancelled, RFC 7641 §3.6) or when the upstream observation ends.
 */
#include "alloc-internal.h"
#include "message-internal.h"
#include "proxy-internal.h"
#include "queue.h"

#include <string.h>

struct coap__proxy_pool {
  coap__queue entries;
  size_t n_entries;
  size_t n_clients;
};

typedef struct pool_entry {
  coap__queue link;
  coap__proxy_pool *pool; /* NULL once out of the pool */
  coap_proxy *proxy;      /* valid while in the pool */
  coap_context *ctx;      /* the outgoing context of the observation */
  unsigned refs;
  uint8_t *key;
  size_t key_len;
  coap_request *upstream;
  coap_observation *obs; /* borrowed from upstream */
  coap_message *latest;  /* what a client joining now is answered */
  coap_server_observation **clients;
  size_t n_clients, cap_clients;
  coap_future **waiters; /* registrations waiting for the first response */
  size_t n_waiters;
} pool_entry;

int coap__proxy_pool_new(coap__proxy_pool **out) {
  coap__proxy_pool *pool = coap__calloc(1, sizeof *pool);
  if (pool == NULL)
    return COAP_ENOMEM;
  coap__queue_init(&pool->entries);
  *out = pool;
  return 0;
}

static coap_message *copy_of(const coap_message *m);

/* Answers every registration waiting for the first response with a copy
 * of m (COAP_ENOMEM when m is NULL or cannot be copied) and forgets them. */
static void resolve_waiters(pool_entry *e, const coap_message *m) {
  for (size_t i = 0; i < e->n_waiters; i++) {
    coap_message *c = m != NULL ? copy_of(m) : NULL;
    if (c != NULL)
      coap_future_resolve(e->waiters[i], c, coap_message_free_result);
    else
      coap_future_fail(e->waiters[i], COAP_ENOMEM, NULL, NULL);
    coap_future_unref(e->waiters[i]);
  }
  coap__free(e->waiters);
  e->waiters = NULL;
  e->n_waiters = 0;
}

/* Registrations still waiting when the entry goes (its first response
 * never came): 5.02, as for any upstream that gave no answer. */
static void fail_waiters(pool_entry *e) {
  coap_message *m = coap__proxy_error_response(COAP_CODE_BAD_GATEWAY,
                                               "upstream observation ended");
  resolve_waiters(e, m);
  coap_message_free(m);
}

static void entry_unref(pool_entry *e) {
  if (--e->refs > 0)
    return;
  /* Also when it ended by itself: what it still has queued for us (an
   * errback) must not fire into a freed entry (aiocoap.h). */
  coap_observation_cancel(e->obs);
  fail_waiters(e);
  coap_request_unref(e->upstream);
  coap_message_free(e->latest);
  coap__free(e->clients);
  coap__free(e->key);
  coap__free(e);
}

/* Takes the entry out of the pool (once): no registration joins it any
 * more, and the pool's reference goes. */
static void entry_leave_pool(pool_entry *e) {
  if (e->pool == NULL)
    return;
  coap__queue_remove(&e->link);
  e->pool->n_entries--;
  e->pool->n_clients -= e->n_clients;
  e->pool = NULL;
  e->proxy = NULL;
  entry_unref(e);
}

void coap__proxy_pool_free(coap__proxy_pool *pool) {
  if (pool == NULL)
    return;
  while (!coap__queue_empty(&pool->entries)) {
    pool_entry *e =
        coap__queue_data(coap__queue_head(&pool->entries), pool_entry, link);
    e->refs++;
    entry_leave_pool(e);
    if (e->obs != NULL && coap_observation_active(e->obs))
      coap_observation_cancel(e->obs);
    entry_unref(e);
  }
  coap__free(pool);
}

size_t coap__proxy_pool_observations(const coap__proxy_pool *pool) {
  return pool->n_entries;
}

size_t coap__proxy_pool_clients(const coap__proxy_pool *pool) {
  return pool->n_clients;
}

/* Options that differ between clients of one upstream resource, or that
 * the contexts make hop by hop. */
static const uint16_t key_ignored[] = {COAP_OPT_OBSERVE, COAP_OPT_HOP_LIMIT,
                                       COAP_OPT_BLOCK1,  COAP_OPT_BLOCK2,
                                       COAP_OPT_SIZE1,   COAP_OPT_SIZE2};
#define N_KEY_IGNORED (sizeof key_ignored / sizeof key_ignored[0])

int coap__proxy_key(const coap_message *msg, uint8_t **key, size_t *len) {
  const char *remote = coap_message_get_unresolved_remote(msg);
  size_t rlen = remote != NULL ? strlen(remote) : 0;
  size_t cap = rlen + 1 + 64;
  for (;;) {
    uint8_t *buf = coap__malloc(cap);
    if (buf == NULL)
      return COAP_ENOMEM;
    if (rlen > 0)
      memcpy(buf, remote, rlen);
    buf[rlen] = 0;
    int n = coap_message_get_cache_key(msg, key_ignored, N_KEY_IGNORED,
                                       buf + rlen + 1, cap - rlen - 1);
    if (n >= 0) {
      *key = buf;
      *len = rlen + 1 + (size_t)n;
      return 0;
    }
    coap__free(buf);
    if (n != COAP_ENOSPC || cap > (1u << 20))
      return n;
    cap *= 4;
  }
}

static pool_entry *find(coap__proxy_pool *pool, const uint8_t *key,
                        size_t len) {
  for (coap__queue *q = pool->entries.next; q != &pool->entries; q = q->next) {
    pool_entry *e = coap__queue_data(q, pool_entry, link);
    if (e->key_len == len && memcmp(e->key, key, len) == 0)
      return e;
  }
  return NULL;
}

/* The upstream request a registration stands for, and its key: 0, or an
 * error when the proxy would not forward it (render then answers it). */
static int upstream_for(coap_proxy *proxy, const coap_message *request,
                        coap_message **msg, uint8_t **key, size_t *len) {
  const char *diag;
  *msg = NULL;
  int rc = coap_message_new(msg);
  if (rc == 0)
    rc = coap_message_copy(*msg, request);
  if (rc == 0)
    rc = coap__proxy_prepare(proxy, *msg, &diag);
  if (rc == 0)
    rc = coap__proxy_key(*msg, key, len);
  if (rc == 0)
    rc = coap_options_set_observe(&(*msg)->opt, 0);
  if (rc != 0) {
    coap_message_free(*msg);
    *msg = NULL;
    return rc < 0 ? rc : COAP_EINVAL;
  }
  return 0;
}

/* A copy for one client (notifications are copied by trigger). */
static coap_message *copy_of(const coap_message *m) {
  coap_message *c = NULL;
  if (coap_message_new(&c) < 0)
    return NULL;
  if (coap_message_copy(c, m) < 0) {
    coap_message_free(c);
    return NULL;
  }
  return c;
}

static void tell_clients(pool_entry *e, const coap_message *m) {
  for (size_t i = 0; i < e->n_clients; i++)
    (void)coap_server_observation_trigger(e->clients[i], m);
}

static void on_notification(coap_observation *obs,
                            const coap_message *notification, void *user_data) {
  (void)obs;
  pool_entry *e = user_data;
  coap_message *m = coap__proxy_translate(notification, 0);
  if (m == NULL)
    return;
  coap_message_free(e->latest);
  e->latest = m;
  tell_clients(e, m);
}

static void on_upstream_ended(coap_observation *obs, int err,
                              const coap_message *response, void *user_data) {
  (void)obs;
  pool_entry *e = user_data;
  if (err == COAP_ESHUTDOWN && e->proxy != NULL)
    coap__proxy_outgoing_gone(e->proxy, e->ctx);
  e->refs++;
  entry_leave_pool(e);
  /* aiocoap: the clients are told with an error notification, which ends
   * their observations (RFC 7641 §4.2). */
  coap_message *m = coap__proxy_translate(response, err);
  if (m != NULL && coap_code_is_successful(m->code)) {
    coap_message_free(m);
    m = coap__proxy_error_response(COAP_CODE_BAD_GATEWAY,
                                   "upstream observation ended");
  }
  if (m != NULL)
    tell_clients(e, m);
  else
    for (size_t i = 0; i < e->n_clients; i++)
      coap_server_observation_deregister(e->clients[i], err);
  coap_message_free(m);
  entry_unref(e);
}

static void on_first(coap_future *f, void *user_data) {
  pool_entry *e = user_data;
  int err = coap_future_error(f);
  coap_message *m = coap__proxy_translate(coap_future_result(f), err);
  if (err == COAP_ESHUTDOWN && e->proxy != NULL)
    coap__proxy_outgoing_gone(e->proxy, e->ctx);
  resolve_waiters(e, m);
  if (m != NULL && e->latest == NULL)
    e->latest = m;
  else
    coap_message_free(m);
  entry_unref(e);
}

static void on_client_gone(coap_server_observation *observation,
                           void *user_data) {
  pool_entry *e = user_data;
  for (size_t i = 0; i < e->n_clients; i++) {
    if (e->clients[i] == observation) {
      e->clients[i] = e->clients[--e->n_clients];
      if (e->pool != NULL)
        e->pool->n_clients--;
      break;
    }
  }
  if (e->n_clients == 0 && e->pool != NULL) {
    /* The last client left: so does the upstream observation. */
    e->refs++;
    entry_leave_pool(e);
    if (e->obs != NULL && coap_observation_active(e->obs))
      coap_observation_cancel(e->obs);
    entry_unref(e);
  }
  entry_unref(e);
}

/* A new entry for msg (taken), in the pool with its upstream request sent;
 * NULL when that fails. */
static pool_entry *entry_new(coap_proxy *proxy, coap_message *msg, uint8_t *key,
                             size_t key_len) {
  coap_context *ctx = proxy->outgoing;
  pool_entry *e = coap__calloc(1, sizeof *e);
  if (e == NULL || ctx == NULL) {
    coap__free(e);
    coap_message_free(msg);
    coap__free(key);
    return NULL;
  }
  e->key = key;
  e->key_len = key_len;
  e->ctx = ctx;
  e->refs = 1;
  int rc = coap_context_request(ctx, msg, NULL, &e->upstream);
  if (rc == COAP_ESHUTDOWN)
    coap__proxy_outgoing_gone(proxy, ctx);
  if (rc == 0) {
    e->obs = coap_request_observation(e->upstream);
    if (e->obs == NULL ||
        coap_observation_register_callback(e->obs, on_notification, e) < 0 ||
        coap_observation_register_errback(e->obs, on_upstream_ended, e) < 0)
      rc = COAP_ENOMEM;
  }
  if (rc == 0) {
    rc = coap_future_add_done_callback(coap_request_response(e->upstream),
                                       on_first, e);
    if (rc == 0)
      e->refs++;
  }
  if (rc < 0) {
    entry_unref(e);
    return NULL;
  }
  e->pool = proxy->pool;
  e->proxy = proxy;
  coap__queue_insert_tail(&proxy->pool->entries, &e->link);
  proxy->pool->n_entries++;
  return e;
}

void coap__proxy_pool_add_observation(coap_proxy *proxy,
                                      const coap_message *request,
                                      coap_server_observation *observation) {
  coap_message *msg;
  uint8_t *key;
  size_t key_len;
  if (upstream_for(proxy, request, &msg, &key, &key_len) < 0)
    return; /* not accepted: render answers it */
  pool_entry *e = find(proxy->pool, key, key_len);
  if (e != NULL) {
    coap_message_free(msg);
    coap__free(key);
  } else if ((e = entry_new(proxy, msg, key, key_len)) == NULL) {
    return;
  }
  if (e->n_clients == e->cap_clients) {
    size_t cap = e->cap_clients ? e->cap_clients * 2 : 4;
    coap_server_observation **grown =
        coap__realloc(e->clients, cap * sizeof e->clients[0]);
    if (grown == NULL)
      goto unused;
    e->clients = grown;
    e->cap_clients = cap;
  }
  if (coap_server_observation_accept(observation, on_client_gone, e) < 0)
    goto unused;
  e->clients[e->n_clients++] = observation;
  e->refs++;
  proxy->pool->n_clients++;
  return;
unused:
  if (e->n_clients == 0) {
    /* Nobody to serve: the upstream registration goes too. */
    e->refs++;
    entry_leave_pool(e);
    coap_observation_cancel(e->obs);
    entry_unref(e);
  }
}

int coap__proxy_pool_render(coap_proxy *proxy, const coap_message *request,
                            coap_future **later) {
  coap_message *msg;
  uint8_t *key;
  size_t key_len;
  if (upstream_for(proxy, request, &msg, &key, &key_len) < 0)
    return COAP_ENOENT;
  coap_message_free(msg);
  pool_entry *e = find(proxy->pool, key, key_len);
  coap__free(key);
  if (e == NULL || e->ctx == NULL)
    return COAP_ENOENT;
  uv_loop_t *loop = coap_context_loop(e->ctx);
  if (e->latest != NULL) {
    coap_message *c = copy_of(e->latest);
    if (c == NULL)
      return COAP_ENOMEM;
    return coap_future_new_resolved(loop, c, coap_message_free_result, later);
  }
  coap_future **grown =
      coap__realloc(e->waiters, (e->n_waiters + 1) * sizeof e->waiters[0]);
  if (grown == NULL)
    return COAP_ENOMEM;
  e->waiters = grown;
  coap_future *f;
  int rc = coap_future_new(loop, &f);
  if (rc < 0)
    return rc;
  e->waiters[e->n_waiters++] = f;
  *later = coap_future_ref(f);
  return 0;
}
