/*
 * A build without OpenSSL's libssl: no coaps transport.  Opening one says
 * so (COAP_ENOTSUP, which the context reports as an unserved scheme).
 */
#include "transports/dtls.h"

#include <aiocoap/error.h>

#include <string.h>

void coap__dtls_config_default(coap__dtls_config *config) {
  memset(config, 0, sizeof *config);
}

int coap__dtls_open(uv_loop_t *loop, const struct sockaddr_in6 *bind_addr,
                    const coap__dtls_config *config,
                    const coap__transport_callbacks *callbacks,
                    void *user_data, coap__transport **out, char *err,
                    size_t err_cap) {
  (void)loop;
  (void)bind_addr;
  (void)config;
  (void)callbacks;
  (void)user_data;
  (void)out;
  (void)err;
  (void)err_cap;
  return COAP_ENOTSUP;
}

int coap__dtls_prepare(coap__transport *t, const coap_remote *remote,
                       const coap__credential *cred, const char *host) {
  (void)t;
  (void)remote;
  (void)cred;
  (void)host;
  return COAP_ENOTSUP;
}

void coap__dtls_get_stats(const coap__transport *t, coap__dtls_stats *out) {
  (void)t;
  memset(out, 0, sizeof *out);
}

int coap__dtls_peer_identity(const coap__transport *t,
                             const coap_remote *remote, char *buf,
                             size_t cap) {
  (void)t;
  (void)remote;
  (void)buf;
  (void)cap;
  return COAP_ENOENT;
}
