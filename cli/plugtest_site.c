/*
 * The plugtest site put together (plugtest.h): each group adds its
 * resources; what they share (stored bodies, adding a resource) is here.
 */
#include "plugtest.h"

#include <stdlib.h>
#include <string.h>

void plugtest_config_default(plugtest_config *config) {
  config->obs_period_ms = PLUGTEST_OBS_PERIOD_DEFAULT_MS;
  config->separate_delay_ms = PLUGTEST_SEPARATE_DELAY_DEFAULT_MS;
}

int plugtest_body_set(plugtest_body *body, const coap_message *request) {
  if (request->payload_len > PLUGTEST_BODY_MAX)
    return COAP_EREQUEST_ENTITY_TOO_LARGE;
  uint8_t *copy = NULL;
  if (request->payload_len > 0) {
    copy = malloc(request->payload_len);
    if (copy == NULL)
      return COAP_ENOMEM;
    memcpy(copy, request->payload, request->payload_len);
  }
  free(body->data);
  body->data = copy;
  body->len = request->payload_len;
  body->has_cf = coap_options_get_content_format(&request->opt, &body->cf) == 0;
  if (!body->has_cf)
    body->cf = COAP_CT_TEXT_PLAIN;
  return 0;
}

void plugtest_body_clear(plugtest_body *body) {
  free(body->data);
  *body = (plugtest_body){0};
}

void plugtest_body_answer(const plugtest_body *body, coap_message *response) {
  /* Every 2.xx with a payload says what it is (RFC 7252 §5.5). */
  coap_options_set_content_format(&response->opt,
                                  body->has_cf ? body->cf : COAP_CT_TEXT_PLAIN);
  coap_message_set_payload_borrowed(response, body->data, body->len);
}

int plugtest_add(plugtest_site *s, const char *path,
                 const coap_resource_methods *methods, void *data,
                 const coap_link_attributes *attrs, bool observable,
                 coap_resource **out) {
  coap_resource *res;
  int rc = observable
               ? coap_observable_resource_new_methods(methods, NULL, data, &res)
               : coap_resource_new_methods(methods, data, &res);
  if (rc < 0)
    return rc;
  if (attrs != NULL)
    rc = coap_resource_set_link_attributes(res, attrs);
  if (rc == 0)
    rc = coap_site_add_resource_path(s->site, path, res);
  if (rc == 0 && out != NULL)
    *out = res;
  coap_resource_unref(res); /* the site holds it */
  return rc;
}

int plugtest_site_new(uv_loop_t *loop, const plugtest_config *config,
                      plugtest_site **out) {
  if (loop == NULL || out == NULL)
    return COAP_EINVAL;
  plugtest_site *s = calloc(1, sizeof *s);
  if (s == NULL)
    return COAP_ENOMEM;
  s->loop = loop;
  if (config != NULL)
    s->config = *config;
  else
    plugtest_config_default(&s->config);
  if (s->config.obs_period_ms == 0)
    s->config.obs_period_ms = PLUGTEST_OBS_PERIOD_DEFAULT_MS;
  int rc = coap_site_new(&s->site);
  if (rc < 0) {
    free(s);
    return rc;
  }
  if (rc == 0)
    rc = plugtest_core_add(s);
  if (rc == 0)
    rc = plugtest_separate_add(s);
  if (rc == 0)
    rc = plugtest_block_add(s);
  if (rc == 0)
    rc = plugtest_observe_add(s);
  if (rc == 0)
    rc = plugtest_link_add(s);
  if (rc < 0) {
    plugtest_site_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

coap_site *plugtest_site_site(plugtest_site *s) {
  return s->site;
}

coap_resource *plugtest_site_resource(plugtest_site *s, const char *path) {
  coap_message msg;
  coap_message_init(&msg);
  msg.code = COAP_CODE_GET;
  coap_resource *res = NULL;
  size_t prefix;
  if (coap_options_set_uri_path_string(&msg.opt, path) == 0)
    res = coap_site_find(s->site, &msg, &prefix);
  coap_message_clear(&msg);
  return res;
}

void plugtest_handle_closed(plugtest_site *s) {
  if (--s->closing > 0)
    return;
  /* The observable resources' timers live in s->observe. */
  free(s->observe);
  free(s);
}

void plugtest_site_free(plugtest_site *s) {
  if (s == NULL)
    return;
  /* One count of our own, so that handles closing at once do not free s
   * under the calls below. */
  s->closing++;
  plugtest_separate_free(s);
  plugtest_observe_free(s);
  coap_site_unref(s->site);
  s->site = NULL;
  plugtest_block_free(s);
  plugtest_core_free(s);
  plugtest_handle_closed(s);
}
