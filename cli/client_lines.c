/*
 * Lines for the interactive prompt: from the line editor when stdin is a
 * terminal and libedit is built in, otherwise as they are read, from a
 * pipe or terminal (a libuv stream) or a file (uv_fs_read), so that
 * `printf 'URL\nexit\n' | aiocoap-client --interactive` works.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A longer line is dropped with a message. */
#define LINE_MAX_BYTES (1u << 20)
#define READ_CHUNK 65536

struct client_lines {
  uv_loop_t *loop;
  client_line_cb cb;
  void *user_data;
  bool edit;
  bool stopped;
  bool ended;
  bool closing;
  bool is_file;
  bool is_tty;
  const char *prompt;
  union {
    uv_pipe_t pipe;
    uv_tty_t tty;
  } stream;
  uv_fs_t fs;
  bool fs_pending;
  bool in_callback; /* on_fs_read is delivering: it frees after */
  int64_t file_offset;
  char chunk[READ_CHUNK];
  char *line;
  size_t len, cap;
  bool overlong;
};

static void deliver(client_lines *l) {
  if (l->overlong) {
    fprintf(stderr, "aiocoap-client: line longer than %u bytes ignored\n",
            LINE_MAX_BYTES);
    l->overlong = false;
    l->len = 0;
    return;
  }
  if (l->len > 0 && l->line[l->len - 1] == '\r')
    l->len--;
  char *copy = malloc(l->len + 1);
  if (copy == NULL)
    return;
  memcpy(copy, l->line, l->len);
  copy[l->len] = '\0';
  l->len = 0;
  l->cb(copy, l->user_data);
  client_lines_redisplay(l);
}

static void take(client_lines *l, const char *data, size_t n) {
  for (size_t i = 0; i < n && !l->stopped; i++) {
    if (data[i] == '\n') {
      deliver(l);
      continue;
    }
    if (l->overlong)
      continue;
    if (l->len + 1 > l->cap) {
      size_t cap = l->cap ? l->cap * 2 : 256;
      char *grown = cap > LINE_MAX_BYTES ? NULL : realloc(l->line, cap);
      if (grown == NULL) {
        l->overlong = true;
        continue;
      }
      l->line = grown;
      l->cap = cap;
    }
    l->line[l->len++] = data[i];
  }
}

static void end_of_input(client_lines *l) {
  if (l->ended)
    return;
  l->ended = true;
  if (!l->stopped && (l->len > 0 || l->overlong))
    deliver(l);
  if (!l->stopped)
    l->cb(NULL, l->user_data);
}

static void alloc_chunk(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  client_lines *l = handle->data;
  (void)suggested;
  *buf = uv_buf_init(l->chunk, sizeof l->chunk);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  client_lines *l = stream->data;
  if (n > 0)
    take(l, buf->base, (size_t)n);
  else if (n < 0) {
    uv_read_stop(stream);
    end_of_input(l);
  }
}

static void read_file_chunk(client_lines *l);
static void free_on_close(uv_handle_t *handle);

static void on_fs_read(uv_fs_t *req) {
  client_lines *l = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  l->fs_pending = false;
  if (!l->stopped) {
    l->in_callback = true;
    if (n > 0) {
      l->file_offset += n;
      take(l, l->chunk, (size_t)n);
    } else {
      end_of_input(l);
    }
    l->in_callback = false;
    if (!l->stopped && n > 0)
      read_file_chunk(l);
  }
  if (l->closing && !l->fs_pending) {
    free(l->line);
    free(l);
  }
}

static void read_file_chunk(client_lines *l) {
  uv_buf_t buf = uv_buf_init(l->chunk, sizeof l->chunk);
  l->fs.data = l;
  if (uv_fs_read(l->loop, &l->fs, STDIN_FILENO, &buf, 1, l->file_offset,
                 on_fs_read) == 0)
    l->fs_pending = true;
  else
    end_of_input(l);
}

int client_lines_start(uv_loop_t *loop, const char *prompt, client_line_cb cb,
                       void *user_data, client_lines **out) {
  client_lines *l = calloc(1, sizeof *l);
  if (l == NULL)
    return COAP_ENOMEM;
  l->loop = loop;
  l->prompt = prompt;
  l->cb = cb;
  l->user_data = user_data;
  *out = l;
  uv_handle_type type = uv_guess_handle(STDIN_FILENO);
  if (type == UV_TTY && client_lineedit_available &&
      client_lineedit_start(loop, prompt, cb, user_data) == 0) {
    l->edit = true;
    return 0;
  }
  int rc;
  if (type == UV_TTY) {
    l->is_tty = true;
    rc = uv_tty_init(loop, &l->stream.tty, STDIN_FILENO, 1);
  } else if (type == UV_NAMED_PIPE) {
    rc = uv_pipe_init(loop, &l->stream.pipe, 0);
  } else {
    l->is_file = true;
    read_file_chunk(l);
    return 0;
  }
  if (rc < 0) { /* no handle was made */
    free(l);
    return rc;
  }
  l->stream.pipe.data = l;
  if (type == UV_NAMED_PIPE)
    rc = uv_pipe_open(&l->stream.pipe, STDIN_FILENO);
  if (rc == 0)
    rc = uv_read_start((uv_stream_t *)&l->stream.pipe, alloc_chunk, on_read);
  if (rc < 0) {
    l->stopped = l->closing = true;
    uv_close((uv_handle_t *)&l->stream.pipe, free_on_close);
    return rc;
  }
  if (type == UV_TTY) {
    fputs(prompt, stdout);
    fflush(stdout);
  }
  return 0;
}

void client_lines_redisplay(client_lines *l) {
  if (l == NULL || l->stopped)
    return;
  if (!l->edit && l->is_tty) {
    fputs(l->prompt, stdout);
    fflush(stdout);
  }
}

static void free_on_close(uv_handle_t *handle) {
  client_lines *l = handle->data;
  free(l->line);
  free(l);
}

void client_lines_stop(client_lines *l) {
  if (l == NULL || l->closing)
    return;
  l->stopped = true;
  l->closing = true;
  if (l->edit) {
    client_lineedit_stop();
    free(l);
  } else if (l->is_file) {
    /* A read in flight (cancelled if it has not started) or a delivery
     * going on frees it when done. */
    if (l->fs_pending)
      uv_cancel((uv_req_t *)&l->fs);
    else if (!l->in_callback) {
      free(l->line);
      free(l);
    }
  } else {
    uv_close((uv_handle_t *)&l->stream.pipe, free_on_close);
  }
}
