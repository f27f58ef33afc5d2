/*
 * An observing client (RFC 7641): registers for /time, prints the first
 * response and COUNT notifications as they come, then cancels actively
 * (a GET with Observe 1) so the server forgets it at once.  aiocoap writes
 * this as `async for response in request.observation`.
 *
 *   observe [URI [COUNT]]    URI defaults to coap://localhost/time, COUNT 3
 */
#include <aiocoap/aiocoap.h>

#include <stdio.h>
#include <stdlib.h>

static void print(const coap_message *m) {
  printf("%.*s\n", (int)m->payload_len, (const char *)m->payload);
  fflush(stdout);
}

int main(int argc, char **argv) {
  const char *uri = argc > 1 ? argv[1] : "coap://localhost/time";
  int count = argc > 2 ? atoi(argv[2]) : 3;
  uv_loop_t *loop = uv_default_loop();
  coap_context *ctx;
  coap_message *msg;
  coap_request *req;
  if (coap_context_create_client_context(loop, NULL, &ctx) < 0 ||
      coap_message_new(&msg) < 0)
    return 1;
  msg->code = COAP_CODE_GET;
  if (coap_message_set_request_uri(msg, uri, true) < 0 ||
      coap_options_set_observe(&msg->opt, 0) < 0 ||
      coap_context_request(ctx, msg, NULL, &req) < 0)
    return 1;

  int err = coap_run_until_complete(loop, coap_request_response(req));
  if (err == 0)
    print(coap_future_result(coap_request_response(req)));
  coap_observation *obs = coap_request_observation(req); /* borrowed */
  for (int i = 0; err == 0 && i < count; i++) {
    coap_future *next = coap_observation_next(obs);
    err = coap_run_until_complete(loop, next);
    if (err == 0)
      print(coap_future_result(next));
    coap_future_unref(next);
  }
  if (err != 0)
    fprintf(stderr, "Observation is over: %s\n", coap_strerror(err));
  coap_observation_cancel(obs);

  coap_request_unref(req);
  coap_context_shutdown(ctx, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return err == 0 ? 0 : 1;
}
