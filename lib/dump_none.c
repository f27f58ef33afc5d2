/* dump_to in a build without libpcap: asked for, it is refused. */
#include "dump-internal.h"

#include <aiocoap/error.h>

int coap__dump_open(const char *path, coap__dump **out) {
  (void)path;
  if (out != NULL)
    *out = NULL;
  return COAP_ENOTSUP;
}

void coap__dump_datagram(coap__dump *d, const struct sockaddr_in6 *src,
                         const struct sockaddr_in6 *dst, const uint8_t *data,
                         size_t len) {
  (void)d;
  (void)src;
  (void)dst;
  (void)data;
  (void)len;
}

void coap__dump_flush(coap__dump *d) {
  (void)d;
}

void coap__dump_close(coap__dump *d) {
  (void)d;
}
