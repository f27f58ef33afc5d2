/*
 * aiocoap-plugtest-server's TD_COAP_OBS resources
 * (cli/plugtest_observe.c, issue 15): CON notifications replaced on the
 * retransmission schedule (RFC 7641 §4.5.2), observers dropped, reset and
 * deregistered, PUT and DELETE notifying, NON notifications, and
 * notifications larger than a block (RFC 7959 §2.6).  Timing runs with
 * short timers and a random factor of 1, so the schedule is exact.
 */
#include "plugtest_fixture.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- TD_COAP_OBS ---- */

/* A raw registration of path; returns the first response's Observe. */
static uint32_t raw_register(pt *t, const char *path, uint16_t mid) {
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, mid, COAP_CODE_GET, path);
  coap_options_set_observe(&m.opt, 0);
  raw_send(t, &m);
  raw_answer(t, &m, buf, sizeof buf);
  cr_assert_eq(m.mtype, COAP_TYPE_ACK);
  code_is(&m, COAP_CODE_CONTENT);
  uint32_t seq;
  cr_assert_eq(coap_options_get_observe(&m.opt, &seq), 0, "registered");
  coap_message_clear(&m);
  return seq;
}

static size_t observers_of(pt *t, const char *path) {
  return coap_observable_resource_observation_count(
      plugtest_site_resource(t->site, path));
}

/* TD_COAP_OBS_01..03 and RFC 7641 §4.5.2: CON notifications, one in
 * flight; an unacknowledged one is replaced by the newest state with a
 * new MID on the retransmission schedule (200, 400, 800 ms here), and an
 * observer that never answers is dropped when that schedule ends. */
COAP_TEST(plugtest_observe, obs_con_replaced_on_schedule_then_dropped) {
  coap_context_config c;
  fast_config(&c, 200, 3);
  plugtest_config p;
  plug_config(&p, 50, 1000);
  pt t;
  pt_start(&t, &c, &p);
  uint32_t last_seq = raw_register(&t, "obs", 0x6001);
  coap_message m;
  uint8_t buf[1500];
  /* The first notification, acknowledged. */
  cr_assert_gt(raw_recv(&t, &m, buf, sizeof buf, 1000), 0);
  cr_assert_eq(m.mtype, COAP_TYPE_CON);
  cf_is(&m, COAP_CT_TEXT_PLAIN);
  uint32_t seq;
  cr_assert_eq(coap_options_get_observe(&m.opt, &seq), 0);
  cr_assert_gt(seq, last_seq);
  last_seq = seq;
  raw_empty(&t, COAP_TYPE_ACK, (uint16_t)m.mid);
  coap_message_clear(&m);
  /* From now on nothing is acknowledged. */
  int32_t mids[8];
  uint64_t at[8];
  char payload[8][64];
  int n = 0;
  while (n < 8 && raw_recv(&t, &m, buf, sizeof buf, 2500) > 0) {
    cr_assert_eq(m.mtype, COAP_TYPE_CON, "every notification of /obs is CON");
    cr_assert_eq(coap_options_get_observe(&m.opt, &seq), 0);
    cr_assert_gt(seq, last_seq, "always a newer state");
    last_seq = seq;
    mids[n] = m.mid;
    at[n] = uv_now(&t.fx.loop);
    snprintf(payload[n], sizeof payload[n], "%.*s", (int)m.payload_len,
             (const char *)m.payload);
    n++;
    coap_message_clear(&m);
  }
  cr_assert_eq(n, 4,
               "the unacknowledged one and its three replacements, "
               "got %d",
               n);
  for (int i = 1; i < n; i++) {
    cr_assert_neq(mids[i], mids[i - 1], "a new MID, not a retransmission");
    cr_assert_str_neq(payload[i], payload[i - 1], "a newer state");
  }
  uint64_t gaps[3] = {at[1] - at[0], at[2] - at[1], at[3] - at[2]};
  cr_assert(gaps[0] >= 180 && gaps[0] <= 300, "gap %llu",
            (unsigned long long)gaps[0]);
  cr_assert(gaps[1] >= 370 && gaps[1] <= 520, "the timer carried over: %llu",
            (unsigned long long)gaps[1]);
  cr_assert(gaps[2] >= 760 && gaps[2] <= 950, "gap %llu",
            (unsigned long long)gaps[2]);
  /* MAX_RETRANSMIT reached: dropped 1600 ms after the last. */
  uint64_t start = uv_now(&t.fx.loop);
  while (observers_of(&t, "obs") > 0 && uv_now(&t.fx.loop) - start < 3000)
    run_for(&t.fx, 20);
  cr_assert_eq(observers_of(&t, "obs"), 0, "the silent observer is gone");
  cr_assert_eq(raw_recv(&t, &m, buf, sizeof buf, 300), -1, "and gets nothing");
  pt_stop(&t);
}

