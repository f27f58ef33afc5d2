/*
 * aiocoap-fileserver: PUT and DELETE, and their preconditions (RFC 7252
 * §5.10.8).
 *
 * A PUT never changes the file in place: the body goes to a temporary
 * file in the same directory, which is renamed over the name at the end,
 * so readers see the old file or the new one, never half of it.  The
 * preconditions are evaluated at that moment with the current file open
 * and flock()ed, and the name checked to still be that file, so two
 * servers (or any program taking the same lock) cannot both win an
 * If-Match; If-None-Match is the rename itself refusing to replace
 * (renameat2 RENAME_NOREPLACE, or link(2) where the file system lacks it).
 */
#include "fileserver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The file a name refers to now: fd (locked; -1 for a symlink, which is
 * replaced rather than followed) and its stat. */
typedef struct {
  bool exists;
  int fd;
  struct stat st;
} target;

static void target_release(target *t) {
  if (t->fd >= 0)
    close(t->fd); /* drops the flock */
  t->fd = -1;
}

/* 0, or -1 with response filled in. */
static int target_lock(int parent_fd, const char *name, target *t,
                       coap_message *response) {
  t->exists = false;
  t->fd = openat(parent_fd, name,
                 O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
  if (t->fd < 0) {
    if (errno == ENOENT)
      return 0;
    if (errno != ELOOP) {
      fs_answer_errno(response, -errno);
      return -1;
    }
    /* A symlink: its own stat stands for it. */
    if (fstatat(parent_fd, name, &t->st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT)
        return 0;
      fs_answer_errno(response, -errno);
      return -1;
    }
    t->exists = true;
    return 0;
  }
  if (flock(t->fd, LOCK_EX | LOCK_NB) < 0) {
    target_release(t);
    response->code = COAP_CODE_SERVICE_UNAVAILABLE;
    coap_options_set_max_age(&response->opt, 1);
    coap_message_set_payload_string(response, "File busy");
    return -1;
  }
  if (fstat(t->fd, &t->st) < 0) {
    fs_answer_errno(response, -errno);
    target_release(t);
    return -1;
  }
  t->exists = true;
  return 0;
}

/* The name still refers to the file locked (or to nothing, as before)? */
static bool target_current(int parent_fd, const char *name, const target *t) {
  struct stat now;
  if (fstatat(parent_fd, name, &now, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT && !t->exists;
  return t->exists && now.st_dev == t->st.st_dev && now.st_ino == t->st.st_ino;
}

static bool has_conditions(const coap_message *request) {
  return coap_options_has(&request->opt, COAP_OPT_IF_MATCH) ||
         coap_options_has(&request->opt, COAP_OPT_IF_NONE_MATCH);
}

bool fs_conditions_hold(const fileserver *fs, const coap_message *request,
                        bool exists, const struct stat *st) {
  if (coap_options_has(&request->opt, COAP_OPT_IF_NONE_MATCH) && exists)
    return false;
  if (!coap_options_has(&request->opt, COAP_OPT_IF_MATCH))
    return true;
  /* §5.10.8.1: met when any value is the current ETag, or empty while
   * the resource exists; never for an absent one. */
  if (!exists)
    return false;
  uint8_t etag[COAP_ETAG_MAX_LENGTH];
  size_t len = fs_etag(fs, st, etag);
  for (size_t i = 0;; i++) {
    const coap_option *o =
        coap_options_get_nth(&request->opt, COAP_OPT_IF_MATCH, i);
    if (o == NULL)
      return false;
    if (o->len == 0 ||
        (len > 0 && o->len == len && memcmp(o->value, etag, len) == 0))
      return true;
  }
}

static void answer_precondition_failed(coap_message *response) {
  fs_answer(response, COAP_CODE_PRECONDITION_FAILED, "Precondition failed");
}

int fs_check_preconditions(fileserver *fs, const coap_message *request,
                           int parent_fd, const char *name,
                           coap_message *response) {
  if (!has_conditions(request))
    return 0;
  struct stat st;
  bool exists = fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT) {
    fs_answer_errno(response, -errno);
    return -1;
  }
  if (!fs_conditions_hold(fs, request, exists, &st)) {
    answer_precondition_failed(response);
    return -1;
  }
  return 0;
}

/* Moves from to to in dir, failing with EEXIST if to exists. */
static int rename_noreplace(int dir, const char *from, const char *to) {
  if (renameat2(dir, from, dir, to, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -errno;
  /* A file system without RENAME_NOREPLACE: link(2) never replaces. */
  if (linkat(dir, from, dir, to, 0) < 0)
    return -errno;
  unlinkat(dir, from, 0);
  return 0;
}

void fs_put_commit(fileserver *fs, const coap_message *request,
                   const fs_path *path, int parent_fd, int tmp_fd,
                   const char *tmp_name, coap_message *response) {
  const char *name = path->rel + path->name_off;
  target t = {.fd = -1};
  if (target_lock(parent_fd, name, &t, response) < 0)
    goto fail;
  if (t.exists && S_ISDIR(t.st.st_mode)) {
    fs_answer(response, COAP_CODE_BAD_REQUEST,
              "Error: Not a file (cannot write a directory)");
    goto fail;
  }
  if (has_conditions(request) &&
      (!target_current(parent_fd, name, &t) ||
       !fs_conditions_hold(fs, request, t.exists, &t.st))) {
    answer_precondition_failed(response);
    goto fail;
  }
  /* The file keeps its permission bits; a new one has the umask's (the
   * temporary file was made with 0666 & ~umask).  Never set-user-ID,
   * set-group-ID or sticky: a body from the network must not become a
   * set-user-ID program. */
  if (t.exists && t.fd >= 0)
    fchmod(tmp_fd, t.st.st_mode & 0777);
  int rc;
  if (coap_options_has(&request->opt, COAP_OPT_IF_NONE_MATCH))
    rc = rename_noreplace(parent_fd, tmp_name, name);
  else
    rc = renameat(parent_fd, tmp_name, parent_fd, name) < 0 ? -errno : 0;
  if (rc == -EEXIST) {
    answer_precondition_failed(response);
    goto fail;
  }
  if (rc == -EISDIR) {
    fs_answer(response, COAP_CODE_BAD_REQUEST,
              "Error: Not a file (cannot write a directory)");
    goto fail;
  }
  if (rc < 0) {
    fs_answer_errno(response, rc);
    goto fail;
  }
  bool existed = t.exists;
  target_release(&t);
  struct stat st;
  response->code = existed ? COAP_CODE_CHANGED : COAP_CODE_CREATED;
  uint8_t etag[COAP_ETAG_MAX_LENGTH];
  size_t len = fstat(tmp_fd, &st) == 0 ? fs_etag(fs, &st, etag) : 0;
  if (len > 0)
    coap_options_set_etag(&response->opt, etag, len);
  fs_log(fs, 1, "wrote /%s", path->rel);
  return;
fail:
  target_release(&t);
  unlinkat(parent_fd, tmp_name, 0);
}

int fs_put(fileserver *fs, const coap_message *request, const fs_path *path,
           coap_message *response, coap_future **later) {
  if (!fs->write) {
    fs_answer(response, COAP_CODE_FORBIDDEN, "Writing is not enabled");
    return 0;
  }
  if (path->dir) {
    fs_answer(response, COAP_CODE_BAD_REQUEST,
              "Error: Not a file (cannot write a directory)");
    return 0;
  }
  return fs_upload_block(fs->uploads, request, path, response, later);
}

int fs_delete(fileserver *fs, const coap_message *request, const fs_path *path,
              coap_message *response) {
  if (!fs->write) {
    fs_answer(response, COAP_CODE_FORBIDDEN, "Writing is not enabled");
    return 0;
  }
  if (path->dir) {
    fs_answer(response, COAP_CODE_BAD_REQUEST,
              "Error: Not a file (cannot delete a directory)");
    return 0;
  }
  int parent_fd = fs_open_parent(fs, path);
  if (parent_fd < 0) {
    fs_answer_errno(response, parent_fd);
    return 0;
  }
  const char *name = path->rel + path->name_off;
  target t = {.fd = -1};
  if (target_lock(parent_fd, name, &t, response) < 0)
    goto done;
  if (t.exists && S_ISDIR(t.st.st_mode)) {
    fs_answer(response, COAP_CODE_BAD_REQUEST,
              "Error: Not a file (cannot delete a directory)");
    goto done;
  }
  if (has_conditions(request) &&
      (!target_current(parent_fd, name, &t) ||
       !fs_conditions_hold(fs, request, t.exists, &t.st))) {
    answer_precondition_failed(response);
    goto done;
  }
  if (unlinkat(parent_fd, name, 0) < 0) {
    if (errno == EISDIR)
      fs_answer(response, COAP_CODE_BAD_REQUEST,
                "Error: Not a file (cannot delete a directory)");
    else
      fs_answer_errno(response, -errno);
    goto done;
  }
  response->code = COAP_CODE_DELETED;
  fs_log(fs, 1, "deleted /%s", path->rel);
done:
  target_release(&t);
  close(parent_fd);
  return 0;
}
