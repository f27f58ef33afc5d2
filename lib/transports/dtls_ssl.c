/*
 * OpenSSL for the DTLS transport: the two SSL_CTXs (client, server), the
 * PSK and cookie callbacks, the cipher suites, and the BIO through which
 * every SSL of the transport reads the datagram being fed and writes each
 * record flight as one datagram to the udp6 socket.  No socket of
 * OpenSSL's own, so nothing here blocks.  Raw public keys (RFC 7250) are
 * not offered: OpenSSL has them from 3.2 on, Debian bookworm ships 3.0.
 */
#include "transports/dtls-internal.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/*
 * RFC 7252 §9.1.3.1 and §9.1.3.2 make TLS_PSK_WITH_AES_128_CCM_8 and
 * TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 mandatory: they come first, then the
 * other AEAD suites OpenSSL has for PSK and for ECDHE with ECDSA or RSA
 * certificates (RFC 6655, RFC 7251, RFC 5487, RFC 5289).  CBC suites are
 * left out (RFC 7525 §4.2).  OpenSSL 3.0 keeps CCM8 at its default
 * security level (test_dtls_transport checks the suite negotiated), so
 * the level is not lowered.
 */
#define PSK_CIPHERS                                                            \
  "PSK-AES128-CCM8:PSK-AES128-CCM:PSK-AES128-GCM-SHA256:"                      \
  "PSK-AES256-CCM:PSK-AES256-GCM-SHA384"
#define CERT_CIPHERS                                                           \
  "ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES128-CCM:"                            \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-CCM:"                      \
  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"                 \
  "ECDHE-RSA-AES256-GCM-SHA384"
#define ALL_CIPHERS                                                            \
  "PSK-AES128-CCM8:ECDHE-ECDSA-AES128-CCM8:" PSK_CIPHERS ":" CERT_CIPHERS

static void set_err(char *err, size_t cap, const char *fmt, const char *arg) {
  if (err != NULL && cap > 0)
    snprintf(err, cap, fmt, arg != NULL ? arg : "");
}

/* The OpenSSL reason of the latest error, for messages. */
static const char *ssl_reason(void) {
  const char *r = ERR_reason_error_string(ERR_peek_last_error());
  return r != NULL ? r : "unknown error";
}

static coap__dtls_link *link_of(const SSL *ssl) {
  BIO *bio = SSL_get_rbio(ssl);
  return bio != NULL ? BIO_get_data(bio) : NULL;
}

coap__dtls_session *coap__dtls_session_of(const SSL *ssl) {
  coap__dtls_link *link = link_of(ssl);
  if (link == NULL || link == &link->t->listener_link)
    return NULL;
  return coap__container_of(link, coap__dtls_session, link);
}

static int bio_write(BIO *bio, const char *data, int len) {
  coap__dtls_link *link = BIO_get_data(bio);
  BIO_clear_retry_flags(bio);
  if (link == NULL || len < 0)
    return -1;
  if (link->t->closing && link->t->udp == NULL)
    return len;
  /* A datagram the ring cannot take is lost as the network would lose it;
   * DTLS retransmits handshake flights (RFC 6347 §4.2.4), CoAP its
   * messages. */
  (void)coap__udp6_send(link->t->udp, &link->remote, (const uint8_t *)data,
                        (size_t)len);
  return len;
}

static int bio_read(BIO *bio, char *out, int cap) {
  coap__dtls_link *link = BIO_get_data(bio);
  BIO_clear_retry_flags(bio);
  if (link == NULL || link->in == NULL || cap < 0) {
    BIO_set_retry_read(bio);
    return -1;
  }
  /* One datagram per read, as a datagram socket gives it; what does not
   * fit OpenSSL's buffer (larger than any record) is dropped. */
  size_t n = link->in_len < (size_t)cap ? link->in_len : (size_t)cap;
  memcpy(out, link->in, n);
  link->in = NULL;
  link->in_len = 0;
  return (int)n;
}

