/*
 * RFC 7959 on the client side of a request (aiocoap's blockwise handling in
 * Request): a body larger than one block goes out as a Block1 sequence
 * (§2.5), and a response that announces more blocks with Block2 is fetched
 * to the end (§2.4), so the application sends one request and receives one
 * response.
 *
 * Every block goes out in one message built once from the application's
 * request (its header and options, the payload borrowed from it), so a
 * transfer allocates its state, that message's options and the growing
 * Block2 body, and nothing per block.  A new token per block is fine
 * (RFC 7959 §2.4 asks for nothing else; RFC 9175 §4 recommends it).
 *
 * Streaming (coap_body_sink, coap_body_source): a sink takes each block of
 * the response as it comes instead of the growing body; a source fills one
 * buffer of a block and a byte, allocated once per transfer, from which
 * every Block1 block is sent (the byte after the block says whether more
 * follows, RFC 7959 §2.2's M bit).  The application's callbacks run with
 * a reference held on the request (request.c), and every call into them
 * is followed by a look at whether they ended the request.
 */
#include "alloc-internal.h"
#include "request-internal.h"

#include <limits.h>
#include <string.h>

/* Largest encoding of a Block option (one header byte, up to two bytes of
 * extended delta, three of value) and of a Size option (four of value). */
#define BLOCK_OPTION_MAX 6u
#define SIZE_OPTION_MAX 7u
/* RFC 7252 §5.10.6: an ETag is 1 to 8 bytes. */
#define ETAG_MAX 8u

typedef enum {
  BW_WHOLE,  /* a source's body that fits one block, sent as it is */
  BW_BLOCK1, /* uploading the request body */
  BW_BLOCK2  /* downloading the response body */
} bw_phase;

typedef struct coap__request_blockwise coap__request_blockwise;

struct coap__request_blockwise {
  bw_phase phase;
  /* The message every block goes out in: the application's header and
   * options, with the Block options of the block at hand. */
  coap_message out;
  /* Block1: the block in flight and how many body bytes it carries. */
  coap_block sent1;
  size_t sent1_len;
  /* A size the application proposed for the response (a Block2 with NUM 0
   * in its request), sent with the last Block1 block. */
  bool propose2;
  uint8_t propose2_szx;
  /* Block2: the block asked for, the body so far, the representation's
   * ETag (RFC 7959 §2.4: the blocks must all come from one). */
  coap_block want2;
  uint8_t *body;
  size_t body_len, body_cap;
  bool have_etag;
  uint8_t etag_len;
  uint8_t etag[ETAG_MAX];
  /* The first block's Size2 (RFC 7959 §4), for the assembled response. */
  bool have_size2;
  uint32_t size2;
  /* The first block's Observe (RFC 7959 §2.6: a registration answered
   * blockwise has it on block 0 only), for the assembled response. */
  bool have_observe;
  uint32_t observe;
  /* A body source's bytes from body offset src_start: src_have of them in
   * src_buf (one block of the transfer's first size and one byte more);
   * src_end once a read came up short. */
  uint8_t *src_buf;
  size_t src_cap, src_have;
  uint64_t src_start;
  bool src_end;
};

/* The largest SZX not above the configured one whose block fits one
 * datagram with the header, a token, msg's options and the Block and Size
 * options added to them (RFC 7959 §2: a block is sized to fit the path). */
static uint8_t fitting_szx(const coap_context *ctx, const coap_message *msg) {
  uint8_t szx = ctx->config.block_size_exp > 6 ? 6 : ctx->config.block_size_exp;
  size_t overhead = COAP_HEADER_LENGTH + COAP_TOKEN_MAX_LENGTH +
                    coap_options_encoded_size(&msg->opt) + BLOCK_OPTION_MAX +
                    SIZE_OPTION_MAX + 1;
  while (szx > 0 &&
         overhead + coap_block_size(szx) > ctx->config.max_datagram_size)
    szx--;
  return szx;
}

