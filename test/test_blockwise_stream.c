/*
 * Streaming bodies on the client side (coap_body_sink, coap_body_source):
 * downloads far beyond max_body_size arrive block by block in order,
 * uploads go out of one block's buffer, errors from either callback end
 * the transfer at once, and a sink may cancel or drop its request or shut
 * its context down.
 */
#include "blockwise_fixture.h"
#include "observation_fixture.h"

#include <errno.h>
#include <string.h>

/* ---- a sink that checks what it gets ---- */

typedef enum {
  SINK_ACT_NONE,
  SINK_ACT_CANCEL,       /* coap_request_cancel */
  SINK_ACT_UNREF,        /* drop the test's reference, nothing else */
  SINK_ACT_CANCEL_UNREF, /* both */
  SINK_ACT_SHUTDOWN,     /* shut the client context down */
  SINK_ACT_FAIL          /* return fail_rc */
} sink_act;

typedef struct recorder {
  fixture *fx;
  coap_request *req; /* the test's reference, NULL once dropped */
  size_t calls;
  uint64_t next;      /* where the next piece must start */
  bool check_pattern; /* every byte must be the pattern's */
  uint8_t first_code, last_code;
  size_t last_len;
  uint8_t text[64]; /* the first bytes of the last response's body */
  size_t text_len;
  /* The action, at the call numbered act_at (1-based). */
  sink_act act;
  size_t act_at;
  int fail_rc;
  size_t calls_after_act;
} recorder;

static int sink_write(void *user_data, const coap_message *response,
                      uint64_t offset, const uint8_t *data, size_t len) {
  recorder *r = user_data;
  if (r->act != SINK_ACT_NONE && r->calls >= r->act_at)
    r->calls_after_act++;
  r->calls++;
  if (r->calls == 1)
    r->first_code = response->code;
  if (response->code != r->last_code && r->calls > 1)
    r->next = 0; /* a new response: its body starts at 0 */
  r->last_code = response->code;
  r->last_len = len;
  cr_assert_eq(offset, r->next, "call %zu at offset %llu, not %llu", r->calls,
               (unsigned long long)offset, (unsigned long long)r->next);
  cr_assert_not_null(data, "data is never NULL, even for len 0");
  if (r->check_pattern)
    for (size_t i = 0; i < len; i++)
      if (data[i] != pattern_byte(offset + i))
        cr_assert_fail("byte %llu differs", (unsigned long long)(offset + i));
  if (offset == 0) {
    r->text_len = len < sizeof r->text ? len : sizeof r->text;
    memcpy(r->text, data, r->text_len);
  }
  r->next = offset + len;
  if (r->calls != r->act_at)
    return 0;
  switch (r->act) {
  case SINK_ACT_NONE:
    break;
  case SINK_ACT_CANCEL:
    coap_request_cancel(r->req);
    break;
  case SINK_ACT_UNREF:
    coap_request_unref(r->req);
    r->req = NULL;
    break;
  case SINK_ACT_CANCEL_UNREF:
    coap_request_cancel(r->req);
    coap_request_unref(r->req);
    r->req = NULL;
    break;
  case SINK_ACT_SHUTDOWN:
    coap_context_shutdown(r->fx->client, NULL, NULL);
    break;
  case SINK_ACT_FAIL:
    return r->fail_rc;
  }
  return 0;
}

/* ---- a source of the pattern that checks how it is read ---- */

typedef struct source_state {
  uint64_t len;  /* the body's length */
  uint64_t next; /* where the next read must start */
  size_t calls, max_read;
  bool ended;       /* a short read was returned */
  uint64_t fail_at; /* a read from here on fails with fail_rc */
  int fail_rc;
  size_t reads_after_fail;
  bool failed;
  /* The action, at the read numbered act_at (1-based), on req (the
   * test's reference, NULL once dropped) or ctx. */
  sink_act act;
  size_t act_at;
  coap_request *req;
  coap_context *ctx;
  size_t reads_after_act;
} source_state;

static void source_act(source_state *s) {
  switch (s->act) {
  case SINK_ACT_CANCEL:
    coap_request_cancel(s->req);
    break;
  case SINK_ACT_CANCEL_UNREF:
    coap_request_cancel(s->req);
    coap_request_unref(s->req);
    s->req = NULL;
    break;
  case SINK_ACT_SHUTDOWN:
    coap_context_shutdown(s->ctx, NULL, NULL);
    break;
  default:
    break;
  }
}

