/*
 * Socket-address conversions shared by the transport, the context and
 * requests: every peer is named by an IPv6 address, IPv4 ones in their
 * v4-mapped form (RFC 4291 §2.5.5.2), as the IPV6_V6ONLY-off socket sees
 * them.
 */
#ifndef AIOCOAP_ADDR_INTERNAL_H
#define AIOCOAP_ADDR_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

/* ::ffff:a.b.c.d for the IPv4 address v4. */
static inline void coap__v4_mapped(struct in6_addr *out,
                                   const struct in_addr *v4) {
  memset(out, 0, sizeof *out);
  out->s6_addr[10] = 0xff;
  out->s6_addr[11] = 0xff;
  memcpy(&out->s6_addr[12], v4, 4);
}

/*
 * sa (AF_INET6 or AF_INET, port included) as an IPv6 socket address; false,
 * with out untouched, for any other family.
 */
static inline bool coap__sockaddr_to_in6(const struct sockaddr *sa,
                                         struct sockaddr_in6 *out) {
  if (sa->sa_family == AF_INET6) {
    memcpy(out, sa, sizeof *out);
    return true;
  }
  if (sa->sa_family != AF_INET)
    return false;
  const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
  memset(out, 0, sizeof *out);
  out->sin6_family = AF_INET6;
  out->sin6_port = sin->sin_port;
  coap__v4_mapped(&out->sin6_addr, &sin->sin_addr);
  return true;
}

#endif
