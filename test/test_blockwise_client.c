/*
 * RFC 7959 on the client side against servers that run blockwise
 * themselves (resources without assembly): the client's checks of Block1
 * and Block2 answers, ETag changes, its body limit, requests without
 * blockwise handling, and allocation failures along a transfer.
 */
#include "blockwise_fixture.h"

#include <string.h>

/*
 * A resource that runs RFC 7959 itself (needs_blockwise_assembly false):
 * it records the Block options it sees and answers by its mode.
 */
typedef enum {
  SELF_ECHO_BLOCK1,  /* 2.31 echoing Block1, 2.04 for the last block */
  SELF_WRONG_BLOCK1, /* 2.31 naming another block */
  SELF_FAIL_BLOCK1,  /* 2.31 for block 0, 4.03 for the next */
  SELF_NO_BLOCK1,    /* 2.04 without Block1 for every block */
  SELF_BARE_FINAL,   /* as ECHO, but the last answer without Block1 */
  SELF_ETAG_CHANGES, /* 3 blocks of 16, a new ETag at every render */
  SELF_WRONG_BLOCK2, /* block 0, then block 2 whatever is asked */
  SELF_DROPS_BLOCK2, /* block 0, then no Block2 at all */
  SELF_NON_ATOMIC    /* every block acted on: 2.04 with Block1 M=0 */
} self_mode;

typedef struct self_blockwise {
  self_mode mode;
  int renders;
  bool saw_block1;
  coap_block block1;
  size_t payload_len;
  size_t payload_total;
} self_blockwise;

static bool no_assembly(coap_resource *res, const coap_message *req) {
  (void)res;
  (void)req;
  return false;
}

static int self_render(coap_resource *res, coap_message *req,
                       coap_message *resp, coap_future **later) {
  (void)later;
  self_blockwise *s = res->user_data;
  s->renders++;
  s->saw_block1 = coap_options_get_block1(&req->opt, &s->block1) == 0;
  s->payload_len = req->payload_len;
  s->payload_total += req->payload_len;
  coap_block b2 = {0};
  coap_options_get_block2(&req->opt, &b2);
  static const uint8_t sixteen[16] = "0123456789abcdef";
  switch (s->mode) {
  case SELF_NO_BLOCK1:
    resp->code = COAP_CODE_CHANGED;
    return 0;
  case SELF_ECHO_BLOCK1:
  case SELF_WRONG_BLOCK1:
  case SELF_FAIL_BLOCK1:
  case SELF_BARE_FINAL: {
    coap_block ack = s->block1;
    if (s->mode == SELF_BARE_FINAL && !ack.more) {
      resp->code = COAP_CODE_CHANGED;
      return 0;
    }
    if (s->mode == SELF_WRONG_BLOCK1)
      ack.num += 1;
    if (s->mode == SELF_FAIL_BLOCK1 && s->block1.num > 0) {
      resp->code = COAP_CODE_FORBIDDEN;
      return 0;
    }
    resp->code = ack.more ? COAP_CODE_CONTINUE : COAP_CODE_CHANGED;
    return coap_options_set_block1(&resp->opt, &ack);
  }
  case SELF_ETAG_CHANGES: {
    uint8_t etag = (uint8_t)s->renders;
    coap_options_set_etag(&resp->opt, &etag, 1);
    coap_block out = {.num = b2.num, .more = b2.num < 2, .szx = 0};
    coap_options_set_block2(&resp->opt, &out);
    return coap_message_set_payload(resp, sixteen, 16);
  }
  case SELF_NON_ATOMIC: {
    coap_block ack = s->block1;
    ack.more = false;
    resp->code = COAP_CODE_CHANGED;
    return coap_options_set_block1(&resp->opt, &ack);
  }
  case SELF_WRONG_BLOCK2:
  case SELF_DROPS_BLOCK2: {
    coap_block out = {.num = b2.num == 0 ? 0 : 2, .more = true, .szx = 0};
    if (b2.num == 0 || s->mode == SELF_WRONG_BLOCK2)
      coap_options_set_block2(&resp->opt, &out);
    return coap_message_set_payload(resp, sixteen, 16);
  }
  }
  return COAP_EINVAL;
}

static const coap_resource_vtable self_vtable = {
    .render = self_render, .needs_blockwise_assembly = no_assembly};

