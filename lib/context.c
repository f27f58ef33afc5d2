/*
 * The context (aiocoap.protocol.Context): the shell around the message
 * layer.  It owns the transports (context_transports.c) and the single
 * uv_timer that drives both
 * the message layer's deadlines and the upper layers' (request timeouts),
 * feeds received datagrams in, and routes what comes out: requests to
 * responders, responses and exchange events to requests.
 */
#include "addr-internal.h"
#include "alloc-internal.h"
#include "context-internal.h"
#include "credentials-internal.h"
#include "dump-internal.h"
#include "observation-internal.h"
#include "transports/udp.h"

#include <aiocoap/util.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

void coap_context_config_default(coap_context_config *config) {
  memset(config, 0, sizeof *config);
  coap_transmission_parameters_default(&config->transmission);
  config->token_length = 8;
  config->max_datagram_size = 1500;
  config->batch_size = 32;
  config->dedup_entries = 16384;
  config->max_outgoing_exchanges = 4096;
  config->empty_ack_delay_ms = COAP_EMPTY_ACK_DELAY_MS;
  config->max_body_size = 1u << 20;
  config->block_size_exp = COAP_DEFAULT_BLOCK_SIZE_EXP;
  config->max_block1_reassemblies = 64;
  config->max_block1_reassemblies_per_peer = 4;
  config->block1_idle_timeout_ms = 30000;
  config->max_block2_cached = 32;
  config->max_observers_per_resource = 1024;
  config->max_observers = 65536;
  config->notification_con_interval = 20;
  config->non_rst_entries = 65536;
  config->max_queued_notifications = 16;
  config->reregister_margin_ms = 2000;
  config->log = NULL;
  config->log_level = COAP_LOG_WARNING;
  config->mid_tracking = true;
  config->mid_tracked_peers = 65536;
  config->nstart_counts_non = true;
  config->socket_rcvbuf = COAP_SOCKET_BUFFER_DEFAULT;
  config->socket_sndbuf = COAP_SOCKET_BUFFER_DEFAULT;
  config->max_observers_per_peer = 64;
  config->max_outgoing_per_peer = 256;
  config->nstart_responses = 4;
  config->queue_timeout_ms = 0;
  config->separate_response_timeout_ms = 2 * 93000u;
  config->amplification_factor = 3;
  config->echo_first_response = false;
  config->client_credentials = NULL;
  config->server_credentials = NULL;
  config->dtls_max_sessions = 1024;
  config->dtls_max_handshakes = 64;
  config->dtls_idle_timeout_ms = 300000;
  config->dtls_handshake_timeout_ms = 60000;
  config->dtls_psk_hint = NULL;
  config->dump_to = NULL;
  config->multicast_leisure_ms = COAP_DEFAULT_LEISURE_MS;
  config->multicast_group_size = 0;
  config->multicast_data_rate = 0;
}

void coap_request_params_default(coap_request_params *params) {
  params->handle_blockwise = true;
  params->monitor = NULL;
  params->body_sink = NULL;
  params->body_source = NULL;
}

void coap__context_mm_config(const coap_context_config *config,
                             coap__mm_config *out) {
  memset(out, 0, sizeof *out);
  out->transmission = config->transmission;
  out->dedup_entries = config->dedup_entries;
  out->max_outgoing = config->max_outgoing_exchanges;
  out->empty_ack_delay_ms = config->empty_ack_delay_ms;
  out->max_datagram_size = config->max_datagram_size;
  /* Every observer may be sent a NON: with fewer records than observers, an
   * RST to an early notification (RFC 7641 §3.6) would find nothing. */
  out->non_records = config->non_rst_entries;
  if (out->non_records > 0 && out->non_records < config->max_observers)
    out->non_records = config->max_observers;
  out->mid_tracking = config->mid_tracking;
  out->mid_peers = config->mid_tracked_peers;
  out->nstart_non = config->nstart_counts_non;
  out->max_outgoing_per_peer = config->max_outgoing_per_peer;
  out->nstart_responses = config->nstart_responses;
  out->amplification_factor = config->amplification_factor;
  if (config->queue_timeout_ms == UINT32_MAX)
    out->queue_timeout_ms = 0;
  else if (config->queue_timeout_ms == 0)
    out->queue_timeout_ms = coap_max_transmit_wait_ms(&config->transmission);
  else
    out->queue_timeout_ms = config->queue_timeout_ms;
}