static ssize_t source_read(void *user_data, uint64_t offset, uint8_t *buf,
                           size_t len) {
  source_state *s = user_data;
  s->calls++;
  cr_assert_not(s->ended, "read again after the end");
  cr_assert_eq(offset, s->next, "read at %llu, not %llu",
               (unsigned long long)offset, (unsigned long long)s->next);
  cr_assert_gt(len, 0);
  if (s->failed)
    s->reads_after_fail++;
  if (s->act != SINK_ACT_NONE && s->calls > s->act_at)
    s->reads_after_act++;
  if (len > s->max_read)
    s->max_read = len;
  if (s->fail_rc != 0 && offset + len > s->fail_at) {
    s->failed = true;
    return s->fail_rc;
  }
  uint64_t n = offset >= s->len ? 0 : s->len - offset;
  if (n > len)
    n = len;
  for (size_t i = 0; i < n; i++)
    buf[i] = pattern_byte(offset + i);
  s->next += n;
  if (n < len)
    s->ended = true;
  if (s->calls == s->act_at)
    source_act(s);
  return (ssize_t)n;
}

static void source_init(source_state *s, uint64_t len) {
  memset(s, 0, sizeof *s);
  s->len = len;
}

/* ---- running one request ---- */

static void on_done(coap_future *f, void *data) {
  (void)f;
  *(bool *)data = true;
}

/* Sends msg with params, the sink and source given (either may be NULL),
 * and waits for the response future; returns its error and the response
 * in *resp (the caller frees it) when one came.  Unless the recorder
 * dropped it, the request is unreffed here. */
static int stream_request_into(fixture *fx, coap_message *msg, recorder *r,
                               const coap_body_source *source,
                               coap_request **slot, coap_message **resp) {
  coap_request_params params;
  coap_request_params_default(&params);
  coap_body_sink sink = {.write = sink_write, .user_data = r};
  if (r != NULL)
    params.body_sink = &sink;
  params.body_source = source;
  coap_request *local = NULL;
  if (slot == NULL)
    slot = &local;
  int rc = coap_context_request(fx->client, msg, &params, slot);
  if (rc < 0)
    return rc;
  coap_request *req = *slot;
  if (req == NULL)
    return COAP_ECANCELED; /* dropped inside coap_context_request */
  if (r != NULL) {
    r->fx = fx;
    r->req = req;
  }
  /* The future outlives a recorder that drops the request. */
  coap_future *f = coap_future_ref(coap_request_response(req));
  bool done = false;
  coap_future_add_done_callback(f, on_done, &done);
  fixture_run_until(fx, &done, 60000);
  cr_assert(coap_future_done(f), "the response future settled");
  rc = coap_future_error(f);
  if (rc == 0 && resp != NULL)
    *resp = coap_future_take_result(f);
  coap_future_unref(f);
  if ((r == NULL || r->req != NULL) && *slot != NULL)
    coap_request_unref(req);
  return rc;
}

static int stream_request(fixture *fx, coap_message *msg, recorder *r,
                          const coap_body_source *source, coap_message **resp) {
  return stream_request_into(fx, msg, r, source, NULL, resp);
}

static void start_small_client(fixture *fx, blob *b, uint32_t max_body) {
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  cc.max_body_size = max_body;
  start_pair(fx, &sc, &cc);
  memset(b, 0, sizeof *b);
  fixture_add(fx, "blob", &blob_methods, b);
}

/* ---- downloads ---- */

COAP_TEST(blockwise_stream, download_far_beyond_max_body_size) {
  fixture fx;
  blob b;
  start_small_client(&fx, &b, 4096);
  const size_t len = 1u << 20;
  blob_set(&b, len);
  recorder r = {.check_pattern = true};
  coap_message *resp = NULL;
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"), &r,
                          NULL, &resp);
  cr_assert_eq(rc, 0, "got %s", coap_err_name(rc));
  cr_assert_eq(r.next, len, "every byte arrived: %llu",
               (unsigned long long)r.next);
  cr_assert_eq(r.calls, len / 1024, "one call a block");
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  cr_assert_eq(resp->payload_len, 0, "the future's message has no body");
  cr_assert_not(coap_options_has(&resp->opt, COAP_OPT_BLOCK2));
  uint16_t cf = 0;
  cr_assert_eq(coap_options_get_content_format(&resp->opt, &cf), 0);
  cr_assert_eq(cf, COAP_CT_OCTET_STREAM);
  cr_assert_eq(requests_handled(&fx), len / 1024);
  coap_message_free(resp);

  /* The same body without a sink is beyond the limit. */
  rc = fixture_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"), NULL,
                       20000);
  cr_assert_eq(rc, COAP_ELIMIT, "got %s", coap_err_name(rc));
  stop(&fx, &b);
}

/* RFC 7959 §2.4: a server with smaller blocks answers in its own size. */
COAP_TEST(blockwise_stream, download_in_the_servers_smaller_blocks) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  sc.block_size_exp = 2; /* 64 bytes */
  cc.max_body_size = 100;
  start_pair(&fx, &sc, &cc);
  blob b = {0};
  fixture_add(&fx, "blob", &blob_methods, &b);
  blob_set(&b, 5000);
  recorder r = {.check_pattern = true};
  coap_message *resp = NULL;
  cr_assert_eq(stream_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"),
                              &r, NULL, &resp),
               0);
  cr_assert_eq(r.next, 5000);
  cr_assert_eq(r.calls, (5000 + 63) / 64);
  cr_assert_eq(r.last_len, 5000 % 64);
  cr_assert_eq(resp->payload_len, 0);
  coap_message_free(resp);
  stop(&fx, &b);
}

