/*
 * aiocoap-c — the CoAP message (aiocoap.message.Message): fields, wire
 * encoding and decoding (RFC 7252 §3), copy, request URIs, cache keys.
 */
#ifndef AIOCOAP_MESSAGE_H
#define AIOCOAP_MESSAGE_H

#include "common.h"
#include "error.h"
#include "numbers.h"
#include "options.h"

#include <netinet/in.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COAP_TOKEN_MAX_LENGTH 8
#define COAP_HEADER_LENGTH 4

/*
 * The other side of a message: aiocoap's remote.  IPv4 peers appear as
 * v4-mapped IPv6 addresses (::ffff:a.b.c.d).
 */
typedef struct coap_remote {
  /* public */
  struct sockaddr_in6 addr; /* sin6_family is 0 while unset */
  /* read-only: the local address and interface an incoming datagram arrived
   * on (IPV6_PKTINFO); a reply leaves from it. */
  struct in6_addr local_addr;
  uint32_t local_ifindex;
  bool has_local;
  /* private */
  void *endpoint; /* the transport endpoint it belongs to */
} coap_remote;

/* True when remote has an address. */
AIOCOAP_EXTERN bool coap_remote_is_set(const coap_remote *remote);
/* True when a and b name the same peer (address, port, scope). */
AIOCOAP_EXTERN bool coap_remote_equal(const coap_remote *a,
                                      const coap_remote *b);
/*
 * aiocoap's remote.hostinfo: "[::ffff:127.0.0.1]:5683" written NUL-terminated
 * into buf (the zone as %25name for link-local addresses).  Returns the
 * length or COAP_ENOSPC / COAP_EINVAL (unset remote).
 */
AIOCOAP_EXTERN int coap_remote_hostinfo(const coap_remote *remote, char *buf,
                                        size_t cap);

typedef struct coap_message {
  /* public */
  int mtype; /* coap_type; COAP_TYPE_UNSET lets the library choose (managed) */
  int32_t mid;       /* message ID 0..65535, or -1 while unset (managed) */
  uint8_t code;      /* coap_code */
  uint8_t token_len; /* managed on requests */
  uint8_t token[COAP_TOKEN_MAX_LENGTH]; /* managed on requests */
  coap_options opt;
  coap_remote remote; /* managed: filled from the URI or the request */
  /* read-only: set with coap_message_set_payload*.  A decoded message's
   * payload points into the datagram. */
  const uint8_t *payload;
  size_t payload_len;
  /* private */
  uint8_t *payload_buf; /* owned payload storage, payload_cap bytes */
  size_t payload_cap;
  char *unresolved_remote; /* scheme://hostinfo when set_uri_host is false or
                              the host needs resolving; owned */
  char *request_uri;       /* on responses: the request's URI; owned */
  unsigned extra_refs;     /* heap messages shared by several futures */
} coap_message;

/* Initialises an empty message: type unset, mid -1, code 0.  Allocates
 * nothing.  Never fails. */
AIOCOAP_EXTERN void coap_message_init(coap_message *msg);
/* Frees what msg owns and initialises it again. */
AIOCOAP_EXTERN void coap_message_clear(coap_message *msg);

/* Heap-allocated message: 0 or COAP_ENOMEM.  coap_message_free clears and
 * frees it (NULL is ignored). */
AIOCOAP_EXTERN int coap_message_new(coap_message **out);
AIOCOAP_EXTERN void coap_message_free(coap_message *msg);
/* coap_message_free with the signature of coap_future_result_free_cb, for
 * resolving a future with a message: coap_future_resolve(f, msg,
 * coap_message_free_result). */
AIOCOAP_EXTERN void coap_message_free_result(void *message);

/* Sets the token (copied); 0 or COAP_EINVAL when len > 8. */
AIOCOAP_EXTERN int coap_message_set_token(coap_message *msg, const void *token,
                                          size_t len);

/* Copies len bytes into storage msg owns (reused across calls).
 * 0, COAP_EINVAL (data NULL with len > 0) or COAP_ENOMEM. */
AIOCOAP_EXTERN int coap_message_set_payload(coap_message *msg, const void *data,
                                            size_t len);
/* Points the payload at caller memory that outlives msg's use of it. */
AIOCOAP_EXTERN void coap_message_set_payload_borrowed(coap_message *msg,
                                                      const void *data,
                                                      size_t len);
/* Sets a NUL-terminated string as payload (copied). */
AIOCOAP_EXTERN int coap_message_set_payload_string(coap_message *msg,
                                                   const char *text);
/*
 * Makes the payload len bytes of owned storage and returns it for the caller
 * to fill, so a renderer writes straight into the message.  NULL on
 * COAP_ENOMEM.
 */
