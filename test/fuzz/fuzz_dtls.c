/*
 * libFuzzer target for the DTLS transport's server side: datagrams from
 * the input are fed to a listening PSK endpoint through coap__dtls_inject,
 * from a handful of fake peers and, when the input's first byte says so,
 * from a real client of ours that has just completed a handshake with it
 * (so records reach an established session, not only the stateless
 * listener).  Whatever arrives, the endpoint must not crash, hang, leak
 * or trip a sanitizer, and must hold no more sessions than its limits.
 *
 * Input: [flags][peer][len][datagram][peer][len][datagram]...; flags bit 0
 * handshakes a real client first; peer's low bits pick the source (0: the
 * real client), len is one byte.
 */
#include "transports/dtls.h"

#include <aiocoap/error.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static coap__transport *server, *client;
static struct sockaddr_in6 server_addr, client_addr;
static int received;

static const uint8_t PSK[] = "fuzz-key";
static const uint8_t IDENTITY[] = "fuzzer";

static void on_recv(void *user_data, const uint8_t *data, size_t len,
                    const coap_remote *remote) {
  (void)user_data, (void)data, (void)len, (void)remote;
  received++;
}

static void on_error(void *user_data, const coap_remote *remote, int err,
                     const char *detail, bool fatal) {
  (void)user_data, (void)remote, (void)err, (void)detail, (void)fatal;
}

static const coap__transport_callbacks callbacks = {on_recv, on_error, NULL};

static struct sockaddr_in6 loopback(uint16_t port) {
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr);
  return a;
}

static void setup(void) {
  if (uv_loop_init(&loop) != 0)
    abort();
  coap_credentials *creds;
  coap_credential psk = {0};
  psk.psk = PSK;
  psk.psk_len = sizeof PSK - 1;
  psk.client_identity = IDENTITY;
  psk.client_identity_len = sizeof IDENTITY - 1;
  if (coap_credentials_new(&creds) != 0 ||
      coap_credentials_add(creds, ":client", &psk) != 0)
    abort();
  coap__dtls_config config;
  coap__dtls_config_default(&config);
  config.listen = true;
  config.server_credentials = creds;
  /* Small, so that the fuzzer can reach them. */
  config.max_sessions = 4;
  config.max_handshakes = 2;
  struct sockaddr_in6 bind = loopback(0);
  if (coap__dtls_open(&loop, &bind, &config, &callbacks, NULL, &server, NULL,
                      0) != 0)
    abort();
  coap_credentials_unref(creds);
  coap__dtls_config_default(&config);
  if (coap__dtls_open(&loop, &bind, &config, &callbacks, NULL, &client, NULL,
                      0) != 0 ||
      server->ops->local_address(server, &server_addr) != 0 ||
      client->ops->local_address(client, &client_addr) != 0)
    abort();
}

static void handshake(void) {
  coap__credential cred = {0};
  cred.psk = (uint8_t *)PSK;
  cred.psk_len = sizeof PSK - 1;
  cred.client_identity = (uint8_t *)IDENTITY;
  cred.client_identity_len = sizeof IDENTITY - 1;
  coap_remote to_server;
  memset(&to_server, 0, sizeof to_server);
  to_server.addr = server_addr;
  if (client->ops->prepare(client, &to_server, &cred, "x") != 0)
    return;
  coap__dtls_stats st;
  for (int i = 0; i < 200; i++) {
    coap__dtls_get_stats(client, &st);
    if (st.handshaking == 0)
      break;
    uv_run(&loop, UV_RUN_NOWAIT);
  }
}

static void forget_all(void) {
  coap_remote r;
  memset(&r, 0, sizeof r);
  r.addr = server_addr;
  client->ops->forget(client, &r);
  r.addr = client_addr;
  server->ops->forget(server, &r);
  for (uint16_t p = 1; p <= 4; p++) {
    r.addr = loopback(p);
    server->ops->forget(server, &r);
  }
  /* The close_notifys go, the ended sessions are freed. */
  for (int i = 0; i < 8; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (server == NULL)
    setup();
  if (size < 1)
    return 0;
  if (data[0] & 1)
    handshake();
  size_t i = 1;
  while (i + 2 <= size) {
    uint8_t who = data[i] & 3;
    size_t len = data[i + 1];
    i += 2;
    if (len > size - i)
      len = size - i;
    struct sockaddr_in6 from = who == 0 ? client_addr : loopback(who);
    coap__dtls_inject(server, data + i, len, &from);
    i += len;
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  coap__dtls_stats st;
  coap__dtls_get_stats(server, &st);
  if (st.sessions > 4 || st.handshaking > 2)
    abort();
  forget_all();
  return 0;
}
