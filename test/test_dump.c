/*
 * aiocoap.dump (dump_to): the pcap file a context writes, read back with
 * libpcap as Wireshark would: one record per datagram, each a whole IPv4
 * or IPv6 packet (LINKTYPE_RAW) whose lengths and checksums hold and
 * whose UDP payload is the CoAP message that went over the wire.
 */
#include "context_fixture.h"
#include "dump-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int hello_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  return coap_message_set_payload_string(resp, "hello");
}

static const coap_resource_methods hello = {.render_get = hello_get};

/* RFC 1071: summing a packet with its checksum in place gives 0xffff. */
static uint16_t ones_sum(uint32_t sum, const uint8_t *p, size_t len) {
  for (; len >= 2; p += 2, len -= 2)
    sum += (uint32_t)p[0] << 8 | p[1];
  if (len == 1)
    sum += (uint32_t)p[0] << 8;
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

static uint16_t get16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

/* What one record says, once its headers have been checked. */
typedef struct record {
  int family;
  uint8_t src[16], dst[16];
  uint16_t sport, dport;
  const uint8_t *udp_payload;
  size_t udp_payload_len;
} record;

/* Checks the IP and UDP headers of one raw packet (every length, both
 * checksums) and fills r. */
static void check_packet(const uint8_t *p, size_t n, record *r) {
  memset(r, 0, sizeof *r);
  cr_assert_geq(n, 1);
  const uint8_t *udp;
  size_t udp_len;
  uint32_t pseudo;
  if (p[0] >> 4 == 4) {
    cr_assert_geq(n, 28);
    cr_assert_eq(p[0], 0x45, "IPv4, 20-byte header");
    cr_assert_eq(get16(p + 2), n, "IPv4 total length is the record's");
    cr_assert_eq(p[9], 17, "protocol UDP");
    cr_assert_eq(ones_sum(0, p, 20), 0xffff, "IPv4 header checksum holds");
    r->family = AF_INET;
    memcpy(r->src, p + 12, 4);
    memcpy(r->dst, p + 16, 4);
    udp = p + 20;
    udp_len = n - 20;
    pseudo = ones_sum(0, p + 12, 8);
  } else {
    cr_assert_eq(p[0] >> 4, 6, "IPv6 when not IPv4");
    cr_assert_geq(n, 48);
    cr_assert_eq(get16(p + 4), n - 40, "IPv6 payload length");
    cr_assert_eq(p[6], 17, "next header UDP");
    r->family = AF_INET6;
    memcpy(r->src, p + 8, 16);
    memcpy(r->dst, p + 24, 16);
    udp = p + 40;
    udp_len = n - 40;
    pseudo = ones_sum(0, p + 8, 32);
  }
  cr_assert_eq(get16(udp + 4), udp_len, "UDP length");
  cr_assert_neq(get16(udp + 6), 0, "a UDP checksum is there (RFC 8200 §8.1)");
  /* RFC 768: pseudo-header + UDP header + data, checksum included. */
  cr_assert_eq(ones_sum(pseudo + 17 + (uint32_t)udp_len, udp, udp_len), 0xffff,
               "UDP checksum holds");
  r->sport = get16(udp);
  r->dport = get16(udp + 2);
  r->udp_payload = udp + 8;
  r->udp_payload_len = udp_len - 8;
}

typedef struct dump_summary {
  unsigned records, from_port, to_port, coap, v4, v6;
  unsigned requests, responses;
  int datalink;
} dump_summary;

/* Reads the whole file: every record checked, its CoAP message decoded. */
static void read_dump(const char *path, uint16_t port, dump_summary *s) {
  memset(s, 0, sizeof *s);
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t *p = pcap_open_offline(path, errbuf);
  cr_assert_not_null(p, "pcap_open_offline: %s", errbuf);
  s->datalink = pcap_datalink(p);
  struct pcap_pkthdr *h;
  const u_char *data;
  struct timeval now;
  gettimeofday(&now, NULL);
  int rc;
  while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
    s->records++;
    cr_assert_eq(h->caplen, h->len, "nothing cut short");
    /* Wall-clock times: within the last minute. */
    cr_assert_leq(h->ts.tv_sec, now.tv_sec);
    cr_assert_geq(h->ts.tv_sec, now.tv_sec - 60);
    record r;
    check_packet(data, h->caplen, &r);
    r.family == AF_INET ? s->v4++ : s->v6++;
    if (r.sport == port)
      s->from_port++;
    if (r.dport == port)
      s->to_port++;
    coap_message m;
    coap_message_init(&m);
    if (coap_message_decode(&m, r.udp_payload, r.udp_payload_len) == 0) {
      s->coap++;
      if (m.code >= 1 && m.code <= 31)
        s->requests++;
      else if (m.code >= 64)
        s->responses++;
    }
    coap_message_clear(&m);
  }
  cr_assert_eq(rc, PCAP_ERROR_BREAK, "the file ends cleanly: %s",
               pcap_geterr(p));
  pcap_close(p);
}

