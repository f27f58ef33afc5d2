// aiocoap-c — credentials (aiocoap.credentials): which keys and
// certificates secure which peers.
//
// A credentials map is a list of entries, each a pattern and one
// credential.  A client context looks an outgoing coaps request up by its
// URI: an entry matches when its pattern equals the URI, or ends in "*"
// and the URI starts with what comes before it ("coaps://host/*",
// "coaps://*"); the longest matching pattern wins.  Patterns that start
// with ":" are labels (aiocoap's ":client"): they never match a URI, and a
// server finds them by the identity a client presents (a PSK
// client-identity).
//
// Key material is copied in and zeroed (sodium_memzero) when the map lets
// go of it.  A map is reference counted; a context holds references to the
// maps it uses, so changes made to a map after the context started apply
// to sessions started later.
#ifndef AIOCOAP_CREDENTIALS_H
#define AIOCOAP_CREDENTIALS_H

#include "common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coap_credentials coap_credentials;

/* One credential.  Every member is optional; what is set decides what it
 * can do: psk (with client_identity) for DTLS PSK (RFC 4279), certfile and
 * keyfile (PEM) for an X.509 certificate of our own, cafile (PEM) for
 * verifying the peer's certificate.  insecure_no_verify skips the check of
 * the peer's certificate and name (for tests; never the default). */
typedef struct coap_credential {
  const uint8_t *psk;
  size_t psk_len;
  const uint8_t *client_identity;
  size_t client_identity_len;
  const char *certfile;
  const char *keyfile;
  const char *cafile;
  bool insecure_no_verify;
} coap_credential;

/* An empty map with one reference: 0 or COAP_ENOMEM. */
AIOCOAP_EXTERN int coap_credentials_new(coap_credentials **out);
AIOCOAP_EXTERN coap_credentials *coap_credentials_ref(coap_credentials *c);
/* Drops a reference; the last one zeroes the keys and frees the map.
 * NULL is ignored. */
AIOCOAP_EXTERN void coap_credentials_unref(coap_credentials *c);

/*
 * Adds (or, for a pattern already present, replaces) the entry for pattern;
 * cred is copied.  Returns 0, COAP_ENOMEM, or COAP_EINVAL (empty pattern, a
 * credential with nothing set, a PSK without a client identity on a URI
 * pattern, a keyfile without a certfile or the other way round).
 */
AIOCOAP_EXTERN int coap_credentials_add(coap_credentials *c,
                                        const char *pattern,
                                        const coap_credential *cred);

/* Entries in the map. */
AIOCOAP_EXTERN size_t coap_credentials_count(const coap_credentials *c);

// aiocoap's CredentialsMap.load_from_dict, from JSON text (json, NUL
// terminated) or a file (path), in aiocoap's client-credentials format:
//
//   {"coaps://host/*": {"dtls": {"psk": {"ascii": "secret"},
//                                "client-identity": {"ascii": "me"}}},
//    ":client": {"dtls": {"psk": {"hex": "73656372"},
//                         "client-identity": "me"}},
//    "coaps://other/*": {"x509": {"certfile": "c.pem", "keyfile": "k.pem",
//                                 "cafile": "ca.pem"}}}
//
// Byte strings are {"ascii": "..."}, {"hex": "..."} or a plain string;
// relative file names are taken relative to the file's directory (for
// load_json_file) or the working directory.  Every entry is checked before
// any is added: on error the map is unchanged, and when err is not NULL a
// NUL-terminated reason naming the entry ("coaps://host/*: dtls.psk: hex
// digits expected") is written to err (cap bytes).  Returns 0,
// COAP_ECREDENTIALS (malformed JSON or an entry that is not a credential),
// COAP_ENOENT (no such file), COAP_ENOMEM, or COAP_ENOTSUP when the
// library was built without jansson.
AIOCOAP_EXTERN int coap_credentials_load_json(coap_credentials *c,
                                              const char *json, char *err,
                                              size_t cap);
AIOCOAP_EXTERN int coap_credentials_load_json_file(coap_credentials *c,
                                                   const char *path,
                                                   char *err, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
