/*
 * aiocoap-fileserver: ETags from a file's stat, and Content-Formats from
 * its name (fileserver.h).
 */
#include "fileserver.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void fs_log(const fileserver *fs, int level, const char *fmt, ...) {
  if (fs->verbosity < level)
    return;
  va_list ap;
  va_start(ap, fmt);
  fputs("aiocoap-fileserver: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

size_t fs_etag(const fileserver *fs, const struct stat *st,
               uint8_t etag[COAP_ETAG_MAX_LENGTH]) {
  if (fs->etag_length == 0)
    return 0;
  /* As aiocoap: what changes when the file does, without reading it
   * (a change that keeps mtime, ctime and size alike goes unnoticed). */
  uint64_t parts[5] = {(uint64_t)st->st_mtim.tv_sec,
                       (uint64_t)st->st_mtim.tv_nsec,
                       (uint64_t)st->st_ctim.tv_sec,
                       (uint64_t)st->st_ctim.tv_nsec, (uint64_t)st->st_size};
  uint8_t full[COAP_ETAG_MAX_LENGTH];
  size_t len = sizeof full;
  if (coap_hashing_etag_compute(parts, sizeof parts, full, &len) < 0)
    return 0;
  size_t n = fs->etag_length < len ? fs->etag_length : len;
  memcpy(etag, full, n);
  return n;
}

bool fs_request_has_etag(const coap_message *request, const uint8_t *etag,
                         size_t len) {
  if (len == 0)
    return false;
  for (size_t i = 0;; i++) {
    const coap_option *o =
        coap_options_get_nth(&request->opt, COAP_OPT_ETAG, i);
    if (o == NULL)
      return false;
    if (o->len == len && memcmp(o->value, etag, len) == 0)
      return true;
  }
}

/* The common extensions; a text/... type the registry lacks is served as
 * text/plain (format 0), as aiocoap does. */
static const struct {
  const char *ext;
  const char *mime;
} types[] = {
    {"txt", "text/plain"},
    {"text", "text/plain"},
    {"md", "text/markdown"},
    {"html", "text/html"},
    {"htm", "text/html"},
    {"css", "text/css"},
    {"csv", "text/csv"},
    {"c", "text/x-c"},
    {"h", "text/x-c"},
    {"py", "text/x-python"},
    {"sh", "text/x-sh"},
    {"json", "application/json"},
    {"xml", "application/xml"},
    {"cbor", "application/cbor"},
    {"exi", "application/exi"},
    {"bin", "application/octet-stream"},
    {"wlnk", "application/link-format"},
    /* RFC 8428 §12.3: the SenML file extensions. */
    {"senml", "application/senml+json"},
    {"sensml", "application/sensml+json"},
    {"senmlc", "application/senml+cbor"},
    {"sensmlc", "application/sensml+cbor"},
    {"senmle", "application/senml-exi"},
    {"sensmle", "application/sensml-exi"},
    {"senmlx", "application/senml+xml"},
    {"sensmlx", "application/sensml+xml"},
};

int fs_content_format_for_name(const char *name, size_t len) {
  const char *dot = NULL;
  for (size_t i = len; i > 0; i--) {
    if (name[i - 1] == '.') {
      dot = name + i;
      break;
    }
  }
  /* No extension, or a dotfile's name only (".profile"). */
  if (dot == NULL || dot == name + 1)
    return -1;
  size_t elen = (size_t)(name + len - dot);
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (strlen(types[i].ext) == elen &&
        strncasecmp(types[i].ext, dot, elen) == 0) {
      int ct = coap_content_format_from_name(types[i].mime);
      if (ct >= 0)
        return ct;
      if (strncmp(types[i].mime, "text/", 5) == 0)
        return COAP_CT_TEXT_PLAIN;
      return -1;
    }
  }
  return -1;
}