COAP_TEST(blockwise_stream, one_block_response_is_one_write) {
  fixture fx;
  blob b;
  start_small_client(&fx, &b, 4096);
  blob_set(&b, 700);
  recorder r = {.check_pattern = true};
  coap_message *resp = NULL;
  cr_assert_eq(stream_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"),
                              &r, NULL, &resp),
               0);
  cr_assert_eq(r.calls, 1);
  cr_assert_eq(r.last_len, 700);
  cr_assert_eq(r.last_code, COAP_CODE_CONTENT);
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  cr_assert_eq(resp->payload_len, 0);
  coap_message_free(resp);
  stop(&fx, &b);
}

COAP_TEST(blockwise_stream, empty_response_is_one_write_of_nothing) {
  fixture fx;
  blob b;
  start_small_client(&fx, &b, 4096);
  blob_set(&b, 0);
  recorder r = {0};
  coap_message *resp = NULL;
  cr_assert_eq(stream_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"),
                              &r, NULL, &resp),
               0);
  cr_assert_eq(r.calls, 1);
  cr_assert_eq(r.last_len, 0);
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  coap_message_free(resp);
  stop(&fx, &b);
}

static int get_not_found(coap_resource *res, coap_message *req,
                         coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  resp->code = COAP_CODE_NOT_FOUND;
  return coap_message_set_payload_string(resp, "nothing here");
}

static const coap_resource_methods not_found_methods = {.render_get =
                                                            get_not_found};

COAP_TEST(blockwise_stream, error_response_goes_through_the_sink) {
  fixture fx;
  blob b;
  start_small_client(&fx, &b, 4096);
  fixture_add(&fx, "gone", &not_found_methods, NULL);
  recorder r = {0};
  coap_message *resp = NULL;
  cr_assert_eq(stream_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/gone"),
                              &r, NULL, &resp),
               0);
  cr_assert_eq(r.calls, 1);
  cr_assert_eq(r.last_code, COAP_CODE_NOT_FOUND, "the sink sees the code");
  cr_assert_eq(r.text_len, strlen("nothing here"));
  cr_assert_eq(memcmp(r.text, "nothing here", r.text_len), 0);
  cr_assert_eq(resp->code, COAP_CODE_NOT_FOUND);
  cr_assert_eq(resp->payload_len, 0);
  coap_message_free(resp);
  stop(&fx, &b);
}

/* A resource running Block2 itself: 16-byte blocks; in "fail" mode block 2
 * is answered 5.03 with a diagnostic, in "etag" mode every render has an
 * ETag of its own. */
typedef struct self2 {
  bool fail, etag;
  int renders;
} self2;

static bool no_assembly(coap_resource *res, const coap_message *req) {
  (void)res;
  (void)req;
  return false;
}

static int self2_render(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)later;
  self2 *s = res->user_data;
  s->renders++;
  coap_block b2 = {0};
  coap_options_get_block2(&req->opt, &b2);
  if (s->fail && b2.num == 2) {
    resp->code = COAP_CODE_SERVICE_UNAVAILABLE;
    return coap_message_set_payload_string(resp, "busy");
  }
  if (s->etag) {
    uint8_t etag = (uint8_t)s->renders;
    coap_options_set_etag(&resp->opt, &etag, 1);
  }
  coap_block out = {.num = b2.num, .more = b2.num < 4, .szx = 0};
  coap_options_set_block2(&resp->opt, &out);
  uint8_t block[16];
  for (size_t i = 0; i < 16; i++)
    block[i] = pattern_byte(b2.num * 16 + i);
  return coap_message_set_payload(resp, block, 16);
}

static const coap_resource_vtable self2_vtable = {
    .render = self2_render, .needs_blockwise_assembly = no_assembly};

static void add_self2(fixture *fx, self2 *s) {
  coap_resource *res;
  cr_assert_eq(coap_resource_new(&self2_vtable, s, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(fx->site, "self2", res), 0);
  coap_resource_unref(res);
}

COAP_TEST(blockwise_stream, error_midway_is_a_new_body_at_offset_0) {
  fixture fx;
  fixture_start(&fx, NULL);
  self2 s = {.fail = true};
  add_self2(&fx, &s);
  recorder r = {0};
  coap_message *resp = NULL;
  cr_assert_eq(stream_request(&fx,
                              fixture_message(&fx, COAP_CODE_GET, "/self2"), &r,
                              NULL, &resp),
               0);
  cr_assert_eq(r.calls, 3, "two blocks, then the 5.03");
  cr_assert_eq(r.first_code, COAP_CODE_CONTENT);
  cr_assert_eq(r.last_code, COAP_CODE_SERVICE_UNAVAILABLE);
  cr_assert_eq(r.text_len, 4);
  cr_assert_eq(memcmp(r.text, "busy", 4), 0);
  cr_assert_eq(resp->code, COAP_CODE_SERVICE_UNAVAILABLE);
  cr_assert_eq(resp->payload_len, 0);
  coap_message_free(resp);
  fixture_stop(&fx);
}

/* RFC 7959 §2.4: the blocks must come from one representation. */
COAP_TEST(blockwise_stream, etag_change_midway_is_resource_changed) {
  fixture fx;
  fixture_start(&fx, NULL);
  self2 s = {.etag = true};
  add_self2(&fx, &s);
  recorder r = {.check_pattern = true};
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/self2"),
                          &r, NULL, NULL);
  cr_assert_eq(rc, COAP_ERESOURCE_CHANGED, "got %s", coap_err_name(rc));
  cr_assert_eq(r.calls, 1, "the changed block is not written");
  fixture_stop(&fx);
}

