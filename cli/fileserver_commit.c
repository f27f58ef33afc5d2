/*
 * aiocoap-fileserver: the end of a PUT body (fileserver.h).  The data must
 * reach the disk before the name does, so that a crash leaves the old
 * file or the new one; fsync of a large file can take a while, so it runs
 * on libuv's thread pool and the answer goes later (as a separate
 * response when it takes longer than EMPTY_ACK_DELAY), while the loop
 * keeps serving everybody else.
 */
#include "fileserver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  uv_fs_t req;
  fileserver *fs;
  /* Valid until the future completes (coap_render_fn). */
  const coap_message *request;
  coap_future *future;
  int parent_fd, tmp_fd;
  char tmp_name[sizeof FS_TEMP_PREFIX + 16];
  bool has_block1;
  coap_block block1;
  fs_path path;
} commit;

static void on_synced(uv_fs_t *req) {
  commit *c = req->data;
  int result = (int)req->result;
  uv_fs_req_cleanup(req);
  coap_message *response = NULL;
  if (coap_future_done(c->future)) {
    /* Cancelled (the context shut down): nobody waits for the answer,
     * and the request may be gone. */
    unlinkat(c->parent_fd, c->tmp_name, 0);
  } else if (coap_message_new(&response) < 0) {
    unlinkat(c->parent_fd, c->tmp_name, 0);
    coap_future_fail(c->future, COAP_ENOMEM, NULL, NULL);
  } else {
    if (result < 0) {
      fs_answer_errno(response, result);
      unlinkat(c->parent_fd, c->tmp_name, 0);
    } else {
      fs_put_commit(c->fs, c->request, &c->path, c->parent_fd, c->tmp_fd,
                    c->tmp_name, response);
    }
    if (c->has_block1)
      coap_options_set_block1(&response->opt, &c->block1);
    coap_future_resolve(c->future, response, coap_message_free_result);
  }
  close(c->tmp_fd);
  close(c->parent_fd);
  coap_future_unref(c->future);
  free(c);
}

int fs_commit_later(fileserver *fs, const coap_message *request,
                    const fs_path *path, int parent_fd, int tmp_fd,
                    const char *tmp_name, const coap_block *block1,
                    coap_message *response, coap_future **later) {
  commit *c = malloc(sizeof *c);
  int rc = c == NULL ? COAP_ENOMEM : coap_future_new(fs->loop, &c->future);
  if (rc == 0) {
    c->fs = fs;
    c->request = request;
    c->parent_fd = parent_fd;
    c->tmp_fd = tmp_fd;
    snprintf(c->tmp_name, sizeof c->tmp_name, "%s", tmp_name);
    c->has_block1 = block1 != NULL;
    if (block1 != NULL)
      c->block1 = *block1;
    memcpy(&c->path, path, sizeof *path);
    c->req.data = c;
    rc = uv_fs_fsync(fs->loop, &c->req, tmp_fd, on_synced);
    if (rc == 0) {
      *later = coap_future_ref(c->future);
      return 0;
    }
    coap_future_unref(c->future);
  }
  free(c);
  unlinkat(parent_fd, tmp_name, 0);
  close(tmp_fd);
  close(parent_fd);
  fs_answer(response, COAP_CODE_INTERNAL_SERVER_ERROR, "Internal error");
  return 0;
}
