/*
 * TD_COAP_BLOCK resources: /large, /large-update, /large-create (and what
 * it creates) and /large-post.  The library's blockwise assembly
 * (responder_blockwise.c, RFC 7959) collects Block1 uploads, answering
 * 2.31 per block, and slices responses into Block2 blocks of the size the
 * client asks, with one ETag for all blocks and Size2; these resources see
 * whole bodies only.
 */
#include "plugtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A resource /large-create made. */
typedef struct created {
  plugtest_body body;
} created;

struct plugtest_block {
  char *large; /* /large's text, about 2 KiB */
  size_t large_len;
  plugtest_body update; /* /large-update */
  /* /large-create: the numbers of the resources it made, oldest first. */
  unsigned long made[PLUGTEST_LARGE_CREATE_MAX];
  size_t n_made;
  unsigned long next_number;
};

static plugtest_block *block_of(coap_resource *res) {
  return ((plugtest_site *)res->user_data)->block;
}

/* /large */

static int large_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)req;
  (void)later;
  plugtest_block *b = block_of(res);
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  coap_message_set_payload_borrowed(resp, b->large, b->large_len);
  return 0;
}

/* /large-update */

static int update_get(coap_resource *res, coap_message *req, coap_message *resp,
                      coap_future **later) {
  (void)req;
  (void)later;
  plugtest_body_answer(&block_of(res)->update, resp);
  return 0;
}

static int update_put(coap_resource *res, coap_message *req, coap_message *resp,
                      coap_future **later) {
  (void)later;
  int rc = plugtest_body_set(&block_of(res)->update, req);
  if (rc < 0)
    return rc;
  resp->code = COAP_CODE_CHANGED;
  return 0;
}

/* /large-create/N */

static int created_render(coap_resource *res, coap_message *req,
                          coap_message *resp, coap_future **later) {
  (void)later;
  created *c = res->user_data;
  if (req->code == COAP_CODE_GET) {
    plugtest_body_answer(&c->body, resp);
    return 0;
  }
  return COAP_EMETHOD_NOT_ALLOWED;
}

static void created_destroy(coap_resource *res) {
  created *c = res->user_data;
  plugtest_body_clear(&c->body);
  free(c);
}

static const coap_resource_vtable created_vtable = {.render = created_render,
                                                    .destroy = created_destroy};

static void created_path(unsigned long number, char *buf, size_t cap) {
  snprintf(buf, cap, "large-create/%lu", number);
}

/* Makes large-create/<next> holding the request's body, dropping the
 * oldest beyond PLUGTEST_LARGE_CREATE_MAX; the path into path. */
static int create_one(plugtest_site *s, const coap_message *req, char *path,
                      size_t cap) {
  plugtest_block *b = s->block;
  created *c = calloc(1, sizeof *c);
  if (c == NULL)
    return COAP_ENOMEM;
  int rc = plugtest_body_set(&c->body, req);
  if (rc < 0) {
    free(c);
    return rc;
  }
  coap_resource *res;
  rc = coap_resource_new(&created_vtable, c, &res);
  if (rc < 0) {
    plugtest_body_clear(&c->body);
    free(c);
    return rc;
  }
  const coap_link_attributes attrs = {.sz = (long)c->body.len};
  unsigned long number = ++b->next_number;
  created_path(number, path, cap);
  rc = coap_resource_set_link_attributes(res, &attrs);
  if (rc == 0)
    rc = coap_site_add_resource_path(s->site, path, res);
  coap_resource_unref(res);
  if (rc < 0)
    return rc;
  if (b->n_made == PLUGTEST_LARGE_CREATE_MAX) {
    char old[64];
    created_path(b->made[0], old, sizeof old);
    const char *segs[2] = {"large-create", old + strlen("large-create/")};
    coap_site_remove_resource(s->site, segs, 2);
    memmove(b->made, b->made + 1, (b->n_made - 1) * sizeof b->made[0]);
    b->n_made--;
  }
  b->made[b->n_made++] = number;
  return 0;
}