/* Server and client contexts, each with a dump of its own. */
static void start(fixture *fx, const char *bind, const char *server_dump,
                  const char *client_dump) {
  memset(fx, 0, sizeof *fx);
  cr_assert_eq(uv_loop_init(&fx->loop), 0);
  cr_assert_eq(coap_site_new(&fx->site), 0);
  coap_context_config config;
  coap_context_config_default(&config);
  config.dump_to = server_dump;
  cr_assert_eq(coap_context_create_server_context(&fx->loop, fx->site, bind,
                                                  &config, &fx->server),
               0);
  config.dump_to = client_dump;
  cr_assert_eq(
      coap_context_create_client_context(&fx->loop, &config, &fx->client), 0);
  struct sockaddr_in6 addr;
  cr_assert_eq(coap_context_local_address(fx->server, &addr), 0);
  fx->port = ntohs(addr.sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&addr.sin6_addr))
    snprintf(fx->base, sizeof fx->base, "coap://127.0.0.1:%u", fx->port);
  else
    snprintf(fx->base, sizeof fx->base, "coap://[::1]:%u", fx->port);
  fixture_add(fx, "hello", &hello, NULL);
}

static void get_hello(fixture *fx, unsigned times) {
  for (unsigned i = 0; i < times; i++) {
    coap_message *resp = NULL;
    cr_assert_eq(fixture_request(fx,
                                 fixture_message(fx, COAP_CODE_GET, "/hello"),
                                 &resp, 5000),
                 0);
    cr_assert_eq(resp->code, COAP_CODE_CONTENT);
    coap_message_free(resp);
  }
}

static void temp_path(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "/tmp/aiocoap-test-dump-%d-%s.pcap", (int)getpid(), name);
}

Test(dump, server_and_client_dumps_hold_every_datagram_with_valid_headers) {
  char sp[128], cp[128];
  temp_path(sp, sizeof sp, "srv6");
  temp_path(cp, sizeof cp, "cli6");
  fixture fx;
  start(&fx, "[::1]:0", sp, cp);
  get_hello(&fx, 3);
  fixture_stop(&fx);
  /* Three CON GETs and three piggybacked 2.05s on each side
   * (RFC 7252 §5.2.1), all of them IPv6 over ::1. */
  dump_summary s;
  read_dump(sp, fx.port, &s);
  cr_expect_eq(s.datalink, DLT_RAW, "LINKTYPE_RAW: records start at IP");
  cr_expect_eq(s.records, 6);
  cr_expect_eq(s.v6, 6);
  cr_expect_eq(s.coap, 6, "every record's UDP payload decodes as CoAP");
  cr_expect_eq(s.requests, 3);
  cr_expect_eq(s.responses, 3);
  cr_expect_eq(s.to_port, 3, "requests go to the server's port");
  cr_expect_eq(s.from_port, 3, "responses come from it");
  read_dump(cp, fx.port, &s);
  cr_expect_eq(s.records, 6, "the client saw the same six");
  cr_expect_eq(s.coap, 6);
  cr_expect_eq(s.to_port, 3);
  unlink(sp);
  unlink(cp);
}

Test(dump, ipv4_peers_are_recorded_as_ipv4_packets) {
  char sp[128];
  temp_path(sp, sizeof sp, "srv4");
  fixture fx;
  start(&fx, "127.0.0.1:0", sp, NULL);
  get_hello(&fx, 2);
  fixture_stop(&fx);
  dump_summary s;
  read_dump(sp, fx.port, &s);
  cr_expect_eq(s.records, 4);
  cr_expect_eq(s.v4, 4, "v4-mapped peers make IPv4 packets");
  cr_expect_eq(s.coap, 4);
  unlink(sp);
}

Test(dump, addresses_are_the_ones_on_the_wire) {
  char sp[128];
  temp_path(sp, sizeof sp, "addr");
  fixture fx;
  start(&fx, "[::1]:0", sp, NULL);
  get_hello(&fx, 1);
  struct sockaddr_in6 client_addr;
  cr_assert_eq(coap_context_local_address(fx.client, &client_addr), 0);
  fixture_stop(&fx);
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t *p = pcap_open_offline(sp, errbuf);
  cr_assert_not_null(p, "%s", errbuf);
  struct pcap_pkthdr *h;
  const u_char *data;
  cr_assert_eq(pcap_next_ex(p, &h, &data), 1);
  record r;
  check_packet(data, h->caplen, &r);
  cr_expect_arr_eq(r.src, in6addr_loopback.s6_addr, 16);
  cr_expect_arr_eq(r.dst, in6addr_loopback.s6_addr, 16,
                   "the destination IPV6_PKTINFO reported");
  cr_expect_eq(r.sport, ntohs(client_addr.sin6_port));
  cr_expect_eq(r.dport, fx.port);
  cr_assert_eq(pcap_next_ex(p, &h, &data), 1);
  check_packet(data, h->caplen, &r);
  cr_expect_eq(r.sport, fx.port, "the reply leaves from the server's port");
  cr_expect_eq(r.dport, ntohs(client_addr.sin6_port));
  pcap_close(p);
  unlink(sp);
}

