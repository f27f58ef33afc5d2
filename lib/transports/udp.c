/*
 * The coap transport (transports/udp.h): forwards between transport.h and
 * the socket of udp6.c, naming itself as the endpoint of every remote it
 * reports, and deciding which socket errors end the exchanges with a peer.
 */
#include "transports/udp.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#include <errno.h>

typedef struct udp_transport {
  coap__transport base; /* first: the endpoint pointer is both */
  coap__udp6 *socket;
  void (*closed)(void *user_data);
} udp_transport;

static const coap__transport_ops udp_ops;

static void on_recv(void *user_data, const uint8_t *data, size_t len,
                    const coap_remote *remote) {
  udp_transport *t = user_data;
  coap_remote from = *remote;
  from.endpoint = &t->base;
  t->base.callbacks.recv(t->base.user_data, data, len, &from);
}

/* A port, host or network unreachable (or a send the kernel refuses for
 * good) says the peer cannot be reached now: its exchanges end at once
 * instead of after MAX_TRANSMIT_WAIT of retransmissions.  Other errors
 * (Packet Too Big gives EMSGSIZE) say nothing of the peer being gone. */
static bool unreachable(int err) {
  return err == COAP_ECONNREFUSED || err == COAP_EHOSTUNREACH ||
         err == COAP_ENETUNREACH || err == COAP_EACCES || err == -EHOSTDOWN ||
         err == COAP_EADDRNOTAVAIL || err == -EPERM || err == -EAFNOSUPPORT;
}

static void on_error(void *user_data, const coap_remote *remote, int err) {
  udp_transport *t = user_data;
  if (t->base.callbacks.error == NULL)
    return;
  coap_remote to = *remote;
  to.endpoint = &t->base;
  t->base.callbacks.error(t->base.user_data, &to, err, NULL, unreachable(err));
}

static void on_batch_done(void *user_data) {
  udp_transport *t = user_data;
  if (t->base.callbacks.batch_done != NULL)
    t->base.callbacks.batch_done(t->base.user_data);
}

int coap__udp_open(uv_loop_t *loop, const struct sockaddr_in6 *bind_addr,
                   uint32_t batch, uint32_t max_datagram,
                   const coap__transport_callbacks *callbacks,
                   void *user_data, coap__transport **out) {
  if (callbacks == NULL || callbacks->recv == NULL || out == NULL)
    return COAP_EINVAL;
  udp_transport *t = coap__calloc(1, sizeof *t);
  if (t == NULL)
    return COAP_ENOMEM;
  t->base.ops = &udp_ops;
  t->base.user_data = user_data;
  t->base.callbacks = *callbacks;
  static const coap__udp6_callbacks socket_callbacks = {on_recv, on_error,
                                                        on_batch_done};
  int rc = coap__udp6_open(loop, bind_addr, &socket_callbacks, t, batch,
                           max_datagram, &t->socket);
  if (rc < 0) {
    coap__free(t);
    return rc;
  }
  *out = &t->base;
  return 0;
}

coap__udp6 *coap__udp_socket(coap__transport *t) {
  return t != NULL && t->ops == &udp_ops ? ((udp_transport *)t)->socket : NULL;
}

static int udp_send(coap__transport *base, const coap_remote *remote,
                    const uint8_t *data, size_t len) {
  return coap__udp6_send(((udp_transport *)base)->socket, remote, data, len);
}

static void udp_flush(coap__transport *base) {
  coap__udp6_flush(((udp_transport *)base)->socket);
}

static int udp_local_address(const coap__transport *base,
                             struct sockaddr_in6 *out) {
  return coap__udp6_local_address(((const udp_transport *)base)->socket, out);
}

static uint64_t udp_kernel_drops(const coap__transport *base) {
  return coap__udp6_kernel_drops(((const udp_transport *)base)->socket);
}

static void socket_closed(void *user_data) {
  udp_transport *t = user_data;
  void (*closed)(void *) = t->closed;
  void *context = t->base.user_data;
  coap__free(t);
  if (closed != NULL)
    closed(context);
}

static void udp_close(coap__transport *base, void (*closed)(void *user_data)) {
  udp_transport *t = (udp_transport *)base;
  t->closed = closed;
  coap__udp6_close(t->socket, socket_closed);
}

static const coap__transport_ops udp_ops = {
    .scheme = "coap",
    .secure = false,
    .prepare = NULL,
    .send = udp_send,
    .flush = udp_flush,
    .local_address = udp_local_address,
    .forget = NULL,
    .socket = coap__udp_socket,
    .kernel_drops = udp_kernel_drops,
    .close = udp_close,
};
