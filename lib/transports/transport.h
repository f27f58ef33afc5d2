/*
 * What every transport is to the context (aiocoap's TransportEndpoint
 * interface): something that carries CoAP messages to and from remotes.
 * The message layer stays sans-I/O and never sees this: the context hands
 * each datagram it makes to the transport its remote names
 * (coap_remote.endpoint), so answers, retransmissions, observations and
 * blockwise follow the transport a request came in on.
 *
 * A transport is a struct whose first member is a coap__transport; the
 * context holds a table of them, one row per endpoint, and routes new
 * requests by the URI's scheme (context_transports.c).  Adding a transport
 * is one ops table and one row in the scheme table.
 */
#ifndef AIOCOAP_TRANSPORT_H
#define AIOCOAP_TRANSPORT_H

#include <aiocoap/message.h>

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct coap__transport coap__transport;
struct coap__credential;
struct coap__udp6;

/* What a transport reports to its context.  Each runs synchronously from
 * the transport's libuv callbacks, never from inside an ops call. */
typedef struct coap__transport_callbacks {
  /* One CoAP message (a datagram, or a decrypted DTLS record); data is
   * borrowed for the call.  remote->endpoint is the transport. */
  void (*recv)(void *user_data, const uint8_t *data, size_t len,
               const coap_remote *remote);
  /* The transport can no longer reach remote (ICMP error, refused send,
   * DTLS alert or handshake failure, session closed): err is a negative
   * COAP_E* code, detail a human-readable reason (an alert's name, the
   * certificate check that failed) or NULL; both are borrowed for the
   * call.  fatal says that every exchange with remote should end now;
   * false is only worth a log line. */
  void (*error)(void *user_data, const coap_remote *remote, int err,
                const char *detail, bool fatal);
  /* After each batch of received datagrams has been delivered (a point
   * to flush). */
  void (*batch_done)(void *user_data);
} coap__transport_callbacks;

typedef struct coap__transport_ops {
  /* The URI scheme this transport serves ("coap", "coaps"). */
  const char *scheme;
  /* True for a transport that secures what it carries: a request for it
   * needs a credential from the client credentials, and none is ever sent
   * by another transport (RFC 7252 §9: a coaps request never goes out in
   * the clear). */
  bool secure;
  /* Before the first request to remote: sets up what the transport needs
   * for it (a DTLS session, with cred, checked against host, the URI's
   * host).  Returns 0 or a negative COAP_E* code.  NULL for transports
   * without sessions. */
  int (*prepare)(coap__transport *t, const coap_remote *remote,
                 const struct coap__credential *cred, const char *host);
  /* Queues one CoAP message for remote.  0 or a negative COAP_E* code
   * (COAP_EMSGSIZE; for a session-based transport, a failure to start the
   * session).  A session-based transport may hold the message until its
   * handshake is done. */
  int (*send)(coap__transport *t, const coap_remote *remote,
              const uint8_t *data, size_t len);
  /* Sends what is queued. */
  void (*flush)(coap__transport *t);
  int (*local_address)(const coap__transport *t, struct sockaddr_in6 *out);
  /* Ends what the transport holds for remote (a DTLS session: close_notify
   * and forget); NULL when it holds nothing per remote. */
  void (*forget)(coap__transport *t, const coap_remote *remote);
  /* The identity remote's peer authenticated with, NUL-terminated into
   * buf: its length, COAP_ENOENT or COAP_ENOSPC.  NULL for transports
   * that authenticate nobody. */
  int (*peer_identity)(const coap__transport *t, const coap_remote *remote,
                       char *buf, size_t cap);
  /* The UDP socket under the transport (for its buffer sizes and the
   * tests' send filters), or NULL. */
  struct coap__udp6 *(*socket)(coap__transport *t);
  /* Datagrams the kernel dropped on the transport's socket(s). */
  uint64_t (*kernel_drops)(const coap__transport *t);
  /* Closes every handle and frees t; closed(user_data) fires from the loop
   * once done. */
  void (*close)(coap__transport *t, void (*closed)(void *user_data));
} coap__transport_ops;

struct coap__transport {
  const coap__transport_ops *ops;
  void *user_data; /* the context */
  coap__transport_callbacks callbacks;
};

/* The scheme of the transport remote belongs to; "coap" when it names
 * none. */
static inline const char *coap__remote_scheme(const coap_remote *remote) {
  const coap__transport *t =
      remote != NULL ? (const coap__transport *)remote->endpoint : NULL;
  return t != NULL ? t->ops->scheme : "coap";
}

#endif