static void add_self(fixture *fx, self_blockwise *s, self_mode mode) {
  memset(s, 0, sizeof *s);
  s->mode = mode;
  coap_resource *res;
  cr_assert_eq(coap_resource_new(&self_vtable, s, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(fx->site, "self", res), 0);
  coap_resource_unref(res);
}

static coap_message *self_message(fixture *fx, uint8_t code, size_t len) {
  coap_message *m = fixture_message(fx, code, "/self");
  if (len > 0) {
    uint8_t *body = pattern(len);
    coap_message_set_payload(m, body, len);
    free(body);
  }
  return m;
}

COAP_TEST(blockwise_client, resource_without_assembly_sees_the_block_options) {
  fixture fx;
  fixture_start(&fx, NULL);
  self_blockwise s;
  add_self(&fx, &s, SELF_ECHO_BLOCK1);
  coap_message *m = self_message(&fx, COAP_CODE_PUT, 1024);
  coap_block b1 = {.num = 0, .more = true, .szx = 6};
  coap_options_set_block1(&m->opt, &b1);
  coap_message *resp = NULL;
  cr_assert_eq(raw_request(&fx, m, &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_CONTINUE, "the resource's own answer");
  coap_message_free(resp);
  cr_assert(s.saw_block1);
  cr_assert_eq(s.block1.num, 0);
  cr_assert(s.block1.more);
  cr_assert_eq(s.block1.szx, 6);
  cr_assert_eq(s.payload_len, 1024);

  /* The library client's upload reaches it block by block. */
  s.renders = 0;
  cr_assert_eq(fixture_request(&fx, self_message(&fx, COAP_CODE_PUT, 2500),
                               &resp, 20000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);
  cr_assert_eq(s.renders, 3);
  cr_assert_eq(s.block1.num, 2);
  cr_assert_eq(s.payload_len, 2500 - 2048);
  fixture_stop(&fx);
}

COAP_TEST(blockwise_client, wrong_block1_in_answer_is_unexpected_block1) {
  fixture fx;
  fixture_start(&fx, NULL);
  self_blockwise s;
  add_self(&fx, &s, SELF_WRONG_BLOCK1);
  int rc =
      fixture_request(&fx, self_message(&fx, COAP_CODE_PUT, 2500), NULL, 20000);
  cr_assert_eq(rc, COAP_EUNEXPECTED_BLOCK1, "got %s", coap_err_name(rc));
  fixture_stop(&fx);
}

/* RFC 7959 §2.3: 2.04 with Block1 M=0 to a block that is not the last
 * comes from a server acting on each block; the client sends them all. */
COAP_TEST(blockwise_client, non_atomic_server_gets_every_block) {
  fixture fx;
  fixture_start(&fx, NULL);
  self_blockwise s;
  add_self(&fx, &s, SELF_NON_ATOMIC);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, self_message(&fx, COAP_CODE_PUT, 2500),
                               &resp, 20000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  cr_assert_eq(s.renders, 3);
  cr_assert_eq(s.payload_total, 2500, "got %zu bytes", s.payload_total);
  coap_message_free(resp);
  fixture_stop(&fx);
}

COAP_TEST(blockwise_client, error_response_mid_upload_is_the_response) {
  fixture fx;
  fixture_start(&fx, NULL);
  self_blockwise s;
  add_self(&fx, &s, SELF_FAIL_BLOCK1);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, self_message(&fx, COAP_CODE_PUT, 2500),
                               &resp, 20000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_FORBIDDEN);
  cr_assert_eq(s.renders, 2, "no block after the error");
  coap_message_free(resp);
  fixture_stop(&fx);
}

COAP_TEST(blockwise_client, etag_change_mid_transfer_is_resource_changed) {
  fixture fx;
  fixture_start(&fx, NULL);
  self_blockwise s;
  add_self(&fx, &s, SELF_ETAG_CHANGES);
  int rc =
      fixture_request(&fx, self_message(&fx, COAP_CODE_GET, 0), NULL, 20000);
  cr_assert_eq(rc, COAP_ERESOURCE_CHANGED, "got %s", coap_err_name(rc));
  cr_assert_eq(s.renders, 2, "stopped at the first changed block");
  fixture_stop(&fx);
}

COAP_TEST(blockwise_client, other_block_than_asked_is_unexpected_block2) {
  fixture fx;
  fixture_start(&fx, NULL);
  self_blockwise s;
  add_self(&fx, &s, SELF_WRONG_BLOCK2);
  int rc =
      fixture_request(&fx, self_message(&fx, COAP_CODE_GET, 0), NULL, 20000);
  cr_assert_eq(rc, COAP_EUNEXPECTED_BLOCK2, "got %s", coap_err_name(rc));
  fixture_stop(&fx);
}

COAP_TEST(blockwise_client, later_block_without_block2_is_missing_block2) {
  fixture fx;
  fixture_start(&fx, NULL);
  self_blockwise s;
  add_self(&fx, &s, SELF_DROPS_BLOCK2);
  int rc =
      fixture_request(&fx, self_message(&fx, COAP_CODE_GET, 0), NULL, 20000);
  cr_assert_eq(rc, COAP_EMISSING_BLOCK2, "got %s", coap_err_name(rc));
  fixture_stop(&fx);
}

COAP_TEST(blockwise_client, body_beyond_client_limit_fails_with_elimit) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  cc.max_body_size = 4000;
  start_pair(&fx, &sc, &cc);
  blob b = {0};
  fixture_add(&fx, "blob", &blob_methods, &b);
  blob_set(&b, 5000);
  int rc = fixture_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"),
                           NULL, 20000);
  cr_assert_eq(rc, COAP_ELIMIT, "got %s", coap_err_name(rc));
  fixture_stop(&fx);
  free(b.data);
}

