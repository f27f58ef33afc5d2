/*
 * aiocoap-fileserver: PUT bodies, streamed into a temporary file block by
 * block (RFC 7959 §2.3), never held in memory.
 *
 * RFC 7959 §2.5 lets a server tell one body's blocks from another's by
 * the endpoint, the request target and the Request-Tag (RFC 9175 §3),
 * not by the token, which a client may change per block: those three are
 * the key of an upload here.  Block 0 starts a body (dropping one with
 * the same key); a later block continues it at its offset; the last one
 * moves the file into place (fileserver_put.c).  At most max_uploads run
 * at once (FS_MAX_UPLOADS_PER_PEER from one endpoint); one idle for
 * timeout_ms is abandoned and its temporary file removed.
 */
#include "fileserver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

typedef struct upload {
  struct upload *next;
  uint8_t *key;
  size_t key_len;
  struct sockaddr_in6 peer;
  int parent_fd;
  int fd;
  char tmp_name[sizeof FS_TEMP_PREFIX + 16];
  uint64_t received; /* bytes from offset 0 written without a gap */
  uint64_t deadline; /* uv_now */
} upload;

struct fs_uploads {
  fileserver *fs;
  upload *head;
  size_t n, max;
  uint32_t timeout_ms;
  uv_timer_t timer;
};

static bool same_peer(const struct sockaddr_in6 *a,
                      const struct sockaddr_in6 *b) {
  return a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id &&
         memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
}

/* remote, path, and Request-Tag (absent differs from empty). */
static uint8_t *make_key(const coap_message *request, const fs_path *path,
                         size_t *len) {
  const struct sockaddr_in6 *a = &request->remote.addr;
  const uint8_t *tag = NULL;
  size_t tag_len = 0;
  bool has_tag =
      coap_options_get_request_tag(&request->opt, &tag, &tag_len) == 0;
  size_t plen = strlen(path->rel);
  size_t n = sizeof a->sin6_addr + sizeof a->sin6_port +
             sizeof a->sin6_scope_id + plen + 2 + tag_len;
  uint8_t *k = malloc(n);
  if (k == NULL)
    return NULL;
  uint8_t *p = k;
  memcpy(p, &a->sin6_addr, sizeof a->sin6_addr);
  p += sizeof a->sin6_addr;
  memcpy(p, &a->sin6_port, sizeof a->sin6_port);
  p += sizeof a->sin6_port;
  memcpy(p, &a->sin6_scope_id, sizeof a->sin6_scope_id);
  p += sizeof a->sin6_scope_id;
  memcpy(p, path->rel, plen + 1);
  p += plen + 1;
  *p++ = has_tag;
  if (tag_len > 0)
    memcpy(p, tag, tag_len);
  *len = n;
  return k;
}

static upload *find(fs_uploads *ups, const uint8_t *key, size_t len) {
  for (upload *u = ups->head; u != NULL; u = u->next)
    if (u->key_len == len && memcmp(u->key, key, len) == 0)
      return u;
  return NULL;
}

static void unlink_upload(fs_uploads *ups, upload *u) {
  for (upload **pp = &ups->head; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == u) {
      *pp = u->next;
      ups->n--;
      break;
    }
  }
  if (ups->head == NULL)
    uv_timer_stop(&ups->timer);
}

/* Forgets u; its temporary file is removed unless committed. */
static void drop(fs_uploads *ups, upload *u, bool remove_file) {
  unlink_upload(ups, u);
  if (remove_file)
    unlinkat(u->parent_fd, u->tmp_name, 0);
  close(u->fd);
  close(u->parent_fd);
  free(u->key);
  free(u);
}

static void on_expiry(uv_timer_t *timer) {
  fs_uploads *ups = timer->data;
  uint64_t now = uv_now(ups->fs->loop);
  upload *u = ups->head;
  while (u != NULL) {
    upload *next = u->next;
    if (u->deadline <= now) {
      fs_log(ups->fs, 1, "upload abandoned");
      drop(ups, u, true);
    }
    u = next;
  }
}

static size_t peer_count(const fs_uploads *ups,
                         const struct sockaddr_in6 *peer) {
  size_t n = 0;
  for (const upload *u = ups->head; u != NULL; u = u->next)
    n += same_peer(&u->peer, peer);
  return n;
}

/* A new temporary file in parent_fd: the fd or -errno. */
static int make_temp(int parent_fd, char *name, size_t cap) {
  for (int tries = 0; tries < 16; tries++) {
    uint64_t r;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
      r = (uint64_t)rand() << 32 ^ (uint64_t)rand();
    snprintf(name, cap, "%s%016llx", FS_TEMP_PREFIX, (unsigned long long)r);
    int fd = openat(parent_fd, name,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST)
      return fd < 0 ? -errno : fd;
  }
  return -EEXIST;
}