static int state_new(coap_request *req) {
  if (req->blockwise != NULL)
    return 0;
  req->blockwise = coap__calloc(1, sizeof *req->blockwise);
  if (req->blockwise == NULL)
    return COAP_ENOMEM;
  coap_message_init(&req->blockwise->out);
  return 0;
}

void coap__request_blockwise_free(coap_request *req) {
  coap__request_blockwise *bw = req->blockwise;
  if (bw == NULL)
    return;
  coap_message_clear(&bw->out);
  coap__free(bw->body);
  coap__free(bw->src_buf);
  coap__free(bw);
  req->blockwise = NULL;
}

/* Makes bw->out the application's request without payload: its type, code,
 * destination and a copy of its options. */
static int build_template(coap_request *req) {
  coap__request_blockwise *bw = req->blockwise;
  const coap_message *app = req->msg;
  coap_message_clear(&bw->out);
  bw->out.mtype = app->mtype;
  bw->out.code = app->code;
  bw->out.remote = app->remote;
  return coap_options_copy(&bw->out.opt, &app->opt);
}

/* Reads from the body source until src_buf holds target bytes or the body
 * has ended, never asking for more than one block at once.  After each
 * read: whatever the callback did to the request (a request it ended
 * reports an error here, and the caller's completion is a no-op). */
static int source_fill(coap_request *req, size_t target) {
  coap__request_blockwise *bw = req->blockwise;
  const size_t most = bw->src_cap - 1;
  while (!bw->src_end && bw->src_have < target) {
    size_t want = target - bw->src_have;
    if (want > most)
      want = most;
    ssize_t n =
        req->source.read(req->source.user_data, bw->src_start + bw->src_have,
                         bw->src_buf + bw->src_have, want);
    if (req->state == COAP__REQ_DONE)
      return COAP_ECANCELED;
    if (n < 0)
      return n < INT_MIN ? COAP_EINVAL : (int)n;
    if ((size_t)n > want)
      return COAP_EINVAL;
    bw->src_have += (size_t)n;
    if ((size_t)n < want)
      bw->src_end = true;
  }
  return 0;
}

/* The block of size bytes of a source's body at start: the bytes of the
 * block sent before go, one block and a byte are read. */
static int source_block(coap_request *req, uint64_t start, size_t size,
                        size_t *len, bool *more) {
  coap__request_blockwise *bw = req->blockwise;
  if (start != bw->src_start) {
    /* RFC 7959 §2.5: the next block starts where the last one's bytes
     * ended, whatever the size from now on. */
    if (start != bw->src_start + bw->sent1_len || bw->sent1_len > bw->src_have)
      return COAP_EUNEXPECTED_BLOCK1;
    bw->src_have -= bw->sent1_len;
    memmove(bw->src_buf, bw->src_buf + bw->sent1_len, bw->src_have);
    bw->src_start = start;
  }
  int rc = source_fill(req, size + 1);
  if (rc < 0)
    return rc;
  *len = bw->src_have < size ? bw->src_have : size;
  *more = bw->src_have > size;
  return 0;
}