COAP_TEST(blockwise_client,
          without_blockwise_handling_first_block_is_delivered) {
  fixture fx;
  blob b;
  start(&fx, &b);
  blob_set(&b, 3000);
  coap_message *resp = NULL;
  cr_assert_eq(
      raw_request(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"), &resp), 0);
  coap_block b2;
  cr_assert_eq(coap_options_get_block2(&resp->opt, &b2), 0);
  cr_assert_eq(b2.num, 0);
  cr_assert(b2.more);
  cr_assert_eq(resp->payload_len, 1024);
  coap_message_free(resp);
  stop(&fx, &b);
}

COAP_TEST(blockwise_client, server_ignoring_block1_is_unexpected_block1) {
  fixture fx;
  fixture_start(&fx, NULL);
  self_blockwise s;
  add_self(&fx, &s, SELF_NO_BLOCK1);
  /* A success for block 0 of 3 that does not name it: the server took the
   * first KiB for the whole body (aiocoap's UnexpectedBlock1Option). */
  int rc =
      fixture_request(&fx, self_message(&fx, COAP_CODE_PUT, 2500), NULL, 20000);
  cr_assert_eq(rc, COAP_EUNEXPECTED_BLOCK1, "got %s", coap_err_name(rc));
  cr_assert_eq(s.renders, 1);
  fixture_stop(&fx);
}

COAP_TEST(blockwise_client, final_answer_without_block1_ends_upload) {
  fixture fx;
  fixture_start(&fx, NULL);
  self_blockwise s;
  add_self(&fx, &s, SELF_BARE_FINAL);
  /* libcoap 4.3 answers the last block without Block1. */
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, self_message(&fx, COAP_CODE_PUT, 2500),
                               &resp, 20000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  cr_assert_eq(s.renders, 3);
  coap_message_free(resp);
  fixture_stop(&fx);
}

/* nghttp2's failmalloc idea over a whole transfer: every allocation along
 * a POST whose body and response both take three blocks fails in turn
 * (and every one after it), and the request still ends, nothing crashes
 * and nothing leaks. */
COAP_TEST(blockwise_client, allocation_failures_end_cleanly) {
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
    coap_message *post = fixture_message(&fx, COAP_CODE_POST, "/blob");
    uint8_t *body = pattern(2500);
    coap_message_set_payload(post, body, 2500);
    free(body);
    coap_test_fail_after = n;
    coap_message *resp = NULL;
    int rc = request_within(&fx, post, NULL, &resp, 300);
    bool injected = coap_test_fail_after == 0;
    coap_test_fail_after = -1;
    if (rc == 0 && resp->code == COAP_CODE_CHANGED) {
      payload_is_pattern(resp, 2500);
      succeeded++;
    } else {
      failed++;
    }
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
