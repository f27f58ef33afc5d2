/*
 * Completing a Block2 answer block by block from one server
 * (block2_fetch-internal.h).  Each block is a request of its own through
 * coap_context_request (CON, fresh token, handle_blockwise off), so it
 * gets retransmission, NSTART and every check a request gets.
 */
#include "block2_fetch-internal.h"

#include "alloc-internal.h"

#include <aiocoap/request.h>

#include <string.h>

struct coap__block2_fetch {
  coap_context *ctx;
  coap_request *req; /* the block being asked for */
  coap_message *request; /* template, a copy */
  coap_message *result;  /* the first block; its payload becomes the body */
  coap_remote remote;
  uint8_t *body;
  size_t len, cap;
  coap_block next;
  coap__block2_fetch_cb cb; /* NULL once abandoned */
  void *user_data;
};

static void fetch_free(coap__block2_fetch *f) {
  coap_request_unref(f->req);
  coap_message_free(f->request);
  coap_message_free(f->result);
  coap__free(f->body);
  coap__free(f);
}

static void on_block(coap_future *future, void *user_data);

static int send_next(coap__block2_fetch *f) {
  coap_message *msg;
  int rc = coap_message_new(&msg);
  if (rc < 0)
    return rc;
  rc = coap_message_copy(msg, f->request);
  if (rc == 0)
    rc = coap_options_set_block(&msg->opt, COAP_OPT_BLOCK2, &f->next);
  if (rc < 0) {
    coap_message_free(msg);
    return rc;
  }
  msg->remote = f->remote;
  msg->mtype = COAP_TYPE_CON;
  msg->mid = -1;
  coap_request_params params;
  coap_request_params_default(&params);
  params.handle_blockwise = false;
  coap_request_unref(f->req);
  f->req = NULL;
  rc = coap_context_request(f->ctx, msg, &params, &f->req);
  if (rc < 0)
    return rc;
  coap_future *done = coap_request_response(f->req);
  rc = done == NULL ? COAP_ENOMEM
                    : coap_future_add_done_callback(done, on_block, f);
  if (rc < 0) {
    coap_request_cancel(f->req);
    return rc;
  }
  return 0;
}

static int append(coap__block2_fetch *f, const uint8_t *data, size_t len) {
  size_t limit = f->ctx->config.max_body_size;
  if (len > limit || f->len > limit - len)
    return COAP_EREQUEST_ENTITY_TOO_LARGE;
  if (f->len + len > f->cap) {
    size_t cap = f->cap ? f->cap : 1024;
    while (cap < f->len + len)
      cap *= 2;
    uint8_t *grown = coap__realloc(f->body, cap);
    if (grown == NULL)
      return COAP_ENOMEM;
    f->body = grown;
    f->cap = cap;
  }
  if (len > 0)
    memcpy(f->body + f->len, data, len);
  f->len += len;
  return 0;
}

/* RFC 7959 §2.4: every block of one representation has the same ETag (or
 * none on all of them). */
static bool same_representation(const coap_message *a, const coap_message *b) {
  const uint8_t *ea = NULL, *eb = NULL;
  size_t la = 0, lb = 0;
  bool ha = coap_options_get_etag(&a->opt, &ea, &la) == 0;
  bool hb = coap_options_get_etag(&b->opt, &eb, &lb) == 0;
  return ha == hb && la == lb && (la == 0 || memcmp(ea, eb, la) == 0);
}

static void finish(coap__block2_fetch *f, int err) {
  coap_message *whole = NULL;
  if (err == 0) {
    whole = f->result;
    f->result = NULL;
    coap_options_delete(&whole->opt, COAP_OPT_BLOCK2);
    err = coap_message_set_payload(whole, f->body, f->len);
    if (err < 0) {
      coap_message_free(whole);
      whole = NULL;
    }
  }
  coap__block2_fetch_cb cb = f->cb;
  void *user_data = f->user_data;
  fetch_free(f);
  cb(user_data, err, whole);
}

static void on_block(coap_future *future, void *user_data) {
  coap__block2_fetch *f = user_data;
  if (f->cb == NULL) {
    fetch_free(f);
    return;
  }
  int rc = coap_future_error(future);
  const coap_message *resp = coap_future_result(future);
  coap_block got;
  if (rc == 0 &&
      (!coap_code_is_successful(resp->code) ||
       coap_options_get_block(&resp->opt, COAP_OPT_BLOCK2, &got) < 0 ||
       /* §2.4: a server may answer with a smaller block than asked, so
        * the number may differ; where the block starts must not. */
       coap_block_start(&got) != f->len ||
       !same_representation(f->result, resp)))
    rc = COAP_ERESOURCE_CHANGED;
  if (rc == 0)
    rc = append(f, resp->payload, resp->payload_len);
  if (rc == 0 && got.more) {
    f->next = (coap_block){.num = got.num + 1, .szx = got.szx};
    rc = send_next(f);
    if (rc == 0)
      return;
  }
  finish(f, rc);
}

int coap__block2_fetch_start(coap_context *ctx, const coap_message *request,
                             const coap_remote *remote,
                             const coap_message *first, const char *uri,
                             coap__block2_fetch_cb cb, void *user_data,
                             coap__block2_fetch **out) {
  coap_block b;
  if (coap_options_get_block(&first->opt, COAP_OPT_BLOCK2, &b) < 0 ||
      !b.more)
    return COAP_EINVAL;
  if (b.num != 0)
    return COAP_EUNEXPECTED_BLOCK2;
  coap__block2_fetch *f = coap__calloc(1, sizeof *f);
  if (f == NULL)
    return COAP_ENOMEM;
  f->ctx = ctx;
  f->remote = *remote;
  f->cb = cb;
  f->user_data = user_data;
  f->next = (coap_block){.num = 1, .szx = b.szx};
  int rc = coap_message_new(&f->request);
  if (rc == 0)
    rc = coap_message_copy(f->request, request);
  if (rc == 0) {
    /* §2.6: the later blocks of a notification are asked for without
     * Observe; a multicast request's by unicast (§2.8). */
    coap_options_delete(&f->request->opt, COAP_OPT_OBSERVE);
    coap_options_delete(&f->request->opt, COAP_OPT_BLOCK2);
    rc = coap_message_new(&f->result);
  }
  if (rc == 0)
    rc = coap_message_copy(f->result, first);
  if (rc == 0 && uri != NULL) {
    coap__free(f->result->request_uri);
    f->result->request_uri = coap__strdup(uri);
    if (f->result->request_uri == NULL)
      rc = COAP_ENOMEM;
  }
  if (rc == 0)
    rc = append(f, first->payload, first->payload_len);
  if (rc == 0)
    rc = send_next(f);
  if (rc < 0) {
    /* No block request has a callback of ours: nothing will call back. */
    fetch_free(f);
    return rc;
  }
  *out = f;
  return 0;
}

void coap__block2_fetch_abandon(coap__block2_fetch *fetch) {
  if (fetch == NULL)
    return;
  fetch->cb = NULL;
  coap_request_cancel(fetch->req);
}
