/*
 * RFC 7959 end to end: Block1 uploads and Block2 downloads between a server
 * context and a client context on one loop, size negotiation, the server's
 * error answers (4.08, 4.13), its reassembly expiry and representation
 * cache, and transfers through a lossy link.
 */
#include "blockwise_fixture.h"

#include "context-internal.h"
#include "transports/udp.h"

#include <string.h>

static void download(size_t len, uint64_t want_requests) {
  fixture fx;
  blob b;
  start(&fx, &b);
  blob_set(&b, len);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_GET, "/blob"),
                               &resp, 20000),
               0);
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  payload_is_pattern(resp, len);
  cr_assert_not(coap_options_has(&resp->opt, COAP_OPT_BLOCK2),
                "the assembled response carries no Block2");
  uint16_t cf = 0;
  cr_assert_eq(coap_options_get_content_format(&resp->opt, &cf), 0);
  cr_assert_eq(cf, COAP_CT_OCTET_STREAM, "the last block's options");
  cr_assert_eq(requests_handled(&fx), want_requests);
  cr_assert_eq(b.renders, 1, "rendered once, later blocks from the cache");
  coap_message_free(resp);
  stop(&fx, &b);
}

COAP_TEST(blockwise, download_of_1_byte_is_one_plain_response) {
  download(1, 1);
}

COAP_TEST(blockwise, download_of_exactly_one_block_is_not_sliced) {
  download(1024, 1);
}

COAP_TEST(blockwise, download_of_one_block_and_one_byte_takes_two_blocks) {
  download(1025, 2);
}

COAP_TEST(blockwise, download_of_1_mib_is_assembled_intact) {
  download(1u << 20, 1024);
}

static void upload(size_t len, uint64_t want_requests) {
  fixture fx;
  blob b;
  start(&fx, &b);
  coap_message *put = fixture_message(&fx, COAP_CODE_PUT, "/blob");
  uint8_t *body = pattern(len);
  cr_assert_eq(coap_message_set_payload(put, body, len), 0);
  free(body);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, put, &resp, 20000), 0);
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  coap_block b1;
  if (want_requests > 1) {
    /* RFC 7959 §2.3: the final response names the last block. */
    cr_assert_eq(coap_options_get_block1(&resp->opt, &b1), 0);
    cr_assert_eq(b1.num, want_requests - 1);
    cr_assert_not(b1.more);
  }
  cr_assert_eq(b.renders, 1, "the resource saw one whole request");
  cr_assert_eq(b.len, len);
  for (size_t i = 0; i < len; i++)
    if (b.data[i] != pattern_byte(i))
      cr_assert_fail("byte %zu differs", i);
  cr_assert_eq(requests_handled(&fx), want_requests);
  coap_message_free(resp);
  stop(&fx, &b);
}

COAP_TEST(blockwise, upload_of_1_byte_is_one_plain_request) {
  upload(1, 1);
}

COAP_TEST(blockwise, upload_of_exactly_one_block_is_one_request) {
  upload(1024, 1);
}

COAP_TEST(blockwise, upload_of_one_block_and_one_byte_takes_two_blocks) {
  upload(1025, 2);
}

COAP_TEST(blockwise, upload_of_1_mib_is_reassembled_intact) {
  upload(1u << 20, 1024);
}

COAP_TEST(blockwise, post_upload_with_blockwise_response_renders_once) {
  fixture fx;
  blob b;
  start(&fx, &b);
  coap_message *post = fixture_message(&fx, COAP_CODE_POST, "/blob");
  uint8_t *body = pattern(3000);
  coap_message_set_payload(post, body, 3000);
  free(body);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, post, &resp, 20000), 0);
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  payload_is_pattern(resp, 3000);
  /* RFC 7959 §3.3: three Block1 blocks, then two more Block2 blocks of
   * the response, which the server keeps instead of posting again. */
  cr_assert_eq(requests_handled(&fx), 5);
  cr_assert_eq(b.renders, 1);
  coap_message_free(resp);
  stop(&fx, &b);
}