COAP_TEST(blockwise_stream, sink_error_fails_the_request_and_asks_no_more) {
  fixture fx;
  blob b;
  start_small_client(&fx, &b, 4096);
  blob_set(&b, 10 * 1024);
  recorder r = {.act = SINK_ACT_FAIL, .act_at = 3, .fail_rc = -EPIPE};
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"), &r,
                          NULL, NULL);
  cr_assert_eq(rc, -EPIPE, "got %s", coap_err_name(rc));
  cr_assert_eq(r.calls, 3);
  /* Run on a little: nothing more goes to the server. */
  bool never = false;
  fixture_run_until(&fx, &never, 100);
  cr_assert_eq(requests_handled(&fx), 3, "blocks 0..2 asked for, no more");
  stop(&fx, &b);
}

/* The sink's actions: each ends cleanly (no leak, the futures settle, no
 * write after the one that acted). */
static void sink_action(sink_act act, int expect_rc) {
  fixture fx;
  blob b;
  start_small_client(&fx, &b, 4096);
  blob_set(&b, 10 * 1024);
  recorder r = {.act = act, .act_at = 2};
  coap_message *resp = NULL;
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"), &r,
                          NULL, &resp);
  cr_assert_eq(rc, expect_rc, "got %s", coap_err_name(rc));
  if (act == SINK_ACT_UNREF) {
    /* Dropping the reference alone leaves the request running. */
    cr_assert_eq(r.calls, 10);
    cr_assert_eq(r.next, 10 * 1024);
    coap_message_free(resp);
  } else {
    cr_assert_eq(r.calls, 2);
    cr_assert_eq(r.calls_after_act, 0, "no write after the action");
  }
  bool never = false;
  fixture_run_until(&fx, &never, 100);
  cr_assert_eq(requests_handled(&fx), act == SINK_ACT_UNREF ? 10u : 2u);
  if (act == SINK_ACT_SHUTDOWN) {
    /* The client is gone; shut the server down ourselves. */
    int closed = 0;
    coap_context_shutdown(fx.server, NULL, &closed);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    fixture_close(&fx);
    free(b.data);
  } else {
    stop(&fx, &b);
  }
}

COAP_TEST(blockwise_stream, sink_cancels_its_request) {
  sink_action(SINK_ACT_CANCEL, COAP_ECANCELED);
}

COAP_TEST(blockwise_stream, sink_drops_its_reference) {
  sink_action(SINK_ACT_UNREF, 0);
}

COAP_TEST(blockwise_stream, sink_cancels_and_drops_its_request) {
  sink_action(SINK_ACT_CANCEL_UNREF, COAP_ECANCELED);
}

COAP_TEST(blockwise_stream, sink_shuts_its_context_down) {
  sink_action(SINK_ACT_SHUTDOWN, COAP_ESHUTDOWN);
}

/* ---- uploads ---- */

static coap_body_source pattern_source(source_state *s, int64_t size) {
  return (coap_body_source){.read = source_read, .size = size, .user_data = s};
}

COAP_TEST(blockwise_stream, upload_of_a_mebibyte_arrives_intact) {
  fixture fx;
  blob b;
  start(&fx, &b);
  const size_t len = 1u << 20;
  source_state s;
  source_init(&s, len);
  coap_body_source src = pattern_source(&s, (int64_t)len);
  coap_message *resp = NULL;
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_PUT, "/blob"),
                          NULL, &src, &resp);
  cr_assert_eq(rc, 0, "got %s", coap_err_name(rc));
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);
  cr_assert_eq(b.len, len);
  for (size_t i = 0; i < len; i++)
    if (b.data[i] != pattern_byte(i))
      cr_assert_fail("byte %zu differs", i);
  cr_assert_eq(requests_handled(&fx), len / 1024);
  /* The limit: the library asks for one block at a time, and its buffer
   * holds that block and the byte after it. */
  cr_assert_eq(s.max_read, 1024, "largest read %zu", s.max_read);
  cr_assert(s.ended);
  stop(&fx, &b);
}

/* A resource that acknowledges Block1 itself (2.31, then 2.04) and records
 * what each block carried. */
