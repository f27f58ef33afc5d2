/*
 * aiocoap-fileserver: GET.  A file is served block by block straight from
 * the file (RFC 7959 §2.4: each Block2 request reads only its block), a
 * directory as an RFC 6690 listing the library slices (fileserver.h).
 */
#include "fileserver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* RFC 7252 §5.10.4: a representation in format ct (-1: none known, so
 * only as application/octet-stream) satisfies the request's Accept?
 * *out is the format to answer with. */
static bool acceptable(const coap_message *request, int ct, int *out) {
  uint16_t accept;
  *out = ct;
  if (coap_options_get_accept(&request->opt, &accept) != 0)
    return true;
  if (ct >= 0)
    return accept == ct;
  if (accept == COAP_CT_OCTET_STREAM) {
    *out = COAP_CT_OCTET_STREAM;
    return true;
  }
  return false;
}

/* RFC 7252 §5.10.6.2: the client's ETag is current: 2.03 Valid. */
static bool answer_valid(const coap_message *request, const uint8_t *etag,
                         size_t len, coap_message *response) {
  if (!fs_request_has_etag(request, etag, len))
    return false;
  response->code = COAP_CODE_VALID;
  coap_options_set_etag(&response->opt, etag, len);
  return true;
}

static ssize_t pread_full(int fd, uint8_t *buf, size_t len, off_t offset) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, buf + got, len - got, offset + (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

static void get_file(fileserver *fs, const coap_message *request,
                     const fs_path *path, int fd, const struct stat *st,
                     coap_message *response) {
  int ct = fs_content_format_for_name(path->rel + path->name_off,
                                      strlen(path->rel + path->name_off));
  if (!acceptable(request, ct, &ct)) {
    fs_answer(response, COAP_CODE_NOT_ACCEPTABLE, "Not acceptable");
    return;
  }
  uint8_t etag[COAP_ETAG_MAX_LENGTH];
  size_t etag_len = fs_etag(fs, st, etag);
  if (answer_valid(request, etag, etag_len, response))
    return;
  /* RFC 7959 §2.4: the client's block size, unless it is larger than
   * ours; then the block it asked for is scaled to our size (its first
   * byte stays where it was). */
  coap_block b = {.num = 0, .more = false, .szx = FS_MAX_SZX};
  bool has_block2 = coap_options_get_block2(&request->opt, &b) == 0;
  if (b.szx > FS_MAX_SZX) {
    uint64_t start = (uint64_t)b.num << (b.szx + 4);
    b.szx = FS_MAX_SZX;
    b.num = (uint32_t)(start >> (FS_MAX_SZX + 4));
  }
  size_t size = coap_block_size(b.szx);
  uint64_t offset = (uint64_t)b.num * size;
  uint64_t total = (uint64_t)st->st_size;
  if (offset > 0 && offset >= total) {
    fs_answer(response, COAP_CODE_BAD_OPTION, "Block beyond the end");
    return;
  }
  uint8_t buf[1u << (FS_MAX_SZX + 4)];
  ssize_t got = pread_full(fd, buf, size, (off_t)offset);
  if (got < 0) {
    fs_answer_errno(response, (int)got);
    return;
  }
  /* The file may have shrunk since fstat: what was read is the truth. */
  b.more = offset + (uint64_t)got < total && (size_t)got == size;
  int rc = coap_message_set_payload(response, buf, (size_t)got);
  if (rc == 0 && ct >= 0)
    rc = coap_options_set_content_format(&response->opt, (uint16_t)ct);
  if (rc == 0 && etag_len > 0)
    rc = coap_options_set_etag(&response->opt, etag, etag_len);
  if (rc == 0 && (has_block2 || b.more || b.num > 0))
    rc = coap_options_set_block2(&response->opt, &b);
  /* RFC 7959 §4: Size2 with the first block, and whenever asked for. */
  if (rc == 0 && ((b.num == 0 && b.more) ||
                  coap_options_has(&request->opt, COAP_OPT_SIZE2)))
    rc = coap_options_set_size2(
        &response->opt, total > UINT32_MAX ? UINT32_MAX : (uint32_t)total);
  if (rc < 0) {
    fs_answer(response, COAP_CODE_INTERNAL_SERVER_ERROR, "Internal error");
    return;
  }
  response->code = COAP_CODE_CONTENT;
}

typedef struct {
  char *name;
  bool dir;
} entry;

static int entry_cmp(const void *a, const void *b) {
  return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

typedef struct {
  char *buf;
  size_t len, cap;
  bool failed;
} text;

static void put_bytes(text *t, const char *s, size_t n) {
  if (t->failed)
    return;
  if (t->len + n + 1 > FS_MAX_LISTING_BYTES) {
    t->failed = true;
    return;
  }
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 1024;
    while (cap < t->len + n + 1)
      cap *= 2;
    char *nb = realloc(t->buf, cap);
    if (nb == NULL) {
      t->failed = true;
      return;
    }
    t->buf = nb;
    t->cap = cap;
  }
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  t->buf[t->len] = '\0';
}

/* RFC 6690 §2 links carry a URI-reference (RFC 3986); a name is
 * percent-encoded byte by byte except the unreserved characters, so
 * that '>', ',', ';', '"', spaces and non-ASCII never appear raw. */
static void put_segment(text *t, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      put_bytes(t, (const char *)&c, 1);
    } else {
      char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
      put_bytes(t, esc, 3);
    }
  }
}

