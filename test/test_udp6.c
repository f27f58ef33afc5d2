#include "test_common.h"

#include "transports/udp6.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* Real sockets on loopback; every wait is bounded by a uv_timer that fails
 * the test, never by sleeping. */
static uv_loop_t loop;
static uv_timer_t safety;
static bool timed_out;

#define MAX_DATAGRAM 1152

typedef struct endpoint {
  coap__udp6 *t;
  struct sockaddr_in6 addr; /* where it is bound, with the real port */
  int received;
  uint8_t last[MAX_DATAGRAM];
  size_t last_len;
  coap_remote last_remote;
  bool seen[128];
  int batches;
  int errors;
  int last_error;
  coap_remote error_remote;
  bool echo;
  bool close_on_recv;
  int closed;
} endpoint;

/* File scope, not the test's stack: the closed callbacks may fire from
 * the teardown's loop run, after the test body has returned. */
static endpoint a, b;

static void on_recv(void *user_data, const uint8_t *data, size_t len,
                    const coap_remote *remote) {
  endpoint *ep = user_data;
  ep->received++;
  cr_assert_leq(len, sizeof(ep->last));
  memcpy(ep->last, data, len);
  ep->last_len = len;
  ep->last_remote = *remote;
  if (len >= 2 && data[0] == 'B' && data[1] < 128) {
    /* A batch datagram: 'B', index, then index-dependent filler. */
    for (size_t i = 2; i < len; i++)
      cr_assert_eq(data[i], (uint8_t)(data[1] + i), "datagram %d corrupted",
                   data[1]);
    cr_expect_not(ep->seen[data[1]], "datagram %d twice", data[1]);
    ep->seen[data[1]] = true;
  }
  if (ep->echo)
    cr_expect_eq(coap__udp6_send(ep->t, remote, data, len), 0);
  if (ep->close_on_recv)
    coap__udp6_close(ep->t, NULL);
}

static void on_error(void *user_data, const coap_remote *remote, int err) {
  endpoint *ep = user_data;
  ep->errors++;
  ep->last_error = err;
  ep->error_remote = *remote;
}

static void on_batch_done(void *user_data) {
  endpoint *ep = user_data;
  ep->batches++;
}

static const coap__udp6_callbacks callbacks = {on_recv, on_error,
                                               on_batch_done};

static void on_closed(void *user_data) {
  endpoint *ep = user_data;
  ep->closed++;
}

static void on_safety(uv_timer_t *timer) {
  (void)timer;
  timed_out = true;
  uv_stop(&loop);
}

static void setup(void) {
  coap_test_init();
  cr_assert_eq(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &safety);
  uv_unref((uv_handle_t *)&safety);
  timed_out = false;
}

static void teardown(void) {
  uv_close((uv_handle_t *)&safety, NULL);
  /* Never UV_RUN_DEFAULT here: after a failed assertion a transport may
   * still be open, and the test must fail rather than hang. */
  int rc = uv_loop_close(&loop);
  for (int i = 0; rc == UV_EBUSY && i < 100; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    rc = uv_loop_close(&loop);
  }
  cr_assert_eq(rc, 0, "handles left on the loop");
  coap_test_check_leaks();
}

/* Teardown (and its leak check) runs at the end of the body: criterion
 * ignores failed assertions in .fini hooks. */
#define UDP6_TEST(name, ...)                                                   \
  static void udp6_##name##_body(void);                                        \
  Test(udp6, name, .init = setup, ##__VA_ARGS__) {                             \
    udp6_##name##_body();                                                      \
    teardown();                                                                \
  }                                                                            \
  static void udp6_##name##_body(void)

/* Runs the loop until *count reaches want, failing after 2 s. */
static void run_until(const int *count, int want) {
  timed_out = false;
  uv_timer_start(&safety, on_safety, 2000, 0);
  while (*count < want && !timed_out)
    if (uv_run(&loop, UV_RUN_ONCE) == 0 && *count < want)
      break; /* nothing left that could make progress */
  uv_timer_stop(&safety);
  cr_assert_not(timed_out, "timed out waiting (%d of %d)", *count, want);
  cr_assert_geq(*count, want, "the loop ran dry (%d of %d)", *count, want);
}