static long data_mtu(const coap__dtls_link *link) {
  long mtu = COAP__DTLS_MTU - COAP__DTLS_MTU_OVERHEAD;
  long max = (long)link->t->config.max_datagram;
  return max < mtu ? max : mtu;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
  coap__dtls_link *link = BIO_get_data(bio);
  (void)num;
  switch (cmd) {
  case BIO_CTRL_DGRAM_QUERY_MTU:
  case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
    /* What a record may take of a datagram (bss_dgram.c answers the
     * path MTU minus the IP and UDP headers too). */
    return link != NULL ? data_mtu(link) : 0;
  case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
    return COAP__DTLS_MTU_OVERHEAD;
  case BIO_CTRL_DGRAM_SET_MTU:
    return num;
  case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
    /* The transport asks DTLSv1_get_timeout after every call instead. */
    return 1;
  case BIO_CTRL_DGRAM_GET_PEER:
    /* DTLSv1_listen asks for the peer of the datagram it read. */
    if (link == NULL || ptr == NULL)
      return 0;
    if (!BIO_ADDR_rawmake(ptr, AF_INET6, &link->remote.addr.sin6_addr,
                          sizeof link->remote.addr.sin6_addr,
                          link->remote.addr.sin6_port))
      return 0;
    return (long)sizeof(struct sockaddr_in6);
  case BIO_CTRL_DGRAM_SET_PEER:
  case BIO_CTRL_DGRAM_SET_CONNECTED:
  case BIO_CTRL_FLUSH:
    return 1;
  case BIO_CTRL_WPENDING:
  case BIO_CTRL_PENDING:
    /* Writes go to the socket's ring at once; reads are one datagram. */
    return 0;
  default:
    return 0;
  }
}

static int bio_create(BIO *bio) {
  BIO_set_init(bio, 1);
  return 1;
}

static int bio_destroy(BIO *bio) {
  BIO_set_data(bio, NULL);
  return 1;
}

static BIO_METHOD *bio_method_new(void) {
  BIO_METHOD *m =
      BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "aiocoap-dtls");
  if (m == NULL)
    return NULL;
  if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
      !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create) ||
      !BIO_meth_set_destroy(m, bio_destroy)) {
    BIO_meth_free(m);
    return NULL;
  }
  return m;
}

SSL *coap__dtls_ssl_new(SSL_CTX *ctx, coap__dtls_link *link) {
  SSL *ssl = SSL_new(ctx);
  if (ssl == NULL)
    return NULL;
  BIO *bio = BIO_new(link->t->bio_method);
  if (bio == NULL) {
    SSL_free(ssl);
    return NULL;
  }
  BIO_set_data(bio, link);
  /* One BIO for both directions: SSL_set_bio then takes over the one
   * reference (SSL_set_bio(3)). */
  SSL_set_bio(ssl, bio, bio);
  return ssl;
}

void coap__dtls_ssl_relink(SSL *ssl, coap__dtls_link *link) {
  BIO_set_data(SSL_get_rbio(ssl), link);
}

/* Alerts as they pass, so that a failure can say which (RFC 5246 §7.2). */
static void info_cb(const SSL *ssl, int where, int ret) {
  if (!(where & SSL_CB_ALERT))
    return;
  coap__dtls_session *s = coap__dtls_session_of(ssl);
  bool fatal = (ret >> 8) == SSL3_AL_FATAL;
  bool sent = (where & SSL_CB_WRITE) != 0;
  /* Fatal ones, and the peer's close_notify (which ends a handshake as
   * surely); our own close_notify is no failure. */
  if (s == NULL || (!fatal && (sent || (ret & 0xff) != SSL_AD_CLOSE_NOTIFY)))
    return;
  s->alert = (ret & 0xff) | COAP__DTLS_ALERT_SET |
             (fatal ? COAP__DTLS_ALERT_FATAL : 0);
  s->alert_sent = sent;
}

/* RFC 6347 §4.2.1: a cookie the server can recompute from the
 * ClientHello's source alone, so that nothing is kept before the client
 * has shown it receives at its address.  HMAC-SHA-256 under a secret
 * that changes every COAP__DTLS_COOKIE_ROTATE_MS ("the secret should be
 * changed frequently"); the one before is still accepted, so a cookie
 * handed out just before a change still works. */
static void cookie_for(const uint8_t secret[COAP__DTLS_COOKIE_LEN],
                       const coap_remote *remote,
                       uint8_t out[COAP__DTLS_COOKIE_LEN]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, secret, COAP__DTLS_COOKIE_LEN);
  crypto_auth_hmacsha256_update(&st, (const uint8_t *)&remote->addr.sin6_addr,
                                sizeof remote->addr.sin6_addr);
  crypto_auth_hmacsha256_update(&st, (const uint8_t *)&remote->addr.sin6_port,
                                sizeof remote->addr.sin6_port);
  crypto_auth_hmacsha256_update(&st,
                                (const uint8_t *)&remote->addr.sin6_scope_id,
                                sizeof remote->addr.sin6_scope_id);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