COAP_TEST(blockwise, server_with_smaller_blocks_renegotiates_both_ways) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  sc.block_size_exp = 4; /* 256 bytes */
  start_pair(&fx, &sc, &cc);
  blob b = {0};
  fixture_add(&fx, "blob", &blob_methods, &b);

  /* RFC 7959 §2.5: the first block goes at 1024 bytes, the server's 2.31
   * asks for 256, and the client continues at byte 1024 as block 4. */
  coap_message *put = fixture_message(&fx, COAP_CODE_PUT, "/blob");
  uint8_t *body = pattern(5000);
  coap_message_set_payload(put, body, 5000);
  free(body);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, put, &resp, 20000), 0);
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  coap_block b1;
  cr_assert_eq(coap_options_get_block1(&resp->opt, &b1), 0);
  cr_assert_eq(b1.szx, 4);
  cr_assert_eq(b1.num, 19, "5000 bytes end in block 19 of 256");
  coap_message_free(resp);
  cr_assert_eq(requests_handled(&fx), 1 + 16, "1024 bytes, then 16 blocks");
  cr_assert_eq(b.len, 5000);
  for (size_t i = 0; i < 5000; i++)
    cr_assert_eq(b.data[i], pattern_byte(i));

  /* RFC 7959 §2.4: the server answers in its own, smaller blocks. */
  uint64_t before = requests_handled(&fx);
  cr_assert_eq(fixture_request(&fx,
                               fixture_message(&fx, COAP_CODE_GET, "/blob"),
                               &resp, 20000),
               0);
  payload_is_pattern(resp, 5000);
  cr_assert_eq(requests_handled(&fx) - before, 20, "5000 bytes in 256s");
  coap_message_free(resp);
  fixture_stop(&fx);
  free(b.data);
}

COAP_TEST(blockwise, client_proposes_a_smaller_block_size) {
  fixture fx;
  blob b;
  start(&fx, &b);
  blob_set(&b, 1000);
  coap_message *get = fixture_message(&fx, COAP_CODE_GET, "/blob");
  /* RFC 7959 §2.4: Block2 with NUM 0 in the request proposes a size. */
  coap_block proposal = {.num = 0, .more = false, .szx = 2};
  coap_options_set_block2(&get->opt, &proposal);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, get, &resp, 20000), 0);
  payload_is_pattern(resp, 1000);
  cr_assert_eq(requests_handled(&fx), 16, "1000 bytes in blocks of 64");
  uint32_t size2;
  cr_assert_eq(coap_options_get_size2(&resp->opt, &size2), 0,
               "Size2 stays in the delivered response");
  cr_assert_eq(size2, 1000);
  coap_message_free(resp);
  stop(&fx, &b);
}

static coap_message *block1_message(fixture *fx, uint32_t num, bool more,
                                    size_t len) {
  coap_message *m = fixture_message(fx, COAP_CODE_PUT, "/blob");
  coap_block b1 = {.num = num, .more = more, .szx = 6};
  coap_options_set_block1(&m->opt, &b1);
  uint8_t *body = pattern(len);
  coap_message_set_payload(m, body, len);
  free(body);
  return m;
}

