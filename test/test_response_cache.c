/*
 * The proxy's response cache (lib/response_cache.c) on its own, sans-I/O:
 * requests and responses are made here and the clock is a number.
 */
#include "response_cache-internal.h"
#include "test_common.h"

#include <string.h>

static coap_message *request(uint8_t code, const char *path) {
  coap_message *m;
  cr_assert_eq(coap_message_new(&m), 0);
  m->code = code;
  cr_assert_eq(coap_options_set_uri_host(&m->opt, "upstream", 8), 0);
  cr_assert_eq(coap_options_set_uri_path_string(&m->opt, path), 0);
  return m;
}

static coap_message *response(uint8_t code, const char *payload) {
  coap_message *m;
  cr_assert_eq(coap_message_new(&m), 0);
  m->code = code;
  m->mid = 0x1234;
  coap_message_set_token(m, "tk", 2);
  if (payload != NULL)
    cr_assert_eq(coap_message_set_payload_string(m, payload), 0);
  return m;
}

static coap__cache *cache_with(uint32_t entries, size_t bytes) {
  coap__cache_config cfg = {.max_entries = entries, .max_bytes = bytes};
  coap__cache *c;
  cr_assert_eq(coap__cache_new(&cfg, &c), 0);
  return c;
}

/* Looks req up; returns the result, with *served cleared unless FRESH. */
static int lookup(coap__cache *c, const coap_message *req, uint64_t now,
                  coap_message *served) {
  uint8_t etag[8];
  size_t etag_len = 0;
  coap_message_init(served);
  return coap__cache_lookup(c, NULL, 0, req, now, served, etag, &etag_len);
}

static void served_is(const coap_message *m, uint8_t code, const char *text,
                      uint32_t max_age) {
  cr_assert_eq(m->code, code);
  cr_assert_eq(m->payload_len, strlen(text));
  cr_assert(memcmp(m->payload, text, m->payload_len) == 0,
            "payload %.*s, want %s", (int)m->payload_len,
            (const char *)m->payload, text);
  uint32_t got = 0;
  cr_assert_eq(coap_options_get_max_age(&m->opt, &got), 0,
               "a served copy carries the freshness left as Max-Age");
  cr_assert_eq(got, max_age);
}

COAP_TEST(response_cache, fresh_hit_reduces_max_age_by_the_age) {
  coap__cache *c = cache_with(8, 1 << 20);
  coap_message *req = request(COAP_CODE_GET, "a"), served;
  cr_assert_eq(lookup(c, req, 0, &served), COAP__CACHE_MISS);
  coap_message *resp = response(COAP_CODE_CONTENT, "hello");
  coap_options_set_max_age(&resp->opt, 30);
  cr_assert_eq(coap__cache_response(c, NULL, 0, req, resp, 1000, NULL), 0);
  /* RFC 7252 §5.7.1: 12.5 s in the cache leave 17 whole seconds. */
  cr_assert_eq(lookup(c, req, 13500, &served), COAP__CACHE_FRESH);
  served_is(&served, COAP_CODE_CONTENT, "hello", 17);
  cr_assert_eq(served.token_len, 0, "no token of the upstream exchange");
  coap_message_clear(&served);
  /* Still fresh 1 ms before the end, no longer at it. */
  cr_assert_eq(lookup(c, req, 30999, &served), COAP__CACHE_FRESH);
  served_is(&served, COAP_CODE_CONTENT, "hello", 0);
  coap_message_clear(&served);
  cr_assert_eq(lookup(c, req, 31000, &served), COAP__CACHE_MISS,
               "stale without an ETag cannot be validated");
  coap__cache_stats st;
  coap__cache_get_stats(c, &st);
  cr_assert_eq(st.hits, 2);
  cr_assert_eq(st.stale, 1);
  cr_assert_eq(st.misses, 1);
  coap_message_free(req);
  coap_message_free(resp);
  coap__cache_free(c);
}

COAP_TEST(response_cache, max_age_defaults_to_sixty_seconds) {
  coap__cache *c = cache_with(8, 1 << 20);
  coap_message *req = request(COAP_CODE_GET, "a"), served;
  coap_message *resp = response(COAP_CODE_CONTENT, "x");
  cr_assert_eq(coap__cache_response(c, NULL, 0, req, resp, 0, NULL), 0);
  cr_assert_eq(lookup(c, req, 59999, &served), COAP__CACHE_FRESH);
  coap_message_clear(&served);
  cr_assert_eq(lookup(c, req, 60000, &served), COAP__CACHE_MISS);
  coap_message_free(req);
  coap_message_free(resp);
  coap__cache_free(c);
}