void coap__dtls_rotate_cookie_secret(coap__dtls *t) {
  memcpy(t->cookie_secret[1], t->cookie_secret[0], COAP__DTLS_COOKIE_LEN);
  randombytes_buf(t->cookie_secret[0], COAP__DTLS_COOKIE_LEN);
  t->cookie_rotated_ms = coap__dtls_now(t);
}

static int cookie_generate_cb(SSL *ssl, unsigned char *cookie,
                              unsigned int *len) {
  coap__dtls_link *link = link_of(ssl);
  if (link == NULL)
    return 0;
  coap__dtls *t = link->t;
  if (coap__dtls_now(t) - t->cookie_rotated_ms >= COAP__DTLS_COOKIE_ROTATE_MS)
    coap__dtls_rotate_cookie_secret(t);
  cookie_for(t->cookie_secret[0], &link->remote, cookie);
  *len = COAP__DTLS_COOKIE_LEN;
  t->stats.cookies_sent++;
  return 1;
}

static int cookie_verify_cb(SSL *ssl, const unsigned char *cookie,
                            unsigned int len) {
  coap__dtls_link *link = link_of(ssl);
  if (link == NULL || len != COAP__DTLS_COOKIE_LEN)
    return 0;
  uint8_t want[COAP__DTLS_COOKIE_LEN];
  bool ok = false;
  for (int i = 0; i < 2 && !ok; i++) {
    cookie_for(link->t->cookie_secret[i], &link->remote, want);
    ok = sodium_memcmp(want, cookie, COAP__DTLS_COOKIE_LEN) == 0;
  }
  return ok;
}

/* RFC 4279 §5.1: the server picks the key by the identity the client
 * presents; an unknown one fails the handshake with unknown_psk_identity
 * (OpenSSL sends it when we return 0). */
static unsigned int psk_server_cb(SSL *ssl, const char *identity,
                                  unsigned char *psk, unsigned int max) {
  coap__dtls_link *link = link_of(ssl);
  if (link == NULL || identity == NULL)
    return 0;
  size_t len = strlen(identity);
  const coap__dtls_config *config = &link->t->config;
  unsigned int found = 0;
  int chosen = 0;
  if (config->psk_lookup != NULL)
    chosen = config->psk_lookup((const uint8_t *)identity, len, psk, max,
                                config->psk_lookup_data);
  if (chosen < 0 || (unsigned int)chosen > max)
    return 0; /* refused (or a length that cannot be): unknown identity */
  if (chosen > 0) {
    found = (unsigned int)chosen;
  } else {
    const coap__credential *c = coap__credentials_for_identity(
        config->server_credentials, (const uint8_t *)identity, len);
    if (c == NULL || c->psk_len == 0 || c->psk_len > max)
      return 0;
    memcpy(psk, c->psk, c->psk_len);
    found = (unsigned int)c->psk_len;
  }
  coap__dtls_session *s = coap__dtls_session_of(ssl);
  if (s != NULL && len < sizeof s->identity)
    memcpy(s->identity, identity, len + 1);
  return found;
}

static unsigned int psk_client_cb(SSL *ssl, const char *hint, char *identity,
                                  unsigned int max_identity, unsigned char *psk,
                                  unsigned int max_psk) {
  (void)hint;
  coap__dtls_session *s = coap__dtls_session_of(ssl);
  if (s == NULL || s->psk == NULL || s->psk_len > max_psk)
    return 0;
  size_t len = strlen(s->identity);
  /* OpenSSL's buffer holds max_identity bytes and the NUL. */
  if (len > max_identity)
    return 0;
  memcpy(identity, s->identity, len + 1);
  memcpy(psk, s->psk, s->psk_len);
  return (unsigned int)s->psk_len;
}

