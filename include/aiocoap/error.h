/*
 * aiocoap-c — error codes (aiocoap.error).
 *
 * Every function that can fail returns a negative COAP_E* code.  System errors
 * are -errno (as libuv's UV_E* are); protocol errors have codes of their own
 * below -1000, so the two never collide.
 */
#ifndef AIOCOAP_ERROR_H
#define AIOCOAP_ERROR_H

#include "common.h"

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum coap_error {
  COAP_OK = 0,

  /* System and argument errors: -errno. */
  COAP_EINVAL = -EINVAL,
  COAP_ENOMEM = -ENOMEM,
  COAP_ENOSPC = -ENOSPC, /* output buffer too small */
  COAP_ENOENT = -ENOENT, /* option or item not present */
  COAP_ERANGE = -ERANGE, /* value does not fit the option's length */
  COAP_EAGAIN = -EAGAIN,
  COAP_ECANCELED = -ECANCELED,
  COAP_ETIMEDOUT = -ETIMEDOUT,
  COAP_ECONNREFUSED = -ECONNREFUSED, /* ICMP port unreachable */
  COAP_EHOSTUNREACH = -EHOSTUNREACH, /* ICMP host unreachable */
  COAP_ENETUNREACH = -ENETUNREACH,
  COAP_EADDRINUSE = -EADDRINUSE,
  COAP_EMSGSIZE = -EMSGSIZE,
  COAP_EADDRNOTAVAIL = -EADDRNOTAVAIL, /* no such local address to bind */
  COAP_EACCES = -EACCES,               /* permission denied (a port < 1024) */
  COAP_ENODEV = -ENODEV, /* an IPv6 zone id names no interface here */
  COAP_ENOTSUP = -ENOTSUP, /* not built in (a library left out at build) */

  /* Message decoding (RFC 7252 §3), one code for each malformation. */
  COAP_EDECODE_SHORT = -1001,         /* fewer than 4 bytes */
  COAP_EDECODE_VERSION = -1002,       /* version field is not 1 */
  COAP_EDECODE_TOKEN_LENGTH = -1003,  /* TKL 9..15 */
  COAP_EDECODE_TRUNCATED = -1004,     /* token or option runs past the end */
  COAP_EDECODE_NIBBLE15 = -1005,      /* delta/length 15 not a payload marker */
  COAP_EDECODE_EMPTY_PAYLOAD = -1006, /* payload marker, no payload after it */
  COAP_EDECODE_EMPTY_MESSAGE = -1007, /* 0.00 with token, options or payload */
  COAP_EDECODE_OPTION_NUMBER = -1008, /* option number above 65535 */

  /* URIs. */
  COAP_EURI = -1020,        /* malformed URI */
  COAP_EURI_SCHEME = -1021, /* scheme not coap, coaps, coap+tcp, ... */

  /* Exchanges. */
  COAP_ESHUTDOWN = -1040, /* the context was shut down */
  COAP_ERESET = -1041,    /* the peer answered with RST */
  COAP_EKILLED = -1042,   /* kill_transactions (CommunicationKilled) */
  COAP_ERESOLVE = -1043,  /* the host name did not resolve */
  COAP_ERESPONSE = -1044, /* unsuccessful response (ResponseWrappingError) */
  COAP_ENOT_OBSERVABLE = -1045,        /* NotObservable */
  COAP_EOBSERVATION_CANCELLED = -1046, /* ObservationCancelled */
  COAP_ERESOURCE_CHANGED =
      -1047, /* ETag changed during Block2 (ResourceChanged) */
  COAP_EUNEXPECTED_BLOCK1 = -1048, /* UnexpectedBlock1Option */
  COAP_EUNEXPECTED_BLOCK2 = -1049, /* UnexpectedBlock2 */
  COAP_EMISSING_BLOCK2 = -1050,    /* MissingBlock2Option */
  COAP_ELIMIT = -1051,             /* a configured limit was reached */
  /* A response carried a critical option the client does not implement
   * (RFC 7252 §5.4.1: the response is rejected). */
  COAP_EBAD_RESPONSE_OPTION = -1052,
  /* The request carried No-Response (RFC 7967) and no answer came that it
   * let through: either every class it could get was suppressed and the
   * request is over as soon as it is sent (NON) or acknowledged (CON), or
   * only some were and nothing arrived within the wait.  Not a failure of
   * the exchange: the server did as asked, as far as the client can tell. */
  COAP_ENORESPONSE = -1053,
  /* A multicast request's responses are all in: its time is up
   * (aiocoap's StopAsyncIteration on MulticastRequest.responses).  Not a
   * failure; the end of the iteration. */
  COAP_EDONE = -1054,

  /* Secure transports (DTLS, later TLS).  The transport's reason (the
   * alert's name, the check that failed) goes to the log and to
   * coap_request_error_detail. */
  COAP_ECREDENTIALS = -1060,     /* no credentials match, or they are bad */
  COAP_EHANDSHAKE = -1061,       /* the handshake failed or timed out */
  COAP_EALERT = -1062,           /* the peer sent a fatal alert */
  COAP_ECERTIFICATE = -1063,     /* the peer's certificate did not verify */
  COAP_ESESSION_CLOSED = -1064,  /* the secure session ended (closed, idle) */

  /* aiocoap's renderable errors: a resource fails its render future with one
   * and the server answers with the matching code (coap_error_to_code). */
  COAP_EBAD_REQUEST = -1100,               /* BadRequest, 4.00 */
  COAP_EUNAUTHORIZED = -1101,              /* Unauthorized, 4.01 */
  COAP_EBAD_OPTION = -1102,                /* BadOption, 4.02 */
  COAP_EFORBIDDEN = -1103,                 /* Forbidden, 4.03 */
  COAP_ENOT_FOUND = -1104,                 /* NotFound, 4.04 */
  COAP_EMETHOD_NOT_ALLOWED = -1105,        /* MethodNotAllowed, 4.05 */
  COAP_ENOT_ACCEPTABLE = -1106,            /* NotAcceptable, 4.06 */
  COAP_EREQUEST_ENTITY_INCOMPLETE = -1108, /* 4.08 */
  COAP_ECONFLICT = -1109,                  /* 4.09 */
  COAP_EPRECONDITION_FAILED = -1112,       /* 4.12 */
  COAP_EREQUEST_ENTITY_TOO_LARGE = -1113,  /* 4.13 */
  COAP_EUNSUPPORTED_MEDIA_TYPE = -1115,    /* UnsupportedMediaType, 4.15 */
  COAP_EUNPROCESSABLE_ENTITY = -1122,      /* 4.22 */
  COAP_EINTERNAL_SERVER_ERROR = -1150,     /* 5.00 */
  COAP_ENOT_IMPLEMENTED = -1151,           /* NotImplemented, 5.01 */
  COAP_ESERVICE_UNAVAILABLE = -1153,       /* 5.03 */
  COAP_EPROXYING_NOT_SUPPORTED = -1155     /* 5.05 */
} coap_error;

/*
 * A short English description of err ("token length 9..15", "not found").
 * Any int is accepted; an unknown one gives "unknown error".  Static storage.
 */
AIOCOAP_EXTERN const char *coap_strerror(int err);

/* The symbolic name of err ("COAP_EDECODE_SHORT"); static storage. */
AIOCOAP_EXTERN const char *coap_err_name(int err);

/*
 * The response code a server sends when rendering fails with err: the
 * renderable errors map to their codes, COAP_EINVAL to 4.00, COAP_ENOENT to
 * 4.04, and everything else to 5.00 Internal Server Error.
 */
AIOCOAP_EXTERN uint8_t coap_error_to_code(int err);

/* The renderable error for a 4.xx/5.xx code, or COAP_ERESPONSE for others. */
AIOCOAP_EXTERN int coap_error_from_code(uint8_t code);

/* True when err is one of the renderable errors above. */
AIOCOAP_EXTERN int coap_error_is_renderable(int err);

#ifdef __cplusplus
}
#endif

#endif