/* The directory's path as it appears in links: each segment encoded. */
static void put_path(text *t, const char *rel) {
  while (*rel != '\0') {
    const char *slash = strchr(rel, '/');
    size_t n = slash ? (size_t)(slash - rel) : strlen(rel);
    put_segment(t, rel, n);
    put_bytes(t, "/", 1);
    rel += n + (slash != NULL);
  }
}

static bool is_temp(const char *name) {
  return strncmp(name, FS_TEMP_PREFIX, sizeof FS_TEMP_PREFIX - 1) == 0;
}

/* Reads the entries of d, sorted; -errno or the count. */
static long read_entries(DIR *d, entry **out) {
  entry *v = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    const char *name = de->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || is_temp(name))
      continue;
    bool dir = de->d_type == DT_DIR;
    if (de->d_type == DT_UNKNOWN) {
      struct stat st;
      dir = fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode);
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 32;
      entry *nv = realloc(v, ncap * sizeof *nv);
      if (nv == NULL)
        goto fail;
      v = nv;
      cap = ncap;
    }
    v[n].name = strdup(name);
    if (v[n].name == NULL)
      goto fail;
    v[n].dir = dir;
    n++;
    errno = 0;
  }
  if (errno != 0)
    goto fail;
  if (n > 0)
    qsort(v, n, sizeof *v, entry_cmp);
  *out = v;
  return (long)n;
fail:;
  int e = errno ? errno : ENOMEM;
  for (size_t i = 0; i < n; i++)
    free(v[i].name);
  free(v);
  return -e;
}

static void get_directory(fileserver *fs, const coap_message *request,
                          const fs_path *path, int fd, const struct stat *st,
                          coap_message *response) {
  int ct;
  if (!acceptable(request, COAP_CT_LINK_FORMAT, &ct)) {
    close(fd);
    fs_answer(response, COAP_CODE_NOT_ACCEPTABLE, "Not acceptable");
    return;
  }
  uint8_t etag[COAP_ETAG_MAX_LENGTH];
  size_t etag_len = fs_etag(fs, st, etag);
  if (answer_valid(request, etag, etag_len, response)) {
    close(fd);
    return;
  }
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    fs_answer(response, COAP_CODE_INTERNAL_SERVER_ERROR, "Internal error");
    return;
  }
  entry *v = NULL;
  long n = read_entries(d, &v);
  closedir(d);
  if (n < 0) {
    fs_answer_errno(response, (int)n);
    return;
  }
  text t = {0};
  for (long i = 0; i < n; i++) {
    if (i > 0)
      put_bytes(&t, ",", 1);
    put_bytes(&t, "</", 2);
    put_path(&t, path->rel);
    put_segment(&t, v[i].name, strlen(v[i].name));
    if (v[i].dir)
      put_bytes(&t, "/>;ct=40", 8);
    else
      put_bytes(&t, ">", 1);
    free(v[i].name);
  }
  free(v);
  int rc = t.failed ? COAP_ENOMEM : 0;
  if (rc == 0)
    rc = coap_message_set_payload(response, t.buf, t.len);
  free(t.buf);
  if (rc == 0)
    rc = coap_options_set_content_format(&response->opt, COAP_CT_LINK_FORMAT);
  if (rc == 0 && etag_len > 0)
    rc = coap_options_set_etag(&response->opt, etag, etag_len);
  if (rc < 0) {
    fs_answer(response, COAP_CODE_INTERNAL_SERVER_ERROR,
              t.failed ? "Listing too large" : "Internal error");
    return;
  }
  response->code = COAP_CODE_CONTENT;
}

int fs_get(fileserver *fs, const coap_message *request, const fs_path *path,
           coap_message *response) {
  /* O_NONBLOCK: opening a FIFO must never wait for a writer; fstat on the
   * fd then says what it is, with no race between the two. */
  int fd =
      fs_open_beneath(fs->root_fd, path->rel, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  struct stat st;
  if (fd == -ENOENT && !fs_conditions_hold(fs, request, false, &st)) {
    fs_answer(response, COAP_CODE_PRECONDITION_FAILED, "Precondition failed");
    return 0;
  }
  if (fd < 0) {
    fs_answer_errno(response, fd);
    return 0;
  }
  if (fstat(fd, &st) < 0) {
    int e = -errno;
    close(fd);
    fs_answer_errno(response, e);
    return 0;
  }
  /* RFC 7252 §5.10.8: the conditions apply to every method. */
  if (!fs_conditions_hold(fs, request, true, &st)) {
    close(fd);
    fs_answer(response, COAP_CODE_PRECONDITION_FAILED, "Precondition failed");
    return 0;
  }
  if (S_ISDIR(st.st_mode)) {
    if (!path->dir) {
      close(fd);
      fs_answer(response, COAP_CODE_BAD_REQUEST,
                "Error: Not a file (add trailing slash)");
      return 0;
    }
    fs_log(fs, 1, "serving directory /%s", path->rel);
    get_directory(fs, request, path, fd, &st, response);
    return 0;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    fs_answer(response, COAP_CODE_FORBIDDEN, "Not a regular file");
    return 0;
  }
  if (path->dir) {
    close(fd);
    fs_answer(response, COAP_CODE_BAD_REQUEST,
              "Error: Not a directory (strip the trailing slash)");
    return 0;
  }
  fs_log(fs, 2, "serving file /%s", path->rel);
  get_file(fs, request, path, fd, &st, response);
  close(fd);
  return 0;
}