COAP_TEST(blockwise, block_out_of_sequence_is_4_08) {
  fixture fx;
  blob b;
  start(&fx, &b);
  coap_message *resp = NULL;
  /* RFC 7959 §2.9.2: a block of an upload the server does not hold. */
  cr_assert_eq(raw_request(&fx, block1_message(&fx, 1, true, 1024), &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_REQUEST_ENTITY_INCOMPLETE);
  coap_message_free(resp);

  cr_assert_eq(raw_request(&fx, block1_message(&fx, 0, true, 1024), &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_CONTINUE);
  coap_block b1;
  cr_assert_eq(coap_options_get_block1(&resp->opt, &b1), 0);
  cr_assert_eq(b1.num, 0);
  cr_assert(b1.more);
  cr_assert_eq(b1.szx, 6);
  coap_message_free(resp);
  /* Block 1 skipped. */
  cr_assert_eq(raw_request(&fx, block1_message(&fx, 2, false, 10), &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_REQUEST_ENTITY_INCOMPLETE);
  coap_message_free(resp);
  cr_assert_eq(b.renders, 0, "the resource saw none of it");
  stop(&fx, &b);
}

COAP_TEST(blockwise, block_zero_restarts_an_upload) {
  fixture fx;
  blob b;
  start(&fx, &b);
  coap_message *resp = NULL;
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(raw_request(&fx, block1_message(&fx, 0, true, 1024), &resp),
                 0);
    cr_assert_eq(resp->code, COAP_CODE_CONTINUE);
    coap_message_free(resp);
  }
  cr_assert_eq(raw_request(&fx, block1_message(&fx, 1, false, 10), &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);
  cr_assert_eq(b.len, 1034);
  stop(&fx, &b);
}

COAP_TEST(blockwise, body_over_the_limit_is_4_13_with_size1) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  sc.max_body_size = 4096;
  start_pair(&fx, &sc, &cc);
  blob b = {0};
  fixture_add(&fx, "blob", &blob_methods, &b);

  /* The library client announces Size1 with block 0 (RFC 7959 §4), so the
   * server refuses at once. */
  coap_message *put = fixture_message(&fx, COAP_CODE_PUT, "/blob");
  uint8_t *body = pattern(5000);
  coap_message_set_payload(put, body, 5000);
  free(body);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, put, &resp, 20000), 0);
  cr_assert_eq(resp->code, COAP_CODE_REQUEST_ENTITY_TOO_LARGE);
  uint32_t size1;
  cr_assert_eq(coap_options_get_size1(&resp->opt, &size1), 0,
               "RFC 7959 §2.9.3: Size1 tells the limit");
  cr_assert_eq(size1, 4096);
  coap_message_free(resp);
  cr_assert_eq(requests_handled(&fx), 1);

  /* Without Size1 the limit is found block by block. */
  for (uint32_t num = 0; num < 4; num++) {
    cr_assert_eq(raw_request(&fx, block1_message(&fx, num, true, 1024), &resp),
                 0);
    cr_assert_eq(resp->code, COAP_CODE_CONTINUE);
    coap_message_free(resp);
  }
  cr_assert_eq(raw_request(&fx, block1_message(&fx, 4, false, 1), &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_REQUEST_ENTITY_TOO_LARGE);
  cr_assert_eq(coap_options_get_size1(&resp->opt, &size1), 0);
  cr_assert_eq(size1, 4096);
  coap_message_free(resp);
  cr_assert_eq(b.renders, 0);
  fixture_stop(&fx);
}

COAP_TEST(blockwise, unfinished_upload_expires_and_frees_its_memory) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  /* EXCHANGE_LIFETIME = 20 * (2**1 - 1) * 1.0 + 2 * 10 + 20 = 60 ms. */
  sc.transmission.ack_timeout_ms = 20;
  sc.transmission.ack_random_factor = 1.0;
  sc.transmission.max_retransmit = 1;
  sc.transmission.max_latency_ms = 10;
  sc.transmission.processing_delay_ms = 20;
  cr_assert_eq(coap_exchange_lifetime_ms(&sc.transmission), 60);
  sc.block1_idle_timeout_ms = 60;
  start_pair(&fx, &sc, &cc);
  blob b = {0};
  fixture_add(&fx, "blob", &blob_methods, &b);

  coap_message *resp = NULL;
  /* Timed from before the block is sent: the server's clock starts when
   * the block arrives, later than this, never earlier. */
  uv_update_time(&fx.loop);
  uint64_t start_ms = uv_now(&fx.loop);
  cr_assert_eq(raw_request(&fx, block1_message(&fx, 0, true, 1024), &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_CONTINUE);
  coap_message_free(resp);
  long holding = coap_test_live_allocations;
  /* The upload holds its entry, key and body until the expiry. */
  while (coap_test_live_allocations > holding - 3 &&
         uv_now(&fx.loop) - start_ms < 5000)
    uv_run(&fx.loop, UV_RUN_ONCE);
  cr_assert_eq(coap_test_live_allocations, holding - 3,
               "entry, key and body freed");
  cr_assert_geq(uv_now(&fx.loop) - start_ms, 60, "not before its lifetime");

  cr_assert_eq(raw_request(&fx, block1_message(&fx, 1, false, 10), &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_REQUEST_ENTITY_INCOMPLETE,
               "the upload is gone");
  coap_message_free(resp);
  fixture_stop(&fx);
}

static coap_message *block2_message(fixture *fx, uint32_t num, uint8_t szx) {
  coap_message *m = fixture_message(fx, COAP_CODE_GET, "/blob");
  coap_block b2 = {.num = num, .more = false, .szx = szx};
  coap_options_set_block2(&m->opt, &b2);
  return m;
}

COAP_TEST(blockwise, later_blocks_come_from_the_kept_representation) {
  fixture fx;
  blob b;
  start(&fx, &b);
  blob_set(&b, 5000);
  coap_message *resp = NULL;
  cr_assert_eq(raw_request(&fx, block2_message(&fx, 0, 6), &resp), 0);
  coap_block b2;
  cr_assert_eq(coap_options_get_block2(&resp->opt, &b2), 0);
  cr_assert_eq(b2.num, 0);
  cr_assert(b2.more);
  const uint8_t *etag;
  size_t etag_len;
  cr_assert_eq(coap_options_get_etag(&resp->opt, &etag, &etag_len), 0,
               "a sliced representation gets an ETag");
  uint8_t first_etag[8];
  cr_assert_eq(etag_len, 8);
  memcpy(first_etag, etag, 8);
  coap_message_free(resp);
  cr_assert_eq(b.renders, 1);

  /* Random access: block 3 and then block 1, no rendering. */
  uint32_t order[] = {3, 1, 4};
  for (size_t i = 0; i < 3; i++) {
    cr_assert_eq(raw_request(&fx, block2_message(&fx, order[i], 6), &resp), 0);
    cr_assert_eq(coap_options_get_block2(&resp->opt, &b2), 0);
    cr_assert_eq(b2.num, order[i]);
    cr_assert_eq(b2.more, order[i] < 4);
    size_t start = (size_t)order[i] * 1024;
    size_t want = order[i] < 4 ? 1024 : 5000 - 4096;
    cr_assert_eq(resp->payload_len, want);
    for (size_t j = 0; j < want; j++)
      cr_assert_eq(resp->payload[j], pattern_byte(start + j));
    cr_assert_eq(coap_options_get_etag(&resp->opt, &etag, &etag_len), 0);
    cr_assert_arr_eq(etag, first_etag, 8);
    coap_message_free(resp);
  }
  cr_assert_eq(b.renders, 1, "served without rendering again");

  /* Smaller blocks of the same representation come from it too. */
  cr_assert_eq(raw_request(&fx, block2_message(&fx, 5, 4), &resp), 0);
  cr_assert_eq(coap_options_get_block2(&resp->opt, &b2), 0);
  cr_assert_eq(b2.num, 5);
  cr_assert_eq(b2.szx, 4);
  cr_assert_eq(resp->payload[0], pattern_byte(5 * 256));
  coap_message_free(resp);
  cr_assert_eq(b.renders, 1);

  /* No block 5 of 1024. */
  cr_assert_eq(raw_request(&fx, block2_message(&fx, 5, 6), &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_BAD_REQUEST);
  coap_message_free(resp);

  /* Block 0 asks for a fresh representation. */
  cr_assert_eq(raw_request(&fx, block2_message(&fx, 0, 6), &resp), 0);
  coap_message_free(resp);
  cr_assert_eq(b.renders, 2);
  stop(&fx, &b);
}

/* FETCH answers with 3000 copies of the first byte of its body. */
static int fetch_fill(coap_resource *res, coap_message *req, coap_message *resp,
                      coap_future **later) {
  (void)res;
  (void)later;
  uint8_t *p = coap_message_reserve_payload(resp, 3000);
  cr_assert_not_null(p);
  memset(p, req->payload_len > 0 ? req->payload[0] : '-', 3000);
  return 0;
}

static const coap_resource_methods fetch_methods = {.render_fetch = fetch_fill};

/* RFC 8132 §2.2.1: the body of a FETCH is part of what it asks for; a
 * later block must come from the representation for the same body. */
COAP_TEST(blockwise, fetch_blocks_follow_the_request_body) {
  fixture fx;
  fixture_start(&fx, NULL);
  fixture_add(&fx, "fetch", &fetch_methods, NULL);
  const char bodies[2] = {'a', 'b'};
  for (int i = 0; i < 2; i++) {
    coap_message *m = fixture_message(&fx, COAP_CODE_FETCH, "/fetch");
    coap_message_set_payload(m, &bodies[i], 1);
    coap_block b2 = {.num = (uint32_t)i, .more = false, .szx = 6};
    coap_options_set_block2(&m->opt, &b2);
    coap_message *resp = NULL;
    cr_assert_eq(raw_request(&fx, m, &resp), 0);
    cr_assert_eq(resp->code, COAP_CODE_CONTENT);
    cr_assert_gt(resp->payload_len, 0);
    cr_assert_eq(resp->payload[0], (uint8_t)bodies[i],
                 "block %d of the representation for body '%c'", i, bodies[i]);
    coap_message_free(resp);
  }
  fixture_stop(&fx);
}

COAP_TEST(blockwise, later_block_of_a_post_no_longer_kept_is_4_08) {
  fixture fx;
  blob b;
  start(&fx, &b);
  coap_message *m = fixture_message(&fx, COAP_CODE_POST, "/blob");
  coap_block b2 = {.num = 1, .more = false, .szx = 6};
  coap_options_set_block2(&m->opt, &b2);
  coap_message *resp = NULL;
  cr_assert_eq(raw_request(&fx, m, &resp), 0);
  /* Rendering the POST again would act twice, and without its body. */
  cr_assert_eq(resp->code, COAP_CODE_REQUEST_ENTITY_INCOMPLETE);
  cr_assert_eq(b.renders, 0);
  coap_message_free(resp);
  stop(&fx, &b);
}

COAP_TEST(blockwise, size2_in_request_gets_the_total_size) {
  fixture fx;
  blob b;
  start(&fx, &b);
  blob_set(&b, 3000);
  coap_message *m = block2_message(&fx, 1, 6);
  coap_options_set_size2(&m->opt, 0);
  coap_message *resp = NULL;
  cr_assert_eq(raw_request(&fx, m, &resp), 0);
  uint32_t size2;
  cr_assert_eq(coap_options_get_size2(&resp->opt, &size2), 0, "RFC 7959 §4");
  cr_assert_eq(size2, 3000);
  coap_message_free(resp);
  stop(&fx, &b);
}

/* The lossy shim: drops a datagram with a given probability, from a seeded
 * xorshift so every run drops the same ones. */
typedef struct lossy {
  uint64_t state;
  unsigned percent;
  unsigned dropped, passed;
} lossy;

static bool lossy_filter(void *data, const coap_remote *remote,
                         const uint8_t *bytes, size_t len) {
  (void)remote;
  (void)bytes;
  (void)len;
  lossy *l = data;
  l->state ^= l->state << 13;
  l->state ^= l->state >> 7;
  l->state ^= l->state << 17;
  bool drop = l->state % 100 < l->percent;
  if (drop)
    l->dropped++;
  else
    l->passed++;
  return !drop;
}

static void start_lossy(fixture *fx, blob *b, lossy *to_server,
                        lossy *to_client) {
  coap_context_config c;
  config_for_test(&c);
  c.transmission.ack_timeout_ms = 20;
  c.transmission.ack_random_factor = 1.0;
  c.transmission.max_retransmit = 10;
  c.transmission.nstart = 1;
  start_pair(fx, &c, &c);
  memset(b, 0, sizeof *b);
  fixture_add(fx, "blob", &blob_methods, b);
  *to_server = (lossy){.state = 0x9e3779b97f4a7c15u, .percent = 20};
  *to_client = (lossy){.state = 0xd1b54a32d192ed03u, .percent = 20};
  coap__udp6_set_send_filter(coap__udp_socket(fx->client->endpoints[0]), lossy_filter, to_server);
  coap__udp6_set_send_filter(coap__udp_socket(fx->server->endpoints[0]), lossy_filter, to_client);
}

COAP_TEST(blockwise, download_of_256_kib_survives_20_percent_loss) {
  fixture fx;
  blob b;
  lossy up, down;
  start_lossy(&fx, &b, &up, &down);
  blob_set(&b, 256u << 10);
  coap_message *resp = NULL;
  cr_assert_eq(request_with(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"),
                            NULL, &resp),
               0);
  payload_is_pattern(resp, 256u << 10);
  coap_message_free(resp);
  cr_assert_gt(up.dropped, 10);
  cr_assert_gt(down.dropped, 10);
  stop(&fx, &b);
}

COAP_TEST(blockwise, upload_of_256_kib_survives_20_percent_loss) {
  fixture fx;
  blob b;
  lossy up, down;
  start_lossy(&fx, &b, &up, &down);
  coap_message *put = fixture_message(&fx, COAP_CODE_PUT, "/blob");
  uint8_t *body = pattern(256u << 10);
  coap_message_set_payload(put, body, 256u << 10);
  free(body);
  coap_message *resp = NULL;
  cr_assert_eq(request_with(&fx, put, NULL, &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_CHANGED);
  coap_message_free(resp);
  cr_assert_eq(b.renders, 1);
  cr_assert_eq(b.len, 256u << 10);
  for (size_t i = 0; i < b.len; i++)
    if (b.data[i] != pattern_byte(i))
      cr_assert_fail("byte %zu differs", i);
  cr_assert_gt(up.dropped, 10);
  cr_assert_gt(down.dropped, 10);
  stop(&fx, &b);
}

/* DESIGN.md: no allocation per datagram in steady state.  With the
 * deduplication cache recycling its entries, a transfer allocates per
 * transfer (its state, a kept representation) and per doubling of a
 * growing body, not per block: four times the blocks cost two more
 * allocations each way. */
static void transfer_allocations(fixture *fx, blob *b, size_t len, long *get,
                                 long *put) {
  blob_set(b, len);
  long before = coap_test_total_allocations;
  coap_message *resp = NULL;
  cr_assert_eq(request_with(fx, fixture_message(fx, COAP_CODE_GET, "/blob"),
                            NULL, &resp),
               0);
  *get = coap_test_total_allocations - before;
  payload_is_pattern(resp, len);
  coap_message_free(resp);
  coap_message *msg = fixture_message(fx, COAP_CODE_PUT, "/blob");
  uint8_t *body = pattern(len);
  coap_message_set_payload(msg, body, len);
  free(body);
  before = coap_test_total_allocations;
  cr_assert_eq(request_with(fx, msg, NULL, &resp), 0);
  *put = coap_test_total_allocations - before;
  coap_message_free(resp);
}

COAP_TEST(blockwise, transfers_allocate_per_transfer_not_per_block) {
  fixture fx;
  coap_context_config c;
  config_for_test(&c);
  c.dedup_entries = 8;
  start_pair(&fx, &c, &c);
  blob b = {0};
  fixture_add(&fx, "blob", &blob_methods, &b);
  long get_small, put_small, get_large, put_large;
  transfer_allocations(&fx, &b, 64u << 10, &get_small, &put_small);
  transfer_allocations(&fx, &b, 64u << 10, &get_small, &put_small);
  transfer_allocations(&fx, &b, 256u << 10, &get_large, &put_large);
  cr_assert_leq(get_large, get_small + 2, "GET: %ld allocations, then %ld",
                get_small, get_large);
  cr_assert_leq(put_large, put_small + 2, "PUT: %ld allocations, then %ld",
                put_small, put_large);
  fixture_stop(&fx);
  free(b.data);
}

/* Issue 9: uploads abandoned after their first block, one from each of
 * many endpoints, must not lock every other upload out until they expire:
 * the idlest gives way to a new one. */
COAP_TEST(blockwise, abandoned_first_blocks_give_way_to_new_uploads) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  sc.max_block1_reassemblies = 64;
  start_pair(&fx, &sc, &cc);
  blob b = {0};
  fixture_add(&fx, "blob", &blob_methods, &b);
  coap_context *others[64];
  for (int i = 0; i < 64; i++) {
    cr_assert_eq(coap_context_create_client_context(&fx.loop, &cc, &others[i]),
                 0);
    coap_request_params params;
    coap_request_params_default(&params);
    params.handle_blockwise = false;
    coap_request *req;
    cr_assert_eq(coap_context_request(others[i],
                                      block1_message(&fx, 0, true, 1024),
                                      &params, &req),
                 0);
    coap_future *f = coap_request_response(req);
    cr_assert_eq(coap_run_until_complete(&fx.loop, f), 0);
    cr_assert_eq(((coap_message *)coap_future_result(f))->code,
                 COAP_CODE_CONTINUE, "abandoned upload %d started", i);
    coap_request_unref(req);
  }
  /* A whole upload from yet another endpoint goes through. */
  coap_message *m = fixture_message(&fx, COAP_CODE_PUT, "/blob");
  uint8_t *body = pattern(3000);
  coap_message_set_payload(m, body, 3000);
  free(body);
  coap_message *resp = NULL;
  cr_assert_eq(request_with(&fx, m, NULL, &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_CHANGED, "got %s",
               coap_code_name(resp->code));
  coap_message_free(resp);
  cr_assert_eq(b.len, 3000);
  for (int i = 0; i < 64; i++)
    coap_context_shutdown(others[i], NULL, NULL);
  stop(&fx, &b);
}

/* One peer holds at most max_block1_reassemblies_per_peer uploads; the
 * next is refused with 5.03 and a Max-Age telling when to try again. */
COAP_TEST(blockwise, uploads_per_peer_are_bounded_with_5_03_and_max_age) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  sc.max_block1_reassemblies_per_peer = 4;
  sc.block1_idle_timeout_ms = 20000;
  start_pair(&fx, &sc, &cc);
  blob b = {0};
  fixture_add(&fx, "blob", &blob_methods, &b);
  for (int i = 0; i < 5; i++) {
    coap_message *m = block1_message(&fx, 0, true, 1024);
    /* Different bodies: different uploads (RFC 9175 §3.4 Request-Tag). */
    uint8_t tag = (uint8_t)i;
    coap_options_add(&m->opt, COAP_OPT_REQUEST_TAG, &tag, 1);
    coap_message *resp = NULL;
    cr_assert_eq(raw_request(&fx, m, &resp), 0);
    if (i < 4) {
      cr_assert_eq(resp->code, COAP_CODE_CONTINUE, "upload %d", i);
    } else {
      cr_assert_eq(resp->code, COAP_CODE_SERVICE_UNAVAILABLE);
      uint32_t max_age = 0;
      cr_assert_eq(coap_options_get_max_age(&resp->opt, &max_age), 0);
      cr_assert_eq(max_age, 20);
    }
    coap_message_free(resp);
  }
  stop(&fx, &b);
}

/* Issue 9, cost per request: a resource that tells its ETag (here a
 * version number) has a kept representation reused for new GETs while
 * the ETag holds, so a block costs what slicing costs; a new version is
 * rendered again. */
static uint32_t blob_version;
static int blob_etag(coap_resource *res, const coap_message *req, uint8_t *etag,
                     size_t *len) {
  (void)res;
  (void)req;
  memcpy(etag, &blob_version, sizeof blob_version);
  *len = sizeof blob_version;
  return 0;
}

static int blob_get_tagged(coap_resource *res, coap_message *req,
                           coap_message *resp, coap_future **later) {
  int rc = blob_methods.render_get(res, req, resp, later);
  coap_options_add(&resp->opt, COAP_OPT_ETAG, &blob_version,
                   sizeof blob_version);
  return rc;
}

static const coap_resource_methods tagged_methods = {
    .render_get = blob_get_tagged, .get_etag = blob_etag};

COAP_TEST(blockwise, current_representation_serves_new_gets_unrendered) {
  fixture fx;
  blob b = {0};
  start(&fx, &b);
  coap_site_remove_resource(fx.site, (const char *const[]){"blob"}, 1);
  fixture_add(&fx, "blob", &tagged_methods, &b);
  blob_set(&b, 100000);
  blob_version = 1;
  for (int i = 0; i < 3; i++) {
    coap_message *resp = NULL;
    cr_assert_eq(request_with(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"),
                              NULL, &resp),
                 0);
    payload_is_pattern(resp, 100000);
    coap_message_free(resp);
  }
  cr_assert_eq(b.renders, 1, "rendered once for three downloads");
  blob_version = 2; /* the state changed: its ETag says so */
  coap_message *resp = NULL;
  cr_assert_eq(request_with(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"),
                            NULL, &resp),
               0);
  coap_message_free(resp);
  cr_assert_eq(b.renders, 2, "a new version is rendered");
  stop(&fx, &b);
}

/* Without an ETag of its own or observers, nothing tells that a kept
 * representation is current: every new GET renders, as before. */
COAP_TEST(blockwise, resource_without_etag_renders_every_new_get) {
  fixture fx;
  blob b = {0};
  start(&fx, &b);
  blob_set(&b, 5000);
  for (int i = 0; i < 2; i++) {
    coap_message *resp = NULL;
    cr_assert_eq(request_with(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"),
                              NULL, &resp),
                 0);
    coap_message_free(resp);
  }
  cr_assert_eq(b.renders, 2);
  stop(&fx, &b);
}