static struct sockaddr_in6 address(const char *text, uint16_t port) {
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof(a));
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  cr_assert_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
  return a;
}

static void open_endpoint(endpoint *ep, const char *bind_text, uint32_t batch) {
  memset(ep, 0, sizeof(*ep));
  struct sockaddr_in6 bind_addr = address(bind_text, 0);
  cr_assert_eq(coap__udp6_open(&loop, &bind_addr, &callbacks, ep, batch,
                               MAX_DATAGRAM, &ep->t),
               0);
  cr_assert_eq(coap__udp6_local_address(ep->t, &ep->addr), 0);
  cr_assert_neq(ep->addr.sin6_port, 0);
}

static void close_endpoint(endpoint *ep) {
  coap__udp6_close(ep->t, on_closed);
  cr_expect_eq(ep->closed, 0, "closed fires from the loop");
}

static coap_remote remote_at(const char *text, uint16_t port_be) {
  coap_remote r;
  memset(&r, 0, sizeof(r));
  r.addr = address(text, 0);
  r.addr.sin6_port = port_be;
  return r;
}

static void expect_address(const struct in6_addr *got, const char *text) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, got, buf, sizeof(buf));
  cr_expect_str_eq(buf, text);
}

UDP6_TEST(datagram_arrives_with_pktinfo_and_reply_returns) {
  open_endpoint(&a, "::1", 8);
  open_endpoint(&b, "::1", 8);
  b.echo = true;
  coap_remote to_b = remote_at("::1", b.addr.sin6_port);
  cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"hello", 5), 0);
  run_until(&a.received, 1);

  cr_expect_eq(b.received, 1);
  cr_expect_geq(b.batches, 1);
  cr_expect_eq(b.last_remote.endpoint, b.t);
  cr_expect_eq(b.last_remote.addr.sin6_port, a.addr.sin6_port);
  expect_address(&b.last_remote.addr.sin6_addr, "::1");
  /* RFC 3542 §6.1: the address the datagram was sent to. */
  cr_expect(b.last_remote.has_local);
  expect_address(&b.last_remote.local_addr, "::1");
  cr_expect_neq(b.last_remote.local_ifindex, 0);

  /* b answered through the received remote (with its local address). */
  cr_expect_eq(a.last_len, 5);
  cr_expect_arr_eq(a.last, "hello", 5);
  cr_expect_eq(a.last_remote.addr.sin6_port, b.addr.sin6_port);
  close_endpoint(&a);
  close_endpoint(&b);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(a.closed, 1);
  cr_expect_eq(b.closed, 1);
}

UDP6_TEST(batch_of_100_arrives_intact) {
  open_endpoint(&a, "::1", 8);
  open_endpoint(&b, "::1", 16);
  coap_remote to_b = remote_at("::1", b.addr.sin6_port);
  uint8_t buf[MAX_DATAGRAM];
  for (int i = 0; i < 100; i++) {
    size_t len = 2 + (size_t)(i * 11) % (MAX_DATAGRAM - 2);
    buf[0] = 'B';
    buf[1] = (uint8_t)i;
    for (size_t k = 2; k < len; k++)
      buf[k] = (uint8_t)(i + k);
    cr_assert_eq(coap__udp6_send(a.t, &to_b, buf, len), 0);
  }
  coap__udp6_flush(a.t);
  run_until(&b.received, 100);
  for (int i = 0; i < 100; i++)
    cr_expect(b.seen[i], "datagram %d missing", i);
  cr_expect_geq(b.batches, 100 / 16, "recvmmsg delivers in batches");
  close_endpoint(&a);
  close_endpoint(&b);
}

