/*
 * A server context joining multicast groups (RFC 7252 §8, RFC 7390 §2.2):
 * every coap endpoint's socket joins the group on the interfaces asked
 * for.  The rules for what arrives by a group live where each applies:
 * the message layer ignores all but NON requests and never answers with
 * RST (messagemanager.c), and the reply leaves from a unicast address
 * (udp6.c).
 */
#include "addr-internal.h"
#include "context-internal.h"
#include "transports/udp.h"

#include <aiocoap/util.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>

/* The interfaces that are up and can do multicast, each once. */
static size_t multicast_interfaces(unsigned *out, size_t cap) {
  struct if_nameindex *names = if_nameindex();
  size_t n = 0;
  if (names == NULL)
    return 0;
  struct ifaddrs *addrs = NULL;
  if (getifaddrs(&addrs) < 0)
    addrs = NULL;
  for (struct if_nameindex *i = names; i->if_index != 0 && n < cap; i++) {
    bool capable = false;
    for (struct ifaddrs *a = addrs; a != NULL && !capable; a = a->ifa_next)
      capable = a->ifa_name != NULL && strcmp(a->ifa_name, i->if_name) == 0 &&
                (a->ifa_flags & IFF_UP) && (a->ifa_flags & IFF_MULTICAST);
    if (capable)
      out[n++] = i->if_index;
  }
  freeifaddrs(addrs);
  if_freenameindex(names);
  return n;
}

static int parse_group(const char *text, struct in6_addr *out) {
  struct in_addr v4;
  if (inet_pton(AF_INET6, text, out) == 1)
    return coap__addr_is_multicast(out) ? 0 : COAP_EINVAL;
  if (inet_pton(AF_INET, text, &v4) == 1) {
    coap__v4_mapped(out, &v4);
    return coap__addr_is_multicast(out) ? 0 : COAP_EINVAL;
  }
  return COAP_EINVAL;
}

int coap_context_join_group(coap_context *ctx, const char *group,
                            const char *ifname) {
  if (ctx == NULL || group == NULL)
    return COAP_EINVAL;
  if (ctx->shutting_down)
    return COAP_ESHUTDOWN;
  struct in6_addr addr;
  int rc = parse_group(group, &addr);
  if (rc < 0)
    return rc;
  unsigned ifaces[64];
  size_t n;
  if (ifname != NULL) {
    ifaces[0] = if_nametoindex(ifname);
    if (ifaces[0] == 0)
      return COAP_ENODEV;
    n = 1;
  } else {
    n = multicast_interfaces(ifaces, sizeof ifaces / sizeof ifaces[0]);
    if (n == 0)
      return COAP_ENODEV;
  }
  int joined = 0, sockets = 0, last_err = COAP_ENOENT;
  for (unsigned e = 0; e < ctx->n_endpoints; e++) {
    coap__udp6 *socket = coap__udp_socket(ctx->endpoints[e]);
    if (socket == NULL)
      continue; /* coaps has no multicast (RFC 7252 §9.1) */
    sockets++;
    for (size_t i = 0; i < n; i++) {
      rc = coap__udp6_join(socket, &addr, ifaces[i]);
      if (rc == 0)
        joined++;
      else
        last_err = rc;
    }
  }
  if (sockets == 0)
    return COAP_ENOENT;
  return joined > 0 ? joined : last_err;
}
