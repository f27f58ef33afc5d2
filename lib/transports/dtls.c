/*
 * The DTLS transport (transports/dtls.h): one udp6 socket carries every
 * session of the endpoint; sessions are found by the peer's address in a
 * hash table keyed with SipHash (a peer picks its address and port, so
 * the buckets must not be predictable); one uv_timer_t drives the heap of
 * the sessions' deadlines.
 *
 * A server answers a ClientHello statelessly with one listening SSL
 * (DTLSv1_listen: HelloVerifyRequest, RFC 6347 §4.2.1) and allocates a
 * session only for a ClientHello that returns a valid cookie, so a flood
 * from spoofed addresses costs no memory.
 */
#include "transports/dtls-internal.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#include <openssl/err.h>
#include <string.h>

/* RFC 6347 §4.1 (record header) and §4.2.2 (handshake header). */
#define RECORD_HEADER_LEN 13
#define CONTENT_HANDSHAKE 22
#define HANDSHAKE_CLIENT_HELLO 1

void coap__dtls_config_default(coap__dtls_config *config) {
  memset(config, 0, sizeof *config);
  config->max_sessions = 1024;
  config->max_handshakes = 64;
  config->idle_timeout_ms = 300000;
  config->handshake_timeout_ms = 60000;
  config->batch = 32;
  config->max_datagram = 1500;
}

uint64_t coap__dtls_now(const coap__dtls *t) {
  return uv_now(t->loop);
}

static coap__dtls *of(const coap__transport *base) {
  return (coap__dtls *)base;
}

static uint64_t addr_hash(const coap__dtls *t, const struct sockaddr_in6 *a) {
  uint8_t
      key[sizeof a->sin6_addr + sizeof a->sin6_port + sizeof a->sin6_scope_id];
  memcpy(key, &a->sin6_addr, sizeof a->sin6_addr);
  memcpy(key + sizeof a->sin6_addr, &a->sin6_port, sizeof a->sin6_port);
  memcpy(key + sizeof a->sin6_addr + sizeof a->sin6_port, &a->sin6_scope_id,
         sizeof a->sin6_scope_id);
  return coap__siphash(&t->hash_key, key, sizeof key);
}

static bool same_peer(const struct sockaddr_in6 *a,
                      const struct sockaddr_in6 *b) {
  return a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id &&
         memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
}

static coap__dtls_session *table_find(const coap__dtls *t,
                                      const struct sockaddr_in6 *addr) {
  uint64_t h = addr_hash(t, addr);
  for (coap__dtls_session *s = t->buckets[h & (t->n_buckets - 1)]; s != NULL;
       s = s->hash_next)
    if (s->hash == h && same_peer(&s->link.remote.addr, addr))
      return s;
  return NULL;
}

static void table_insert(coap__dtls *t, coap__dtls_session *s) {
  s->hash = addr_hash(t, &s->link.remote.addr);
  coap__dtls_session **b = &t->buckets[s->hash & (t->n_buckets - 1)];
  s->hash_next = *b;
  *b = s;
  s->in_table = true;
}

void coap__dtls_table_remove(coap__dtls *t, coap__dtls_session *s) {
  coap__dtls_session **p = &t->buckets[s->hash & (t->n_buckets - 1)];
  while (*p != NULL && *p != s)
    p = &(*p)->hash_next;
  if (*p == s)
    *p = s->hash_next;
  s->hash_next = NULL;
  s->in_table = false;
}

static void on_timer(uv_timer_t *handle);

void coap__dtls_rearm(coap__dtls *t) {
  if (t->closing)
    return;
  uint64_t delay;
  if (!coap__queue_empty(&t->dead)) {
    delay = 0; /* ended sessions are reported from the loop */
  } else {
    uint64_t deadline = coap__heap_next_deadline(&t->heap);
    if (deadline == UINT64_MAX) {
      uv_timer_stop(&t->timer);
      return;
    }
    uint64_t now = coap__dtls_now(t);
    delay = deadline > now ? deadline - now : 0;
  }
  uv_timer_start(&t->timer, on_timer, delay, 0);
}