static int pwrite_full(int fd, const uint8_t *data, size_t len,
                       uint64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, data + done, len - done, (off_t)(offset + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    done += (size_t)n;
  }
  return 0;
}

static void answer_continue(coap_message *response, const coap_block *b) {
  coap_block ack = *b;
  ack.more = true;
  response->code = COAP_CODE_CONTINUE;
  coap_options_set_block1(&response->opt, &ack);
}

static void answer_too_large(coap_message *response) {
  fs_answer(response, COAP_CODE_REQUEST_ENTITY_TOO_LARGE, "Body too large");
  /* RFC 7959 §4: Size1 in a 4.13 tells how large a body may be. */
  coap_options_set_size1(&response->opt, (uint32_t)FS_MAX_UPLOAD_BYTES);
}

static void answer_busy(const fs_uploads *ups, coap_message *response) {
  fs_answer(response, COAP_CODE_SERVICE_UNAVAILABLE, "Too many uploads");
  coap_options_set_max_age(&response->opt, (ups->timeout_ms + 999) / 1000);
}

/* The body ends with this block: truncate, then move into place and
 * answer through *later.  Takes ownership of parent_fd and fd. */
static void finish(fs_uploads *ups, const coap_message *request,
                   const fs_path *path, int parent_fd, int fd,
                   const char *tmp_name, uint64_t end, bool blockwise,
                   const coap_block *b, coap_message *response,
                   coap_future **later) {
  if (ftruncate(fd, (off_t)end) < 0) {
    fs_answer_errno(response, -errno);
    unlinkat(parent_fd, tmp_name, 0);
    close(fd);
    close(parent_fd);
    return;
  }
  /* RFC 7959 §2.3: the response to the last block names it. */
  fs_commit_later(ups->fs, request, path, parent_fd, fd, tmp_name,
                  blockwise ? b : NULL, response, later);
}

/* Whether block 0 (or a whole body) may start an upload: 0, or -1 with
 * response filled in. */
static int admit(const fs_uploads *ups, const coap_message *request,
                 const coap_block *b, coap_message *response) {
  uint32_t size1;
  if (coap_options_get_size1(&request->opt, &size1) == 0 &&
      size1 > FS_MAX_UPLOAD_BYTES) {
    answer_too_large(response);
    return -1;
  }
  if (b->more && request->payload_len != coap_block_size(b->szx)) {
    fs_answer(response, COAP_CODE_BAD_REQUEST, "Block of the wrong size");
    return -1;
  }
  if (b->more &&
      (ups->n >= ups->max ||
       peer_count(ups, &request->remote.addr) >= FS_MAX_UPLOADS_PER_PEER)) {
    answer_busy(ups, response);
    return -1;
  }
  return 0;
}

/* The temporary file of a new body in the target's directory, with the
 * first block written: fills *parent_fd, *fd and tmp_name and returns 0,
 * or -1 with response filled in and nothing left open. */