COAP_TEST(response_cache, stale_with_etag_is_revalidated_by_2_03) {
  coap__cache *c = cache_with(8, 1 << 20);
  coap_message *req = request(COAP_CODE_GET, "a"), served;
  coap_message *resp = response(COAP_CODE_CONTENT, "body");
  coap_options_set_max_age(&resp->opt, 1);
  coap_options_set_etag(&resp->opt, "\x01\x02\x03", 3);
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  cr_assert_eq(coap__cache_response(c, NULL, 0, req, resp, 0, NULL), 0);

  uint8_t etag[8];
  size_t etag_len = 0;
  coap_message_init(&served);
  cr_assert_eq(coap__cache_lookup(c, NULL, 0, req, 2000, &served, etag, &etag_len),
               COAP__CACHE_STALE);
  cr_assert_eq(etag_len, 3);
  cr_assert(memcmp(etag, "\x01\x02\x03", 3) == 0);
  served_is(&served, COAP_CODE_CONTENT, "body", 0);
  coap_message_clear(&served);

  /* A 2.03 with another ETag refreshes nothing. */
  coap_message *other = response(COAP_CODE_VALID, NULL);
  coap_options_set_etag(&other->opt, "\x09", 1);
  cr_assert_eq(coap__cache_response(c, NULL, 0, req, other, 2100, &served), 0);

  /* §5.9.1.3: Max-Age from the 2.03, and its safe-to-forward options
   * (here a new Content-Format... and the ETag itself) replace the
   * stored sets. */
  coap_message *valid = response(COAP_CODE_VALID, NULL);
  coap_options_set_etag(&valid->opt, "\x01\x02\x03", 3);
  coap_options_set_max_age(&valid->opt, 40);
  coap_options_add_uint(&valid->opt, 2048, 7); /* unknown, elective, safe */
  cr_assert_eq(coap__cache_response(c, NULL, 0, req, valid, 2200, &served), 1,
               "the refreshed response is to be served instead");
  served_is(&served, COAP_CODE_CONTENT, "body", 40);
  uint32_t v = 0;
  cr_assert_eq(coap_options_get_uint(&served.opt, 2048, &v), 0);
  cr_assert_eq(v, 7);
  coap_message_clear(&served);
  cr_assert_eq(lookup(c, req, 30000, &served), COAP__CACHE_FRESH);
  served_is(&served, COAP_CODE_CONTENT, "body", 12);
  coap_message_clear(&served);
  coap__cache_stats st;
  coap__cache_get_stats(c, &st);
  cr_assert_eq(st.revalidated, 1);
  coap_message_free(req);
  coap_message_free(resp);
  coap_message_free(other);
  coap_message_free(valid);
  coap__cache_free(c);
}

COAP_TEST(response_cache, the_key_is_method_and_cache_key_options) {
  coap__cache *c = cache_with(8, 1 << 20);
  coap_message *req = request(COAP_CODE_GET, "a"), served;
  coap_message *resp = response(COAP_CODE_CONTENT, "plain");
  cr_assert_eq(coap__cache_response(c, NULL, 0, req, resp, 0, NULL), 0);

  /* Size1 (60) is NoCacheKey (RFC 7252 §5.4.6), Block2 and ETag are what
   * the cache interprets itself: none of them changes the key. */
  coap_message *same = request(COAP_CODE_GET, "a");
  coap_options_set_uint(&same->opt, COAP_OPT_SIZE1, 10);
  coap_options_set_block2(&same->opt, &(coap_block){.num = 0, .szx = 6});
  coap_options_set_etag(&same->opt, "\x05", 1);
  cr_assert_eq(lookup(c, same, 10, &served), COAP__CACHE_FRESH);
  coap_message_clear(&served);

  /* Another Accept, another path, another host or FETCH are other keys. */
  coap_message *accept = request(COAP_CODE_GET, "a");
  coap_options_set_accept(&accept->opt, COAP_CT_JSON);
  cr_assert_eq(lookup(c, accept, 10, &served), COAP__CACHE_MISS);
  coap_message *path = request(COAP_CODE_GET, "b");
  cr_assert_eq(lookup(c, path, 10, &served), COAP__CACHE_MISS);
  coap_message *host = request(COAP_CODE_GET, "a");
  coap_options_set_uri_host(&host->opt, "elsewhere", 9);
  cr_assert_eq(lookup(c, host, 10, &served), COAP__CACHE_MISS);
  coap_message *fetch = request(COAP_CODE_FETCH, "a");
  coap_message_set_payload_string(fetch, "q1");
  cr_assert_eq(lookup(c, fetch, 10, &served), COAP__CACHE_MISS);

  /* FETCH: the payload is part of the key (RFC 8132 §2). */
  coap_message *fresp = response(COAP_CODE_CONTENT, "for q1");
  cr_assert_eq(coap__cache_response(c, NULL, 0, fetch, fresp, 20, NULL), 0);
  cr_assert_eq(lookup(c, fetch, 30, &served), COAP__CACHE_FRESH);
  served_is(&served, COAP_CODE_CONTENT, "for q1", 59);
  coap_message_clear(&served);
  coap_message_set_payload_string(fetch, "q2");
  cr_assert_eq(lookup(c, fetch, 30, &served), COAP__CACHE_MISS);

  coap_message *msgs[] = {req, resp, same, accept, path, host, fetch, fresp};
  for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
    coap_message_free(msgs[i]);
  coap__cache_free(c);
}