AIOCOAP_EXTERN uint8_t *coap_message_reserve_payload(coap_message *msg,
                                                     size_t len);

/* The size coap_message_encode needs for msg. */
AIOCOAP_EXTERN size_t coap_message_encoded_size(const coap_message *msg);
/*
 * Writes msg in wire form into buf.  mtype must be set (0..3) and mid 0..65535.
 * Returns the number of bytes written, COAP_ENOSPC when cap is too small
 * (buf[0..cap) may then hold a partial encoding; nothing past cap is
 * written), or COAP_EINVAL (type or mid unset, or an empty message with
 * token, options or payload).
 */
AIOCOAP_EXTERN int coap_message_encode(const coap_message *msg, uint8_t *buf,
                                       size_t cap);
/*
 * Parses a datagram into msg (initialised; its old content is cleared).  The
 * options and payload of msg borrow from data: keep data unchanged while msg
 * is used, or call coap_message_own.  Never reads outside data[0..len).
 * Returns 0 or one of COAP_EDECODE_* (msg is then empty), or COAP_ENOMEM
 * with more than COAP_OPTIONS_INLINE_COUNT options.
 */
AIOCOAP_EXTERN int coap_message_decode(coap_message *msg, const uint8_t *data,
                                       size_t len);
/* Copies whatever msg borrows into storage it owns.  0 or COAP_ENOMEM. */
AIOCOAP_EXTERN int coap_message_own(coap_message *msg);

/*
 * aiocoap's Message.copy: dst (initialised; cleared first) becomes a deep copy
 * of src, owning everything.  Change fields afterwards for the **kwargs.
 * 0 or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_message_copy(coap_message *dst,
                                     const coap_message *src);

/*
 * aiocoap's get_cache_key: a byte string that compares equal for two
 * messages exactly when their code and their cache-key options (RFC 7252
 * §5.4.6, not NoCacheKey and not in ignore[0..n_ignore)) are equal.  Writes it
 * into buf; returns its length or COAP_ENOSPC.
 */
AIOCOAP_EXTERN int coap_message_get_cache_key(const coap_message *msg,
                                              const uint16_t *ignore,
                                              size_t n_ignore, uint8_t *buf,
                                              size_t cap);

/*
 * aiocoap's get_request_uri: the absolute URI the message belongs to,
 * NUL-terminated into buf.  A response gives its request's URI.  For a
 * request: Proxy-Uri if present, else Proxy-Scheme or the unresolved remote's
 * scheme or "coap", the host from Uri-Host, the unresolved remote or the
 * remote address, the port from Uri-Port or the remote unless it is the
 * scheme's default, then the percent-encoded path and query.  Returns the
 * length, COAP_ENOSPC, or COAP_EINVAL when no host is known.
 */
AIOCOAP_EXTERN int coap_message_get_request_uri(const coap_message *msg,
                                                char *buf, size_t cap);

/*
 * aiocoap's set_request_uri: parses uri (coap, coaps, coap+tcp, coaps+tcp,
 * coap+ws, coaps+ws) into Uri-Path and Uri-Query (percent-decoded, '.' and
 * '..' resolved, RFC 3986 §5.2.4) and the destination.  The destination is
 * kept as the message's unresolved remote for the request machinery to
 * resolve.  With set_uri_host, a host that is not an IP literal is also sent
 * as Uri-Host; Uri-Port is never added because the request goes to that port
 * (RFC 7252 §6.4 step 6).  Earlier Uri-* options are replaced.
 * Returns 0, COAP_EURI, COAP_EURI_SCHEME or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_message_set_request_uri(coap_message *msg,
                                                const char *uri,
                                                bool set_uri_host);

/* The unresolved remote ("coap://host:port") or NULL; owned by msg. */
AIOCOAP_EXTERN const char *
coap_message_get_unresolved_remote(const coap_message *msg);
/* Sets it (copied; NULL removes it).  0 or COAP_ENOMEM. */
AIOCOAP_EXTERN int coap_message_set_unresolved_remote(coap_message *msg,
                                                      const char *uri);

/*
 * A one-line description as aiocoap prints a Message:
 * "<coap_message: CON 2.05 Content (MID 51187, token 00008199) remote
 *  [::1]:5683, 2 option(s), 186 byte(s) payload>".  Returns the length of
 * what was written (truncated to fit, always NUL-terminated when cap > 0).
 */
AIOCOAP_EXTERN int coap_message_describe(const coap_message *msg, char *buf,
                                         size_t cap);

#ifdef __cplusplus
}
#endif

#endif
