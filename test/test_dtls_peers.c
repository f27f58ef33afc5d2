/*
 * The DTLS transport against real peers: libcoap's coap-client-openssl
 * and coap-client-gnutls against a listening transport of ours (which
 * answers each CoAP request itself, by hand), and a client transport of
 * ours against coap-server-openssl and coap-server-gnutls, with PSK and
 * with certificates made at test time.  The peers run as processes; every
 * wait is bounded.
 */
#include "test_common.h"

#include "dtls_test_pki.h"
#include "transports/dtls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

extern char **environ;

static uv_loop_t loop;
static uv_timer_t safety, tick;
static bool timed_out;
static dtls_test_pki pki;
static coap__transport *ours;
static struct sockaddr_in6 our_addr;
static int requests, answers, errors, last_err;
static char last_detail[256];
static uint8_t answer[1024];
static size_t answer_len;
static pid_t peer_pid = -1;
static char peer_log[160];
/* Set by a test before open_ours; 0 keeps the default. */
static uint32_t handshake_timeout_ms;

static const char PSK[] = "secret-key-0123";
static const char IDENTITY[] = "client1";
static const char PAYLOAD[] = "answered over dtls";

/* RFC 7252 §3, §5.2.1: a piggybacked 2.05 for a CON request, with its
 * MID and token. */
static size_t answer_request(const uint8_t *req, size_t len, uint8_t *out) {
  size_t tkl = req[0] & 0x0f;
  out[0] = (uint8_t)(0x60 | tkl);
  out[1] = 0x45;
  out[2] = req[2];
  out[3] = req[3];
  memcpy(out + 4, req + 4, tkl);
  out[4 + tkl] = 0xff;
  memcpy(out + 5 + tkl, PAYLOAD, sizeof PAYLOAD - 1);
  (void)len;
  return 5 + tkl + sizeof PAYLOAD - 1;
}

static void on_recv(void *user_data, const uint8_t *data, size_t len,
                    const coap_remote *remote) {
  (void)user_data;
  /* A request (code class 0, not empty) is answered; anything else is an
   * answer to ours. */
  if (len >= 4 && (data[1] >> 5) == 0 && data[1] != 0 &&
      (data[0] & 0x0f) <= 8 && len >= 4 + (size_t)(data[0] & 0x0f)) {
    requests++;
    uint8_t out[128];
    size_t n = answer_request(data, len, out);
    cr_assert_eq(ours->ops->send(ours, remote, out, n), 0);
    return;
  }
  answers++;
  cr_assert_leq(len, sizeof answer);
  memcpy(answer, data, len);
  answer_len = len;
}

static void on_error(void *user_data, const coap_remote *remote, int err,
                     const char *detail, bool fatal) {
  (void)user_data, (void)remote, (void)fatal;
  errors++;
  last_err = err;
  snprintf(last_detail, sizeof last_detail, "%s", detail ? detail : "");
}

static const coap__transport_callbacks callbacks = {on_recv, on_error, NULL};

static void on_safety(uv_timer_t *timer) {
  (void)timer;
  timed_out = true;
  uv_stop(&loop);
}

static void on_tick(uv_timer_t *timer) {
  (void)timer;
}

static void setup(void) {
  coap_test_init();
  cr_assert_eq(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &safety);
  uv_unref((uv_handle_t *)&safety);
  uv_timer_init(&loop, &tick);
  uv_unref((uv_handle_t *)&tick);
  /* The loop wakes every 10 ms to look at the peer process. */
  uv_timer_start(&tick, on_tick, 10, 10);
  timed_out = false;
  ours = NULL;
  requests = answers = errors = last_err = 0;
  answer_len = 0;
  peer_pid = -1;
  handshake_timeout_ms = 0;
  cr_assert(dtls_test_pki_make(&pki), "test certificates");
  snprintf(peer_log, sizeof peer_log, "%s/peer.log", pki.dir);
}

static void stop_peer(void) {
  if (peer_pid <= 0)
    return;
  kill(peer_pid, SIGTERM);
  waitpid(peer_pid, NULL, 0);
  peer_pid = -1;
}