typedef struct upload_log {
  int requests;
  bool block1_seen;
  bool size1_first;
  uint32_t size1;
  int size1_later; /* blocks after the first that carried Size1 */
  uint32_t next_num;
  bool in_order;
  size_t total;
  bool intact;
} upload_log;

static int log_render(coap_resource *res, coap_message *req, coap_message *resp,
                      coap_future **later) {
  (void)later;
  upload_log *u = res->user_data;
  u->requests++;
  coap_block b1 = {0};
  bool has = coap_options_get_block1(&req->opt, &b1) == 0;
  uint32_t size1 = 0;
  bool has_size1 = coap_options_get_size1(&req->opt, &size1) == 0;
  if (has)
    u->block1_seen = true;
  if (!has || b1.num == 0) {
    u->size1_first = has_size1;
    u->size1 = size1;
  } else if (has_size1) {
    u->size1_later++;
  }
  if (has && b1.num != u->next_num)
    u->in_order = false;
  u->next_num = b1.num + 1;
  size_t start = has ? coap_block_start(&b1) : 0;
  if (start != u->total)
    u->intact = false;
  for (size_t i = 0; i < req->payload_len; i++)
    if (req->payload[i] != pattern_byte(start + i))
      u->intact = false;
  u->total = start + req->payload_len;
  if (!has) {
    resp->code = COAP_CODE_CHANGED;
    return 0;
  }
  resp->code = b1.more ? COAP_CODE_CONTINUE : COAP_CODE_CHANGED;
  return coap_options_set_block1(&resp->opt, &b1);
}

static const coap_resource_vtable log_vtable = {
    .render = log_render, .needs_blockwise_assembly = no_assembly};

static void add_log(fixture *fx, upload_log *u) {
  memset(u, 0, sizeof *u);
  u->in_order = u->intact = true;
  coap_resource *res;
  cr_assert_eq(coap_resource_new(&log_vtable, u, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(fx->site, "log", res), 0);
  coap_resource_unref(res);
}

/* Uploads len bytes to /log with a source announcing size. */
static void upload_to_log(fixture *fx, upload_log *u, source_state *s,
                          uint64_t len, int64_t size) {
  add_log(fx, u);
  source_init(s, len);
  coap_body_source src = pattern_source(s, size);
  coap_message *resp = NULL;
  int rc = stream_request(fx, fixture_message(fx, COAP_CODE_POST, "/log"), NULL,
                          &src, &resp);
  cr_assert_eq(rc, 0, "got %s", coap_err_name(rc));
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);
  cr_assert(u->intact, "the body arrived intact");
  cr_assert(u->in_order);
  cr_assert_eq(u->total, len);
  cr_assert_leq(s->max_read, 1024);
}

/* RFC 7959 §4: Size1 on the first block when the size is known. */
COAP_TEST(blockwise_stream, size1_sent_when_known) {
  fixture fx;
  fixture_start(&fx, NULL);
  upload_log u;
  source_state s;
  upload_to_log(&fx, &u, &s, 5000, 5000);
  cr_assert(u.block1_seen);
  cr_assert_eq(u.requests, 5);
  cr_assert(u.size1_first);
  cr_assert_eq(u.size1, 5000);
  cr_assert_eq(u.size1_later, 0, "only the first block carries it");
  fixture_stop(&fx);
}

COAP_TEST(blockwise_stream, size1_absent_when_unknown) {
  fixture fx;
  fixture_start(&fx, NULL);
  upload_log u;
  source_state s;
  upload_to_log(&fx, &u, &s, 5000, -1);
  cr_assert_eq(u.requests, 5);
  cr_assert_not(u.size1_first);
  cr_assert_eq(u.size1_later, 0);
  fixture_stop(&fx);
}

COAP_TEST(blockwise_stream, body_of_exactly_one_block_goes_whole) {
  fixture fx;
  fixture_start(&fx, NULL);
  upload_log u;
  source_state s;
  upload_to_log(&fx, &u, &s, 1024, 1024);
  cr_assert_eq(u.requests, 1);
  cr_assert_not(u.block1_seen, "a plain request, no Block1");
  cr_assert_not(u.size1_first);
  /* One block, then one byte to see that nothing follows. */
  cr_assert_eq(s.calls, 2);
  fixture_stop(&fx);
}

COAP_TEST(blockwise_stream, body_of_one_block_and_a_byte_goes_in_two) {
  fixture fx;
  fixture_start(&fx, NULL);
  upload_log u;
  source_state s;
  upload_to_log(&fx, &u, &s, 1025, 1025);
  cr_assert_eq(u.requests, 2);
  cr_assert(u.block1_seen);
  cr_assert_eq(u.next_num, 2);
  cr_assert_eq(u.size1, 1025);
  fixture_stop(&fx);
}

COAP_TEST(blockwise_stream, empty_body_goes_whole) {
  fixture fx;
  fixture_start(&fx, NULL);
  upload_log u;
  source_state s;
  upload_to_log(&fx, &u, &s, 0, 0);
  cr_assert_eq(u.requests, 1);
  cr_assert_not(u.block1_seen);
  cr_assert_eq(s.calls, 1, "one read, which found the end");
  fixture_stop(&fx);
}