/* TD_COAP_OBS_05 (RFC 7641 §3.6): an RST to a notification ends the
 * observation. */
COAP_TEST(plugtest_observe, obs_rst_removes_observer) {
  plugtest_config p;
  plug_config(&p, 50, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  raw_register(&t, "obs", 0x6101);
  cr_assert_eq(observers_of(&t, "obs"), 1);
  coap_message m;
  uint8_t buf[1500];
  cr_assert_gt(raw_recv(&t, &m, buf, sizeof buf, 1000), 0);
  raw_empty(&t, COAP_TYPE_RST, (uint16_t)m.mid);
  coap_message_clear(&m);
  uint64_t start = uv_now(&t.fx.loop);
  while (observers_of(&t, "obs") > 0 && uv_now(&t.fx.loop) - start < 1000)
    run_for(&t.fx, 10);
  cr_assert_eq(observers_of(&t, "obs"), 0);
  pt_stop(&t);
}

/* TD_COAP_OBS_06/07: a plain GET (a new token) leaves the observation
 * alone; a GET with Observe 1 and its token deregisters. */
COAP_TEST(plugtest_observe, obs_plain_get_keeps_observe_1_deregisters) {
  plugtest_config p;
  plug_config(&p, 60000, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  raw_register(&t, "obs", 0x6201);
  coap_message *r = ask(&t, COAP_CODE_GET, "/obs", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cr_assert(!coap_options_has(&r->opt, COAP_OPT_OBSERVE));
  coap_message_free(r);
  cr_assert_eq(observers_of(&t, "obs"), 1, "still observed");
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x6202, COAP_CODE_GET, "obs");
  coap_options_set_observe(&m.opt, 1);
  raw_send(&t, &m);
  raw_answer(&t, &m, buf, sizeof buf);
  code_is(&m, COAP_CODE_CONTENT);
  cr_assert(!coap_options_has(&m.opt, COAP_OPT_OBSERVE));
  coap_message_clear(&m);
  run_for(&t.fx, 20);
  cr_assert_eq(observers_of(&t, "obs"), 0);
  pt_stop(&t);
}

static coap_future *next_of(pt *t, coap_observation *obs) {
  coap_future *f = coap_observation_next(obs);
  cr_assert(wait_future(&t->fx, f, 2000));
  return f;
}

static coap_message *put_cf(pt *t, const char *path, const char *text,
                            uint16_t cf) {
  coap_message *msg = fixture_message(&t->fx, COAP_CODE_PUT, path);
  coap_options_set_content_format(&msg->opt, cf);
  coap_message_set_payload_string(msg, text);
  coap_message *r;
  cr_assert_eq(fixture_request(&t->fx, msg, &r, 5000), 0);
  return r;
}

/* TD_COAP_OBS_08/09: PUT in the same format notifies at once; in another
 * format observers get 4.06; DELETE gives them 4.04 and the periodic
 * changes come back.  Run twice: the resource is as good as new. */
COAP_TEST(plugtest_observe, obs_put_same_format_other_format_delete) {
  plugtest_config p;
  plug_config(&p, 60000, 1000); /* no periodic change in the way */
  pt t;
  pt_start(&t, NULL, &p);
  for (int round = 0; round < 2; round++) {
    coap_observation *obs;
    coap_request *req = observe(&t.fx, "/obs", &obs);
    coap_message *r = put_cf(&t, "/obs", "same format", COAP_CT_TEXT_PLAIN);
    code_is(r, COAP_CODE_CHANGED);
    coap_message_free(r);
    uint64_t start = uv_now(&t.fx.loop);
    coap_future *f = next_of(&t, obs);
    cr_assert_lt(uv_now(&t.fx.loop) - start, 500, "at once");
    payload_is(coap_future_result(f), "same format");
    coap_future_unref(f);
    r = put_cf(&t, "/obs", "<x/>", COAP_CT_XML);
    code_is(r, COAP_CODE_CHANGED);
    coap_message_free(r);
    f = next_of(&t, obs);
    cr_assert_eq(coap_future_error(f), COAP_ERESPONSE);
    code_is(coap_future_result(f), COAP_CODE_NOT_ACCEPTABLE);
    coap_future_unref(f);
    coap_observation_unref(obs);
    coap_request_unref(req);
    run_for(&t.fx, 20);
    cr_assert_eq(observers_of(&t, "obs"), 0, "4.06 ended it");

    req = observe(&t.fx, "/obs", &obs);
    cf_is(first_response(req), COAP_CT_XML);
    r = ask(&t, COAP_CODE_DELETE, "/obs", NULL);
    code_is(r, COAP_CODE_DELETED);
    coap_message_free(r);
    f = next_of(&t, obs);
    cr_assert_eq(coap_future_error(f), COAP_ERESPONSE);
    code_is(coap_future_result(f), COAP_CODE_NOT_FOUND);
    coap_future_unref(f);
    coap_observation_unref(obs);
    coap_request_unref(req);
    r = ask(&t, COAP_CODE_GET, "/obs", NULL);
    cf_is(r, COAP_CT_TEXT_PLAIN);
    cr_assert(payload_has(r, "/obs state "), "periodic again");
    coap_message_free(r);
  }
  pt_stop(&t);
}

/* TD_COAP_OBS (NON): /obs-non notifies with NONs, and a CON among them
 * now and then (RFC 7641 §4.5; the context's default is every 20th). */
COAP_TEST(plugtest_observe, obs_non_mostly_non_with_a_con) {
  plugtest_config p;
  plug_config(&p, 20, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  raw_register(&t, "obs-non", 0x6301);
  int non = 0, con = 0;
  coap_message m;
  uint8_t buf[1500];
  while (non + con < 25 && raw_recv(&t, &m, buf, sizeof buf, 1000) > 0) {
    cf_is(&m, COAP_CT_TEXT_PLAIN);
    if (m.mtype == COAP_TYPE_CON) {
      con++;
      raw_empty(&t, COAP_TYPE_ACK, (uint16_t)m.mid);
    } else {
      cr_assert_eq(m.mtype, COAP_TYPE_NON);
      non++;
    }
    coap_message_clear(&m);
  }
  cr_assert_eq(non + con, 25);
  cr_assert_geq(con, 1, "a CON from time to time");
  cr_assert_geq(non, 20);
  pt_stop(&t);
}

/* RFC 7959 §2.6: /obs-large's registration answer and notifications carry
 * Block2 block 0; the rest is fetched with the same ETag. */
COAP_TEST(plugtest_observe, obs_large_block0_then_rest_same_etag) {
  plugtest_config p;
  plug_config(&p, 100, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x6401, COAP_CODE_GET, "obs-large");
  coap_options_set_observe(&m.opt, 0);
  raw_send(&t, &m);
  raw_answer(&t, &m, buf, sizeof buf);
  coap_block b;
  cr_assert(coap_options_has(&m.opt, COAP_OPT_OBSERVE));
  cr_assert_eq(coap_options_get_block2(&m.opt, &b), 0);
  cr_assert_eq(b.num, 0);
  cr_assert(b.more);
  coap_message_clear(&m);
  /* A notification, block 0 again, then its block 1 by GET. */
  cr_assert_gt(raw_recv(&t, &m, buf, sizeof buf, 1000), 0);
  cr_assert(coap_options_has(&m.opt, COAP_OPT_OBSERVE));
  cr_assert_eq(coap_options_get_block2(&m.opt, &b), 0);
  cr_assert_eq(b.num, 0);
  uint8_t etag[8], etag1[8];
  size_t elen = etag_of(&m, etag);
  if (m.mtype == COAP_TYPE_CON)
    raw_empty(&t, COAP_TYPE_ACK, (uint16_t)m.mid);
  coap_message_clear(&m);
  coap_message req;
  raw_init(&req, COAP_TYPE_CON, 0x6402, COAP_CODE_GET, "obs-large");
  req.token[0] = 0x77; /* a request of its own (§2.6) */
  coap_block next = {.num = 1, .szx = b.szx};
  coap_options_set_block2(&req.opt, &next);
  raw_send(&t, &req);
  /* Notifications may come in between: wait for the ACK. */
  for (;;) {
    raw_answer(&t, &m, buf, sizeof buf);
    if (m.mtype == COAP_TYPE_ACK && m.mid == 0x6402)
      break;
    if (m.mtype == COAP_TYPE_CON)
      raw_empty(&t, COAP_TYPE_ACK, (uint16_t)m.mid);
    coap_message_clear(&m);
  }
  code_is(&m, COAP_CODE_CONTENT);
  cr_assert_eq(coap_options_get_block2(&m.opt, &b), 0);
  cr_assert_eq(b.num, 1);
  cr_assert_eq(etag_of(&m, etag1), elen);
  cr_assert_arr_eq(etag1, etag, elen, "the notification's ETag");
  coap_message_clear(&m);
  pt_stop(&t);
}

/* The library's client observing /obs-large: the registration answer,
 * completed from its blocks, still says Observe (the client library
 * keeps block 0's, RFC 7959 §2.6), and notifications come whole. */
COAP_TEST(plugtest_observe, obs_large_through_the_client_whole_and_observed) {
  plugtest_config p;
  plug_config(&p, 100, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  coap_observation *obs;
  coap_request *req = observe(&t.fx, "/obs-large", &obs);
  const coap_message *first = first_response(req);
  cr_assert(coap_options_has(&first->opt, COAP_OPT_OBSERVE),
            "the assembled registration answer carries Observe");
  cr_assert(!coap_options_has(&first->opt, COAP_OPT_BLOCK2));
  cr_assert_eq(first->payload_len, 1500);
  cr_assert(coap_observation_active(obs));
  coap_future *f = next_of(&t, obs);
  const coap_message *n = coap_future_result(f);
  cr_assert_not_null(n);
  cr_assert_eq(n->payload_len, 1500);
  cr_assert(payload_has(n, "/obs-large state "));
  coap_future_unref(f);
  coap_observation_cancel(obs);
  coap_observation_unref(obs);
  coap_request_unref(req);
  pt_stop(&t);
}

/* /obs-pumping through the library's client: whole notifications, one
 * fitting a message and the next needing blockwise, in turn. */
COAP_TEST(plugtest_observe, obs_pumping_swings_between_small_and_large) {
  plugtest_config p;
  plug_config(&p, 100, 1000);
  pt t;
  pt_start(&t, NULL, &p);
  coap_observation *obs;
  coap_request *req = observe(&t.fx, "/obs-pumping", &obs);
  bool small = false, large = false;
  for (int i = 0; i < 4; i++) {
    coap_future *f = next_of(&t, obs);
    const coap_message *n = coap_future_result(f);
    cr_assert_not_null(n);
    cr_assert(payload_has(n, "/obs-pumping state "));
    if (n->payload_len > 1024) {
      cr_assert_eq(n->payload_len, 1500, "complete");
      large = true;
    } else {
      small = true;
    }
    coap_future_unref(f);
  }
  cr_assert(small && large);
  coap_observation_cancel(obs);
  coap_observation_unref(obs);
  coap_request_unref(req);
  pt_stop(&t);
}