uint64_t coap__context_now(const coap_context *ctx) {
  return uv_now(ctx->loop);
}

/* SipHash of a counter under a random key: tokens must be hard to guess
 * off-path (RFC 7252 §5.3.1), and the hash tables' keys are drawn from here
 * too, so no output may tell the others (one xorshift output gives away
 * its whole state, and with it every key drawn before and after). */
uint64_t coap__context_random(coap_context *ctx) {
  ctx->rng++;
  return coap__siphash(&ctx->rng_key, &ctx->rng, sizeof ctx->rng);
}

void coap__context_log(coap_context *ctx, coap_log_level level, const char *fmt,
                       ...) {
  if (ctx->config.log == NULL || level > ctx->config.log_level)
    return;
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  ctx->config.log(level, line, ctx->config.log_user_data);
}

static void on_timer(uv_timer_t *handle);

void coap__context_flush(coap_context *ctx) {
  for (unsigned i = 0; i < ctx->n_endpoints; i++)
    ctx->endpoints[i]->ops->flush(ctx->endpoints[i]);
}

void coap__context_rearm(coap_context *ctx) {
  if (ctx->shutting_down || ctx->mm == NULL)
    return;
  uint64_t due = coap__mm_next_deadline(ctx->mm);
  uint64_t heap_due = coap__heap_next_deadline(&ctx->timers);
  if (heap_due < due)
    due = heap_due;
  if (due == ctx->timer_due)
    return;
  ctx->timer_due = due;
  if (due == UINT64_MAX) {
    uv_timer_stop(&ctx->timer);
    return;
  }
  uint64_t now = coap__context_now(ctx);
  uv_timer_start(&ctx->timer, on_timer, due > now ? due - now : 0, 0);
}

void coap__context_schedule(coap_context *ctx, coap__timer *timer,
                            uint64_t deadline) {
  /* The heap array only grows here; failing to grow leaves the timer
   * unscheduled, which the next successful schedule call corrects — so
   * preallocate generously instead of failing an exchange. */
  if (coap__heap_schedule(&ctx->timers, &timer->node, deadline) < 0)
    coap__context_log(ctx, COAP_LOG_ERROR, "out of memory scheduling timer");
  coap__context_rearm(ctx);
}

void coap__context_unschedule(coap_context *ctx, coap__timer *timer) {
  coap__heap_remove(&ctx->timers, &timer->node);
}

static void on_timer(uv_timer_t *handle) {
  coap_context *ctx = handle->data;
  uv_update_time(ctx->loop);
  uint64_t now = coap__context_now(ctx);
  ctx->timer_due = UINT64_MAX;
  coap__mm_tick(ctx->mm, now);
  coap__heap_node *node;
  while (!ctx->shutting_down &&
         (node = coap__heap_pop_due(&ctx->timers, now)) != NULL) {
    coap__timer *timer = coap__container_of(node, coap__timer, node);
    timer->cb(timer);
  }
  if (!ctx->shutting_down) {
    coap__context_flush(ctx);
    coap__context_rearm(ctx);
  }
}

/* Transport → message layer. */
static void on_datagram(void *user_data, const uint8_t *data, size_t len,
                        const coap_remote *remote) {
  coap_context *ctx = user_data;
  if (ctx->shutting_down)
    return;
  ctx->stats.datagrams_received++;
  uint64_t now = coap__context_now(ctx);
  /* A secure session's handshake (DTLS cookie exchange, RFC 6347 §4.2.1)
   * has shown that the peer receives at its address: RFC 7252 §11.3's
   * amplification limit has nothing left to guard against. */
  const coap__transport *t = remote->endpoint;
  if (t != NULL && t->ops->secure && !coap__mm_peer_validated(ctx->mm, remote))
    coap__mm_peer_validate(ctx->mm, remote, now);
  coap__mm_recv(ctx->mm, data, len, remote, now);
}