static int create_post(coap_resource *res, coap_message *req,
                       coap_message *resp, coap_future **later) {
  (void)later;
  char path[64];
  int rc = create_one(res->user_data, req, path, sizeof path);
  if (rc < 0)
    return rc;
  resp->code = COAP_CODE_CREATED;
  return coap_options_set_location_path_string(&resp->opt, path);
}

/* /large-post: the answer names what arrived and carries /large's text,
 * so it is itself larger than a block (TD_COAP_BLOCK_05 and _06: 2.04
 * with Block1 of the last block and Block2 block 0). */
static int post_post(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)later;
  plugtest_block *b = block_of(res);
  char head[96];
  int n = snprintf(head, sizeof head, "/large-post received %zu bytes.\n",
                   req->payload_len);
  uint8_t *p = coap_message_reserve_payload(resp, (size_t)n + b->large_len);
  if (p == NULL)
    return COAP_ENOMEM;
  memcpy(p, head, (size_t)n);
  memcpy(p + n, b->large, b->large_len);
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  resp->code = COAP_CODE_CHANGED;
  return 0;
}

static int make_large(plugtest_block *b) {
  static const char intro[] =
      "/large: a representation of about 2 KiB, to be fetched blockwise "
      "(RFC 7959) at any block size from 16 to 1024 bytes.\n";
  const size_t lines = 30;
  const size_t line_len = 64;
  b->large_len = strlen(intro) + lines * line_len;
  b->large = malloc(b->large_len + 1);
  if (b->large == NULL)
    return COAP_ENOMEM;
  char *p = b->large;
  memcpy(p, intro, strlen(intro));
  p += strlen(intro);
  for (size_t i = 0; i < lines; i++) {
    char line[80];
    snprintf(line, sizeof line, "%02zu %-60s\n", i + 1,
             "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW");
    memcpy(p, line, line_len);
    p += line_len;
  }
  *p = '\0';
  return 0;
}

int plugtest_block_add(plugtest_site *s) {
  s->block = calloc(1, sizeof *s->block);
  if (s->block == NULL)
    return COAP_ENOMEM;
  plugtest_block *b = s->block;
  int rc = make_large(b);
  if (rc < 0)
    return rc;
  static const char update_default[] = "/large-update: PUT a large body "
                                       "here (Block1), then GET it back.";
  coap_message init;
  coap_message_init(&init);
  coap_message_set_payload_borrowed(&init, update_default,
                                    strlen(update_default));
  rc = plugtest_body_set(&b->update, &init);
  coap_message_clear(&init);
  if (rc < 0)
    return rc;
  static const coap_resource_methods large_methods = {.render_get = large_get};
  static const coap_resource_methods update_methods = {
      .render_get = update_get, .render_put = update_put};
  static const coap_resource_methods create_methods = {.render_post =
                                                           create_post};
  static const coap_resource_methods post_methods = {.render_post = post_post};
  const coap_link_attributes large_attrs = {
      .rt = "block", .ct = "0", .sz = (long)b->large_len};
  const coap_link_attributes update_attrs = {
      .rt = "block", .ct = "0", .sz = -1};
  const coap_link_attributes plain = {.rt = "block", .sz = -1};
  rc = plugtest_add(s, "large", &large_methods, s, &large_attrs, false, NULL);
  if (rc == 0)
    rc = plugtest_add(s, "large-update", &update_methods, s, &update_attrs,
                      false, NULL);
  if (rc == 0)
    rc = plugtest_add(s, "large-create", &create_methods, s, &plain, false,
                      NULL);
  if (rc == 0)
    rc = plugtest_add(s, "large-post", &post_methods, s, &plain, false, NULL);
  return rc;
}

void plugtest_block_free(plugtest_site *s) {
  if (s->block == NULL)
    return;
  free(s->block->large);
  plugtest_body_clear(&s->block->update);
  free(s->block);
  s->block = NULL;
}