/* Sends block num of the request body in blocks of 2**(szx+4) bytes. */
static int send_block1(coap_request *req, uint32_t num, uint8_t szx) {
  coap__request_blockwise *bw = req->blockwise;
  const coap_message *app = req->msg;
  uint64_t start = (uint64_t)num << (szx + 4);
  const uint8_t *data;
  size_t len;
  bool more;
  if (req->source.read != NULL) {
    int rc = source_block(req, start, coap_block_size(szx), &len, &more);
    if (rc < 0)
      return rc;
    data = bw->src_buf;
  } else {
    if (start >= app->payload_len)
      return COAP_EUNEXPECTED_BLOCK1;
    len = app->payload_len - (size_t)start;
    if (len > coap_block_size(szx))
      len = coap_block_size(szx);
    more = start + len < app->payload_len;
    data = app->payload + start;
  }
  coap_block block = {.num = num, .more = more, .szx = szx};
  coap_options *opt = &bw->out.opt;
  int rc = coap_options_set_block1(opt, &block);
  if (rc < 0)
    return rc == COAP_EINVAL ? COAP_ELIMIT : rc; /* over 2**20 blocks */
  /* RFC 7959 §4: Size1 announces the whole body, so a server can refuse
   * it at once; the first block carries it (a source's, when known). */
  if (num == 0 && req->source.read == NULL)
    rc = coap_options_set_size1(opt, (uint32_t)app->payload_len);
  else if (num == 0 && req->source.size >= 0)
    rc = coap_options_set_size1(opt, (uint32_t)req->source.size);
  else
    coap_options_delete(opt, COAP_OPT_SIZE1);
  /* RFC 7959 §2.7: a size proposed for the response rides on the request
   * that the response answers, the last block. */
  if (rc == 0 && bw->propose2 && !block.more) {
    coap_block b2 = {.num = 0, .more = false, .szx = bw->propose2_szx};
    rc = coap_options_set_block2(opt, &b2);
  } else {
    coap_options_delete(opt, COAP_OPT_BLOCK2);
  }
  if (rc < 0)
    return rc;
  coap_message_set_payload_borrowed(&bw->out, data, len);
  bw->sent1 = block;
  bw->sent1_len = len;
  return coap__request_send(req, &bw->out);
}

/* Asks for the block of the response body starting at bw->body_len. */
static int send_block2(coap_request *req, uint8_t szx) {
  coap__request_blockwise *bw = req->blockwise;
  size_t num = bw->body_len >> (szx + 4);
  if (num >= (1u << 20))
    return COAP_ELIMIT;
  bw->want2 = (coap_block){.num = (uint32_t)num, .more = false, .szx = szx};
  int rc = coap_options_set_block2(&bw->out.opt, &bw->want2);
  if (rc < 0)
    return rc;
  return coap__request_send(req, &bw->out);
}

static int append_body(coap_request *req, const coap_message *msg) {
  coap__request_blockwise *bw = req->blockwise;
  size_t limit = req->ctx->config.max_body_size;
  if (msg->payload_len > limit - bw->body_len)
    return COAP_ELIMIT;
  size_t need = bw->body_len + msg->payload_len;
  if (need > bw->body_cap) {
    size_t cap = bw->body_cap ? bw->body_cap : 4096;
    while (cap < need)
      cap *= 2;
    if (cap > limit)
      cap = limit;
    uint8_t *body = coap__realloc(bw->body, cap);
    if (body == NULL)
      return COAP_ENOMEM;
    bw->body = body;
    bw->body_cap = cap;
  }
  if (msg->payload_len > 0)
    memcpy(bw->body + bw->body_len, msg->payload, msg->payload_len);
  bw->body_len = need;
  return 0;
}

/* Hands a piece of a response body to the sink.  The caller holds a
 * reference (request.c), so whatever the sink does, the request outlives
 * the call; one it ended reports an error, and the caller's completion is
 * a no-op. */
static int sink_write(coap_request *req, const coap_message *msg,
                      uint64_t offset) {
  /* Never NULL, so that memcpy and fwrite of 0 bytes are defined. */
  static const uint8_t nothing[1];
  const uint8_t *data = msg->payload != NULL ? msg->payload : nothing;
  int rc =
      req->sink.write(req->sink.user_data, msg, offset, data, msg->payload_len);
  if (req->state == COAP__REQ_DONE)
    return COAP_ECANCELED;
  return rc < 0 ? rc : 0;
}

/* A block of the response body, at bw->body_len: to the sink, or onto the
 * body. */
static int take_block(coap_request *req, const coap_message *msg) {
  coap__request_blockwise *bw = req->blockwise;
  if (req->sink.write == NULL)
    return append_body(req, msg);
  int rc = sink_write(req, msg, bw->body_len);
  if (rc == 0)
    bw->body_len += msg->payload_len;
  return rc;
}