/* The scope (a proxy's upstream) is part of the key and of the URI: the
 * same options to another upstream are another resource. */
COAP_TEST(response_cache, scope_separates_upstreams) {
  coap__cache *c = cache_with(8, 1 << 20);
  coap_message *req = request(COAP_CODE_GET, "a"), served;
  coap_message *resp = response(COAP_CODE_CONTENT, "from one");
  const uint8_t one[] = "[::1]:5683", two[] = "[::1]:5684";
  cr_assert_eq(coap__cache_response(c, one, sizeof one, req, resp, 0, NULL),
               0);
  uint8_t etag[8];
  size_t etag_len;
  coap_message_init(&served);
  cr_assert_eq(coap__cache_lookup(c, two, sizeof two, req, 1, &served, etag,
                                  &etag_len),
               COAP__CACHE_MISS);
  cr_assert_eq(coap__cache_lookup(c, NULL, 0, req, 1, &served, etag,
                                  &etag_len),
               COAP__CACHE_MISS);
  cr_assert_eq(coap__cache_lookup(c, one, sizeof one, req, 1, &served, etag,
                                  &etag_len),
               COAP__CACHE_FRESH);
  coap_message_clear(&served);
  /* A PUT to the other upstream leaves this one fresh. */
  coap_message *put = request(COAP_CODE_PUT, "a");
  coap_message *changed = response(COAP_CODE_CHANGED, NULL);
  cr_assert_eq(
      coap__cache_response(c, two, sizeof two, put, changed, 2, NULL), 0);
  coap_message_init(&served);
  cr_assert_eq(coap__cache_lookup(c, one, sizeof one, req, 3, &served, etag,
                                  &etag_len),
               COAP__CACHE_FRESH);
  coap_message_clear(&served);
  coap_message_free(req);
  coap_message_free(resp);
  coap_message_free(put);
  coap_message_free(changed);
  coap__cache_free(c);
}

COAP_TEST(response_cache, error_classes_are_cached_but_not_validated) {
  coap__cache *c = cache_with(8, 1 << 20);
  coap_message *req = request(COAP_CODE_GET, "gone"), served;
  coap_message *nf = response(COAP_CODE_NOT_FOUND, "no such thing");
  coap_options_set_max_age(&nf->opt, 5);
  coap_options_set_etag(&nf->opt, "\x01", 1);
  cr_assert_eq(coap__cache_response(c, NULL, 0, req, nf, 0, NULL), 0);
  cr_assert_eq(lookup(c, req, 4000, &served), COAP__CACHE_FRESH);
  served_is(&served, COAP_CODE_NOT_FOUND, "no such thing", 1);
  coap_message_clear(&served);
  cr_assert_eq(lookup(c, req, 5000, &served), COAP__CACHE_MISS,
               "§5.9.2: 4.xx cannot be validated");
  /* 2.01 Created is not cacheable at all. */
  coap_message *created = response(COAP_CODE_CREATED, NULL);
  coap_message *other = request(COAP_CODE_GET, "other");
  cr_assert_eq(coap__cache_response(c, NULL, 0, other, created, 0, NULL), 0);
  cr_assert_eq(lookup(c, other, 1, &served), COAP__CACHE_MISS);
  coap_message_free(req);
  coap_message_free(nf);
  coap_message_free(created);
  coap_message_free(other);
  coap__cache_free(c);
}

