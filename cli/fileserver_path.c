/*
 * aiocoap-fileserver: which Uri-Paths are served, and opening them so that
 * no request reaches outside the root (fileserver.h).
 */
#include "fileserver.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void fs_answer(coap_message *response, uint8_t code, const char *text) {
  response->code = code;
  coap_options_delete(&response->opt, COAP_OPT_CONTENT_FORMAT);
  coap_options_delete(&response->opt, COAP_OPT_ETAG);
  if (coap_message_set_payload_string(response, text) < 0)
    coap_message_set_payload_borrowed(response, NULL, 0);
}

void fs_answer_errno(coap_message *response, int err) {
  switch (-err) {
  case ENOENT:
  case ENOTDIR: /* a segment below a file */
    fs_answer(response, COAP_CODE_NOT_FOUND, "Error: File not found!");
    break;
  case EXDEV: /* RESOLVE_BENEATH: a symlink out of the root */
  case ELOOP: /* O_NOFOLLOW: a symlink */
  case EACCES:
  case EPERM:
  case ENXIO: /* a socket, or a FIFO without writer */
  case ENODEV:
  case EROFS:
  case ETXTBSY:
    fs_answer(response, COAP_CODE_FORBIDDEN, "Forbidden");
    break;
  case ENAMETOOLONG:
    fs_answer(response, COAP_CODE_BAD_REQUEST, "Path too long");
    break;
  case ENOSPC:
  case EDQUOT:
    fs_answer(response, COAP_CODE_REQUEST_ENTITY_TOO_LARGE, "No space left");
    break;
  default:
    fs_answer(response, COAP_CODE_INTERNAL_SERVER_ERROR, "Internal error");
    break;
  }
}

static bool segment_is_reserved(const uint8_t *v, size_t len) {
  size_t plen = sizeof FS_TEMP_PREFIX - 1;
  return len >= plen && memcmp(v, FS_TEMP_PREFIX, plen) == 0;
}

int fs_path_parse(const coap_message *request, coap_message *response,
                  fs_path *out) {
  size_t count = coap_options_count_of(&request->opt, COAP_OPT_URI_PATH);
  size_t used = 0, seen = 0;
  out->n = 0;
  out->dir = count == 0;
  out->parent_len = 0;
  out->name_off = 0;
  out->rel[0] = '\0';
  /* One pass over the options in order (Uri-Path keeps its order). */
  for (size_t i = 0; seen < count; i++) {
    const coap_option *o = coap_options_at(&request->opt, i);
    if (o->number != COAP_OPT_URI_PATH)
      continue;
    seen++;
    if (o->len == 0) {
      /* RFC 7252 §6.5: a trailing slash is one empty last segment; an
       * empty one anywhere else ("//", a leading one) names nothing, and
       * must never make the path absolute. */
      if (seen == count) {
        out->dir = true;
        break;
      }
      fs_answer(response, COAP_CODE_BAD_REQUEST, "Invalid path: empty segment");
      return -1;
    }
    if ((o->len == 1 && o->value[0] == '.') ||
        (o->len == 2 && o->value[0] == '.' && o->value[1] == '.')) {
      fs_answer(response, COAP_CODE_BAD_REQUEST,
                "Invalid path: '.' or '..' segment");
      return -1;
    }
    if (memchr(o->value, '/', o->len) != NULL ||
        memchr(o->value, '\0', o->len) != NULL) {
      fs_answer(response, COAP_CODE_BAD_REQUEST,
                "Invalid path: '/' or NUL in a segment");
      return -1;
    }
    if (segment_is_reserved(o->value, o->len)) {
      fs_answer(response, COAP_CODE_FORBIDDEN, "Reserved name");
      return -1;
    }
    size_t need = used + (used > 0) + o->len + 1;
    if (need > sizeof out->rel) {
      fs_answer(response, COAP_CODE_BAD_REQUEST, "Path too long");
      return -1;
    }
    if (used > 0) {
      out->parent_len = used;
      out->rel[used++] = '/';
    }
    out->name_off = used;
    memcpy(out->rel + used, o->value, o->len);
    used += o->len;
    out->rel[used] = '\0';
    out->n++;
  }
  return 0;
}

/* -1 until tried, then 1 when openat2 works here, 0 when not (ENOSYS: a
 * kernel before 5.6, or a seccomp filter).  AIOCOAP_FILESERVER_NO_OPENAT2
 * in the environment forces the walk, for the tests. */
static int have_openat2 = -1;

static int open_walk(int root_fd, const char *rel, int flags) {
  int dir = dup(root_fd);
  if (dir < 0)
    return -errno;
  const char *p = rel;
  char seg[256];
  for (;;) {
    const char *slash = strchr(p, '/');
    if (slash == NULL)
      break;
    size_t len = (size_t)(slash - p);
    if (len >= sizeof seg) {
      close(dir);
      return -ENAMETOOLONG;
    }
    memcpy(seg, p, len);
    seg[len] = '\0';
    int next = openat(dir, seg, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(dir);
    if (next < 0)
      return -e;
    dir = next;
    p = slash + 1;
  }
  int fd = openat(dir, p, flags | O_NOFOLLOW | O_CLOEXEC);
  int e = errno;
  close(dir);
  return fd < 0 ? -e : fd;
}

int fs_open_beneath(int root_fd, const char *rel, int flags) {
  if (rel[0] == '\0')
    rel = ".";
  if (have_openat2 < 0)
    have_openat2 = getenv("AIOCOAP_FILESERVER_NO_OPENAT2") == NULL;
  if (have_openat2 == 1) {
    /* Linux 5.6+: the kernel refuses any resolution leaving root_fd
     * (absolute symlinks, ".." above it, /proc magic links), with
     * EXDEV, atomically with the open. */
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
    if (fd >= 0)
      return (int)fd;
    if (errno != ENOSYS)
      return -errno;
    have_openat2 = 0;
  }
  if (strcmp(rel, ".") == 0) {
    int fd = openat(root_fd, ".", flags | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
  }
  return open_walk(root_fd, rel, flags);
}

int fs_open_parent(const fileserver *fs, const fs_path *path) {
  char parent[FS_PATH_MAX];
  memcpy(parent, path->rel, path->parent_len);
  parent[path->parent_len] = '\0';
  return fs_open_beneath(fs->root_fd, parent, O_PATH | O_DIRECTORY);
}