/* Reports and frees the sessions that ended.  Only from loop callbacks:
 * callbacks.error may call any op, close included. */
static void report_dead(coap__dtls *t) {
  while (!t->closing && !coap__queue_empty(&t->dead)) {
    coap__dtls_session *s =
        coap__queue_data(coap__queue_head(&t->dead), coap__dtls_session, all);
    int err = s->end_err;
    coap_remote remote = s->link.remote;
    char detail[sizeof s->end_detail];
    memcpy(detail, s->end_detail, sizeof detail);
    coap__dtls_session_free(s);
    if (err != 0 && t->base.callbacks.error != NULL)
      t->base.callbacks.error(t->base.user_data, &remote, err,
                              detail[0] != '\0' ? detail : NULL, true);
  }
}

static void on_timer(uv_timer_t *handle) {
  coap__dtls *t = coap__container_of(handle, coap__dtls, timer);
  uint64_t now = coap__dtls_now(t);
  /* What is due now, not what a handler reschedules for now again. */
  for (uint32_t n = t->heap.count; n > 0 && !t->closing; n--) {
    coap__heap_node *node = coap__heap_pop_due(&t->heap, now);
    if (node == NULL)
      break;
    coap__dtls_session_timeout(
        coap__container_of(node, coap__dtls_session, timer), now);
  }
  report_dead(t);
  coap__dtls_rearm(t);
}

/* RFC 6347 §4.2.8: a ClientHello in epoch 0 from a peer that has a
 * session may be that peer starting over. */
static bool is_client_hello(const uint8_t *data, size_t len) {
  return len > RECORD_HEADER_LEN && data[0] == CONTENT_HANDSHAKE &&
         data[3] == 0 && data[4] == 0 &&
         data[RECORD_HEADER_LEN] == HANDSHAKE_CLIENT_HELLO;
}

/* A session for the peer whose ClientHello the listener accepted: the
 * listener's SSL becomes the session's, and a fresh one listens. */
static void accept_session(coap__dtls *t, const coap_remote *remote,
                           coap__dtls_session *old) {
  uint64_t others = t->stats.sessions - (old != NULL ? 1 : 0);
  if (t->stats.handshaking >= t->config.max_handshakes ||
      others >= t->config.max_sessions) {
    t->stats.hellos_dropped++;
    return;
  }
  coap__dtls_session *s = coap__dtls_session_new(t, remote);
  SSL *fresh =
      s != NULL ? coap__dtls_ssl_new(t->server_ctx, &t->listener_link) : NULL;
  if (fresh == NULL) {
    coap__free(s);
    t->stats.hellos_dropped++;
    return;
  }
  /* Only now, with the client's address shown to be its own: RFC 6347
   * §4.2.8 forbids dropping the old association on a bare ClientHello. */
  if (old != NULL)
    coap__dtls_session_end(old, COAP_ESESSION_CLOSED,
                           "peer started a new handshake", false);
  s->ssl = t->listener;
  coap__dtls_ssl_relink(s->ssl, &s->link);
  t->listener = fresh;
  s->handshaking = true;
  t->stats.sessions++;
  t->stats.handshaking++;
  coap__queue_insert_tail(&t->sessions, &s->all);
  table_insert(t, s);
  coap__dtls_session_handshake(s);
}

static void listen_one(coap__dtls *t, const coap_remote *remote,
                       const uint8_t *data, size_t len,
                       coap__dtls_session *old) {
  t->listener_link.remote = *remote;
  t->listener_link.in = data;
  t->listener_link.in_len = len;
  int rc = DTLSv1_listen(t->listener, t->listen_peer);
  ERR_clear_error();
  t->listener_link.in = NULL;
  if (rc == 1)
    accept_session(t, remote, old);
}