Test(dump, a_file_that_cannot_be_created_fails_context_creation) {
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  coap_context_config config;
  coap_context_config_default(&config);
  config.dump_to = "/nonexistent-aiocoap-dir/x.pcap";
  coap_context *ctx = NULL;
  cr_expect_eq(coap_context_create_client_context(&loop, &config, &ctx),
               -ENOENT);
  cr_expect_null(ctx);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(&loop), 0, "nothing left behind");
}

Test(dump, the_path_is_copied_at_creation) {
  char sp[128], changed[128];
  temp_path(sp, sizeof sp, "copied");
  snprintf(changed, sizeof changed, "%s", sp);
  fixture fx;
  start(&fx, "[::1]:0", changed, NULL);
  memset(changed, 'x', sizeof changed - 1); /* the caller's buffer reused */
  get_hello(&fx, 1);
  fixture_stop(&fx);
  dump_summary s;
  read_dump(sp, fx.port, &s);
  cr_expect_eq(s.records, 2);
  unlink(sp);
}

static void check_built(const struct sockaddr_in6 *src,
                        const struct sockaddr_in6 *dst, size_t len,
                        size_t want) {
  static uint8_t payload[COAP__DUMP_PACKET_MAX];
  static uint8_t out[COAP__DUMP_PACKET_MAX + COAP__DUMP_HEADROOM];
  for (size_t i = 0; i < len; i++)
    payload[i] = (uint8_t)(i * 7 + 1);
  size_t n = coap__dump_build_packet(out, sizeof out, src, dst, payload, len);
  cr_assert_eq(n, want, "payload %zu: packet %zu, want %zu", len, n, want);
  if (n == 0)
    return;
  record r;
  check_packet(out, n, &r);
  cr_assert_eq(r.udp_payload_len, len);
  cr_assert_arr_eq(r.udp_payload, payload, len);
}

static struct sockaddr_in6 addr6(const char *text, uint16_t port) {
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
  cr_assert_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
  return a;
}

Test(dump_packet, lengths_up_to_the_16_bit_limits_and_not_beyond) {
  struct sockaddr_in6 a4 = addr6("::ffff:192.0.2.1", 5683);
  struct sockaddr_in6 b4 = addr6("::ffff:198.51.100.7", 40000);
  struct sockaddr_in6 a6 = addr6("2001:db8::1", 5683);
  struct sockaddr_in6 b6 = addr6("fe80::2", 61616);
  check_built(&a4, &b4, 0, 28);
  check_built(&a4, &b4, 1, 29); /* odd length: the pad byte of RFC 768 */
  /* IPv4 total length is 16 bits (RFC 791 §3.1). */
  check_built(&a4, &b4, 65535 - 28, 65535);
  check_built(&a4, &b4, 65535 - 27, 0);
  /* The UDP length is 16 bits (RFC 768; the IPv6 payload length too). */
  check_built(&a6, &b6, 0, 48);
  check_built(&b6, &a6, 65535 - 48, 65535);
  check_built(&a6, &b6, 65535 - 47, 0);
}

Test(dump_packet, refuses_mixed_families_and_a_short_buffer) {
  struct sockaddr_in6 a4 = addr6("::ffff:192.0.2.1", 5683);
  struct sockaddr_in6 a6 = addr6("2001:db8::1", 5683);
  uint8_t out[64];
  const uint8_t data[16] = {0x40, 0x01, 0, 1};
  cr_expect_eq(coap__dump_build_packet(out, sizeof out, &a4, &a6, data, 4), 0);
  cr_expect_eq(coap__dump_build_packet(out, sizeof out, &a6, &a4, data, 4), 0);
  cr_expect_eq(coap__dump_build_packet(out, 48 + 15, &a6, &a6, data, 16), 0);
  cr_expect_eq(coap__dump_build_packet(out, 48 + 16, &a6, &a6, data, 16), 64);
  cr_expect_eq(coap__dump_build_packet(out, sizeof out, &a6, &a6, NULL, 4), 0);
}

Test(dump_packet, a_zero_checksum_is_sent_as_all_ones) {
  /* RFC 768: a computed 0 is transmitted as 0xffff, 0 meaning "none".
   * Search a payload word that makes the sum come out 0. */
  struct sockaddr_in6 a = addr6("2001:db8::1", 1);
  struct sockaddr_in6 b = addr6("2001:db8::2", 2);
  uint8_t out[64];
  bool seen = false;
  for (uint32_t w = 0; w <= 0xffff && !seen; w++) {
    uint8_t data[2] = {(uint8_t)(w >> 8), (uint8_t)w};
    size_t n = coap__dump_build_packet(out, sizeof out, &a, &b, data, 2);
    cr_assert_eq(n, 50);
    uint16_t c = get16(out + 46);
    cr_assert_neq(c, 0, "never 0 over IPv6");
    if (c == 0xffff)
      seen = true;
  }
  cr_expect(seen, "some payload sums to zero and is sent as 0xffff");
}