static void on_transport_error(void *user_data, const coap_remote *remote,
                               int err, const char *detail, bool fatal) {
  coap_context *ctx = user_data;
  if (ctx->shutting_down)
    return;
  if (strcmp(coap__remote_scheme(remote), "coap") == 0)
    ctx->stats.icmp_errors++;
  char host[80];
  if (coap_remote_hostinfo(remote, host, sizeof host) < 0)
    strcpy(host, "?");
  coap__context_log(ctx, fatal ? COAP_LOG_INFO : COAP_LOG_DEBUG, "%s://%s: %s%s%s",
                    coap__remote_scheme(remote), host, coap_strerror(err),
                    detail != NULL ? ": " : "", detail != NULL ? detail : "");
  /* The transport decides what ends the exchanges with remote (an
   * unreachable port, a DTLS alert, a closed session) and what leaves
   * retransmission going (Packet Too Big). */
  if (!fatal)
    return;
  coap__requests_fail_all_detail(ctx, remote, err, detail);
  if (coap__addr_is_multicast(&remote->addr.sin6_addr))
    coap__multicast_requests_fail(ctx, remote, err);
  coap__observations_kill(ctx, remote, err);
  coap__mm_kill(ctx->mm, remote, err);
  coap__context_rearm(ctx);
}

static void on_batch_done(void *user_data) {
  coap_context *ctx = user_data;
  if (ctx->shutting_down)
    return;
  coap__context_flush(ctx);
  coap__context_rearm(ctx);
}

const coap__transport_callbacks *coap__context_transport_callbacks(void) {
  static const coap__transport_callbacks callbacks = {
      on_datagram, on_transport_error, on_batch_done};
  return &callbacks;
}

/* Message layer → transport and upper layers.  Every remote the message
 * layer holds came from a transport or from a request, which names its
 * endpoint; one without is plain CoAP (never a secure transport: RFC 7252
 * §9, nothing meant for coaps goes out in the clear). */
static void run_refused(coap__call *call) {
  coap_context *ctx = call->object;
  on_transport_error(ctx, call->arg, (int)call->value,
                     "no secure session with the peer", true);
}

static void release_refused(coap__call *call) {
  coap__free(call->arg);
}

/* A secure transport refused a message for want of a session (it ended,
 * or none was ever set up for a remote the application named): the
 * exchanges with that remote end at once rather than time out.  From the
 * loop, as mm_send runs inside the message layer.  Other refusals (a full
 * queue while the handshake runs) are as a lost datagram: retransmission
 * tries again. */
static void refused_soon(coap_context *ctx, const coap_remote *remote,
                         int err) {
  coap_remote *copy = coap__malloc(sizeof *copy);
  if (copy == NULL)
    return; /* the exchanges time out instead */
  *copy = *remote;
  coap__call call = {.run = run_refused,
                     .release = release_refused,
                     .object = ctx,
                     .arg = copy,
                     .value = err};
  coap__scheduler_call_soon(ctx->scheduler, &call);
}

static void mm_send(void *user_data, const coap_remote *remote,
                    const uint8_t *data, size_t len) {
  coap_context *ctx = user_data;
  coap__transport *t = remote->endpoint;
  if (t == NULL && coap__context_endpoint_for(ctx, "coap", &t) < 0)
    return;
  int rc = t->ops->send(t, remote, data, len);
  if (rc == 0)
    ctx->stats.datagrams_sent++;
  else if (t->ops->secure && rc == COAP_ECREDENTIALS)
    refused_soon(ctx, remote, rc); /* no session: nothing will get through */
}

static void mm_request(void *user_data, coap_message *msg,
                       coap__mm_incoming in) {
  coap__responder_handle_request(user_data, msg, in);
}

static bool mm_response(void *user_data, coap_message *msg) {
  return coap__request_handle_response(user_data, msg);
}

static void mm_validated(void *user_data, const coap_remote *remote) {
  coap__observation_server_peer_validated(user_data, remote);
}