static SSL_CTX *ctx_new(coap__dtls *t, const SSL_METHOD *method) {
  SSL_CTX *ctx = SSL_CTX_new(method);
  if (ctx == NULL)
    return NULL;
  /* RFC 7252 §9.1 is DTLS 1.2 (RFC 6347); 1.0 is obsolete (RFC 8996). */
  if (!SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) ||
      !SSL_CTX_set_cipher_list(ctx, ALL_CIPHERS)) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_app_data(ctx, t);
  SSL_CTX_set_info_callback(ctx, info_cb);
  /* Sessions are kept per peer by the transport; resumption tickets
   * would only grow every SSL. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_max_send_fragment(ctx, COAP__DTLS_MTU);
  return ctx;
}

static int server_certificate(SSL_CTX *ctx, const coap__credential *cert,
                              char *err, size_t cap) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert->certfile) != 1) {
    set_err(err, cap, "cannot load certificate %s", cert->certfile);
    return COAP_ECREDENTIALS;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, cert->keyfile, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    set_err(err, cap, "cannot load key %s for the certificate", cert->keyfile);
    return COAP_ECREDENTIALS;
  }
  if (cert->cafile == NULL)
    return 0;
  if (SSL_CTX_load_verify_locations(ctx, cert->cafile, NULL) != 1) {
    set_err(err, cap, "cannot load CA file %s", cert->cafile);
    return COAP_ECREDENTIALS;
  }
  /* With a CA for clients, a client must show a certificate signed by
   * it; PSK clients never get a CertificateRequest (RFC 4279 §2), so a
   * server with both still accepts them. */
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     NULL);
  return 0;
}

static int server_ctx_init(coap__dtls *t, char *err, size_t cap) {
  const coap_credentials *creds = t->config.server_credentials;
  if (t->config.psk_lookup == NULL &&
      (creds == NULL || (!coap__credentials_has_server_psk(creds) &&
                         coap__credentials_certificate(creds) == NULL))) {
    set_err(err, cap, "%s",
            "a DTLS server needs a PSK with a client identity or a "
            "certificate with its key in its server credentials");
    return COAP_ECREDENTIALS;
  }
  t->server_ctx = ctx_new(t, DTLS_server_method());
  if (t->server_ctx == NULL)
    return COAP_ENOMEM;
  SSL_CTX_set_psk_server_callback(t->server_ctx, psk_server_cb);
  if (t->config.psk_hint != NULL &&
      SSL_CTX_use_psk_identity_hint(t->server_ctx, t->config.psk_hint) != 1) {
    set_err(err, cap, "%s", "PSK identity hint too long");
    return COAP_ECREDENTIALS;
  }
  SSL_CTX_set_cookie_generate_cb(t->server_ctx, cookie_generate_cb);
  SSL_CTX_set_cookie_verify_cb(t->server_ctx, cookie_verify_cb);
  SSL_CTX_set_options(t->server_ctx, SSL_OP_COOKIE_EXCHANGE);
  const coap__credential *cert = coap__credentials_certificate(creds);
  if (cert != NULL) {
    int rc = server_certificate(t->server_ctx, cert, err, cap);
    if (rc < 0)
      return rc;
  }
  coap__dtls_rotate_cookie_secret(t);
  coap__dtls_rotate_cookie_secret(t);
  t->listener = coap__dtls_ssl_new(t->server_ctx, &t->listener_link);
  t->listen_peer = BIO_ADDR_new();
  return t->listener != NULL && t->listen_peer != NULL ? 0 : COAP_ENOMEM;
}

int coap__dtls_ctx_init(coap__dtls *t, char *err, size_t cap) {
  t->bio_method = bio_method_new();
  if (t->bio_method == NULL)
    return COAP_ENOMEM;
  t->listener_link.t = t;
  t->client_ctx = ctx_new(t, DTLS_client_method());
  if (t->client_ctx == NULL)
    return COAP_ENOMEM;
  int rc = t->config.listen ? server_ctx_init(t, err, cap) : 0;
  ERR_clear_error();
  return rc;
}

void coap__dtls_ctx_free(coap__dtls *t) {
  SSL_free(t->listener);
  t->listener = NULL;
  BIO_ADDR_free(t->listen_peer);
  t->listen_peer = NULL;
  SSL_CTX_free(t->server_ctx);
  SSL_CTX_free(t->client_ctx);
  t->server_ctx = t->client_ctx = NULL;
  BIO_meth_free(t->bio_method);
  t->bio_method = NULL;
  sodium_memzero(t->cookie_secret, sizeof t->cookie_secret);
}

