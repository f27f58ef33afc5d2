/*
 * Socket-address conversions shared by the transport, the context and
 * requests: every peer is named by an IPv6 address, IPv4 ones in their
 * v4-mapped form (RFC 4291 §2.5.5.2), as the IPV6_V6ONLY-off socket sees
 * them.
 */
#ifndef AIOCOAP_ADDR_INTERNAL_H
#define AIOCOAP_ADDR_INTERNAL_H

#include <aiocoap/message.h>

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

/* A group address: IPv6 ff00::/8, or IPv4 224.0.0.0/4 in its v4-mapped
 * form. */
static inline bool coap__addr_is_multicast(const struct in6_addr *a) {
  if (IN6_IS_ADDR_MULTICAST(a))
    return true;
  return IN6_IS_ADDR_V4MAPPED(a) && (a->s6_addr[12] & 0xf0) == 0xe0;
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

/* Whether remote's datagram was sent to a group we joined (its local
 * address, from IPV6_PKTINFO, is the group's). */
static inline bool coap__remote_via_multicast(const coap_remote *remote) {
  return remote->has_local && coap__addr_is_multicast(&remote->local_addr);
}

#endif