UDP6_TEST(ipv4_peer_appears_v4_mapped) {
  open_endpoint(&a, "::", 4);
  open_endpoint(&b, "::", 4);
  b.echo = true;
  coap_remote to_b = remote_at("::ffff:127.0.0.1", b.addr.sin6_port);
  cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"v4", 2), 0);
  run_until(&a.received, 1);

  expect_address(&b.last_remote.addr.sin6_addr, "::ffff:127.0.0.1");
  cr_expect_eq(b.last_remote.addr.sin6_port, a.addr.sin6_port);
  cr_expect(b.last_remote.has_local);
  expect_address(&b.last_remote.local_addr, "::ffff:127.0.0.1");
  /* The reply left from ::ffff:127.0.0.1 through IPV6_PKTINFO. */
  expect_address(&a.last_remote.addr.sin6_addr, "::ffff:127.0.0.1");
  cr_expect_eq(a.last_remote.addr.sin6_port, b.addr.sin6_port);
  cr_expect(a.last_remote.has_local);
  expect_address(&a.last_remote.local_addr, "::ffff:127.0.0.1");
  close_endpoint(&a);
  close_endpoint(&b);
}

/* A loopback port nobody listens on: bound once, then closed. */
static uint16_t closed_port(int family) {
  int fd = socket(family, SOCK_DGRAM, 0);
  cr_assert_geq(fd, 0);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t len;
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof(*a);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*a);
  }
  cr_assert_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
  close(fd);
  return family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                            : ((struct sockaddr_in *)&ss)->sin_port;
}

UDP6_TEST(icmp_port_unreachable_reports_econnrefused) {
  open_endpoint(&a, "::1", 4);
  uint16_t port = closed_port(AF_INET6);
  coap_remote to = remote_at("::1", port);
  cr_assert_eq(coap__udp6_send(a.t, &to, (const uint8_t *)"?", 1), 0);
  run_until(&a.errors, 1);
  cr_expect_eq(a.last_error, COAP_ECONNREFUSED);
  cr_expect_eq(a.error_remote.addr.sin6_family, AF_INET6);
  cr_expect_eq(a.error_remote.addr.sin6_port, port);
  expect_address(&a.error_remote.addr.sin6_addr, "::1");
  cr_expect_eq(a.error_remote.endpoint, a.t);
  cr_expect_eq(a.received, 0);

  /* The socket keeps working after the error. */
  cr_assert_eq(coap__udp6_send(a.t, &to, (const uint8_t *)"?", 1), 0);
  run_until(&a.errors, 2);
  close_endpoint(&a);
}

UDP6_TEST(icmp_for_ipv4_peer_reports_v4_mapped_remote) {
  open_endpoint(&a, "::", 4);
  uint16_t port = closed_port(AF_INET);
  coap_remote to = remote_at("::ffff:127.0.0.1", port);
  cr_assert_eq(coap__udp6_send(a.t, &to, (const uint8_t *)"?", 1), 0);
  run_until(&a.errors, 1);
  cr_expect_eq(a.last_error, COAP_ECONNREFUSED);
  cr_expect_eq(a.error_remote.addr.sin6_port, port);
  expect_address(&a.error_remote.addr.sin6_addr, "::ffff:127.0.0.1");
  close_endpoint(&a);
}

UDP6_TEST(oversize_datagram_is_refused) {
  open_endpoint(&a, "::1", 4);
  open_endpoint(&b, "::1", 4);
  static uint8_t big[MAX_DATAGRAM + 1];
  coap_remote to_b = remote_at("::1", b.addr.sin6_port);
  cr_expect_eq(coap__udp6_send(a.t, &to_b, big, sizeof(big)), COAP_EMSGSIZE);
  cr_expect_eq(coap__udp6_send(a.t, &to_b, big, MAX_DATAGRAM), 0);
  run_until(&b.received, 1);
  cr_expect_eq(b.last_len, MAX_DATAGRAM);
  close_endpoint(&a);
  close_endpoint(&b);
}

UDP6_TEST(truncated_datagram_is_dropped) {
  open_endpoint(&a, "::1", 4);
  memset(&b, 0, sizeof(b));
  struct sockaddr_in6 bind_addr = address("::1", 0);
  cr_assert_eq(coap__udp6_open(&loop, &bind_addr, &callbacks, &b, 4, 16, &b.t),
               0);
  cr_assert_eq(coap__udp6_local_address(b.t, &b.addr), 0);
  coap_remote to_b = remote_at("::1", b.addr.sin6_port);
  uint8_t data[64] = "long";
  cr_assert_eq(coap__udp6_send(a.t, &to_b, data, sizeof(data)), 0);
  cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"short", 5), 0);
  run_until(&b.received, 1);
  cr_expect_eq(b.received, 1);
  cr_expect_eq(b.last_len, 5, "the 64-byte datagram was dropped");
  close_endpoint(&a);
  close_endpoint(&b);
}