/* A response that ends the request as it is (with a sink, once the sink
 * has had its body). */
static void finish(coap_request *req, const coap_message *msg) {
  if (req->sink.write != NULL) {
    int rc = sink_write(req, msg, 0);
    if (rc < 0) {
      coap__request_complete(req, rc, NULL);
      return;
    }
  }
  coap__request_finish_with(req, msg);
}

/* RFC 7959 §2.4: blocks of one body come from one representation; a
 * change of ETag between them means the resource changed. */
static bool same_etag(const coap__request_blockwise *bw,
                      const coap_message *msg) {
  const uint8_t *etag;
  size_t len;
  bool has = coap_options_get_etag(&msg->opt, &etag, &len) == 0;
  if (has != bw->have_etag)
    return false;
  return !has || (len == bw->etag_len && memcmp(etag, bw->etag, len) == 0);
}

/* The first response carrying Block2 with more blocks to come: check it,
 * keep its block, and ask for the next. */
static int start_block2(coap_request *req, const coap_message *msg,
                        const coap_block *got) {
  int rc = state_new(req);
  if (rc < 0)
    return rc;
  coap__request_blockwise *bw = req->blockwise;
  if (got->num != 0 || msg->payload_len != coap_block_size(got->szx))
    return COAP_EUNEXPECTED_BLOCK2;
  const uint8_t *etag;
  size_t len;
  bw->have_etag = coap_options_get_etag(&msg->opt, &etag, &len) == 0;
  if (bw->have_etag) {
    if (len > ETAG_MAX)
      return COAP_EUNEXPECTED_BLOCK2;
    memcpy(bw->etag, etag, len);
    bw->etag_len = (uint8_t)len;
  }
  bw->have_size2 = coap_options_get_size2(&msg->opt, &bw->size2) == 0;
  bw->have_observe = coap_options_get_observe(&msg->opt, &bw->observe) == 0;
  bw->body_len = 0;
  rc = take_block(req, msg);
  if (rc < 0)
    return rc;
  /* A source's body has all gone: its buffer is not needed any more. */
  coap__free(bw->src_buf);
  bw->src_buf = NULL;
  /* RFC 7959 §2.4: further blocks are asked for with the same options as
   * the initial request, without its body and Block1; RFC 7959 §2.6: only
   * the first request of a notification's transfer observes. */
  bw->phase = BW_BLOCK2;
  rc = build_template(req);
  if (rc < 0)
    return rc;
  coap_options_delete(&bw->out.opt, COAP_OPT_BLOCK1);
  coap_options_delete(&bw->out.opt, COAP_OPT_SIZE1);
  coap_options_delete(&bw->out.opt, COAP_OPT_OBSERVE);
  return send_block2(req, got->szx);
}

/* The last block arrived: the application gets its options (minus Block2)
 * with the whole body, which moves into the message without a copy (with a
 * sink, which has had the body, with none). */
static void deliver_body(coap_request *req, const coap_message *last) {
  coap__request_blockwise *bw = req->blockwise;
  coap_message *resp = NULL;
  int rc = coap__request_copy_response(req, last, false, &resp);
  if (rc < 0) {
    coap__request_complete(req, rc, NULL);
    return;
  }
  coap_options_delete(&resp->opt, COAP_OPT_BLOCK2);
  if (bw->have_size2 && !coap_options_has(&resp->opt, COAP_OPT_SIZE2) &&
      coap_options_set_size2(&resp->opt, bw->size2) < 0) {
    coap_message_free(resp);
    coap__request_complete(req, COAP_ENOMEM, NULL);
    return;
  }
  if (bw->have_observe && !coap_options_has(&resp->opt, COAP_OPT_OBSERVE) &&
      coap_options_set_observe(&resp->opt, bw->observe) < 0) {
    coap_message_free(resp);
    coap__request_complete(req, COAP_ENOMEM, NULL);
    return;
  }
  if (req->sink.write == NULL) {
    resp->payload_buf = bw->body;
    resp->payload_cap = bw->body_cap;
    resp->payload = bw->body;
    resp->payload_len = bw->body_len;
    bw->body = NULL;
    bw->body_cap = bw->body_len = 0;
  }
  coap__request_complete(req, 0, resp);
}

