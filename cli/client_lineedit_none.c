/*
 * The interactive prompt without libedit (not found at build time): lines
 * are read as they come, without editing or history.
 */
#include "client.h"

const bool client_lineedit_available = false;

int client_lineedit_start(uv_loop_t *loop, const char *prompt,
                          client_line_cb cb, void *user_data) {
  (void)loop;
  (void)prompt;
  (void)cb;
  (void)user_data;
  return -1;
}

void client_lineedit_stop(void) {}