static bool drop_x(void *filter_data, const coap_remote *remote,
                   const uint8_t *data, size_t len) {
  (void)remote;
  int *dropped = filter_data;
  if (len > 0 && data[0] == 'x') {
    (*dropped)++;
    return false;
  }
  return true;
}

UDP6_TEST(send_filter_can_drop) {
  int dropped = 0;
  open_endpoint(&a, "::1", 4);
  open_endpoint(&b, "::1", 4);
  coap__udp6_set_send_filter(a.t, drop_x, &dropped);
  coap_remote to_b = remote_at("::1", b.addr.sin6_port);
  cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"x1", 2), 0);
  cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"y1", 2), 0);
  run_until(&b.received, 1);
  cr_expect_eq(dropped, 1);
  cr_expect_arr_eq(b.last, "y1", 2);
  coap__udp6_set_send_filter(a.t, NULL, NULL);
  cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"x2", 2), 0);
  run_until(&b.received, 2);
  cr_expect_arr_eq(b.last, "x2", 2);
  cr_expect_eq(dropped, 1);
  close_endpoint(&a);
  close_endpoint(&b);
}

UDP6_TEST(close_inside_recv_is_safe) {
  open_endpoint(&a, "::1", 4);
  open_endpoint(&b, "::1", 4);
  b.close_on_recv = true;
  coap_remote to_b = remote_at("::1", b.addr.sin6_port);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"c", 1), 0);
  run_until(&b.received, 1);
  uv_run(&loop, UV_RUN_NOWAIT);
  cr_expect_eq(b.received, 1, "nothing is delivered after close");
  cr_expect_eq(b.batches, 0);
  close_endpoint(&a);
}

UDP6_TEST(close_flushes_and_frees) {
  open_endpoint(&a, "::1", 4);
  open_endpoint(&b, "::1", 4);
  coap_remote to_b = remote_at("::1", b.addr.sin6_port);
  cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"last", 4), 0);
  close_endpoint(&a);
  run_until(&b.received, 1);
  cr_expect_arr_eq(b.last, "last", 4);
  close_endpoint(&b);
  cr_expect_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  cr_expect_eq(a.closed, 1);
  cr_expect_eq(b.closed, 1);
  cr_expect_eq(coap_test_live_allocations, 0);
}

UDP6_TEST(open_reports_errors) {
  open_endpoint(&a, "::1", 4);
  memset(&b, 0, sizeof(b));
  cr_expect_eq(
      coap__udp6_open(&loop, &a.addr, &callbacks, &b, 4, MAX_DATAGRAM, &b.t),
      COAP_EADDRINUSE);
  struct sockaddr_in6 any = address("::1", 0);
  cr_expect_eq(
      coap__udp6_open(&loop, &any, &callbacks, &b, 0, MAX_DATAGRAM, &b.t),
      COAP_EINVAL);
  cr_expect_eq(coap__udp6_open(&loop, &any, &callbacks, &b, 4, 70000, &b.t),
               COAP_EINVAL);
  for (long n = 0; n < 3; n++) {
    coap_test_fail_after = n;
    cr_expect_eq(
        coap__udp6_open(&loop, &any, &callbacks, &b, 4, MAX_DATAGRAM, &b.t),
        COAP_ENOMEM, "allocation %ld failing", n);
    coap_test_fail_after = -1;
  }
  cr_expect_eq(coap_test_live_allocations > 0, true);
  close_endpoint(&a);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(coap_test_live_allocations, 0);
}

UDP6_TEST(unset_remote_is_refused) {
  open_endpoint(&a, "::1", 4);
  coap_remote unset;
  memset(&unset, 0, sizeof(unset));
  cr_expect_eq(coap__udp6_send(a.t, &unset, (const uint8_t *)"?", 1),
               COAP_EINVAL);
  close_endpoint(&a);
}