static void dispatch(coap__dtls *t, const uint8_t *data, size_t len,
                     const coap_remote *from) {
  if (t->closing)
    return;
  /* Shorter than a record header (RFC 6347 §4.1) holds no record; an
   * empty one would read as end of file to OpenSSL and end the session,
   * so anyone could end any session with one spoofed datagram. */
  if (len < RECORD_HEADER_LEN) {
    t->stats.records_dropped++;
    return;
  }
  coap_remote remote = *from;
  remote.endpoint = t;
  coap__dtls_session *s = table_find(t, &remote.addr);
  bool restart = s != NULL && t->config.listen && !s->client &&
                 !s->handshaking && is_client_hello(data, len);
  if (s != NULL && !restart) {
    /* Replies leave from where the peer's datagrams arrive. */
    s->link.remote.local_addr = remote.local_addr;
    s->link.remote.local_ifindex = remote.local_ifindex;
    s->link.remote.has_local = remote.has_local;
    coap__dtls_session_feed(s, data, len);
    return;
  }
  if (!t->config.listen || !is_client_hello(data, len)) {
    t->stats.records_dropped++;
    return;
  }
  listen_one(t, &remote, data, len, s);
}

static void on_udp_recv(void *user_data, const uint8_t *data, size_t len,
                        const coap_remote *remote) {
  coap__dtls *t = user_data;
  dispatch(t, data, len, remote);
  report_dead(t);
}

static void on_udp_error(void *user_data, const coap_remote *remote, int err) {
  coap__dtls *t = user_data;
  coap__dtls_session *s = table_find(t, &remote->addr);
  /* Also reached from coap__udp6_flush, an op: the end is reported from
   * the timer. */
  if (s != NULL)
    coap__dtls_session_end(s, err, coap_strerror(err), false);
}

static void on_udp_batch_done(void *user_data) {
  coap__dtls *t = user_data;
  report_dead(t);
  if (!t->closing && t->base.callbacks.batch_done != NULL)
    t->base.callbacks.batch_done(t->base.user_data);
}

int coap__dtls_prepare(coap__transport *base, const coap_remote *remote,
                       const coap__credential *cred, const char *host) {
  coap__dtls *t = of(base);
  if (t == NULL || remote == NULL || remote->addr.sin6_family != AF_INET6 ||
      t->closing)
    return COAP_EINVAL;
  if (table_find(t, &remote->addr) != NULL)
    return 0;
  if (cred == NULL)
    return COAP_ECREDENTIALS;
  if (t->stats.sessions >= t->config.max_sessions ||
      t->stats.handshaking >= t->config.max_handshakes)
    return COAP_ELIMIT;
  coap__dtls_session *s = coap__dtls_session_new(t, remote);
  if (s == NULL)
    return COAP_ENOMEM;
  s->link.remote.has_local = false;
  s->client = true;
  s->ssl = coap__dtls_ssl_new(t->client_ctx, &s->link);
  int rc =
      s->ssl != NULL ? coap__dtls_ssl_client_setup(s, cred, host) : COAP_ENOMEM;
  ERR_clear_error();
  if (rc < 0) {
    coap__dtls_session_free(s);
    return rc;
  }
  SSL_set_connect_state(s->ssl);
  s->handshaking = true;
  t->stats.sessions++;
  t->stats.handshaking++;
  coap__queue_insert_tail(&t->sessions, &s->all);
  table_insert(t, s);
  /* The ClientHello goes now; a failure is reported from the loop. */
  coap__dtls_session_handshake(s);
  return 0;
}

static int prepare_op(coap__transport *base, const coap_remote *remote,
                      const struct coap__credential *cred, const char *host) {
  return coap__dtls_prepare(base, remote, cred, host);
}

static int send_op(coap__transport *base, const coap_remote *remote,
                   const uint8_t *data, size_t len) {
  coap__dtls *t = of(base);
  if (t == NULL || remote == NULL || (data == NULL && len > 0) || t->closing)
    return COAP_EINVAL;
  coap__dtls_session *s = table_find(t, &remote->addr);
  if (s == NULL)
    return COAP_ECREDENTIALS;
  return coap__dtls_session_write(s, data, len);
}