COAP_TEST(response_cache, unsafe_requests_and_observe_are_never_served) {
  coap__cache *c = cache_with(8, 1 << 20);
  coap_message *post = request(COAP_CODE_POST, "a"), served;
  coap_message *resp = response(COAP_CODE_CONTENT, "posted");
  cr_assert_eq(coap__cache_response(c, NULL, 0, post, resp, 0, NULL), 0);
  cr_assert_eq(lookup(c, post, 1, &served), COAP__CACHE_MISS);
  coap_message *get = request(COAP_CODE_GET, "a");
  cr_assert_eq(lookup(c, get, 1, &served), COAP__CACHE_MISS,
               "a POST's answer is no GET's");

  coap_message *obs = request(COAP_CODE_GET, "a");
  coap_options_set_observe(&obs->opt, 0);
  coap_message *first = response(COAP_CODE_CONTENT, "observed");
  coap_options_set_observe(&first->opt, 3);
  cr_assert_eq(coap__cache_response(c, NULL, 0, obs, first, 0, NULL), 0);
  cr_assert_eq(lookup(c, get, 1, &served), COAP__CACHE_MISS,
               "an observation's first response is not stored");
  coap__cache_stats st;
  coap__cache_get_stats(c, &st);
  cr_assert_eq(st.stored, 0);
  coap_message_free(post);
  coap_message_free(resp);
  coap_message_free(get);
  coap_message_free(obs);
  coap_message_free(first);
  coap__cache_free(c);
}

COAP_TEST(response_cache, changes_to_a_uri_make_its_entries_stale) {
  coap__cache *c = cache_with(8, 1 << 20);
  coap_message *get = request(COAP_CODE_GET, "a"), served;
  coap_message *json = request(COAP_CODE_GET, "a");
  coap_options_set_accept(&json->opt, COAP_CT_JSON);
  coap_message *b = request(COAP_CODE_GET, "b");
  coap_message *resp = response(COAP_CODE_CONTENT, "v1");
  coap_options_set_etag(&resp->opt, "\x07", 1);
  cr_assert_eq(coap__cache_response(c, NULL, 0, get, resp, 0, NULL), 0);
  cr_assert_eq(coap__cache_response(c, NULL, 0, json, resp, 0, NULL), 0);
  cr_assert_eq(coap__cache_response(c, NULL, 0, b, resp, 0, NULL), 0);

  /* A PUT's 2.04 to /a (RFC 7252 §5.9.1.4): both entries for /a, whatever
   * their Accept, go stale; /b stays fresh.  The stale ones can still be
   * revalidated with their ETag. */
  coap_message *put = request(COAP_CODE_PUT, "a");
  coap_message *changed = response(COAP_CODE_CHANGED, NULL);
  cr_assert_eq(coap__cache_response(c, NULL, 0, put, changed, 10, NULL), 0);
  uint8_t etag[8];
  size_t etag_len;
  coap_message_init(&served);
  cr_assert_eq(coap__cache_lookup(c, NULL, 0, get, 20, &served, etag, &etag_len),
               COAP__CACHE_STALE);
  coap_message_clear(&served);
  cr_assert_eq(coap__cache_lookup(c, NULL, 0, json, 20, &served, etag, &etag_len),
               COAP__CACHE_STALE);
  coap_message_clear(&served);
  cr_assert_eq(lookup(c, b, 20, &served), COAP__CACHE_FRESH);
  coap_message_clear(&served);

  /* A DELETE's 2.02 to /b does the same for /b, and so does a POST's
   * 2.xx. */
  coap_message *del = request(COAP_CODE_DELETE, "b");
  coap_message *deleted = response(COAP_CODE_DELETED, NULL);
  cr_assert_eq(coap__cache_response(c, NULL, 0, del, deleted, 30, NULL), 0);
  coap_message_init(&served);
  cr_assert_eq(coap__cache_lookup(c, NULL, 0, b, 40, &served, etag, &etag_len),
               COAP__CACHE_STALE);
  coap_message_clear(&served);
  coap__cache_stats st;
  coap__cache_get_stats(c, &st);
  cr_assert_eq(st.invalidated, 3);
  coap_message *msgs[] = {get, json, b, resp, put, changed, del, deleted};
  for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
    coap_message_free(msgs[i]);
  coap__cache_free(c);
}