/* The kernel's send path reports a pending ICMP error (sk_err) instead of
 * sending; the datagram that met it must still go out. */
UDP6_TEST(pending_icmp_error_does_not_lose_next_datagram) {
  open_endpoint(&a, "::1", 4);
  open_endpoint(&b, "::1", 4);
  coap_remote nobody = remote_at("::1", closed_port(AF_INET6));
  coap_remote to_b = remote_at("::1", b.addr.sin6_port);
  cr_assert_eq(coap__udp6_send(a.t, &nobody, (const uint8_t *)"?", 1), 0);
  coap__udp6_flush(a.t); /* on loopback the ICMP error is queued at once */
  cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"b", 1), 0);
  coap__udp6_flush(a.t);
  run_until(&b.received, 1);
  run_until(&a.errors, 1);
  cr_expect_eq(a.last_error, COAP_ECONNREFUSED);
  close_endpoint(&a);
  close_endpoint(&b);
}

UDP6_TEST(failing_datagram_is_dropped_and_rest_sent) {
  open_endpoint(&a, "::", 4);
  open_endpoint(&b, "::1", 4);
  /* RFC 4007 §11: a link-local destination without a zone cannot be sent
   * (EINVAL); the datagrams behind it in the ring still go. */
  coap_remote no_zone = remote_at("fe80::1", htons(5683));
  coap_remote to_b = remote_at("::1", b.addr.sin6_port);
  cr_assert_eq(coap__udp6_send(a.t, &no_zone, (const uint8_t *)"z", 1), 0);
  cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"ok", 2), 0);
  run_until(&b.received, 1);
  cr_expect_arr_eq(b.last, "ok", 2);
  close_endpoint(&a);
  close_endpoint(&b);
}

UDP6_TEST(link_local_destination_keeps_its_scope) {
  struct ifaddrs *list;
  cr_assert_eq(getifaddrs(&list), 0);
  struct sockaddr_in6 ll;
  bool found = false;
  for (struct ifaddrs *i = list; i != NULL && !found; i = i->ifa_next) {
    if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET6 ||
        !(i->ifa_flags & IFF_UP))
      continue;
    memcpy(&ll, i->ifa_addr, sizeof(ll));
    found = IN6_IS_ADDR_LINKLOCAL(&ll.sin6_addr) && ll.sin6_scope_id != 0;
  }
  freeifaddrs(list);
  if (!found)
    cr_skip_test("no link-local address on this host");

  open_endpoint(&a, "::", 4);
  open_endpoint(&b, "::", 4);
  b.echo = true;
  coap_remote to_b;
  memset(&to_b, 0, sizeof(to_b));
  to_b.addr = ll;
  to_b.addr.sin6_port = b.addr.sin6_port;
  cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"ll", 2), 0);
  run_until(&a.received, 1);
  cr_expect(IN6_IS_ADDR_LINKLOCAL(&b.last_remote.addr.sin6_addr));
  cr_expect_eq(b.last_remote.addr.sin6_scope_id, ll.sin6_scope_id);
  cr_expect_eq(b.last_remote.local_ifindex, ll.sin6_scope_id);
  cr_expect_eq(a.last_remote.addr.sin6_scope_id, ll.sin6_scope_id);
  close_endpoint(&a);
  close_endpoint(&b);
}

/* STYLE.md: no allocation per datagram in steady state. */
UDP6_TEST(steady_state_does_not_allocate) {
  open_endpoint(&a, "::1", 8);
  open_endpoint(&b, "::1", 8);
  b.echo = true;
  coap_remote to_b = remote_at("::1", b.addr.sin6_port);
  long before = coap_test_total_allocations;
  for (int i = 0; i < 200; i++) {
    cr_assert_eq(coap__udp6_send(a.t, &to_b, (const uint8_t *)"ping", 4), 0);
    run_until(&a.received, i + 1);
  }
  cr_expect_eq(coap_test_total_allocations, before);
  close_endpoint(&a);
  close_endpoint(&b);
}