COAP_TEST(blockwise_stream, read_error_fails_the_request_and_stops_sending) {
  fixture fx;
  fixture_start(&fx, NULL);
  upload_log u;
  add_log(&fx, &u);
  source_state s;
  source_init(&s, 10 * 1024);
  s.fail_at = 3 * 1024 + 1;
  s.fail_rc = -EIO;
  coap_body_source src = pattern_source(&s, 10 * 1024);
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_PUT, "/log"),
                          NULL, &src, NULL);
  cr_assert_eq(rc, -EIO, "got %s", coap_err_name(rc));
  cr_assert_eq(s.reads_after_fail, 0, "no read after the error");
  bool never = false;
  fixture_run_until(&fx, &never, 100);
  cr_assert_eq(u.requests, 3, "blocks 0..2 sent, no more");
  cr_assert(u.intact);
  fixture_stop(&fx);
}

COAP_TEST(blockwise_stream, read_error_before_anything_is_sent) {
  fixture fx;
  fixture_start(&fx, NULL);
  upload_log u;
  add_log(&fx, &u);
  source_state s;
  source_init(&s, 10);
  s.fail_rc = -EIO;
  coap_body_source src = pattern_source(&s, -1);
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_PUT, "/log"),
                          NULL, &src, NULL);
  cr_assert_eq(rc, -EIO, "got %s", coap_err_name(rc));
  cr_assert_eq(u.requests, 0);
  fixture_stop(&fx);
}

/* RFC 7959 §2.5: the server's 2.31 asks for smaller blocks; the body still
 * arrives whole, with Size1 on the first block. */
COAP_TEST(blockwise_stream, server_late_negotiation_keeps_the_body_intact) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  sc.block_size_exp = 4; /* 256 bytes */
  start_pair(&fx, &sc, &cc);
  blob b = {0};
  fixture_add(&fx, "blob", &blob_methods, &b);
  const size_t len = 50000;
  source_state s;
  source_init(&s, len);
  coap_body_source src = pattern_source(&s, -1);
  coap_message *resp = NULL;
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_PUT, "/blob"),
                          NULL, &src, &resp);
  cr_assert_eq(rc, 0, "got %s", coap_err_name(rc));
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);
  cr_assert_eq(b.len, len);
  for (size_t i = 0; i < len; i++)
    if (b.data[i] != pattern_byte(i))
      cr_assert_fail("byte %zu differs", i);
  cr_assert_eq(requests_handled(&fx), 1 + (len - 1024 + 255) / 256,
               "1024 bytes, then blocks of 256");
  cr_assert_eq(s.max_read, 1024);
  stop(&fx, &b);
}

/* An upload whose response is streamed too: a POST echoing its body. */
COAP_TEST(blockwise_stream, upload_and_download_in_one_request) {
  fixture fx;
  blob b;
  start_small_client(&fx, &b, 100);
  source_state s;
  source_init(&s, 3000);
  coap_body_source src = pattern_source(&s, 3000);
  recorder r = {.check_pattern = true};
  coap_message *resp = NULL;
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_POST, "/blob"),
                          &r, &src, &resp);
  cr_assert_eq(rc, 0, "got %s", coap_err_name(rc));
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  cr_assert_eq(resp->payload_len, 0);
  coap_message_free(resp);
  cr_assert_eq(r.next, 3000);
  cr_assert_eq(r.calls, 3);
  stop(&fx, &b);
}

/* ---- parameters that do not fit ---- */

COAP_TEST(blockwise_stream, invalid_combinations_are_einval) {
  fixture fx;
  blob b;
  start(&fx, &b);
  source_state s;
  source_init(&s, 10);
  coap_body_source src = pattern_source(&s, 10);
  recorder r = {0};
  coap_body_sink sink = {.write = sink_write, .user_data = &r};
  coap_request_params p;
  coap_request *req = NULL;

  /* A source and a payload of the message's own. */
  coap_request_params_default(&p);
  p.body_source = &src;
  coap_message *m = fixture_message(&fx, COAP_CODE_PUT, "/blob");
  coap_message_set_payload_string(m, "x");
  cr_assert_eq(coap_context_request(fx.client, m, &p, &req), COAP_EINVAL);
  cr_assert_null(req);

  /* A source with an application-run Block1. */
  m = fixture_message(&fx, COAP_CODE_PUT, "/blob");
  coap_block b1 = {.num = 0, .more = true, .szx = 6};
  coap_options_set_block1(&m->opt, &b1);
  cr_assert_eq(coap_context_request(fx.client, m, &p, &req), COAP_EINVAL);

  /* Either without blockwise handling. */
  p.handle_blockwise = false;
  cr_assert_eq(
      coap_context_request(
          fx.client, fixture_message(&fx, COAP_CODE_PUT, "/blob"), &p, &req),
      COAP_EINVAL);
  p.body_source = NULL;
  p.body_sink = &sink;
  cr_assert_eq(
      coap_context_request(
          fx.client, fixture_message(&fx, COAP_CODE_GET, "/blob"), &p, &req),
      COAP_EINVAL);

  /* Callbacks missing. */
  p.handle_blockwise = true;
  coap_body_sink no_write = {0};
  p.body_sink = &no_write;
  cr_assert_eq(
      coap_context_request(
          fx.client, fixture_message(&fx, COAP_CODE_GET, "/blob"), &p, &req),
      COAP_EINVAL);
  coap_body_source no_read = {.size = -1};
  p.body_sink = NULL;
  p.body_source = &no_read;
  cr_assert_eq(
      coap_context_request(
          fx.client, fixture_message(&fx, COAP_CODE_PUT, "/blob"), &p, &req),
      COAP_EINVAL);
  cr_assert_eq(s.calls, 0);
  cr_assert_eq(r.calls, 0);
  cr_assert_eq(requests_handled(&fx), 0);
  stop(&fx, &b);
}

