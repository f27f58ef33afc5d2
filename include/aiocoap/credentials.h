// aiocoap-c — credentials (aiocoap.credentials): which keys and
// certificates secure which peers.
//
// A credentials map is a list of entries, each a pattern and one
// credential.  A client context looks an outgoing coaps request up by its
// URI: an entry matches when its pattern equals the URI, or ends in "*"
// and the URI starts with what comes before it ("coaps://host/*",
// "coaps://*"); a "*" anywhere else is refused.  Of the matching patterns
// the one with the longest literal text wins, and an exact pattern beats a
// wildcard with the same text ("coaps://h/a" beats "coaps://h/a*" for the
// URI "coaps://h/a").  URIs are compared byte for byte, in the form
// coap_message_get_request_uri writes them (RFC 7252 §6.5: the default
// port left out).  Patterns that start with ":" are labels (aiocoap's
// ":client"): they never match a URI, and a server finds them by the
// identity a client presents (a PSK client-identity).
//
// Key material is copied in and zeroed (sodium_memzero) when the map lets
// go of it.  A map is reference counted; a context holds references to the
// maps it uses, so changes made to a map after the context started apply
// to sessions started later.
// (Line comments here: the patterns in them hold "/*".)
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

/* Limits a credential is checked against.  PSK and identity follow what
 * OpenSSL takes (PSK_MAX_PSK_LEN, PSK_MAX_IDENTITY_LEN; RFC 4279 §5.3
 * allows more, no DTLS library here does).  A JSON text or file larger
 * than COAP_CREDENTIALS_JSON_MAX bytes is refused before it is parsed. */
#define COAP_CREDENTIALS_PSK_MAX 512
#define COAP_CREDENTIALS_IDENTITY_MAX 256
#define COAP_CREDENTIALS_JSON_MAX (1024 * 1024)

/* The label of a server's own certificate (aiocoap-server's
 * --tls-server-certificate): a server uses this entry's certfile and
 * keyfile, or when there is none the first entry that has both. */
#define COAP_CREDENTIALS_SERVER_CERTIFICATE ":server-certificate"

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

/* An empty map with one reference, in *out: 0, COAP_ENOMEM, or COAP_EINVAL
 * (out NULL). */
AIOCOAP_EXTERN int coap_credentials_new(coap_credentials **out);
/* Takes a reference; returns c (NULL for NULL). */
AIOCOAP_EXTERN coap_credentials *coap_credentials_ref(coap_credentials *c);
/* Drops a reference; the last one zeroes the keys and frees the map.
 * NULL is ignored. */
AIOCOAP_EXTERN void coap_credentials_unref(coap_credentials *c);

/*
 * Adds (or, for a pattern already present, replaces) the entry for pattern;
 * cred and pattern are borrowed and copied (a replaced entry's keys are
 * zeroed).  Returns 0, COAP_ENOMEM (map unchanged), or COAP_EINVAL (c,
 * pattern or cred NULL, an empty pattern or label ":", a "*" before the
 * end of a URI pattern, a credential with nothing set, a length above the
 * limits or without its pointer, a client identity without a PSK, a PSK
 * without a client identity on a URI pattern (a label may leave it out),
 * a keyfile without a certfile or the other way round, an empty file
 * name).  insecure_no_verify alone is a credential: it tells a client not
 * to check the server it reaches.
 */
AIOCOAP_EXTERN int coap_credentials_add(coap_credentials *c,
                                        const char *pattern,
                                        const coap_credential *cred);

/* Removes pattern's entry, zeroing its keys: 0, COAP_ENOENT (no such
 * entry) or COAP_EINVAL (c or pattern NULL). */
AIOCOAP_EXTERN int coap_credentials_remove(coap_credentials *c,
                                           const char *pattern);

/* Entries in the map; 0 for NULL. */
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
// Each value is an object with exactly one key, "dtls" (both "psk" and
// "client-identity", as aiocoap requires) or "x509" ("certfile" with
// "keyfile", "cafile", "insecure-no-verify": true/false; at least one);
// any other key, aiocoap's "oscore", "tlscert", "any-of" and "all-of"
// included, is an error.  As in aiocoap a value may instead be a string
// naming a label (":client"), which copies that label's credential (from
// the same text or the map), and null removes the entry.  Byte strings are
// {"ascii": "..."} (ASCII only), {"hex": "..."} (pairs of hex digits, '-',
// ' ' and ':' ignored) or a plain string (its UTF-8 bytes); relative file
// names are taken relative to the file's directory (for load_json_file) or
// left as they are (the working directory).  Repeated keys are an error.
// Every entry is checked before any is added: on error the map is
// unchanged, and when err is not NULL (cap > 0) a NUL-terminated reason
// naming the entry ("coaps://host/*: dtls.psk: hex digits expected") is
// written to err, truncated to cap bytes (for a file that cannot be read,
// strerror's text alone); on success err is set to "".
// Returns 0, COAP_EINVAL (c or json/path NULL), COAP_ECREDENTIALS
// (malformed JSON, a text or file above COAP_CREDENTIALS_JSON_MAX, or an
// entry that is not a credential), COAP_ENOENT (no such file), another
// -errno when the file cannot be read, COAP_ENOMEM, or COAP_ENOTSUP when
// the library was built without jansson.  Key bytes the loader copies are
// zeroed after use, the text it read from a file included.
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