/* A response that ends the request, unless it starts a Block2 transfer. */
static void final_response(coap_request *req, const coap_message *msg) {
  coap_block got;
  if (coap_code_is_successful(msg->code) &&
      coap_options_get_block2(&msg->opt, &got) == 0 && got.more) {
    int rc = start_block2(req, msg, &got);
    if (rc < 0)
      coap__request_complete(req, rc, NULL);
    return;
  }
  finish(req, msg);
}

/* RFC 7959 §2.3, §2.5: the answer to a Block1 block names the block it
 * acknowledges, at the size the server wants from now on (never larger). */
static void block1_response(coap_request *req, const coap_message *msg) {
  coap__request_blockwise *bw = req->blockwise;
  coap_block got;
  bool has = coap_options_get_block1(&msg->opt, &got) == 0;
  size_t start = coap_block_start(&bw->sent1);
  bool matches =
      has && got.szx <= bw->sent1.szx && coap_block_start(&got) == start;
  if (msg->code == COAP_CODE_CONTINUE) {
    if (!matches || !bw->sent1.more) {
      coap__request_complete(req, COAP_EUNEXPECTED_BLOCK1, NULL);
      return;
    }
    /* RFC 7959 §2.5: with a smaller SZX the next block starts where the
     * bytes sent so far end, numbered in the new size. */
    size_t sent = start + bw->sent1_len;
    int rc = send_block1(req, (uint32_t)(sent >> (got.szx + 4)), got.szx);
    if (rc < 0)
      coap__request_complete(req, rc, NULL);
    return;
  }
  /* RFC 7959 §2.3: a success other than 2.31 that names the block just
   * sent, before the last one, comes from a server that acts on each block
   * as it arrives (non-atomically); the rest of the body still goes. */
  if (coap_code_is_successful(msg->code) && matches && bw->sent1.more) {
    size_t sent = start + bw->sent1_len;
    int rc = send_block1(req, (uint32_t)(sent >> (got.szx + 4)), got.szx);
    if (rc < 0)
      coap__request_complete(req, rc, NULL);
    return;
  }
  /* An unsuccessful answer ends the upload as it is.  A successful one
   * that names a block must name the one sent.  One without Block1 is a
   * final response only to the last block (libcoap 4.3 leaves Block1 out
   * there, though RFC 7959 §2.3 has the response name the block); to an
   * earlier block it means the server took part of the body for the whole
   * (aiocoap's UnexpectedBlock1Option). */
  if (coap_code_is_successful(msg->code) &&
      ((has && !matches) || (!has && bw->sent1.more))) {
    coap__request_complete(req, COAP_EUNEXPECTED_BLOCK1, NULL);
    return;
  }
  final_response(req, msg);
}

static void block2_response(coap_request *req, const coap_message *msg) {
  coap__request_blockwise *bw = req->blockwise;
  if (!coap_code_is_successful(msg->code)) {
    finish(req, msg);
    return;
  }
  coap_block got;
  int rc = coap_options_get_block2(&msg->opt, &got);
  if (rc == COAP_ENOENT)
    rc = COAP_EMISSING_BLOCK2;
  else if (rc < 0 || got.szx > bw->want2.szx ||
           coap_block_start(&got) != bw->body_len ||
           (got.more && msg->payload_len != coap_block_size(got.szx)))
    rc = COAP_EUNEXPECTED_BLOCK2;
  else if (!same_etag(bw, msg))
    rc = COAP_ERESOURCE_CHANGED;
  if (rc == 0)
    rc = take_block(req, msg);
  if (rc == 0 && got.more)
    rc = send_block2(req, got.szx);
  if (rc < 0)
    coap__request_complete(req, rc, NULL);
  else if (!got.more)
    deliver_body(req, msg);
}

