/*
 * bench-blockwise: what an RFC 7959 Block2 download costs end to end.  One
 * process runs a server context with a resource of SIZE bytes and a client
 * context on the same loop over loopback, then GETs the resource N times
 * one after the other and prints the time per GET and the throughput.  A
 * program that prints figures, not a test (STYLE.md, Tests); compare with
 * `coap-client-notls -b 1024` against coap-server-notls.
 *
 * Usage: bench-blockwise [-n GETS] [-s SIZE] [--szx SZX]
 * Defaults: 20 GETs of 1 MiB in 1024-byte blocks (SZX 6).
 */
#include <aiocoap/aiocoap.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *body;
static size_t body_len;

static int body_get(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  coap_options_set_content_format(&resp->opt, COAP_CT_OCTET_STREAM);
  coap_message_set_payload_borrowed(resp, body, body_len);
  return 0;
}

static void on_done(coap_future *f, void *data) {
  (void)f;
  *(bool *)data = true;
}

/* One GET to the end; returns the error and checks the body. */
static int get_once(uv_loop_t *loop, coap_context *client, const char *uri) {
  coap_message *msg;
  if (coap_message_new(&msg) < 0)
    return COAP_ENOMEM;
  msg->code = COAP_CODE_GET;
  int rc = coap_message_set_request_uri(msg, uri, true);
  if (rc < 0) {
    coap_message_free(msg);
    return rc;
  }
  coap_request *req;
  rc = coap_context_request(client, msg, NULL, &req);
  if (rc < 0)
    return rc;
  coap_future *f = coap_request_response(req);
  bool done = false;
  coap_future_add_done_callback(f, on_done, &done);
  while (!done && uv_run(loop, UV_RUN_ONCE) != 0)
    ;
  rc = coap_future_error(f);
  const coap_message *resp = coap_future_result(f);
  if (rc == 0 && (resp->payload_len != body_len ||
                  memcmp(resp->payload, body, body_len) != 0))
    rc = COAP_EUNEXPECTED_BLOCK2;
  coap_request_unref(req);
  return rc;
}

int main(int argc, char **argv) {
  unsigned gets = 20;
  size_t size = 1u << 20;
  int szx = COAP_DEFAULT_BLOCK_SIZE_EXP;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
      gets = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
      size = (size_t)strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--szx") == 0 && i + 1 < argc)
      szx = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: %s [-n GETS] [-s SIZE] [--szx SZX]\n", argv[0]);
      return 2;
    }
  }
  if (gets == 0 || szx < 0 || szx > 6)
    return 2;
  body_len = size;
  body = malloc(size ? size : 1);
  for (size_t i = 0; i < size; i++)
    body[i] = (uint8_t)(i * 31 + (i >> 10));

  uv_loop_t *loop = uv_default_loop();
  coap_context_config config;
  coap_context_config_default(&config);
  config.block_size_exp = (uint8_t)szx;
  config.max_body_size = size + 1;
  coap_site *site;
  coap_resource *res;
  static const coap_resource_methods methods = {.render_get = body_get};
  coap_context *server, *client;
  if (coap_site_new(&site) < 0 ||
      coap_resource_new_methods(&methods, NULL, &res) < 0 ||
      coap_site_add_resource_path(site, "body", res) < 0 ||
      coap_context_create_server_context(loop, site, "[::1]:0", &config,
                                         &server) < 0 ||
      coap_context_create_client_context(loop, &config, &client) < 0) {
    fprintf(stderr, "bench-blockwise: setup failed\n");
    return 1;
  }
  coap_resource_unref(res);
  struct sockaddr_in6 addr;
  coap_context_local_address(server, &addr);
  char uri[64];
  snprintf(uri, sizeof uri, "coap://[::1]:%u/body", ntohs(addr.sin6_port));

  int rc = get_once(loop, client, uri); /* warm-up: pools and caches */
  uint64_t start = uv_hrtime();
  for (unsigned i = 0; rc == 0 && i < gets; i++)
    rc = get_once(loop, client, uri);
  double elapsed = (double)(uv_hrtime() - start) / 1e9;
  if (rc < 0) {
    fprintf(stderr, "bench-blockwise: %s\n", coap_strerror(rc));
  } else {
    size_t blocks = (size + coap_block_size((uint8_t)szx) - 1) /
                    coap_block_size((uint8_t)szx);
    printf("%u GETs of %zu bytes in %zu blocks of %zu: %.2f ms per GET, "
           "%.1f MB/s, %.1f us per block\n",
           gets, size, blocks, coap_block_size((uint8_t)szx),
           elapsed * 1e3 / gets, (double)size * gets / elapsed / 1e6,
           elapsed * 1e6 / gets / (double)(blocks ? blocks : 1));
  }
  coap_context_shutdown(client, NULL, NULL);
  coap_context_shutdown(server, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  coap_site_unref(site);
  uv_loop_close(loop);
  free(body);
  return rc < 0 ? 1 : 0;
}