/* RFC 7959 §2.2: 20 bits of NUM; a known size beyond fails before a
 * read. */
COAP_TEST(blockwise_stream, known_size_beyond_the_block_numbers_is_elimit) {
  fixture fx;
  blob b;
  start(&fx, &b);
  source_state s;
  source_init(&s, 10);
  coap_body_source src = pattern_source(&s, ((int64_t)1024 << 20) + 1);
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_PUT, "/blob"),
                          NULL, &src, NULL);
  cr_assert_eq(rc, COAP_ELIMIT, "got %s", coap_err_name(rc));
  cr_assert_eq(s.calls, 0);
  stop(&fx, &b);
}

/* The source's actions, from inside coap_context_request (the first read)
 * and from the loop (a later block): each ends cleanly, with no read and
 * nothing sent after the one that acted. */
static void source_action(sink_act act, size_t at, int expect_rc,
                          int expect_requests) {
  fixture fx;
  fixture_start(&fx, NULL);
  upload_log u;
  add_log(&fx, &u);
  source_state s;
  source_init(&s, 10 * 1024);
  s.act = act;
  s.act_at = at;
  s.ctx = fx.client;
  coap_body_source src = pattern_source(&s, -1);
  int rc = stream_request_into(&fx, fixture_message(&fx, COAP_CODE_PUT, "/log"),
                               NULL, &src, &s.req, NULL);
  cr_assert_eq(rc, expect_rc, "got %s", coap_err_name(rc));
  cr_assert_eq(s.reads_after_act, 0, "no read after the action");
  bool never = false;
  fixture_run_until(&fx, &never, 100);
  cr_assert_eq(u.requests, expect_requests);
  if (act == SINK_ACT_SHUTDOWN) {
    coap_context_shutdown(fx.server, NULL, NULL);
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    fixture_close(&fx);
  } else {
    fixture_stop(&fx);
  }
}

COAP_TEST(blockwise_stream, source_cancels_on_its_first_read) {
  source_action(SINK_ACT_CANCEL, 1, COAP_ECANCELED, 0);
}

COAP_TEST(blockwise_stream, source_drops_its_request_on_its_first_read) {
  source_action(SINK_ACT_CANCEL_UNREF, 1, COAP_ECANCELED, 0);
}

COAP_TEST(blockwise_stream, source_shuts_down_on_its_first_read) {
  source_action(SINK_ACT_SHUTDOWN, 1, COAP_ESHUTDOWN, 0);
}

/* Reads 1 and 2 make block 0, 3 block 1, 4 block 2. */
COAP_TEST(blockwise_stream, source_cancels_midway) {
  source_action(SINK_ACT_CANCEL, 4, COAP_ECANCELED, 2);
}

COAP_TEST(blockwise_stream, source_drops_its_request_midway) {
  source_action(SINK_ACT_CANCEL_UNREF, 4, COAP_ECANCELED, 2);
}

COAP_TEST(blockwise_stream, source_shuts_down_midway) {
  source_action(SINK_ACT_SHUTDOWN, 4, COAP_ESHUTDOWN, 2);
}

/* nghttp2's failmalloc idea over a streamed POST whose body and response
 * both take three blocks: every allocation fails in turn, and the request
 * still ends, nothing crashes and nothing leaks. */