static bool is_ip_literal(const char *host) {
  struct in6_addr a6;
  struct in_addr a4;
  return inet_pton(AF_INET6, host, &a6) == 1 ||
         inet_pton(AF_INET, host, &a4) == 1;
}

/* host without the brackets of an IPv6 literal ("[::1]"), into buf. */
static const char *bare_host(const char *host, char *buf, size_t cap) {
  size_t len = strlen(host);
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < cap) {
    memcpy(buf, host + 1, len - 2);
    buf[len - 2] = '\0';
    return buf;
  }
  return host;
}

static int client_verify(coap__dtls *t, SSL *ssl,
                         const coap__credential *cred, const char *host) {
  if (cred->insecure_no_verify) {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    return 0;
  }
  SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
  if (cred->cafile == NULL && !t->system_cas) {
    /* A certificate checked without a CA file of its own is checked
     * against the system's, loaded with the first such credential only:
     * reading the system bundle takes longer than a PSK handshake. */
    SSL_CTX_set_default_verify_paths(t->client_ctx);
    t->system_cas = true;
  }
  if (cred->cafile != NULL) {
    X509_STORE *store = X509_STORE_new();
    if (store == NULL)
      return COAP_ENOMEM;
    int ok = X509_STORE_load_file(store, cred->cafile) == 1 &&
             SSL_set1_verify_cert_store(ssl, store) == 1;
    X509_STORE_free(store);
    if (!ok)
      return COAP_ECREDENTIALS;
  }
  if (host == NULL || host[0] == '\0')
    return COAP_ECREDENTIALS; /* nothing to check the certificate against */
  char buf[COAP__DTLS_HOST_MAX];
  const char *name = bare_host(host, buf, sizeof buf);
  if (is_ip_literal(name))
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1
               ? 0
               : COAP_ECREDENTIALS;
  /* RFC 6125 §6.4 by OpenSSL's X509_check_host; SNI (RFC 6066 §3) only
   * for names, never for address literals. */
  if (SSL_set1_host(ssl, name) != 1 || SSL_set_tlsext_host_name(ssl, name) != 1)
    return COAP_ECREDENTIALS;
  return 0;
}

int coap__dtls_ssl_client_setup(coap__dtls_session *s,
                                const coap__credential *cred,
                                const char *host) {
  SSL *ssl = s->ssl;
  bool psk = cred->psk_len > 0;
  bool cert = cred->certfile != NULL || cred->cafile != NULL ||
              cred->insecure_no_verify;
  if (!psk && !cert)
    return COAP_ECREDENTIALS;
  if (psk) {
    if (cred->client_identity_len == 0 ||
        cred->client_identity_len >= sizeof s->identity ||
        memchr(cred->client_identity, '\0', cred->client_identity_len) != NULL)
      return COAP_ECREDENTIALS;
    s->psk = coap__malloc(cred->psk_len);
    if (s->psk == NULL)
      return COAP_ENOMEM;
    memcpy(s->psk, cred->psk, cred->psk_len);
    s->psk_len = cred->psk_len;
    memcpy(s->identity, cred->client_identity, cred->client_identity_len);
    s->identity[cred->client_identity_len] = '\0';
    SSL_set_psk_client_callback(ssl, psk_client_cb);
  }
  /* A PSK-only credential offers only PSK suites: a server answering
   * with a certificate suite could not be checked against anything. */
  if (!cert)
    return SSL_set_cipher_list(ssl, PSK_CIPHERS) == 1 ? 0 : COAP_ENOMEM;
  if (!psk && SSL_set_cipher_list(ssl, CERT_CIPHERS) != 1)
    return COAP_ENOMEM;
  if (cred->certfile != NULL) {
    if (cred->keyfile == NULL ||
        SSL_use_certificate_chain_file(ssl, cred->certfile) != 1 ||
        SSL_use_PrivateKey_file(ssl, cred->keyfile, SSL_FILETYPE_PEM) != 1 ||
        SSL_check_private_key(ssl) != 1) {
      ERR_clear_error();
      return COAP_ECREDENTIALS;
    }
  }
  int rc = client_verify(s->link.t, ssl, cred, host);
  ERR_clear_error();
  return rc;
}

const char *coap__dtls_ssl_reason(void) {
  return ssl_reason();
}