static void teardown(void) {
  stop_peer();
  unlink(peer_log);
  if (ours != NULL)
    ours->ops->close(ours, NULL);
  ours = NULL;
  uv_close((uv_handle_t *)&safety, NULL);
  uv_close((uv_handle_t *)&tick, NULL);
  int rc = uv_loop_close(&loop);
  for (int i = 0; rc == UV_EBUSY && i < 100; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    rc = uv_loop_close(&loop);
  }
  dtls_test_pki_remove(&pki);
  cr_assert_eq(rc, 0, "handles left on the loop");
  coap_test_check_leaks();
}

#define PEER_TEST(name, ...)                                                   \
  static void peers_##name##_body(void);                                       \
  Test(dtls_peers, name, .init = setup, .timeout = 60, ##__VA_ARGS__) {        \
    peers_##name##_body();                                                     \
    teardown();                                                                \
  }                                                                            \
  static void peers_##name##_body(void)

static struct sockaddr_in6 loopback(uint16_t port) {
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  cr_assert_eq(inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr), 1);
  return a;
}

static uint16_t free_udp_port(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static void spawn_peer(char *const argv[]) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, peer_log,
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  int rc = posix_spawnp(&peer_pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  cr_assert_eq(rc, 0, "spawning %s", argv[0]);
}

static void read_log(char *buf, size_t cap) {
  buf[0] = '\0';
  FILE *f = fopen(peer_log, "r");
  if (f == NULL)
    return;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
}

/* Runs the loop until the peer exits; its exit status. */
static int run_until_peer_exits(uint64_t ms) {
  timed_out = false;
  uv_timer_start(&safety, on_safety, ms, 0);
  int status = -1;
  while (!timed_out) {
    pid_t r = waitpid(peer_pid, &status, WNOHANG);
    if (r == peer_pid) {
      peer_pid = -1;
      break;
    }
    uv_run(&loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&safety);
  cr_assert_not(timed_out, "the peer did not exit");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void open_ours(bool listen, coap_credentials *creds) {
  coap__dtls_config config;
  coap__dtls_config_default(&config);
  if (handshake_timeout_ms > 0)
    config.handshake_timeout_ms = handshake_timeout_ms;
  config.listen = listen;
  config.server_credentials = creds;
  struct sockaddr_in6 bind = loopback(0);
  char err[256];
  int rc = coap__dtls_open(&loop, &bind, &config, &callbacks, NULL, &ours, err,
                           sizeof err);
  cr_assert_eq(rc, 0, "%s: %s", coap_strerror(rc), err);
  cr_assert_eq(ours->ops->local_address(ours, &our_addr), 0);
  coap_credentials_unref(creds);
}

static coap_credentials *psk_and_cert(const char *client_ca) {
  coap_credentials *c;
  cr_assert_eq(coap_credentials_new(&c), 0);
  coap_credential psk = {0};
  psk.psk = (const uint8_t *)PSK;
  psk.psk_len = strlen(PSK);
  psk.client_identity = (const uint8_t *)IDENTITY;
  psk.client_identity_len = strlen(IDENTITY);
  cr_assert_eq(coap_credentials_add(c, ":client", &psk), 0);
  coap_credential cert = {0};
  cert.certfile = pki.server_cert;
  cert.keyfile = pki.server_key;
  cert.cafile = client_ca;
  cr_assert_eq(coap_credentials_add(c, "coaps://*", &cert), 0);
  return c;
}

static void expect_client_output(const char *tool, int status) {
  char log[4096];
  read_log(log, sizeof log);
  cr_assert_eq(status, 0, "%s exit status; it said: %s", tool, log);
  cr_assert(strstr(log, PAYLOAD) != NULL, "%s printed: %s", tool, log);
  cr_assert_geq(requests, 1);
}

static void libcoap_client_psk(const char *tool) {
  open_ours(true, psk_and_cert(NULL));
  char uri[128];
  snprintf(uri, sizeof uri, "coaps://127.0.0.1:%u/hello",
           ntohs(our_addr.sin6_port));
  char *argv[] = {(char *)tool, "-k", (char *)PSK, "-u", (char *)IDENTITY,
                  "-B",         "10", uri,         NULL};
  spawn_peer(argv);
  expect_client_output(tool, run_until_peer_exits(20000));
  coap__dtls_stats st;
  coap__dtls_get_stats(ours, &st);
  cr_assert_geq(st.handshakes_done, 1);
}

PEER_TEST(openssl_client_psk) {
  libcoap_client_psk("coap-client-openssl");
}

PEER_TEST(gnutls_client_psk) {
  libcoap_client_psk("coap-client-gnutls");
}

static void libcoap_client_cert(const char *tool) {
  /* Client certificates required (the CA given for them). */
  open_ours(true, psk_and_cert(pki.ca));
  char uri[128];
  snprintf(uri, sizeof uri, "coaps://127.0.0.1:%u/hello",
           ntohs(our_addr.sin6_port));
  char *argv[] = {(char *)tool,
                  "-c",
                  pki.client_cert,
                  "-j",
                  pki.client_key,
                  "-C",
                  pki.ca,
                  "-B",
                  "10",
                  uri,
                  NULL};
  spawn_peer(argv);
  expect_client_output(tool, run_until_peer_exits(20000));
}

PEER_TEST(openssl_client_certificates) {
  libcoap_client_cert("coap-client-openssl");
}

PEER_TEST(gnutls_client_certificates) {
  libcoap_client_cert("coap-client-gnutls");
}

static bool answered(void) {
  return answers > 0;
}

/* Our client against a libcoap server: GET / until it answers (the
 * server may still be starting: a refused attempt is tried again). */
static void get_from(uint16_t port, const coap__credential *cred,
                     const char *host) {
  coap_remote to;
  memset(&to, 0, sizeof to);
  to.addr = loopback(port);
  static const uint8_t get[] = {0x41, 0x01, 0x12, 0x34, 0x42};
  timed_out = false;
  uv_timer_start(&safety, on_safety, 20000, 0);
  int attempts = 0;
  uint64_t next_attempt = 0;
  while (!answered() && !timed_out) {
    coap__dtls_stats st;
    coap__dtls_get_stats(ours, &st);
    /* Attempts 100 ms apart (the tick wakes the loop). */
    if (st.sessions == 0 && uv_now(&loop) >= next_attempt) {
      next_attempt = uv_now(&loop) + 100;
      cr_assert_lt(attempts++, 50, "the server never answered: %s",
                   last_detail);
      cr_assert_eq(ours->ops->prepare(ours, &to, cred, host), 0);
      cr_assert_eq(ours->ops->send(ours, &to, get, sizeof get), 0);
    }
    uv_run(&loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&safety);
  cr_assert_not(timed_out, "no answer (%d errors, last %s: %s)", errors,
                coap_err_name(last_err), last_detail);
  cr_assert_geq(answer_len, 5);
  cr_assert_eq(answer[0] & 0xf0, 0x60, "an ACK");
  cr_assert_eq(answer[1], 0x45, "2.05 Content");
  cr_assert_eq(answer[2], 0x12);
  cr_assert_eq(answer[3], 0x34);
  cr_assert_eq(answer[4], 0x42, "our token");
}

static void libcoap_server_psk(const char *tool) {
  open_ours(false, NULL);
  uint16_t port = free_udp_port();
  /* coap-server(5): DTLS on -p's port + 1. */
  char p[8];
  snprintf(p, sizeof p, "%u", port - 1);
  char *argv[] = {(char *)tool, "-A",        "127.0.0.1", "-p",   p,
                  "-k",         (char *)PSK, "-h",        "hint", NULL};
  spawn_peer(argv);
  coap__credential cred = {0};
  cred.psk = (uint8_t *)PSK;
  cred.psk_len = strlen(PSK);
  cred.client_identity = (uint8_t *)IDENTITY;
  cred.client_identity_len = strlen(IDENTITY);
  get_from(port, &cred, "127.0.0.1");
}

PEER_TEST(openssl_server_psk) {
  libcoap_server_psk("coap-server-openssl");
}

PEER_TEST(gnutls_server_psk) {
  libcoap_server_psk("coap-server-gnutls");
}

static void libcoap_server_cert(const char *tool) {
  open_ours(false, NULL);
  uint16_t port = free_udp_port();
  char p[8];
  snprintf(p, sizeof p, "%u", port - 1);
  char *argv[] = {(char *)tool,    "-A", "127.0.0.1",    "-p", p,   "-c",
                  pki.server_cert, "-j", pki.server_key, "-n", NULL};
  spawn_peer(argv);
  coap__credential cred = {0};
  cred.cafile = pki.ca;
  get_from(port, &cred, "127.0.0.1");
}

PEER_TEST(openssl_server_certificate) {
  libcoap_server_cert("coap-server-openssl");
}

PEER_TEST(gnutls_server_certificate) {
  libcoap_server_cert("coap-server-gnutls");
}

/* A wrong key against libcoap's servers: what our client reports.  An
 * OpenSSL server drops the Finished it cannot authenticate (RFC 6347
 * §4.1.2.7), so ours fails at its handshake timeout, 3 s here; a GnuTLS
 * server closes with close_notify at once. */
static void libcoap_server_wrong_psk(const char *tool) {
  handshake_timeout_ms = 3000;
  open_ours(false, NULL);
  uint16_t port = free_udp_port();
  char p[8];
  snprintf(p, sizeof p, "%u", port - 1);
  char *argv[] = {(char *)tool, "-A",        "127.0.0.1", "-p", p,
                  "-k",         (char *)PSK, NULL};
  spawn_peer(argv);
  coap__credential cred = {0};
  cred.psk = (uint8_t *)"wrong-key";
  cred.psk_len = 9;
  cred.client_identity = (uint8_t *)IDENTITY;
  cred.client_identity_len = strlen(IDENTITY);
  coap_remote to;
  memset(&to, 0, sizeof to);
  to.addr = loopback(port);
  static const uint8_t get[] = {0x41, 0x01, 0x12, 0x34, 0x42};
  timed_out = false;
  uv_timer_start(&safety, on_safety, 30000, 0);
  uint64_t next_attempt = 0;
  int attempts = 0;
  while (!timed_out && (errors == 0 || last_err == COAP_ECONNREFUSED)) {
    coap__dtls_stats st;
    coap__dtls_get_stats(ours, &st);
    if (st.sessions == 0 && uv_now(&loop) >= next_attempt) {
      cr_assert_lt(attempts++, 50, "the server never came up");
      next_attempt = uv_now(&loop) + 100;
      errors = 0;
      cr_assert_eq(ours->ops->prepare(ours, &to, &cred, "127.0.0.1"), 0);
      cr_assert_eq(ours->ops->send(ours, &to, get, sizeof get), 0);
    }
    uv_run(&loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&safety);
  coap__dtls_stats st;
  coap__dtls_get_stats(ours, &st);
  cr_assert_not(timed_out,
                "no failure reported (%llu sessions, %llu handshaking, %llu "
                "done, %llu failed, %d answers)",
                (unsigned long long)st.sessions,
                (unsigned long long)st.handshaking,
                (unsigned long long)st.handshakes_done,
                (unsigned long long)st.handshakes_failed, answers);
  fprintf(stderr, "note: wrong PSK against %s: %s \"%s\"\n", tool,
          coap_err_name(last_err), last_detail);
  cr_assert(last_err == COAP_EALERT || last_err == COAP_EHANDSHAKE, "%s",
            coap_err_name(last_err));
  cr_assert_eq(answers, 0);
}

PEER_TEST(openssl_server_wrong_psk) {
  libcoap_server_wrong_psk("coap-server-openssl");
}

PEER_TEST(gnutls_server_wrong_psk) {
  libcoap_server_wrong_psk("coap-server-gnutls");
}
