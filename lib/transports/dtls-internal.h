/*
 * What the DTLS transport's files share: dtls.c (the endpoint, its session
 * table and timers), dtls_session.c (one peer's SSL: handshake, records,
 * how it ends) and dtls_ssl.c (the OpenSSL contexts, callbacks, cookies
 * and the BIO that turns each record OpenSSL writes into one datagram).
 */
#ifndef AIOCOAP_DTLS_INTERNAL_H
#define AIOCOAP_DTLS_INTERNAL_H

#include "heap.h"
#include "hash-internal.h"
#include "queue.h"
#include "transports/dtls.h"
#include "transports/udp6.h"

#include <openssl/ssl.h>

/* Plaintext held for a session still handshaking (transport ops send):
 * messages and bytes, beyond which send fails with COAP_ELIMIT.  Room for
 * a client that starts 64 requests at once to a new peer (NSTART raised
 * that far, as the benchmarks do); messages beyond are dropped as a lost
 * datagram would be, and retransmitted. */
#define COAP__DTLS_PENDING_MAX 64
#define COAP__DTLS_PENDING_BYTES 65536
/* RFC 4279 §5.3: identities up to 2^16-1 bytes on the wire, but OpenSSL
 * hands them out as C strings of at most PSK_MAX_IDENTITY_LEN (128). */
#define COAP__DTLS_IDENTITY_MAX 256
/* Hosts for SNI and the name check (RFC 1035 §2.3.4 limits names to 253). */
#define COAP__DTLS_HOST_MAX 256
/* RFC 6347 §4.2.1: the cookie is an HMAC over the client's address. */
#define COAP__DTLS_COOKIE_LEN 32
#define COAP__DTLS_COOKIE_ROTATE_MS 60000
/* The path MTU we assume: IPv6's minimum (RFC 8200 §5), as the peers of
 * constrained networks rarely allow more; and the IPv6 + UDP headers. */
#define COAP__DTLS_MTU 1280
#define COAP__DTLS_MTU_OVERHEAD 48

/* Flags beside an alert's description in coap__dtls_session.alert. */
#define COAP__DTLS_ALERT_SET 0x100
#define COAP__DTLS_ALERT_FATAL 0x200

typedef struct coap__dtls coap__dtls;

/* What a BIO of ours writes through and reads from: the transport, the
 * peer and the datagram being fed (NULL once OpenSSL took it). */
typedef struct coap__dtls_link {
  coap__dtls *t;
  coap_remote remote;
  const uint8_t *in;
  size_t in_len;
} coap__dtls_link;

typedef struct coap__dtls_pending {
  uint8_t *data;
  size_t len;
} coap__dtls_pending;

typedef struct coap__dtls_session {
  coap__dtls_link link; /* BIO_get_data of its SSL */
  struct coap__dtls_session *hash_next;
  coap__queue all;       /* t->sessions, or t->dead once it has ended */
  coap__heap_node timer; /* next of: retransmission, handshake, idle */
  uint64_t hash;
  SSL *ssl;
  bool client;
  bool handshaking;
  bool in_table;
  bool ended;  /* on t->dead, waiting for its report and free */
  int end_err; /* what callbacks.error then reports, 0 for nothing */
  char end_detail[128];
  uint64_t started_ms;
  uint64_t active_ms; /* last record sent or received */
  /* An alert OpenSSL reported through the info callback during the last
   * call (its description | COAP__DTLS_ALERT_*), and which way it went. */
  int alert;
  bool alert_sent;
  coap__dtls_pending pending[COAP__DTLS_PENDING_MAX];
  uint32_t n_pending;
  size_t pending_bytes;
  /* Client side: our PSK (zeroed when freed) and identity. */
  uint8_t *psk;
  size_t psk_len;
  char identity[COAP__DTLS_IDENTITY_MAX]; /* the peer's, once known */
} coap__dtls_session;

