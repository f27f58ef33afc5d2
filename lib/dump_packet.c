/*
 * The IPv4/IPv6 and UDP headers a dumped datagram had on the wire, with
 * their checksums, so that Wireshark decodes each record with no
 * "malformed" or "bad checksum" complaint.
 */
#include "dump-internal.h"

#include <string.h>

/* RFC 1071: the 16-bit one's complement sum, carried on across calls. */
static uint32_t sum_bytes(uint32_t sum, const uint8_t *p, size_t len) {
  for (; len >= 2; p += 2, len -= 2)
    sum += (uint32_t)p[0] << 8 | p[1];
  if (len == 1)
    sum += (uint32_t)p[0] << 8;
  return sum;
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put_udp(uint8_t *udp, const struct sockaddr_in6 *src,
                    const struct sockaddr_in6 *dst, const uint8_t *data,
                    size_t len) {
  /* Ports are in network order in the socket addresses already. */
  memcpy(udp, &src->sin6_port, 2);
  memcpy(udp + 2, &dst->sin6_port, 2);
  put16(udp + 4, (uint32_t)(8 + len));
  put16(udp + 6, 0);
  if (len > 0)
    memcpy(udp + 8, data, len);
}

/* RFC 768 / RFC 8200 §8.1: over the pseudo-header (addresses, protocol,
 * UDP length) and the UDP header and data; a result of 0 is sent as
 * 0xffff, since 0 means "no checksum" (and is forbidden over IPv6). */
static void finish_udp_checksum(uint8_t *udp, size_t udp_len, uint32_t pseudo) {
  uint32_t sum = pseudo + 17 + (uint32_t)udp_len;
  sum = sum_bytes(sum, udp, udp_len);
  uint16_t c = fold(sum);
  put16(udp + 6, c == 0 ? 0xffff : c);
}

static size_t build_v4(uint8_t *out, const struct sockaddr_in6 *src,
                       const struct sockaddr_in6 *dst, const uint8_t *data,
                       size_t len) {
  size_t total = 20 + 8 + len;
  memset(out, 0, 20);
  out[0] = 0x45; /* version 4, 5 words */
  put16(out + 2, (uint32_t)total);
  out[6] = 0x40; /* DF, as Linux sends UDP with path MTU discovery on */
  out[8] = 64;   /* TTL */
  out[9] = 17;   /* UDP */
  memcpy(out + 12, &src->sin6_addr.s6_addr[12], 4);
  memcpy(out + 16, &dst->sin6_addr.s6_addr[12], 4);
  put16(out + 10, fold(sum_bytes(0, out, 20)));
  put_udp(out + 20, src, dst, data, len);
  finish_udp_checksum(out + 20, 8 + len, sum_bytes(0, out + 12, 8));
  return total;
}

static size_t build_v6(uint8_t *out, const struct sockaddr_in6 *src,
                       const struct sockaddr_in6 *dst, const uint8_t *data,
                       size_t len) {
  memset(out, 0, 40);
  out[0] = 0x60; /* version 6, traffic class and flow label 0 */
  put16(out + 4, (uint32_t)(8 + len));
  out[6] = 17; /* next header: UDP */
  out[7] = 64; /* hop limit */
  memcpy(out + 8, &src->sin6_addr, 16);
  memcpy(out + 24, &dst->sin6_addr, 16);
  put_udp(out + 40, src, dst, data, len);
  finish_udp_checksum(out + 40, 8 + len, sum_bytes(0, out + 8, 32));
  return 40 + 8 + len;
}

static bool is_v4(const struct sockaddr_in6 *a) {
  return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr);
}

size_t coap__dump_build_packet(uint8_t *out, size_t cap,
                               const struct sockaddr_in6 *src,
                               const struct sockaddr_in6 *dst,
                               const uint8_t *data, size_t len) {
  if (out == NULL || src == NULL || dst == NULL || (data == NULL && len > 0))
    return 0;
  bool v4 = is_v4(dst);
  if (is_v4(src) != v4)
    return 0;
  size_t header = v4 ? 20 + 8 : 40 + 8;
  /* The UDP length (and IPv4 total length) must fit in 16 bits. */
  if (len > COAP__DUMP_PACKET_MAX - header || header + len > cap)
    return 0;
  return v4 ? build_v4(out, src, dst, data, len)
            : build_v6(out, src, dst, data, len);
}