static void mm_event(void *user_data, void *owner, coap__mm_event event,
                     int err) {
  coap__owner_kind kind = *(const coap__owner_kind *)owner;
  if (kind == COAP__OWNER_REQUEST)
    coap__request_handle_event(user_data, owner, event, err);
  else if (kind == COAP__OWNER_SERVER_OBSERVATION)
    coap__observation_server_event(user_data, owner, event, err);
  else if (kind == COAP__OWNER_CLIENT_OBSERVATION)
    coap__observation_client_event(user_data, owner, event, err);
  else if (kind == COAP__OWNER_MULTICAST)
    coap__multicast_request_event(user_data, owner, event, err);
  else
    coap__responder_handle_event(user_data, owner, event, err);
}

/* Bigger buffers only make loss less likely: a failure (none is known on
 * Linux for a socket just opened) is logged, and the context goes on. */
void coap__context_set_socket_buffers(coap_context *ctx, coap__udp6 *socket) {
  uint32_t rcvbuf = 0, sndbuf = 0;
  int rc = coap__udp6_set_buffers(socket, ctx->config.socket_rcvbuf,
                                  ctx->config.socket_sndbuf, &rcvbuf, &sndbuf);
  if (rc < 0) {
    coap__context_log(ctx, COAP_LOG_WARNING, "socket buffers not set: %s",
                      coap_strerror(rc));
    return;
  }
  if (ctx->stats.socket_rcvbuf == 0) { /* the first endpoint's */
    ctx->stats.socket_rcvbuf = rcvbuf;
    ctx->stats.socket_sndbuf = sndbuf;
  }
  /* getsockopt reports twice what was set (socket(7)): less than asked
   * means net.core.rmem_max / wmem_max capped it. */
  bool capped = rcvbuf / 2 < ctx->config.socket_rcvbuf ||
                sndbuf / 2 < ctx->config.socket_sndbuf;
  coap__context_log(ctx, COAP_LOG_INFO,
                    "socket buffers: receive %u, send %u bytes granted "
                    "(asked %u, %u)%s",
                    (unsigned)rcvbuf, (unsigned)sndbuf,
                    (unsigned)ctx->config.socket_rcvbuf,
                    (unsigned)ctx->config.socket_sndbuf,
                    capped ? "; capped by net.core.rmem_max / wmem_max" : "");
}

static void context_free(coap_context *ctx) {
  if (ctx->mm != NULL)
    coap__mm_free(ctx->mm);
  coap__blockwise_server_free(ctx);
  coap__heap_free(&ctx->timers);
  coap__token_map_free(&ctx->tokens);
  coap__responders_shutdown(ctx);
  if (ctx->scheduler != NULL)
    coap__scheduler_release(ctx->scheduler);
  if (ctx->site != NULL)
    coap_site_unref(ctx->site);
  coap_credentials_unref(ctx->client_credentials);
  coap_credentials_unref(ctx->server_credentials);
  coap__free(ctx->dtls_psk_hint);
  coap__dump_close(ctx->dump);
  coap__free(ctx);
}

/* A map of the config's (a reference of ours) or an empty one. */
static int take_credentials(coap_credentials *given, coap_credentials **out) {
  if (given != NULL) {
    *out = coap_credentials_ref(given);
    return 0;
  }
  return coap_credentials_new(out);
}