/* A body from a source: one block and a byte are read to tell a body that
 * fits one block, which goes as a plain request (RFC 7959 §2.5 is for
 * bodies that do not fit), from a Block1 transfer. */
static int start_source(coap_request *req, uint8_t szx,
                        const coap_block *propose2) {
  const size_t size = coap_block_size(szx);
  /* RFC 7959 §2.2: NUM has 20 bits. */
  if (req->source.size >= 0 &&
      (uint64_t)req->source.size > ((uint64_t)size << 20))
    return COAP_ELIMIT;
  int rc = state_new(req);
  if (rc == 0)
    rc = build_template(req);
  if (rc < 0)
    return rc;
  coap__request_blockwise *bw = req->blockwise;
  bw->src_cap = size + 1;
  bw->src_buf = coap__malloc(bw->src_cap);
  if (bw->src_buf == NULL)
    return COAP_ENOMEM;
  rc = source_fill(req, bw->src_cap);
  if (rc < 0)
    return rc;
  if (bw->src_have <= size) {
    bw->phase = BW_WHOLE;
    coap_message_set_payload_borrowed(&bw->out, bw->src_buf, bw->src_have);
    return coap__request_send(req, &bw->out);
  }
  bw->phase = BW_BLOCK1;
  bw->propose2 = propose2 != NULL;
  bw->propose2_szx = propose2 != NULL ? propose2->szx : 0;
  return send_block1(req, 0, szx);
}

int coap__request_blockwise_start(coap_request *req) {
  coap_message *app = req->msg;
  /* Responses are matched against the request's remote (request.c). */
  app->remote.addr = req->remote;
  app->remote.endpoint = req->endpoint;
  coap_block b1, b2;
  bool own_block1 = coap_options_get_block1(&app->opt, &b1) != COAP_ENOENT;
  bool has_b2 = coap_options_get_block2(&app->opt, &b2) == 0;
  /* Without blockwise handling, or when the application runs a transfer
   * itself (its own Block1, or a Block2 asking for a later block), the
   * request goes out as it is and the first response is final. */
  if (!req->handle_blockwise || own_block1 || (has_b2 && b2.num != 0))
    return coap__request_send(req, app);
  uint8_t szx = fitting_szx(req->ctx, app);
  if (req->source.read != NULL)
    return start_source(req, szx, has_b2 ? &b2 : NULL);
  if (app->payload_len <= coap_block_size(szx))
    return coap__request_send(req, app);
  int rc = state_new(req);
  if (rc == 0)
    rc = build_template(req);
  if (rc < 0)
    return rc;
  coap__request_blockwise *bw = req->blockwise;
  bw->phase = BW_BLOCK1;
  bw->propose2 = has_b2;
  bw->propose2_szx = has_b2 ? b2.szx : 0;
  return send_block1(req, 0, szx);
}

void coap__request_blockwise_response(coap_request *req, coap_message *msg) {
  coap__request_blockwise *bw = req->blockwise;
  if (!req->handle_blockwise) {
    coap__request_finish_with(req, msg);
    return;
  }
  if (bw != NULL && bw->phase == BW_WHOLE) {
    final_response(req, msg);
    return;
  }
  if (bw == NULL) {
    /* A request sent whole (possibly by the application's own blockwise
     * logic): only a first block of a new Block2 transfer continues. */
    coap_block b1, b2;
    bool app_runs_it =
        coap_options_get_block1(&req->msg->opt, &b1) != COAP_ENOENT ||
        (coap_options_get_block2(&req->msg->opt, &b2) == 0 && b2.num != 0);
    if (app_runs_it)
      finish(req, msg);
    else
      final_response(req, msg);
    return;
  }
  if (bw->phase == BW_BLOCK1)
    block1_response(req, msg);
  else
    block2_response(req, msg);
}
