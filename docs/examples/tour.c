/*
 * The guided tour's requests (docs/tour.md) as one program: a GET that gets
 * a separate response, then three GETs in flight at once, printed in the
 * order their answers arrive (aiocoap's asyncio.as_completed example).
 *
 *   tour [BASE]        BASE defaults to coap://localhost
 */
#include <aiocoap/aiocoap.h>

#include <stdio.h>

static coap_request *get(coap_context *ctx, const char *base, const char *path) {
  char uri[256];
  snprintf(uri, sizeof uri, "%s%s", base, path);
  coap_message *msg;
  coap_request *req = NULL;
  if (coap_message_new(&msg) == 0) {
    msg->code = COAP_CODE_GET;
    if (coap_message_set_request_uri(msg, uri, true) == 0)
      coap_context_request(ctx, msg, NULL, &req); /* takes msg */
    else
      coap_message_free(msg);
  }
  return req;
}

static int print_response(coap_future *response) {
  int err = coap_future_error(response);
  if (err != 0) {
    fprintf(stderr, "Failed to fetch resource: %s\n", coap_strerror(err));
    return 1;
  }
  const coap_message *r = coap_future_result(response);
  char uri[256] = "", dotted[5];
  coap_message_get_request_uri(r, uri, sizeof uri);
  printf("Response from %s: %s %s, %.*s\n", uri,
         coap_code_dotted(r->code, dotted), coap_code_name(r->code),
         (int)r->payload_len, (const char *)r->payload);
  return 0;
}

int main(int argc, char **argv) {
  const char *base = argc > 1 ? argv[1] : "coap://localhost";
  uv_loop_t *loop = uv_default_loop();
  coap_context *ctx;
  if (coap_context_create_client_context(loop, NULL, &ctx) < 0)
    return 1;
  int failed = 0;

  /* response = await protocol.request(msg).response */
  coap_request *req = get(ctx, base, "/other/separate");
  if (req == NULL)
    return 1;
  coap_run_until_complete(loop, coap_request_response(req));
  failed |= print_response(coap_request_response(req));
  coap_request_unref(req);

  /* for f in asyncio.as_completed(responses): print(await f) */
  const char *paths[] = {"/time", "/other/block", "/.well-known/core"};
  coap_request *reqs[3];
  coap_future *responses[3];
  for (int i = 0; i < 3; i++) {
    if ((reqs[i] = get(ctx, base, paths[i])) == NULL)
      return 1;
    responses[i] = coap_request_response(reqs[i]);
  }
  coap_as_completed *it;
  if (coap_future_as_completed(loop, responses, 3, &it) < 0)
    return 1;
  for (coap_future *next; (next = coap_as_completed_next(it)) != NULL;) {
    coap_run_until_complete(loop, next);
    failed |= print_response(coap_future_result(next));
    coap_future_unref(next);
  }
  coap_as_completed_free(it);
  for (int i = 0; i < 3; i++)
    coap_request_unref(reqs[i]);

  coap_context_shutdown(ctx, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return failed;
}