static int context_create(uv_loop_t *loop, coap_site *site, const char *scheme,
                          const struct sockaddr_in6 *bind_addr,
                          const coap_context_config *config,
                          coap_context **out) {
  *out = NULL;
  /* Thread-safe and idempotent: readies libsodium's randombytes, which
   * keys the RNG and the hash tables below. */
  if (sodium_init() < 0)
    return COAP_ENOMEM;
  coap_context *ctx = coap__calloc(1, sizeof *ctx);
  if (ctx == NULL)
    return COAP_ENOMEM;
  ctx->loop = loop;
  /* The context's own reference: a callback that lets go of the site
   * while a request is being served frees nothing under it. */
  if (site != NULL)
    ctx->site = coap_site_ref(site);
  if (config != NULL)
    ctx->config = *config;
  else
    coap_context_config_default(&ctx->config);
  if (ctx->config.token_length < 1 || ctx->config.token_length > 8 ||
      ctx->config.transmission.nstart < 1 || ctx->config.batch_size < 1 ||
      ctx->config.max_datagram_size < 64) {
    context_free(ctx);
    return COAP_EINVAL;
  }
  ctx->timer_due = UINT64_MAX;
  coap__heap_init(&ctx->timers);
  coap__token_map_init(&ctx->tokens);
  coap__queue_init(&ctx->requests);
  coap__queue_init(&ctx->multicast_requests);
  coap__queue_init(&ctx->responders);
  coap__queue_init(&ctx->responder_pool);
  coap__hash_key_random(&ctx->rng_key);
  coap__hash_key_random(&ctx->echo_key);

  int rc = take_credentials(ctx->config.client_credentials,
                            &ctx->client_credentials);
  if (rc == 0)
    rc = take_credentials(ctx->config.server_credentials,
                          &ctx->server_credentials);
  /* The config keeps no borrowed pointers past creation. */
  ctx->config.client_credentials = NULL;
  ctx->config.server_credentials = NULL;
  ctx->config.dtls_psk_hint = NULL;
  if (rc == 0 && config != NULL && config->dtls_psk_hint != NULL) {
    ctx->dtls_psk_hint = coap__strdup(config->dtls_psk_hint);
    if (ctx->dtls_psk_hint == NULL)
      rc = COAP_ENOMEM;
  }
  ctx->config.dtls_psk_hint = ctx->dtls_psk_hint;
  /* Before the first endpoint, so that it is recorded from its start; the
   * path is only needed now (libpcap holds the open file). */
  ctx->config.dump_to = NULL;
  if (rc == 0 && config != NULL && config->dump_to != NULL)
    rc = coap__dump_open(config->dump_to, &ctx->dump);
  if (rc < 0)
    goto fail;
  rc = coap__scheduler_acquire(loop, &ctx->scheduler);
  if (rc < 0)
    goto fail;
  coap__mm_config mmc;
  coap__context_mm_config(&ctx->config, &mmc);
  static const coap__mm_callbacks mm_callbacks = {
      mm_send, mm_request, mm_response, mm_event, mm_validated};
  rc = coap__mm_new(&mmc, &mm_callbacks, ctx, coap__context_random(ctx),
                    &ctx->mm);
  if (rc < 0)
    goto fail;
  rc = coap__context_open_endpoint(ctx, scheme, bind_addr, site != NULL, NULL,
                                   NULL, 0);
  if (rc < 0)
    goto fail;
  uv_timer_init(loop, &ctx->timer);
  ctx->timer.data = ctx;
  *out = ctx;
  return 0;
fail:
  context_free(ctx);
  return rc;
}

int coap_context_create_client_context(uv_loop_t *loop,
                                       const coap_context_config *config,
                                       coap_context **out) {
  if (loop == NULL || out == NULL)
    return COAP_EINVAL;
  struct sockaddr_in6 any = {.sin6_family = AF_INET6,
                             .sin6_addr = IN6ADDR_ANY_INIT};
  return context_create(loop, NULL, "coap", &any, config, out);
}

int coap_context_create_server_context(uv_loop_t *loop, coap_site *site,
                                       const char *bind,
                                       const coap_context_config *config,
                                       coap_context **out) {
  if (loop == NULL || out == NULL)
    return COAP_EINVAL;
  struct sockaddr_in6 addr;
  const char *scheme;
  int rc = coap__context_parse_bind(bind != NULL ? bind : "[::]:5683",
                                    &scheme, &addr);
  if (rc < 0)
    return rc;
  return context_create(loop, site, scheme, &addr, config, out);
}

uv_loop_t *coap_context_loop(const coap_context *ctx) {
  return ctx->loop;
}

coap_context *coap_message_context(const coap_message *msg) {
  if (msg == NULL || msg->remote.endpoint == NULL)
    return NULL;
  return ((const coap__transport *)msg->remote.endpoint)->user_data;
}

int coap_context_local_address(const coap_context *ctx,
                               struct sockaddr_in6 *out) {
  if (ctx->shutting_down || ctx->n_endpoints == 0)
    return COAP_ESHUTDOWN;
  return ctx->endpoints[0]->ops->local_address(ctx->endpoints[0], out);
}

