/*
 * aiocoap-client: a command-line CoAP client, as aiocoap's aiocoap-client.
 *
 * Usage: aiocoap-client [-m METHOD] [--non] [--payload TEXT]
 *                       [--payload-file FILE] [--content-format CT]
 *                       [--accept CT] [-v] URI
 *
 * Prints the response payload; an unsuccessful response is printed with its
 * code first and the exit status is 1.  Transport errors exit with 2.
 */
#include <aiocoap/aiocoap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [-m METHOD] [--non] [--payload TEXT] "
          "[--payload-file FILE] [--content-format CT] [--accept CT] [-v] "
          "URI\n",
          argv0);
  exit(2);
}

static int content_format_arg(const char *text) {
  char *end;
  long n = strtol(text, &end, 10);
  if (*end == '\0' && n >= 0 && n <= 65535)
    return (int)n;
  return coap_content_format_from_name(text);
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  size_t got;
  while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *bigger = realloc(buf, cap *= 2);
      if (bigger == NULL) {
        free(buf);
        buf = NULL;
      }
      buf = bigger;
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

int main(int argc, char **argv) {
  const char *method = "GET", *payload = NULL, *payload_file = NULL;
  const char *uri = NULL;
  int content_format = -1, accept = -1;
  bool non = false, verbose = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if ((strcmp(a, "-m") == 0 || strcmp(a, "--method") == 0) && i + 1 < argc)
      method = argv[++i];
    else if (strcmp(a, "--payload") == 0 && i + 1 < argc)
      payload = argv[++i];
    else if (strcmp(a, "--payload-file") == 0 && i + 1 < argc)
      payload_file = argv[++i];
    else if (strcmp(a, "--content-format") == 0 && i + 1 < argc)
      content_format = content_format_arg(argv[++i]);
    else if (strcmp(a, "--accept") == 0 && i + 1 < argc)
      accept = content_format_arg(argv[++i]);
    else if (strcmp(a, "--non") == 0)
      non = true;
    else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
      verbose = true;
    else if (a[0] == '-' || uri != NULL)
      usage(argv[0]);
    else
      uri = a;
  }
  if (uri == NULL)
    usage(argv[0]);
  int code = coap_code_from_string(method);
  if (code < 0 || !coap_code_is_request((uint8_t)code)) {
    fprintf(stderr, "unknown method %s\n", method);
    return 2;
  }

  coap_message *msg;
  if (coap_message_new(&msg) < 0)
    return 2;
  msg->code = (uint8_t)code;
  if (non)
    msg->mtype = COAP_TYPE_NON;
  int rc = coap_message_set_request_uri(msg, uri, true);
  if (rc < 0) {
    fprintf(stderr, "bad URI %s: %s\n", uri, coap_strerror(rc));
    coap_message_free(msg);
    return 2;
  }
  if (payload != NULL)
    coap_message_set_payload_string(msg, payload);
  if (payload_file != NULL) {
    size_t len;
    uint8_t *data = read_file(payload_file, &len);
    if (data == NULL) {
      fprintf(stderr, "cannot read %s\n", payload_file);
      coap_message_free(msg);
      return 2;
    }
    coap_message_set_payload(msg, data, len);
    free(data);
  }
  if (content_format >= 0)
    coap_options_set_content_format(&msg->opt, (uint16_t)content_format);
  if (accept >= 0)
    coap_options_set_accept(&msg->opt, (uint16_t)accept);

  uv_loop_t loop;
  uv_loop_init(&loop);
  coap_context *ctx;
  rc = coap_context_create_client_context(&loop, NULL, &ctx);
  if (rc < 0) {
    fprintf(stderr, "cannot create context: %s\n", coap_strerror(rc));
    coap_message_free(msg);
    return 2;
  }
  coap_request *req;
  int status = 0;
  rc = coap_context_request(ctx, msg, NULL, &req);
  if (rc < 0) {
    fprintf(stderr, "request failed: %s\n", coap_strerror(rc));
    status = 2;
  } else {
    coap_future *f = coap_request_response(req);
    rc = coap_run_until_complete(&loop, f);
    if (rc < 0) {
      fprintf(stderr, "request failed: %s\n", coap_strerror(rc));
      status = 2;
    } else {
      const coap_message *resp = coap_future_result(f);
      char line[512];
      if (verbose) {
        coap_message_describe(resp, line, sizeof line);
        fprintf(stderr, "%s\n", line);
      }
      if (!coap_code_is_successful(resp->code)) {
        char dotted[5];
        const char *name = coap_code_name(resp->code);
        printf("%s %s\n", coap_code_dotted(resp->code, dotted),
               name != NULL ? name : "");
        status = 1;
      }
      if (resp->payload_len > 0) {
        fwrite(resp->payload, 1, resp->payload_len, stdout);
        if (resp->payload[resp->payload_len - 1] != '\n')
          putchar('\n');
      }
    }
    coap_request_unref(req);
  }
  coap_context_shutdown(ctx, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return status;
}