COAP_TEST(response_cache, entries_bound_evicts_least_recently_used) {
  coap__cache *c = cache_with(3, 1 << 20);
  coap_message *reqs[4], served;
  coap_message *resp = response(COAP_CODE_CONTENT, "r");
  const char *paths[] = {"p0", "p1", "p2", "p3"};
  for (int i = 0; i < 3; i++) {
    reqs[i] = request(COAP_CODE_GET, paths[i]);
    cr_assert_eq(coap__cache_response(c, NULL, 0, reqs[i], resp, 0, NULL), 0);
  }
  coap__cache_stats st;
  coap__cache_get_stats(c, &st);
  cr_assert_eq(st.entries, 3, "at the limit, all three are kept");
  cr_assert_eq(st.evicted, 0);
  /* p0 used last: p1 is now the least recently used and goes. */
  cr_assert_eq(lookup(c, reqs[0], 1, &served), COAP__CACHE_FRESH);
  coap_message_clear(&served);
  reqs[3] = request(COAP_CODE_GET, paths[3]);
  cr_assert_eq(coap__cache_response(c, NULL, 0, reqs[3], resp, 2, NULL), 0);
  coap__cache_get_stats(c, &st);
  cr_assert_eq(st.entries, 3);
  cr_assert_eq(st.evicted, 1);
  cr_assert_eq(lookup(c, reqs[1], 3, &served), COAP__CACHE_MISS);
  int kept[] = {0, 2, 3};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(lookup(c, reqs[kept[i]], 3, &served), COAP__CACHE_FRESH);
    coap_message_clear(&served);
  }
  for (int i = 0; i < 4; i++)
    coap_message_free(reqs[i]);
  coap_message_free(resp);
  coap__cache_free(c);
}

COAP_TEST(response_cache, bytes_bound_evicts_and_refuses_what_cannot_fit) {
  /* Measure what one entry costs, then allow exactly two. */
  coap__cache *probe = cache_with(8, 1 << 20);
  coap_message *r0 = request(COAP_CODE_GET, "p0"), served;
  coap_message *resp = response(COAP_CODE_CONTENT, "0123456789");
  cr_assert_eq(coap__cache_response(probe, NULL, 0, r0, resp, 0, NULL), 0);
  coap__cache_stats st;
  coap__cache_get_stats(probe, &st);
  size_t one = st.bytes;
  coap__cache_free(probe);

  coap__cache *c = cache_with(8, 2 * one);
  coap_message *r1 = request(COAP_CODE_GET, "p1");
  coap_message *r2 = request(COAP_CODE_GET, "p2");
  cr_assert_eq(coap__cache_response(c, NULL, 0, r0, resp, 0, NULL), 0);
  cr_assert_eq(coap__cache_response(c, NULL, 0, r1, resp, 0, NULL), 0);
  coap__cache_get_stats(c, &st);
  cr_assert_eq(st.bytes, 2 * one, "exactly at the byte bound: both kept");
  cr_assert_eq(st.evicted, 0);
  cr_assert_eq(coap__cache_response(c, NULL, 0, r2, resp, 0, NULL), 0);
  coap__cache_get_stats(c, &st);
  cr_assert_eq(st.entries, 2);
  cr_assert_eq(st.evicted, 1);
  cr_assert_eq(lookup(c, r0, 1, &served), COAP__CACHE_MISS);

  /* A response larger than the whole bound is not stored, and replaces
   * (drops) what was stored for its key. */
  char big[4096];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  coap_message *huge = response(COAP_CODE_CONTENT, big);
  cr_assert_eq(coap__cache_response(c, NULL, 0, r1, huge, 5, NULL), 0);
  cr_assert_eq(lookup(c, r1, 6, &served), COAP__CACHE_MISS);
  coap_message *msgs[] = {r0, r1, r2, resp, huge};
  for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++)
    coap_message_free(msgs[i]);
  coap__cache_free(c);
}

COAP_TEST(response_cache, allocation_failures_never_crash_or_leak) {
  coap_message *req = request(COAP_CODE_GET, "a");
  coap_message *resp = response(COAP_CODE_CONTENT, "payload");
  coap_options_set_etag(&resp->opt, "\x01", 1);
  long before = coap_test_live_allocations;
  for (long fail = 0; fail < 40; fail++) {
    coap__cache *c = NULL;
    coap_test_fail_after = fail;
    if (coap__cache_new(NULL, &c) == 0) {
      coap_message served;
      coap__cache_response(c, NULL, 0, req, resp, 0, NULL);
      uint8_t etag[8];
      size_t etag_len;
      coap_message_init(&served);
      coap__cache_lookup(c, NULL, 0, req, 1, &served, etag, &etag_len);
      coap_message_clear(&served);
      coap__cache_response(c, NULL, 0, req, resp, 2, NULL);
      coap_message_init(&served);
      coap__cache_lookup(c, NULL, 0, req, 3, &served, etag, &etag_len);
      coap_message_clear(&served);
      coap__cache_free(c);
    }
    coap_test_fail_after = -1;
    cr_assert_eq(coap_test_live_allocations, before, "fail after %ld", fail);
  }
  coap_message_free(req);
  coap_message_free(resp);
}
