/*
 * The DTLS 1.2 transport (coaps, RFC 7252 §9.1): one UDP socket (udp6.c)
 * serving every DTLS session of an endpoint, OpenSSL driven through
 * memory BIOs from the loop, sessions looked up by peer address.  Implements
 * transport.h; a remote it reports has endpoint == the transport, and CoAP
 * messages it carries are the sessions' application data.
 */
#ifndef AIOCOAP_DTLS_H
#define AIOCOAP_DTLS_H

#include "credentials-internal.h"
#include <aiocoap/context.h>
#include "transports/transport.h"
#include "transports/udp6.h"

typedef struct coap__dtls_config {
  /* Accept sessions from clients (a server endpoint: cookie exchange,
   * RFC 6347 §4.2.1, before any per-peer state).  A transport always can
   * start sessions of its own (transport ops prepare). */
  bool listen;
  /* Server side: the map whose PSK entries are looked up by the identity a
   * client presents (coap__credentials_for_identity), and whose
   * certificate entry (coap__credentials_certificate) is the server's
   * certificate; with cafile set there, clients must present a certificate
   * signed by it.  A reference is taken; NULL for a client-only
   * transport. */
  coap_credentials *server_credentials;
  /* PSK identity hint sent by a server (RFC 4279 §2), NULL for none. */
  const char *psk_hint;
  /* The application's PSK lookup, asked before server_credentials
   * (coap_dtls_psk_lookup_cb), or NULL. */
  coap_dtls_psk_lookup_cb psk_lookup;
  void *psk_lookup_data;
  /* Sessions held at once (established or handshaking, default 1024),
   * of which at most max_handshakes (default 64) may be handshaking;
   * beyond, a new ClientHello is dropped (after the cookie exchange, which
   * keeps no state) and a new outgoing session fails with COAP_ELIMIT. */
  uint32_t max_sessions;
  uint32_t max_handshakes;
  /* A session with nothing sent or received for this long is closed
   * (close_notify) and forgotten (default 300000 ms). */
  uint32_t idle_timeout_ms;
  /* A handshake not done within this long fails with COAP_EHANDSHAKE
   * (default 60000 ms). */
  uint32_t handshake_timeout_ms;
  /* As udp6: datagrams per recvmmsg/sendmmsg, and the largest datagram. */
  uint32_t batch;
  uint32_t max_datagram;
} coap__dtls_config;

void coap__dtls_config_default(coap__dtls_config *config);

/*
 * Opens the endpoint bound to bind_addr ([::]:0 when NULL).  callbacks and
 * user_data as transport.h says (error reports a session's end: alert,
 * handshake failure, idle close; fatal true).  Returns 0, COAP_EINVAL,
 * COAP_ECREDENTIALS (listen without any usable server credential; err
 * says why when not NULL), COAP_ENOMEM or a socket error.
 */
int coap__dtls_open(uv_loop_t *loop, const struct sockaddr_in6 *bind_addr,
                    const coap__dtls_config *config,
                    const coap__transport_callbacks *callbacks, void *user_data,
                    coap__transport **out, char *err, size_t err_cap);

/*
 * Client side: makes sure a session to remote exists or is being set up,
 * with cred (borrowed for the call: what is needed is copied) and host
 * (the URI's host: SNI, and the name the server's certificate must carry
 * unless cred->insecure_no_verify; an IP literal is checked against the
 * certificate's IP addresses).  Messages sent to remote before the
 * handshake is done are queued and go once it is (and fail with the
 * handshake's error through callbacks.error if it fails).  Returns 0,
 * COAP_ECREDENTIALS (cred NULL or unusable), COAP_ELIMIT, COAP_ENOMEM.
 */
int coap__dtls_prepare(coap__transport *t, const coap_remote *remote,
                       const coap__credential *cred, const char *host);

/*
 * What the ops do beyond transport.h:
 *
 * - send: COAP_ECREDENTIALS when remote has no session (none prepared,
 *   or it ended: nothing goes in the clear); while the session
 *   handshakes, up to 16 messages / 16 KiB are held (COAP_ELIMIT
 *   beyond); COAP_EMSGSIZE above what one record takes at the assumed
 *   path MTU of 1280 (1232 bytes, less the suite's overhead once known);
 *   COAP_ESESSION_CLOSED when the write fails (its end is reported too).
 * - forget: close_notify and the session is gone; nothing is reported.
 * - Every end of a session (alert, handshake failure or timeout,
 *   certificate check, idle close, the peer's close_notify, an ICMP
 *   error, a new handshake from the same peer) reaches callbacks.error
 *   once, fatal, from a loop callback (the socket's or the timer's):
 *   COAP_EALERT (a fatal alert received: "received alert unknown PSK
 *   identity"), COAP_EHANDSHAKE ("handshake timed out", "sent alert
 *   handshake failure", "received alert close notify"),
 *   COAP_ECERTIFICATE (X509_verify_cert_error_string: "hostname
 *   mismatch", "unable to get local issuer certificate"),
 *   COAP_ESESSION_CLOSED ("idle timeout", "close notify", "peer started a
 *   new handshake") or the socket's error.  A wrong PSK draws no alert in
 *   DTLS (RFC 6347 §4.1.2.7 drops the Finished that fails to verify): it
 *   fails at handshake_timeout_ms, unless the peer closes (GnuTLS does).
 */

/* For tests and stats. */
typedef struct coap__dtls_stats {
  uint64_t sessions;        /* held now */
  uint64_t handshaking;     /* of which handshaking */
  uint64_t handshakes_done; /* completed so far */
  uint64_t handshakes_failed;
  uint64_t cookies_sent;   /* HelloVerifyRequests */
  uint64_t hellos_dropped; /* ClientHellos refused at max_handshakes */
  uint64_t idle_closed;
  uint64_t records_dropped; /* undecryptable or for no session */
} coap__dtls_stats;
void coap__dtls_get_stats(const coap__transport *t, coap__dtls_stats *out);

/* The identity the peer of remote authenticated with (PSK identity, or
 * the certificate's subject as text), NUL-terminated into buf; the length,
 * COAP_ENOENT (no established session) or COAP_ENOSPC. */
int coap__dtls_peer_identity(const coap__transport *t,
                             const coap_remote *remote, char *buf, size_t cap);

/* For unit tests and the fuzzer: handles one datagram as if the socket
 * had received it from `from` (no local address), then reports what it
 * ended through callbacks.error, synchronously. */
void coap__dtls_inject(coap__transport *t, const uint8_t *data, size_t len,
                       const struct sockaddr_in6 *from);

/* The cipher suite of the established session with remote (OpenSSL's
 * name, static storage), or NULL. */
const char *coap__dtls_cipher(const coap__transport *t,
                              const coap_remote *remote);

/* For tests: changes the cookie secret now, as happens every minute (a
 * cookie made under the secret before the last change still verifies). */
void coap__dtls_test_rotate_cookie_secret(coap__transport *t);

/* For tests: the socket under t (coap__udp6_set_send_filter on it). */
coap__udp6 *coap__dtls_udp6(coap__transport *t);

#endif