struct coap__dtls {
  coap__transport base; /* first: a coap__transport * is a coap__dtls * */
  uv_loop_t *loop;
  coap__udp6 *udp;
  coap__dtls_config config;
  SSL_CTX *client_ctx;
  SSL_CTX *server_ctx; /* NULL unless config.listen */
  bool system_cas;     /* client_ctx has the system's CAs loaded */
  /* The one SSL that answers ClientHellos statelessly (DTLSv1_listen);
   * it becomes a session's once a ClientHello carries a valid cookie. */
  SSL *listener;
  coap__dtls_link listener_link;
  BIO_ADDR *listen_peer; /* DTLSv1_listen's out-parameter */
  BIO_METHOD *bio_method;
  uint8_t cookie_secret[2][COAP__DTLS_COOKIE_LEN]; /* now, and before */
  uint64_t cookie_rotated_ms;
  coap__hash_key hash_key;
  coap__dtls_session **buckets;
  uint32_t n_buckets; /* a power of two */
  coap__queue sessions;
  coap__queue dead; /* ended, waiting for their report and free */
  coap__heap heap;
  uv_timer_t timer;
  coap__dtls_stats stats;
  uint8_t *plain; /* SSL_read's buffer, max_datagram bytes */
  bool closing;
  int handles_open;
  void (*closed)(void *user_data);
};

/* dtls_ssl.c */
/* The contexts for t's config: client always, server when listening.
 * 0, COAP_ECREDENTIALS (err says why) or COAP_ENOMEM. */
int coap__dtls_ctx_init(coap__dtls *t, char *err, size_t err_cap);
void coap__dtls_ctx_free(coap__dtls *t);
/* A new SSL on ctx with our BIO reading and writing through link. */
SSL *coap__dtls_ssl_new(SSL_CTX *ctx, coap__dtls_link *link);
/* Points ssl's BIO at another link (the listener's SSL handed to a
 * session). */
void coap__dtls_ssl_relink(SSL *ssl, coap__dtls_link *link);
/* Sets up a client SSL for cred and host (copied where needed into s).
 * 0 or COAP_ECREDENTIALS / COAP_ENOMEM. */
int coap__dtls_ssl_client_setup(coap__dtls_session *s,
                                const coap__credential *cred, const char *host);
/* The session an SSL of ours belongs to, NULL for the listener. */
coap__dtls_session *coap__dtls_session_of(const SSL *ssl);
/* A new cookie secret; the current one becomes the previous. */
void coap__dtls_rotate_cookie_secret(coap__dtls *t);
/* The reason of OpenSSL's latest error, for a detail. */
const char *coap__dtls_ssl_reason(void);

/* dtls_session.c */
coap__dtls_session *coap__dtls_session_new(coap__dtls *t,
                                           const coap_remote *remote);
void coap__dtls_session_free(coap__dtls_session *s);
/* Feeds one datagram (the handshake or records) and delivers plaintext
 * through callbacks.recv. */
void coap__dtls_session_feed(coap__dtls_session *s, const uint8_t *data,
                             size_t len);
/* Drives the handshake on (after creation, after a timeout). */
void coap__dtls_session_handshake(coap__dtls_session *s);
/* Timer due: retransmission, handshake timeout or idle close. */
void coap__dtls_session_timeout(coap__dtls_session *s, uint64_t now);
/* Ends s: out of the table, close_notify when established and
 * send_close, err/detail reported later (err 0: nothing). */
void coap__dtls_session_end(coap__dtls_session *s, int err, const char *detail,
                            bool send_close);
/* Recomputes s's deadline in the heap. */
void coap__dtls_session_reschedule(coap__dtls_session *s);
int coap__dtls_session_write(coap__dtls_session *s, const uint8_t *data,
                             size_t len);

/* dtls.c */
uint64_t coap__dtls_now(const coap__dtls *t);
void coap__dtls_table_remove(coap__dtls *t, coap__dtls_session *s);
/* Arms the timer for the earliest deadline (or at once for ended
 * sessions waiting for their report). */
void coap__dtls_rearm(coap__dtls *t);

#endif
