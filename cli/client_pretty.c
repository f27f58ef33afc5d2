/*
 * Pretty printing by content format, as aiocoap's util.prettyprint: link
 * format (RFC 6690) one link per line, JSON indented, CBOR in diagnostic
 * notation (RFC 8949 §8).
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>

client_kind client_kind_of(int content_format) {
  if (content_format < 0 || content_format > 65535)
    return CLIENT_KIND_OTHER;
  if (content_format == COAP_CT_LINK_FORMAT)
    return CLIENT_KIND_LINK_FORMAT;
  if (content_format == COAP_CT_CWT) /* RFC 8392: a CBOR structure */
    return CLIENT_KIND_CBOR;
  const char *name = coap_content_format_name((uint16_t)content_format);
  if (name == NULL)
    return CLIENT_KIND_OTHER;
  if (strncmp(name, "text/", 5) == 0)
    return CLIENT_KIND_TEXT;
  /* application/json and the +json structured suffix (RFC 6839), and
   * likewise CBOR (RFC 8949 §9.5). */
  if (strstr(name, "json") != NULL)
    return CLIENT_KIND_JSON;
  if (strstr(name, "cbor") != NULL)
    return CLIENT_KIND_CBOR;
  return CLIENT_KIND_OTHER;
}

/* RFC 6690 §2: links are separated by commas outside <...> and quoted
 * strings; each goes on a line of its own, the commas kept so that the
 * output is still link format. */
static char *pretty_link_format(const uint8_t *data, size_t len) {
  char *out = malloc(len * 2 + 2);
  if (out == NULL)
    return NULL;
  size_t n = 0;
  bool in_uri = false, in_quote = false, line_start = true;
  for (size_t i = 0; i < len; i++) {
    char c = (char)data[i];
    if (line_start && (c == ' ' || c == '\n' || c == '\r' || c == '\t'))
      continue;
    line_start = false;
    if (in_quote && c == '\\' && i + 1 < len) {
      out[n++] = c;
      out[n++] = (char)data[++i];
      continue;
    }
    out[n++] = c;
    if (c == '"' && !in_uri)
      in_quote = !in_quote;
    else if (c == '<' && !in_quote)
      in_uri = true;
    else if (c == '>' && !in_quote)
      in_uri = false;
    else if (c == ',' && !in_uri && !in_quote) {
      out[n++] = '\n';
      line_start = true;
    }
  }
  out[n] = '\0';
  return out;
}

char *client_pretty(client_kind kind, const uint8_t *data, size_t len,
                    const char **note) {
  *note = NULL;
  char *text = NULL;
  switch (kind) {
  case CLIENT_KIND_LINK_FORMAT:
    return pretty_link_format(data, len);
  case CLIENT_KIND_JSON:
    if (!client_json_available) {
      *note = "JSON pretty printing not built in (jansson)";
      return NULL;
    }
    text = client_json_pretty(data, len);
    if (text == NULL)
      *note = "JSON content format, but not valid JSON: shown as it is";
    return text;
  case CLIENT_KIND_CBOR:
    if (!client_cbor_available) {
      *note = "CBOR pretty printing not built in (libcbor)";
      return NULL;
    }
    text = client_cbor_diagnostic(data, len);
    *note = text != NULL
                ? "CBOR message shown in diagnostic notation"
                : "CBOR content format, but not one CBOR item: shown as it is";
    return text;
  default:
    return NULL;
  }
}
