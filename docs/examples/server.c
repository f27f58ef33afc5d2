/*
 * aiocoap's example server.py in C: /other/block (GET and PUT, large
 * enough for blockwise transfer), /other/separate (answers after three
 * seconds, so as a separate response), /time (observable: it notifies
 * every few seconds while it is observed) and /.well-known/core.
 *
 *   server [PORT [SECONDS]]    PORT defaults to 5683, SECONDS to 6
 */
#include <aiocoap/aiocoap.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uv_loop_t *loop;

/* BlockResource */
static char *block_content;

static int block_get(coap_resource *res, coap_message *request,
                     coap_message *response, coap_future **later) {
  return coap_message_set_payload_string(response, block_content);
}

static int block_put(coap_resource *res, coap_message *request,
                     coap_message *response, coap_future **later) {
  printf("PUT payload: %.*s\n", (int)request->payload_len,
         (const char *)request->payload);
  char *copy = strndup((const char *)request->payload, request->payload_len);
  if (copy == NULL)
    return COAP_ENOMEM;
  free(block_content);
  block_content = copy;
  return coap_message_set_payload_string(
      response, "I've accepted the new payload.");
}

/* SeparateLargeResource: the render hands back a future that a timer
 * resolves three seconds later. */
static void free_timer(uv_handle_t *timer) { free(timer); }

static void answer_now(uv_timer_t *timer) {
  coap_message *msg;
  if (coap_message_new(&msg) == 0) {
    coap_message_set_payload_string(
        msg, "Three rings for the elven kings under the sky, seven rings "
             "for dwarven lords in their halls of stone, nine rings for "
             "mortal men doomed to die, one ring for the dark lord on his "
             "dark throne.");
    coap_future_resolve(timer->data, msg, coap_message_free_result);
  }
  coap_future_unref(timer->data);
  uv_close((uv_handle_t *)timer, free_timer);
}

static int separate_get(coap_resource *res, coap_message *request,
                        coap_message *response, coap_future **later) {
  uv_timer_t *timer = malloc(sizeof *timer);
  coap_future *answer;
  if (timer == NULL || coap_future_new(loop, &answer) < 0) {
    free(timer);
    return COAP_ENOMEM;
  }
  uv_timer_init(loop, timer);
  timer->data = coap_future_ref(answer);
  uv_timer_start(timer, answer_now, 3000, 0);
  *later = answer; /* the library takes this reference */
  return 0;
}

/* TimeResource: notify() calls updated_state and schedules itself again. */
static uv_timer_t clock_timer;
static coap_resource *time_resource;

static void notify(uv_timer_t *timer) {
  coap_observable_resource_updated_state(time_resource, NULL);
}

static void update_observation_count(coap_resource *res, size_t count) {
  if (count)
    printf("Keeping the clock nearby to trigger observations\n");
  else
    printf("Stowing away the clock until someone asks again\n");
  fflush(stdout);
}

static int time_get(coap_resource *res, coap_message *request,
                    coap_message *response, coap_future **later) {
  char text[32];
  time_t now = time(NULL);
  strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", localtime(&now));
  return coap_message_set_payload_string(response, text);
}

static void add(coap_site *site, const char *path, coap_resource *res) {
  coap_site_add_resource_path(site, path, res);
  coap_resource_unref(res); /* the site keeps its own reference */
}

static void on_signal(uv_signal_t *sig, int signum) { uv_stop(sig->loop); }

int main(int argc, char **argv) {
  char bind[32];
  snprintf(bind, sizeof bind, "[::]:%s", argc > 1 ? argv[1] : "5683");
  unsigned seconds = argc > 2 ? (unsigned)atoi(argv[2]) : 6;
  loop = uv_default_loop();
  block_content = strdup("This is the resource's default content. It is "
                         "padded with numbers to be large enough to trigger "
                         "blockwise transfer.\n");
  for (int i = 0; i < 100; i++) {
    block_content = realloc(block_content, strlen(block_content) + 12);
    strcat(block_content, "0123456789\n");
  }

  static const coap_resource_methods block = {.render_get = block_get,
                                              .render_put = block_put};
  static const coap_resource_methods separate = {.render_get = separate_get};
  static const coap_resource_methods clock = {.render_get = time_get};
  coap_site *site;
  coap_resource *res;
  coap_site_new(&site);
  coap_wkc_resource_new(site, &res);
  add(site, ".well-known/core", res);
  coap_observable_resource_new_methods(&clock, update_observation_count, NULL,
                                       &time_resource);
  add(site, "time", time_resource);
  coap_resource_new_methods(&block, NULL, &res);
  add(site, "other/block", res);
  coap_resource_new_methods(&separate, NULL, &res);
  add(site, "other/separate", res);

  coap_context *ctx;
  int err = coap_context_create_server_context(loop, site, bind, NULL, &ctx);
  coap_site_unref(site); /* the context has its own reference */
  if (err < 0) {
    fprintf(stderr, "server: %s\n", coap_strerror(err));
    return 1;
  }
  uv_timer_init(loop, &clock_timer);
  uv_timer_start(&clock_timer, notify, seconds * 1000, seconds * 1000);
  uv_signal_t sigint;
  uv_signal_init(loop, &sigint);
  uv_signal_start_oneshot(&sigint, on_signal, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT); /* until SIGINT */

  uv_close((uv_handle_t *)&clock_timer, NULL);
  uv_close((uv_handle_t *)&sigint, NULL);
  coap_context_shutdown(ctx, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  free(block_content);
  return 0;
}