static void flush_op(coap__transport *base) {
  coap__dtls *t = of(base);
  if (t != NULL && !t->closing)
    coap__udp6_flush(t->udp);
}

static int local_address_op(const coap__transport *base,
                            struct sockaddr_in6 *out) {
  const coap__dtls *t = of(base);
  if (t == NULL || t->udp == NULL)
    return COAP_EINVAL;
  return coap__udp6_local_address(t->udp, out);
}

static void forget_op(coap__transport *base, const coap_remote *remote) {
  coap__dtls *t = of(base);
  if (t == NULL || remote == NULL || t->closing)
    return;
  coap__dtls_session *s = table_find(t, &remote->addr);
  if (s != NULL)
    coap__dtls_session_end(s, 0, NULL, true);
}

static uint64_t kernel_drops_op(const coap__transport *base) {
  const coap__dtls *t = of(base);
  return t != NULL ? coap__udp6_kernel_drops(t->udp) : 0;
}

static void free_sessions(coap__queue *q) {
  while (!coap__queue_empty(q))
    coap__dtls_session_free(
        coap__queue_data(coap__queue_head(q), coap__dtls_session, all));
}

static void transport_free(coap__dtls *t) {
  free_sessions(&t->sessions);
  free_sessions(&t->dead);
  coap__dtls_ctx_free(t);
  coap_credentials_unref(t->config.server_credentials);
  coap__free((char *)t->config.psk_hint);
  coap__heap_free(&t->heap);
  coap__free(t->buckets);
  coap__free(t->plain);
  coap__free(t);
}

static void part_closed(coap__dtls *t) {
  if (--t->handles_open > 0)
    return;
  void (*closed)(void *) = t->closed;
  void *user_data = t->base.user_data;
  transport_free(t);
  if (closed != NULL)
    closed(user_data);
}

static void udp_closed(void *user_data) {
  coap__dtls *t = user_data;
  t->udp = NULL;
  part_closed(t);
}

static void timer_closed(uv_handle_t *handle) {
  part_closed(coap__container_of((uv_timer_t *)handle, coap__dtls, timer));
}

static void close_op(coap__transport *base, void (*closed)(void *user_data)) {
  coap__dtls *t = of(base);
  if (t == NULL || t->closing)
    return;
  /* close_notify to every established peer (RFC 5246 §7.2.1), queued
   * before the socket's last flush. */
  for (coap__queue *q = coap__queue_head(&t->sessions); q != &t->sessions;
       q = q->next) {
    coap__dtls_session *s = coap__queue_data(q, coap__dtls_session, all);
    if (!s->handshaking)
      (void)SSL_shutdown(s->ssl);
  }
  ERR_clear_error();
  t->closing = true;
  t->closed = closed;
  t->handles_open = 2;
  coap__udp6_close(t->udp, udp_closed);
  uv_close((uv_handle_t *)&t->timer, timer_closed);
}

static const coap__transport_ops dtls_ops = {
    .scheme = "coaps",
    .secure = true,
    .prepare = prepare_op,
    .peer_identity = coap__dtls_peer_identity,
    .send = send_op,
    .flush = flush_op,
    .local_address = local_address_op,
    .forget = forget_op,
    .socket = coap__dtls_udp6,
    .kernel_drops = kernel_drops_op,
    .close = close_op,
};

static uint32_t buckets_for(uint32_t sessions) {
  uint32_t n = 16;
  while (n < sessions && n < (UINT32_C(1) << 24))
    n <<= 1;
  return n;
}

static int config_check(const coap__dtls_config *c) {
  if (c->max_sessions == 0 || c->max_handshakes == 0 ||
      c->idle_timeout_ms == 0 || c->handshake_timeout_ms == 0 ||
      c->batch == 0 || c->max_datagram < 64)
    return COAP_EINVAL;
  return 0;
}

