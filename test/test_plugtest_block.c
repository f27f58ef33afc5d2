/*
 * aiocoap-plugtest-server's TD_COAP_BLOCK resources (cli/plugtest_block.c,
 * issue 15): Block2 at any size with one ETag, Block1 uploads with 2.31
 * and SZX renegotiation, resources created by POST, and a POST whose
 * answer is blockwise too.
 */
#include "plugtest_fixture.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- TD_COAP_BLOCK ---- */

/* Block2 at the smallest size: every block with the same ETag, Size2
 * with the first, the blocks adding up to the whole. */
COAP_TEST(plugtest_block, large_in_16_byte_blocks_one_etag) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *whole = ask(&t, COAP_CODE_GET, "/large", NULL);
  code_is(whole, COAP_CODE_CONTENT);
  cr_assert_gt(whole->payload_len, 1900);
  cr_assert_lt(whole->payload_len, 2300);
  uint8_t etag0[8];
  size_t etag0_len = 0;
  size_t got = 0;
  uint8_t buf[1500];
  for (uint32_t num = 0;; num++) {
    coap_message m;
    raw_init(&m, COAP_TYPE_CON, (uint16_t)(0x4000 + num), COAP_CODE_GET,
             "large");
    coap_block b = {.num = num, .szx = 0};
    coap_options_set_block2(&m.opt, &b);
    if (num == 0)
      coap_options_set_size2(&m.opt, 0);
    raw_send(&t, &m);
    raw_answer(&t, &m, buf, sizeof buf);
    code_is(&m, COAP_CODE_CONTENT);
    cr_assert_eq(coap_options_get_block2(&m.opt, &b), 0);
    cr_assert_eq(b.num, num);
    cr_assert_eq(b.szx, 0);
    uint8_t etag[8];
    size_t len = etag_of(&m, etag);
    if (num == 0) {
      uint32_t size2 = 0;
      cr_assert_eq(coap_options_get_size2(&m.opt, &size2), 0, "Size2");
      cr_assert_eq(size2, whole->payload_len);
      memcpy(etag0, etag, len);
      etag0_len = len;
    } else {
      cr_assert_eq(len, etag0_len);
      cr_assert_arr_eq(etag, etag0, len, "the same ETag on block %u", num);
    }
    cr_assert_leq(got + m.payload_len, whole->payload_len);
    cr_assert_arr_eq(m.payload, whole->payload + got, m.payload_len);
    got += m.payload_len;
    bool more = b.more;
    cr_assert(more ? m.payload_len == 16 : m.payload_len <= 16);
    coap_message_clear(&m);
    if (!more)
      break;
  }
  cr_assert_eq(got, whole->payload_len);
  cr_assert_null(memchr(whole->payload, '\0', whole->payload_len),
                 "text, no NUL");
  coap_message_free(whole);
  coap_message *wkc =
      ask(&t, COAP_CODE_GET, "/.well-known/core?href=/large", NULL);
  char want[64];
  snprintf(want, sizeof want, "</large>;ct=0;rt=\"block\";sz=%zu", got);
  cr_assert(payload_has(wkc, want), "/large listed with sz");
  coap_message_free(wkc);
  pt_stop(&t);
}

/* Sends body to path as POST or PUT in blocks of 2**(szx+4); checks each
 * 2.31 and returns the final answer (in m, borrowing buf). */
static void raw_upload(pt *t, uint8_t code, const char *path,
                       const uint8_t *body, size_t len, uint8_t szx,
                       coap_message *m, uint8_t *buf, size_t cap) {
  size_t bs = coap_block_size(szx);
  for (uint32_t num = 0;; num++) {
    size_t off = (size_t)num * bs;
    size_t n = len - off < bs ? len - off : bs;
    coap_message req;
    raw_init(&req, COAP_TYPE_CON, (uint16_t)(0x5000 + num), code, path);
    coap_block b = {.num = num, .more = off + n < len, .szx = szx};
    coap_options_set_block1(&req.opt, &b);
    coap_message_set_payload(&req, body + off, n);
    raw_send(t, &req);
    raw_answer(t, m, buf, cap);
    coap_block ack;
    cr_assert_eq(coap_options_get_block1(&m->opt, &ack), 0, "Block1 echoed");
    cr_assert_eq(ack.num, num);
    if (!b.more) {
      cr_assert_not(ack.more);
      return;
    }
    code_is(m, COAP_CODE_CONTINUE);
    coap_message_clear(m);
  }
}

