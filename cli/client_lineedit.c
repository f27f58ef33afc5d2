/*
 * The interactive prompt's line editor: libedit's readline callback
 * interface (rl_callback_handler_install / rl_callback_read_char) driven
 * by a uv_poll on stdin, so the loop keeps running requests while the user
 * types; lines go into the history.
 */
#include "client.h"

#include <editline/readline.h>
#include <stdlib.h>
#include <unistd.h>

const bool client_lineedit_available = true;

/* readline's callback interface keeps one global state; so does this. */
static struct {
  uv_poll_t poll;
  client_line_cb cb;
  void *user_data;
  bool active;
} editor;

static void on_line(char *line) {
  if (line == NULL) {
    /* End of input (Ctrl-D): no more prompts. */
    client_lineedit_stop();
    editor.cb(NULL, editor.user_data);
    return;
  }
  if (line[0] != '\0')
    add_history(line);
  editor.cb(line, editor.user_data);
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)poll;
  (void)events;
  if (status < 0) {
    client_lineedit_stop();
    editor.cb(NULL, editor.user_data);
    return;
  }
  rl_callback_read_char();
}

int client_lineedit_start(uv_loop_t *loop, const char *prompt,
                          client_line_cb cb, void *user_data) {
  editor.cb = cb;
  editor.user_data = user_data;
  int rc = uv_poll_init(loop, &editor.poll, STDIN_FILENO);
  if (rc < 0)
    return rc;
  rc = uv_poll_start(&editor.poll, UV_READABLE, on_readable);
  if (rc < 0) {
    uv_close((uv_handle_t *)&editor.poll, NULL);
    return rc;
  }
  /* libuv handles SIGINT (it stops the running requests). */
  rl_catch_signals = 0;
  rl_callback_handler_install(prompt, on_line);
  editor.active = true;
  return 0;
}

void client_lineedit_stop(void) {
  if (!editor.active)
    return;
  editor.active = false;
  rl_callback_handler_remove();
  uv_poll_stop(&editor.poll);
  uv_close((uv_handle_t *)&editor.poll, NULL);
}