size_t coap_context_kill_transactions(coap_context *ctx,
                                      const coap_remote *remote, int err) {
  if (ctx->shutting_down)
    return 0;
  if (err >= 0)
    err = COAP_EKILLED;
  size_t n = coap__requests_fail_all(ctx, remote, err);
  coap__observations_kill(ctx, remote, err);
  coap__mm_kill(ctx->mm, remote, err);
  coap__context_rearm(ctx);
  return n;
}

void coap_context_get_stats(const coap_context *ctx, coap_context_stats *out) {
  *out = ctx->stats;
  if (!ctx->shutting_down) {
    out->kernel_drops = 0;
    for (unsigned i = 0; i < ctx->n_endpoints; i++)
      out->kernel_drops +=
          ctx->endpoints[i]->ops->kernel_drops(ctx->endpoints[i]);
  }
  if (ctx->mm != NULL) {
    coap__mm_stats s;
    coap__mm_get_stats(ctx->mm, &s);
    out->malformed_dropped = s.malformed;
    out->duplicates = s.duplicates;
    out->retransmissions = s.retransmissions;
    out->rst_sent = s.rst_sent;
    out->separate_responses = s.separate_responses;
    out->dedup_evictions = s.dedup_evictions;
    out->mid_waits = s.mid_waits;
    out->queue_expired = s.queue_expired;
    out->peer_outgoing_limited = s.peer_limited;
    out->amplification_limited = s.amplification_limited;
    out->multicast_ignored = s.multicast_ignored;
  }
}

static void finish_shutdown(coap__call *call) {
  coap_context *ctx = call->object;
  coap_context_shutdown_cb cb = ctx->shutdown_cb;
  void *data = ctx->shutdown_data;
  /* Every socket is closed: the dump is whole before anyone hears of it. */
  coap__dump_close(ctx->dump);
  ctx->dump = NULL;
  if (cb != NULL)
    cb(ctx, data);
  context_free(ctx);
}

/* Once the handles are closed, the callback and the free are queued behind
 * every callback the shutdown caused (errbacks, failed futures, monitor
 * calls): those still find the context, and anything they ask of it fails
 * with COAP_ESHUTDOWN. */
static void maybe_finish_shutdown(coap_context *ctx) {
  if (ctx->closing > 0)
    return;
  coap__call call = {.run = finish_shutdown, .object = ctx};
  if (coap__scheduler_call_soon(ctx->scheduler, &call) < 0)
    finish_shutdown(&call);
}

static void on_timer_closed(uv_handle_t *handle) {
  coap_context *ctx = handle->data;
  ctx->closing--;
  maybe_finish_shutdown(ctx);
}

static void on_transport_closed(void *user_data) {
  coap_context *ctx = user_data;
  ctx->closing--;
  maybe_finish_shutdown(ctx);
}

void coap_context_shutdown(coap_context *ctx, coap_context_shutdown_cb cb,
                           void *user_data) {
  if (ctx == NULL || ctx->shutting_down)
    return;
  /* From here on new requests fail at once with COAP_ESHUTDOWN.  The
   * message layer lives until the context is freed, so failing the
   * requests still cancels their messages in it. */
  ctx->shutting_down = true;
  coap__requests_fail_all(ctx, NULL, COAP_ESHUTDOWN);
  coap__multicast_requests_shutdown(ctx);
  coap__responders_shutdown(ctx);
  coap__observations_shutdown(ctx);
  coap__blockwise_server_free(ctx);
  ctx->shutdown_cb = cb;
  ctx->shutdown_data = user_data;
  /* The stats outlive the sockets: keep their last drop counts. */
  ctx->stats.kernel_drops = 0;
  for (unsigned i = 0; i < ctx->n_endpoints; i++)
    ctx->stats.kernel_drops +=
        ctx->endpoints[i]->ops->kernel_drops(ctx->endpoints[i]);
  ctx->closing = 1 + (int)ctx->n_endpoints;
  uv_timer_stop(&ctx->timer);
  uv_close((uv_handle_t *)&ctx->timer, on_timer_closed);
  unsigned n = ctx->n_endpoints;
  ctx->n_endpoints = 0;
  for (unsigned i = 0; i < n; i++)
    ctx->endpoints[i]->ops->close(ctx->endpoints[i], on_transport_closed);
}