static uint8_t upload_body[3000];

static void fill_body(void) {
  for (size_t i = 0; i < sizeof upload_body; i++)
    upload_body[i] = (uint8_t)('A' + i % 23);
}

/* TD_COAP_BLOCK_03: PUT with Block1, 2.31 per block, 2.04 at the end; GET
 * returns what was stored. */
COAP_TEST(plugtest_block, large_update_block1_then_get) {
  pt t;
  pt_start(&t, NULL, NULL);
  fill_body();
  coap_message m;
  uint8_t buf[1500];
  raw_upload(&t, COAP_CODE_PUT, "large-update", upload_body, 1000, 2, &m, buf,
             sizeof buf);
  code_is(&m, COAP_CODE_CHANGED);
  coap_message_clear(&m);
  coap_message *r = ask(&t, COAP_CODE_GET, "/large-update", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cr_assert_eq(r->payload_len, 1000);
  cr_assert_arr_eq(r->payload, upload_body, 1000);
  coap_message_free(r);
  pt_stop(&t);
}

/* RFC 7959 §2.5: a server with smaller blocks answers block 0 with its
 * SZX, and the client goes on in that size where its bytes ended. */
COAP_TEST(plugtest_block, large_update_szx_renegotiated_on_block_0) {
  coap_context_config c;
  coap_context_config_default(&c);
  c.block_size_exp = 2; /* 64 bytes */
  pt t;
  pt_start(&t, &c, NULL);
  fill_body();
  coap_message m;
  uint8_t buf[1500];
  coap_message req;
  raw_init(&req, COAP_TYPE_CON, 0x5100, COAP_CODE_PUT, "large-update");
  coap_block b = {.num = 0, .more = true, .szx = 4};
  coap_options_set_block1(&req.opt, &b);
  coap_message_set_payload(&req, upload_body, 256);
  raw_send(&t, &req);
  raw_answer(&t, &m, buf, sizeof buf);
  code_is(&m, COAP_CODE_CONTINUE);
  coap_block ack;
  cr_assert_eq(coap_options_get_block1(&m.opt, &ack), 0);
  cr_assert_eq(ack.szx, 2, "the server's size");
  cr_assert_eq(ack.num, 0);
  coap_message_clear(&m);
  /* Block 4 of 64 bytes starts at byte 256. */
  raw_init(&req, COAP_TYPE_CON, 0x5101, COAP_CODE_PUT, "large-update");
  b = (coap_block){.num = 4, .more = false, .szx = 2};
  coap_options_set_block1(&req.opt, &b);
  coap_message_set_payload(&req, upload_body + 256, 40);
  raw_send(&t, &req);
  raw_answer(&t, &m, buf, sizeof buf);
  code_is(&m, COAP_CODE_CHANGED);
  coap_message_clear(&m);
  coap_message *r = ask(&t, COAP_CODE_GET, "/large-update", NULL);
  cr_assert_eq(r->payload_len, 296);
  cr_assert_arr_eq(r->payload, upload_body, 296);
  coap_message_free(r);
  pt_stop(&t);
}

/* TD_COAP_BLOCK_04: each POST creates a resource of its own. */
COAP_TEST(plugtest_block, large_create_makes_new_resources) {
  pt t;
  pt_start(&t, NULL, NULL);
  fill_body();
  char first[64] = "";
  for (int i = 0; i < 2; i++) {
    coap_message *msg = fixture_message(&t.fx, COAP_CODE_POST, "/large-create");
    coap_message_set_payload(msg, upload_body, 2500 - (size_t)i);
    coap_options_set_content_format(&msg->opt, COAP_CT_TEXT_PLAIN);
    coap_message *r;
    cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
    code_is(r, COAP_CODE_CREATED);
    char loc[64], uri[80];
    cr_assert_gt(
        coap_options_get_location_path_string(&r->opt, loc, sizeof loc), 0);
    cr_assert_eq(strncmp(loc, "large-create/", 13), 0, "%s", loc);
    cr_assert_str_neq(loc, first);
    snprintf(first, sizeof first, "%s", loc);
    coap_message_free(r);
    snprintf(uri, sizeof uri, "/%s", loc);
    r = ask(&t, COAP_CODE_GET, uri, NULL);
    code_is(r, COAP_CODE_CONTENT);
    cr_assert_eq(r->payload_len, 2500 - (size_t)i);
    cr_assert_arr_eq(r->payload, upload_body, r->payload_len);
    coap_message_free(r);
  }
  pt_stop(&t);
}

/* Bounded: the oldest created resource goes for the newest. */
COAP_TEST(plugtest_block, large_create_keeps_at_most_its_limit) {
  pt t;
  pt_start(&t, NULL, NULL);
  for (unsigned i = 0; i < PLUGTEST_LARGE_CREATE_MAX + 2; i++) {
    coap_message *r = ask(&t, COAP_CODE_POST, "/large-create", "x");
    code_is(r, COAP_CODE_CREATED);
    coap_message_free(r);
  }
  cr_assert_null(plugtest_site_resource(t.site, "large-create/1"));
  cr_assert_null(plugtest_site_resource(t.site, "large-create/2"));
  cr_assert_not_null(plugtest_site_resource(t.site, "large-create/3"));
  char last[32];
  snprintf(last, sizeof last, "large-create/%u", PLUGTEST_LARGE_CREATE_MAX + 2);
  cr_assert_not_null(plugtest_site_resource(t.site, last));
  pt_stop(&t);
}

/* TD_COAP_BLOCK_05/06: the answer to the last Block1 block names it and
 * is itself Block2 block 0; the rest comes with Block2. */
COAP_TEST(plugtest_block, large_post_answer_is_blockwise_too) {
  pt t;
  pt_start(&t, NULL, NULL);
  fill_body();
  coap_message m;
  uint8_t buf[1500];
  raw_upload(&t, COAP_CODE_POST, "large-post", upload_body, 300, 2, &m, buf,
             sizeof buf);
  code_is(&m, COAP_CODE_CHANGED);
  coap_block b2;
  cr_assert_eq(coap_options_get_block2(&m.opt, &b2), 0, "Block2 too");
  cr_assert_eq(b2.num, 0);
  cr_assert(b2.more);
  cr_assert(payload_has(&m, "received 300 bytes"));
  size_t first_len = m.payload_len;
  coap_message_clear(&m);
  coap_message req;
  raw_init(&req, COAP_TYPE_CON, 0x5201, COAP_CODE_POST, "large-post");
  coap_block next = {.num = 1, .szx = b2.szx};
  coap_options_set_block2(&req.opt, &next);
  raw_send(&t, &req);
  raw_answer(&t, &m, buf, sizeof buf);
  code_is(&m, COAP_CODE_CHANGED);
  cr_assert_eq(coap_options_get_block2(&m.opt, &b2), 0);
  cr_assert_eq(b2.num, 1);
  cr_assert_gt(m.payload_len, 0);
  coap_message_clear(&m);
  (void)first_len;

  /* The library's client puts it together. */
  coap_message *msg = fixture_message(&t.fx, COAP_CODE_POST, "/large-post");
  coap_message_set_payload(msg, upload_body, 2000);
  coap_message *r;
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
  code_is(r, COAP_CODE_CHANGED);
  cr_assert(payload_has(r, "received 2000 bytes"));
  cr_assert_gt(r->payload_len, 2000);
  cr_assert(payload_has(r, "30 abcdefghijklmnopqrstuvwxyz"), "to the end");
  coap_message_free(r);
  pt_stop(&t);
}

/* PLUGTEST_BODY_MAX: a body of exactly that size is stored, one byte more
 * is refused with 4.13 and changes nothing. */
COAP_TEST(plugtest_block, stored_body_limit_exact_and_one_more) {
  pt t;
  pt_start(&t, NULL, NULL);
  static uint8_t big[PLUGTEST_BODY_MAX + 1];
  memset(big, 'b', sizeof big);
  coap_message *msg = fixture_message(&t.fx, COAP_CODE_PUT, "/large-update");
  coap_message_set_payload(msg, big, PLUGTEST_BODY_MAX);
  coap_message *r;
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 10000), 0);
  code_is(r, COAP_CODE_CHANGED);
  coap_message_free(r);
  msg = fixture_message(&t.fx, COAP_CODE_PUT, "/large-update");
  big[PLUGTEST_BODY_MAX] = 'c';
  coap_message_set_payload(msg, big, PLUGTEST_BODY_MAX + 1);
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 10000), 0);
  code_is(r, COAP_CODE_REQUEST_ENTITY_TOO_LARGE);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/large-update", NULL);
  cr_assert_eq(r->payload_len, PLUGTEST_BODY_MAX);
  cr_assert_eq(r->payload[PLUGTEST_BODY_MAX - 1], 'b');
  coap_message_free(r);
  pt_stop(&t);
}