static int open_body(fs_uploads *ups, const coap_message *request,
                     const fs_path *path, int *parent_fd, int *fd,
                     char *tmp_name, size_t tmp_cap, coap_message *response) {
  *parent_fd = fs_open_parent(ups->fs, path);
  if (*parent_fd < 0) {
    fs_answer_errno(response, *parent_fd);
    return -1;
  }
  const char *name = path->rel + path->name_off;
  struct stat st;
  if (fstatat(*parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISDIR(st.st_mode)) {
    fs_answer(response, COAP_CODE_BAD_REQUEST,
              "Error: Not a file (cannot write a directory)");
    goto fail;
  }
  /* Early, so that a body bound to fail is not uploaded at all; the
   * check that counts is the one at the rename. */
  if (fs_check_preconditions(ups->fs, request, *parent_fd, name, response) < 0)
    goto fail;
  *fd = make_temp(*parent_fd, tmp_name, tmp_cap);
  if (*fd < 0) {
    fs_answer_errno(response, *fd);
    goto fail;
  }
  int rc = pwrite_full(*fd, request->payload, request->payload_len, 0);
  if (rc < 0) {
    fs_answer_errno(response, rc);
    close(*fd);
    unlinkat(*parent_fd, tmp_name, 0);
    goto fail;
  }
  return 0;
fail:
  close(*parent_fd);
  return -1;
}

/* Block 0, or a body in one request.  Takes ownership of key. */
static void start(fs_uploads *ups, const coap_message *request,
                  const fs_path *path, uint8_t *key, size_t key_len,
                  const coap_block *b, bool blockwise, coap_message *response,
                  coap_future **later) {
  int parent_fd, fd;
  char tmp_name[sizeof FS_TEMP_PREFIX + 16];
  if (admit(ups, request, b, response) < 0 ||
      open_body(ups, request, path, &parent_fd, &fd, tmp_name, sizeof tmp_name,
                response) < 0) {
    free(key);
    return;
  }
  if (!b->more) {
    free(key);
    finish(ups, request, path, parent_fd, fd, tmp_name, request->payload_len,
           blockwise, b, response, later);
    return;
  }
  upload *u = calloc(1, sizeof *u);
  if (u == NULL) {
    free(key);
    close(fd);
    unlinkat(parent_fd, tmp_name, 0);
    close(parent_fd);
    fs_answer(response, COAP_CODE_INTERNAL_SERVER_ERROR, "Out of memory");
    return;
  }
  u->key = key;
  u->key_len = key_len;
  u->peer = request->remote.addr;
  u->parent_fd = parent_fd;
  u->fd = fd;
  memcpy(u->tmp_name, tmp_name, sizeof tmp_name);
  u->received = request->payload_len;
  u->deadline = uv_now(ups->fs->loop) + ups->timeout_ms;
  u->next = ups->head;
  ups->head = u;
  ups->n++;
  if (!uv_is_active((uv_handle_t *)&ups->timer)) {
    uint64_t every = ups->timeout_ms < 1000 ? ups->timeout_ms : 1000;
    uv_timer_start(&ups->timer, on_expiry, every, every);
  }
  answer_continue(response, b);
}

/* A block after the first. */
static void proceed(fs_uploads *ups, const coap_message *request,
                    const fs_path *path, upload *u, const coap_block *b,
                    coap_message *response, coap_future **later) {
  size_t block = coap_block_size(b->szx);
  uint64_t offset = (uint64_t)b->num * block;
  uint64_t end = offset + request->payload_len;
  if (offset > u->received) {
    /* RFC 7959 §2.3: a block missing before this one. */
    drop(ups, u, true);
    fs_answer(response, COAP_CODE_REQUEST_ENTITY_INCOMPLETE,
              "Block missing before this one");
    return;
  }
  if (b->more && request->payload_len != block) {
    drop(ups, u, true);
    fs_answer(response, COAP_CODE_BAD_REQUEST, "Block of the wrong size");
    return;
  }
  if (end > FS_MAX_UPLOAD_BYTES) {
    drop(ups, u, true);
    answer_too_large(response);
    return;
  }
  int rc = pwrite_full(u->fd, request->payload, request->payload_len, offset);
  if (rc < 0) {
    drop(ups, u, true);
    fs_answer_errno(response, rc);
    return;
  }
  if (end > u->received)
    u->received = end;
  u->deadline = uv_now(ups->fs->loop) + ups->timeout_ms;
  if (b->more) {
    answer_continue(response, b);
    return;
  }
  unlink_upload(ups, u);
  finish(ups, request, path, u->parent_fd, u->fd, u->tmp_name, end, true, b,
         response, later);
  free(u->key);
  free(u);
}

int fs_upload_block(fs_uploads *ups, const coap_message *request,
                    const fs_path *path, coap_message *response,
                    coap_future **later) {
  coap_block b = {.num = 0, .more = false, .szx = FS_MAX_SZX};
  bool blockwise = coap_options_get_block1(&request->opt, &b) == 0;
  size_t key_len;
  uint8_t *key = make_key(request, path, &key_len);
  if (key == NULL) {
    fs_answer(response, COAP_CODE_INTERNAL_SERVER_ERROR, "Out of memory");
    return 0;
  }
  upload *u = find(ups, key, key_len);
  if (b.num == 0) {
    /* A new body: one still collected under the key is given up. */
    if (u != NULL)
      drop(ups, u, true);
    start(ups, request, path, key, key_len, &b, blockwise, response, later);
    return 0;
  }
  free(key);
  if (u == NULL) {
    fs_answer(response, COAP_CODE_REQUEST_ENTITY_INCOMPLETE,
              "No upload in progress");
    return 0;
  }
  proceed(ups, request, path, u, &b, response, later);
  return 0;
}

int fs_uploads_new(fileserver *fs, size_t max_uploads, uint32_t timeout_ms,
                   fs_uploads **out) {
  fs_uploads *ups = calloc(1, sizeof *ups);
  if (ups == NULL)
    return COAP_ENOMEM;
  ups->fs = fs;
  ups->max = max_uploads;
  ups->timeout_ms = timeout_ms;
  uv_timer_init(fs->loop, &ups->timer);
  ups->timer.data = ups;
  *out = ups;
  return 0;
}

static void on_timer_closed(uv_handle_t *handle) {
  free(handle->data);
}

void fs_uploads_close(fs_uploads *ups) {
  if (ups == NULL)
    return;
  while (ups->head != NULL)
    drop(ups, ups->head, true);
  uv_close((uv_handle_t *)&ups->timer, on_timer_closed);
}
