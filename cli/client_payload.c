/*
 * The request payload of --payload: text as given, converted from CBOR
 * diagnostic notation for JSON and CBOR content formats (as aiocoap does;
 * only the JSON subset of diagnostic notation is read here), or a file
 * (@FILE) or stdin (@-) to be streamed.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t cap, const char *what, const char *why) {
  snprintf(err, cap, "--payload: %s%s%s", what, why[0] ? ": " : "", why);
  return -1;
}

static int open_file(const char *path, client_payload *out, char *err,
                     size_t cap) {
  int fd;
  if (strcmp(path, "-") == 0) {
    fd = STDIN_FILENO;
    out->name = "stdin";
  } else {
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return fail(err, cap, path, strerror(errno));
    out->close_fd = true;
    out->name = path;
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (out->close_fd)
      close(fd);
    return fail(err, cap, path, "is a directory");
  }
  out->fd = fd;
  /* RFC 7959 §4: Size1 only for what is known; a pipe or /dev/zero is
   * not. */
  out->size = (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? st.st_size : -1;
  return 0;
}

static int set_text(client_payload *out, const char *text, size_t len) {
  out->data = malloc(len ? len : 1);
  if (out->data == NULL)
    return -1;
  memcpy(out->data, text, len);
  out->len = len;
  return 0;
}

int client_payload_open(const client_opts *o, client_payload *out, char *err,
                        size_t cap) {
  *out = (client_payload){.fd = -1, .size = -1, .name = "payload"};
  const char *p = o->payload;
  if (p == NULL || p[0] == '\0')
    return 0;
  if (p[0] == '@')
    return open_file(p + 1, out, err, cap);
  client_kind kind = client_kind_of(o->content_format);
  char why[200] = "";
  if (kind == CLIENT_KIND_CBOR) {
    if (!client_cbor_available)
      return fail(err, cap, "converting to CBOR",
                  "not built in (needs jansson and libcbor)");
    if (client_cbor_from_json(p, &out->data, &out->len, why, sizeof why) < 0)
      return fail(err, cap,
                  "not JSON (the subset of CBOR diagnostic notation read "
                  "here; mind the shell's quoting)",
                  why);
    return 0;
  }
  if (kind == CLIENT_KIND_JSON && client_json_available &&
      client_json_validate(p, why, sizeof why) < 0)
    return fail(err, cap, "not JSON (mind the shell's quoting)", why);
  if (set_text(out, p, strlen(p)) < 0)
    return fail(err, cap, "out of memory", "");
  return 0;
}

void client_payload_close(client_payload *p) {
  free(p->data);
  p->data = NULL;
  if (p->close_fd && p->fd >= 0)
    close(p->fd);
  p->fd = -1;
  p->close_fd = false;
}
