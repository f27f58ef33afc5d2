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
 */
#include "alloc-internal.h"
#include "request-internal.h"

#include <string.h>

/* Largest encoding of a Block option (one header byte, up to two bytes of
 * extended delta, three of value) and of a Size option (four of value). */
#define BLOCK_OPTION_MAX 6u
#define SIZE_OPTION_MAX 7u
/* RFC 7252 §5.10.6: an ETag is 1 to 8 bytes. */
#define ETAG_MAX 8u

typedef enum {
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

/* Sends block num of the request body in blocks of 2**(szx+4) bytes. */
static int send_block1(coap_request *req, uint32_t num, uint8_t szx) {
  coap__request_blockwise *bw = req->blockwise;
  const coap_message *app = req->msg;
  size_t start = (size_t)num << (szx + 4);
  if (start >= app->payload_len)
    return COAP_EUNEXPECTED_BLOCK1;
  size_t len = app->payload_len - start;
  if (len > coap_block_size(szx))
    len = coap_block_size(szx);
  coap_block block = {
      .num = num, .more = start + len < app->payload_len, .szx = szx};
  coap_options *opt = &bw->out.opt;
  int rc = coap_options_set_block1(opt, &block);
  if (rc < 0)
    return rc == COAP_EINVAL ? COAP_ELIMIT : rc; /* over 2**20 blocks */
  /* RFC 7959 §4: Size1 announces the whole body, so a server can refuse
   * it at once; the first block carries it. */
  if (num == 0)
    rc = coap_options_set_size1(opt, (uint32_t)app->payload_len);
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
  coap_message_set_payload_borrowed(&bw->out, app->payload + start, len);
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
  bw->body_len = 0;
  rc = append_body(req, msg);
  if (rc < 0)
    return rc;
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
 * with the whole body, which moves into the message without a copy. */
static void deliver_body(coap_request *req, const coap_message *last) {
  coap__request_blockwise *bw = req->blockwise;
  coap_message *resp = NULL;
  int rc = coap_message_new(&resp);
  if (rc == 0) {
    resp->mtype = last->mtype;
    resp->mid = last->mid;
    resp->code = last->code;
    resp->remote = last->remote;
    rc = coap_message_set_token(resp, last->token, last->token_len);
  }
  if (rc == 0)
    rc = coap_options_copy(&resp->opt, &last->opt);
  if (rc == 0 && req->uri != NULL) {
    resp->request_uri = coap__strdup(req->uri);
    if (resp->request_uri == NULL)
      rc = COAP_ENOMEM;
  }
  if (rc < 0) {
    coap_message_free(resp);
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
  resp->payload_buf = bw->body;
  resp->payload_cap = bw->body_cap;
  resp->payload = bw->body;
  resp->payload_len = bw->body_len;
  bw->body = NULL;
  bw->body_cap = bw->body_len = 0;
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
  coap__request_finish_with(req, msg);
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
    coap__request_finish_with(req, msg);
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
    rc = append_body(req, msg);
  if (rc == 0 && got.more)
    rc = send_block2(req, got.szx);
  if (rc < 0)
    coap__request_complete(req, rc, NULL);
  else if (!got.more)
    deliver_body(req, msg);
}

int coap__request_blockwise_start(coap_request *req) {
  coap_message *app = req->msg;
  /* Responses are matched against the request's remote (request.c). */
  app->remote.addr = req->remote;
  coap_block b1, b2;
  bool own_block1 = coap_options_get_block1(&app->opt, &b1) != COAP_ENOENT;
  bool has_b2 = coap_options_get_block2(&app->opt, &b2) == 0;
  /* Without blockwise handling, or when the application runs a transfer
   * itself (its own Block1, or a Block2 asking for a later block), the
   * request goes out as it is and the first response is final. */
  if (!req->handle_blockwise || own_block1 || (has_b2 && b2.num != 0))
    return coap__request_send(req, app);
  uint8_t szx = fitting_szx(req->ctx, app);
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
  if (bw == NULL) {
    /* A request sent whole (possibly by the application's own blockwise
     * logic): only a first block of a new Block2 transfer continues. */
    coap_block b1, b2;
    bool app_runs_it =
        coap_options_get_block1(&req->msg->opt, &b1) != COAP_ENOENT ||
        (coap_options_get_block2(&req->msg->opt, &b2) == 0 && b2.num != 0);
    if (app_runs_it)
      coap__request_finish_with(req, msg);
    else
      final_response(req, msg);
    return;
  }
  if (bw->phase == BW_BLOCK1)
    block1_response(req, msg);
  else
    block2_response(req, msg);
}