COAP_TEST(blockwise_stream, allocation_failures_end_cleanly) {
  coap_context_config c;
  config_for_test(&c);
  c.transmission.ack_timeout_ms = 5;
  c.transmission.ack_random_factor = 1.0;
  c.transmission.max_retransmit = 1;
  c.empty_ack_delay_ms = 1000;
  int failed = 0, succeeded = 0;
  for (long n = 0;; n++) {
    fixture fx;
    start_pair(&fx, &c, &c);
    blob b = {0};
    fixture_add(&fx, "blob", &blob_methods, &b);
    source_state s;
    source_init(&s, 2500);
    coap_body_source src = pattern_source(&s, 2500);
    recorder r = {.check_pattern = true};
    coap_body_sink sink = {.write = sink_write, .user_data = &r};
    coap_request_params p;
    coap_request_params_default(&p);
    p.body_sink = &sink;
    p.body_source = &src;
    coap_message *post = fixture_message(&fx, COAP_CODE_POST, "/blob");
    coap_test_fail_after = n;
    coap_message *resp = NULL;
    int rc = request_within(&fx, post, &p, &resp, 300);
    bool injected = coap_test_fail_after == 0;
    coap_test_fail_after = -1;
    if (rc == 0 && resp->code == COAP_CODE_CHANGED && r.next == 2500)
      succeeded++;
    else
      failed++;
    coap_message_free(resp);
    stop(&fx, &b);
    cr_assert_eq(coap_test_live_allocations, 0,
                 "failing allocation %ld leaks %ld", n,
                 coap_test_live_allocations);
    if (!injected)
      break;
  }
  cr_assert_gt(failed, 10, "allocations along the transfer failed");
  cr_assert_geq(succeeded, 1, "and without failure it works");
}

/* ---- Echo and Observe ---- */

static int big_post(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)later;
  upload_log *u = res->user_data;
  u->requests++;
  u->total = req->payload_len;
  u->intact = true;
  for (size_t i = 0; i < req->payload_len; i++)
    if (req->payload[i] != pattern_byte(i))
      u->intact = false;
  static uint8_t body[600];
  resp->code = COAP_CODE_CHANGED;
  return coap_message_set_payload(resp, body, sizeof body);
}

static const coap_resource_methods big_post_methods = {.render_post = big_post};

/* RFC 9175 §2.3: the 4.01 with Echo is answered out of the sink's sight,
 * and the request repeated carries the source's body again from the
 * library's buffer. */
COAP_TEST(blockwise_stream, echo_challenge_is_answered_transparently) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  sc.echo_first_response = true;
  start_pair(&fx, &sc, &cc);
  upload_log u = {0};
  fixture_add(&fx, "big", &big_post_methods, &u);
  source_state s;
  source_init(&s, 20);
  coap_body_source src = pattern_source(&s, 20);
  recorder r = {0};
  coap_message *resp = NULL;
  int rc = stream_request(&fx, fixture_message(&fx, COAP_CODE_POST, "/big"), &r,
                          &src, &resp);
  cr_assert_eq(rc, 0, "got %s", coap_err_name(rc));
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);
  coap_context_stats stats;
  coap_context_get_stats(fx.server, &stats);
  cr_assert_eq(stats.echo_challenges, 1, "challenged once");
  cr_assert_eq(stats.echo_validated, 1);
  cr_assert_eq(r.calls, 1, "the sink saw the 2.04 only");
  cr_assert_eq(r.first_code, COAP_CODE_CHANGED);
  cr_assert_eq(r.last_len, 600);
  cr_assert(u.intact);
  cr_assert_eq(u.total, 20, "the repeated request carried the body");
  cr_assert_eq(s.calls, 1, "read once");
  fixture_stop(&fx);
}

/* The first response to an observe request is streamed (here as Block2);
 * the notifications are not. */
COAP_TEST(blockwise_stream, observe_first_response_streams_notifications_not) {
  reset_resource_state();
  fixture fx;
  fixture_start(&fx, NULL);
  coap_resource *res = add_observable(&fx, "state");
  static char text[3001];
  memset(text, 'a', 3000);
  set_state(text);
  coap_message *msg = fixture_message(&fx, COAP_CODE_GET, "/state");
  cr_assert_eq(coap_options_set_observe(&msg->opt, 0), 0);
  recorder r = {0};
  coap_body_sink sink = {.write = sink_write, .user_data = &r};
  coap_request_params p;
  coap_request_params_default(&p);
  p.body_sink = &sink;
  coap_request *req;
  cr_assert_eq(coap_context_request(fx.client, msg, &p, &req), 0);
  r.req = req;
  coap_observation *obs = coap_observation_ref(coap_request_observation(req));
  cr_assert_not_null(obs);
  cr_assert(wait_future(&fx, coap_request_response(req), 5000));
  const coap_message *first = first_response(req);
  cr_assert_eq(first->payload_len, 0);
  cr_assert_eq(r.next, 3000, "the first response's body, streamed");
  cr_assert_eq(r.calls, 3);
  cr_assert(coap_observation_active(obs));

  text[0] = 'b';
  set_state(text);
  cr_assert_eq(coap_observable_resource_updated_state(res, NULL), 1);
  coap_future *f = next_notification(&fx, obs, 5000);
  cr_assert_eq(coap_future_error(f), 0);
  const coap_message *n = coap_future_result(f);
  cr_assert_eq(n->payload_len, 3000, "the notification is whole");
  cr_assert_eq(n->payload[0], 'b');
  cr_assert_eq(r.calls, 3, "and did not go to the sink");
  coap_future_unref(f);
  coap_observation_cancel(obs);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
}
