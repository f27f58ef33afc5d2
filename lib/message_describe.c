/*
 * coap_message_describe: the one-line form aiocoap's Message.__repr__ gives,
 * for logs.
 */
#include <aiocoap/message.h>

#include <stdarg.h>
#include <stdio.h>

/* Appends to a fixed buffer, truncating; len never exceeds cap - 1. */
typedef struct writer {
  char *buf;
  size_t cap;
  size_t len;
} writer;

#if defined(__GNUC__) || defined(__clang__)
static void put(writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#endif

static void put(writer *w, const char *fmt, ...) {
  if (w->cap == 0)
    return;
  size_t room = w->cap - w->len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(w->buf + w->len, room, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  w->len += (size_t)n < room ? (size_t)n : room - 1;
}

static void put_remote(writer *w, const coap_message *msg) {
  char hostinfo[128];
  if (coap_remote_hostinfo(&msg->remote, hostinfo, sizeof hostinfo) >= 0)
    put(w, "%s", hostinfo);
  else if (msg->unresolved_remote != NULL)
    put(w, "%s", msg->unresolved_remote);
  else
    put(w, "(unset)");
}

int coap_message_describe(const coap_message *msg, char *buf, size_t cap) {
  writer w = {buf, cap, 0};
  if (cap > 0)
    buf[0] = '\0';
  put(&w, "<coap_message: ");
  if (msg->mtype >= COAP_TYPE_CON && msg->mtype <= COAP_TYPE_RST)
    put(&w, "%s ", coap_type_name(msg->mtype));
  else
    put(&w, "no mtype, ");
  char dotted[5];
  const char *name = coap_code_name(msg->code);
  put(&w, "%s%s%s (", coap_code_dotted(msg->code, dotted),
      name != NULL ? " " : "", name != NULL ? name : "");
  if (msg->mid >= 0)
    put(&w, "MID %d, ", (int)msg->mid);
  else
    put(&w, "no MID, ");
  if (msg->token_len > 0) {
    put(&w, "token ");
    for (size_t i = 0; i < msg->token_len && i < COAP_TOKEN_MAX_LENGTH; i++)
      put(&w, "%02x", msg->token[i]);
  } else {
    put(&w, "empty token");
  }
  put(&w, ") remote ");
  put_remote(&w, msg);
  size_t count = coap_options_count(&msg->opt);
  if (count > 0)
    put(&w, ", %zu option(s)", count);
  if (msg->payload_len > 0)
    put(&w, ", %zu byte(s) payload", msg->payload_len);
  put(&w, ">");
  return (int)w.len;
}
