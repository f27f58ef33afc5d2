/*
 * The edges of server-side RFC 7959: Block options the server cannot take
 * (SZX 7) and a block number that does not fit 20 bits once it is counted
 * in the server's smaller blocks.
 */
#include "blockwise_fixture.h"

#include <string.h>

static coap_message *with_raw_block(fixture *fx, uint8_t code, uint16_t number,
                                    uint8_t value) {
  coap_message *m = fixture_message(fx, code, "/blob");
  cr_assert_eq(coap_options_add(&m->opt, number, &value, 1), 0);
  return m;
}

/* RFC 7959 §2.2: SZX 7 is reserved and "MUST lead to a 4.00 Bad Request". */
COAP_TEST(blockwise_server, block2_with_szx_7_is_4_00) {
  fixture fx;
  blob b;
  start(&fx, &b);
  blob_set(&b, 100);
  coap_message *resp = NULL;
  cr_assert_eq(
      raw_request(&fx,
                  with_raw_block(&fx, COAP_CODE_GET, COAP_OPT_BLOCK2, 0x07),
                  &resp),
      0);
  cr_expect_eq(resp->code, COAP_CODE_BAD_REQUEST);
  cr_expect_eq(b.renders, 0);
  coap_message_free(resp);
  stop(&fx, &b);
}

COAP_TEST(blockwise_server, block1_with_szx_7_is_4_00) {
  fixture fx;
  blob b;
  start(&fx, &b);
  coap_message *m = with_raw_block(&fx, COAP_CODE_PUT, COAP_OPT_BLOCK1, 0x0f);
  cr_assert_eq(coap_message_set_payload_string(m, "data"), 0);
  coap_message *resp = NULL;
  cr_assert_eq(raw_request(&fx, m, &resp), 0);
  cr_expect_eq(resp->code, COAP_CODE_BAD_REQUEST);
  cr_expect_eq(b.renders, 0, "nothing stored");
  coap_message_free(resp);
  stop(&fx, &b);
}

/* A body past 16 MiB, so that block 16384 of 1024 bytes exists: counted in
 * 16-byte blocks it is block 2^20, one more than Block2 can carry. */
#define BIG_OFFSET (16384u * 1024u)
#define BIG_BODY (BIG_OFFSET + 3000u)

static coap_message *big_block_request(fixture *fx) {
  coap_message *m = fixture_message(fx, COAP_CODE_GET, "/blob");
  coap_block b2 = {.num = BIG_OFFSET / 1024, .more = false, .szx = 6};
  cr_assert_eq(coap_options_set_block2(&m->opt, &b2), 0);
  return m;
}

static void start_small_blocks(fixture *fx, blob *b,
                               uint32_t server_datagram_size) {
  coap_context_config server, client;
  config_for_test(&server);
  config_for_test(&client);
  server.block_size_exp = 0;
  if (server_datagram_size != 0)
    server.max_datagram_size = server_datagram_size;
  start_pair(fx, &server, &client);
  memset(b, 0, sizeof *b);
  fixture_add(fx, "blob", &blob_methods, b);
  blob_set(b, BIG_BODY);
}

/* RFC 7959 §2.4: the server may answer with a smaller block, numbered in
 * its own size; when that number would not fit 20 bits it uses a larger
 * block (at most the one asked for) whose number does. */
COAP_TEST(blockwise_server,
          block_number_past_20_bits_is_served_in_larger_blocks) {
  fixture fx;
  blob b;
  start_small_blocks(&fx, &b, 0);
  coap_message *resp = NULL;
  cr_assert_eq(raw_request(&fx, big_block_request(&fx), &resp), 0);
  cr_assert_eq(resp->code, COAP_CODE_CONTENT);
  coap_block got;
  cr_assert_eq(coap_options_get_block2(&resp->opt, &got), 0,
               "a slice always names its block");
  cr_expect_gt(got.szx, 0, "not the 16-byte blocks");
  cr_expect_leq(got.szx, 6, "no larger than asked");
  size_t size = coap_block_size(got.szx);
  cr_expect_eq((size_t)got.num * size, BIG_OFFSET, "the block asked for");
  cr_expect(got.more);
  cr_assert_eq(resp->payload_len, size);
  for (size_t i = 0; i < size; i++)
    if (resp->payload[i] != pattern_byte(BIG_OFFSET + i))
      cr_assert_fail("byte %zu differs", i);
  coap_message_free(resp);
  stop(&fx, &b);
}

/* When no block size the datagram can carry gives a 20-bit number, the
 * request cannot be served: 4.00, never a slice without Block2. */
COAP_TEST(blockwise_server, block_number_past_20_bits_without_room_is_4_00) {
  fixture fx;
  blob b;
  start_small_blocks(&fx, &b, 64);
  coap_message *resp = NULL;
  cr_assert_eq(raw_request(&fx, big_block_request(&fx), &resp), 0);
  cr_expect_eq(resp->code, COAP_CODE_BAD_REQUEST);
  cr_expect_not(coap_options_has(&resp->opt, COAP_OPT_BLOCK2));
  coap_message_free(resp);
  stop(&fx, &b);
}
