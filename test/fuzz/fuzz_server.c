/*
 * libFuzzer target for the whole server path: datagrams from the input go
 * over loopback UDP to a server context serving the example server's own
 * resources (cli/example_site.c: /time, /other/block, /other/separate,
 * /.well-known/core, exactly as aiocoap-server runs them) and, beside
 * them, a plain resource, a path-capable one, a large one (Block2 with
 * ETags, FETCH), an upload target (Block1) and an observable one.
 * Whatever arrives, the server must not crash, hang, leak or trip a
 * sanitizer.
 *
 * Input: [len][datagram][len][datagram]...; a byte 0xFF as len notifies the
 * observers instead.
 */
#include <aiocoap/aiocoap.h>
#include <aiocoap/observation.h>

#include "example_site.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static coap_context *server;
static coap_resource *observable;
static int peer = -1;
static struct sockaddr_in6 server_addr;
static uint8_t big[5000];
static uint8_t stored[4096];
static size_t stored_len;

static int get_text(coap_resource *r, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)r;
  (void)later;
  char path[256];
  if (coap_options_get_uri_path_string(&req->opt, path, sizeof path) < 0)
    path[0] = '\0';
  return coap_message_set_payload_string(resp, path);
}

static int get_big(coap_resource *r, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)r;
  (void)req;
  (void)later;
  coap_message_set_payload_borrowed(resp, big, sizeof big);
  return coap_hashing_etag(req, resp);
}

static int put_store(coap_resource *r, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)r;
  (void)resp;
  (void)later;
  if (req->payload_len > sizeof stored)
    return COAP_EREQUEST_ENTITY_TOO_LARGE;
  if (req->payload_len > 0)
    memcpy(stored, req->payload, req->payload_len);
  stored_len = req->payload_len;
  return 0;
}

static int get_store(coap_resource *r, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)r;
  (void)req;
  (void)later;
  coap_message_set_payload_borrowed(resp, stored, stored_len);
  return 0;
}

static void add(coap_site *site, const char *path, coap_resource *res) {
  if (coap_site_add_resource_path(site, path, res) != 0)
    abort();
  coap_resource_unref(res);
}

static void setup(void) {
  static const coap_resource_methods text = {.render_get = get_text,
                                             .render_post = get_text};
  static const coap_resource_methods large = {.render_get = get_big,
                                              .render_fetch = get_big};
  static const coap_resource_methods store = {.render_get = get_store,
                                              .render_put = put_store};
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)('a' + i % 26);
  uv_loop_init(&loop);
  example_site *example;
  if (example_site_new(&loop, &example) != 0)
    abort();
  coap_site *site = example_site_site(example);
  coap_resource *res;
  coap_resource_new_methods(&text, NULL, &res);
  add(site, "text", res);
  coap_resource_new_methods(&text, NULL, &res);
  coap_resource_set_path_capable(res, true);
  add(site, "deep", res);
  coap_resource_new_methods(&large, NULL, &res);
  add(site, "big", res);
  coap_resource_new_methods(&store, NULL, &res);
  add(site, "store", res);
  coap_observable_resource_new_methods(&text, NULL, NULL, &observable);
  coap_site_add_resource_path(site, "obs", observable);
  coap_context_config config;
  coap_context_config_default(&config);
  config.dedup_entries = 64;
  config.max_observers = 32;
  config.transmission.max_retransmit = 1;
  config.transmission.ack_timeout_ms = 10;
  if (coap_context_create_server_context(&loop, site, "[::1]:0", &config,
                                         &server) != 0)
    abort();
  coap_context_local_address(server, &server_addr);
  peer = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in6 any = {.sin6_family = AF_INET6,
                             .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  bind(peer, (struct sockaddr *)&any, sizeof any);
}

/* Lets the server handle everything sent so far and drains its answers. */
static void settle(void) {
  uint8_t buf[2048];
  for (int round = 0; round < 4; round++) {
    struct pollfd pfd = {.fd = peer, .events = POLLIN};
    uv_run(&loop, UV_RUN_NOWAIT);
    poll(&pfd, 1, 0);
    while (recv(peer, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (server == NULL)
    setup();
  size_t i = 0;
  while (i < size) {
    size_t len = data[i++];
    if (len == 0xff) {
      coap_observable_resource_updated_state(observable, NULL);
      continue;
    }
    if (len > size - i)
      len = size - i;
    sendto(peer, data + i, len, 0, (struct sockaddr *)&server_addr,
           sizeof server_addr);
    i += len;
  }
  settle();
  return 0;
}