int coap__dtls_open(uv_loop_t *loop, const struct sockaddr_in6 *bind_addr,
                    const coap__dtls_config *config,
                    const coap__transport_callbacks *callbacks, void *user_data,
                    coap__transport **out, char *err, size_t err_cap) {
  if (err != NULL && err_cap > 0)
    err[0] = '\0';
  if (loop == NULL || config == NULL || callbacks == NULL ||
      callbacks->recv == NULL || out == NULL || config_check(config) < 0)
    return COAP_EINVAL;
  if (sodium_init() < 0)
    return COAP_ENOMEM;
  coap__dtls *t = coap__calloc(1, sizeof *t);
  if (t == NULL)
    return COAP_ENOMEM;
  t->base.ops = &dtls_ops;
  t->base.user_data = user_data;
  t->base.callbacks = *callbacks;
  t->loop = loop;
  t->config = *config;
  t->config.server_credentials = NULL;
  t->config.psk_hint = NULL;
  coap__queue_init(&t->sessions);
  coap__queue_init(&t->dead);
  coap__heap_init(&t->heap);
  coap__hash_key_random(&t->hash_key);
  int rc = 0;
  if (config->psk_hint != NULL &&
      (t->config.psk_hint = coap__strdup(config->psk_hint)) == NULL)
    rc = COAP_ENOMEM;
  if (config->server_credentials != NULL)
    t->config.server_credentials =
        coap_credentials_ref(config->server_credentials);
  t->n_buckets = buckets_for(config->max_sessions);
  t->buckets = coap__calloc(t->n_buckets, sizeof *t->buckets);
  t->plain = coap__malloc(config->max_datagram);
  if (rc == 0 && (t->buckets == NULL || t->plain == NULL))
    rc = COAP_ENOMEM;
  if (rc == 0)
    rc = coap__dtls_ctx_init(t, err, err_cap);
  static const coap__udp6_callbacks udp_callbacks = {on_udp_recv, on_udp_error,
                                                     on_udp_batch_done};
  if (rc == 0)
    rc = coap__udp6_open(loop, bind_addr, &udp_callbacks, t, config->batch,
                         config->max_datagram, &t->udp);
  if (rc < 0) {
    transport_free(t);
    return rc;
  }
  uv_timer_init(loop, &t->timer);
  *out = &t->base;
  return 0;
}

void coap__dtls_get_stats(const coap__transport *base, coap__dtls_stats *out) {
  *out = of(base)->stats;
}

int coap__dtls_peer_identity(const coap__transport *base,
                             const coap_remote *remote, char *buf, size_t cap) {
  const coap__dtls *t = of(base);
  if (t == NULL || remote == NULL || buf == NULL)
    return COAP_EINVAL;
  const coap__dtls_session *s = table_find(t, &remote->addr);
  if (s == NULL || s->handshaking)
    return COAP_ENOENT;
  size_t len = strlen(s->identity);
  if (len + 1 > cap)
    return COAP_ENOSPC;
  memcpy(buf, s->identity, len + 1);
  return (int)len;
}

void coap__dtls_inject(coap__transport *base, const uint8_t *data, size_t len,
                       const struct sockaddr_in6 *from) {
  coap__dtls *t = of(base);
  if (t == NULL || from == NULL || (data == NULL && len > 0))
    return;
  coap_remote remote;
  memset(&remote, 0, sizeof remote);
  remote.addr = *from;
  remote.endpoint = t;
  dispatch(t, data, len, &remote);
  report_dead(t);
}

coap__udp6 *coap__dtls_udp6(coap__transport *base) {
  return of(base)->udp;
}

const char *coap__dtls_cipher(const coap__transport *base,
                              const coap_remote *remote) {
  const coap__dtls *t = of(base);
  if (t == NULL || remote == NULL)
    return NULL;
  const coap__dtls_session *s = table_find(t, &remote->addr);
  if (s == NULL || s->handshaking)
    return NULL;
  return SSL_get_cipher_name(s->ssl);
}

void coap__dtls_test_rotate_cookie_secret(coap__transport *base) {
  coap__dtls_rotate_cookie_secret(of(base));
}
