/*
 * aiocoap-fileserver: Observe (RFC 7641) of files and directories through
 * uv_fs_event (inotify), not polling.
 *
 * One watch per directory that something below is observed in: an
 * observed file is watched through its parent (so that a file replaced
 * by rename, as our PUT and most editors do, stays watched by name), an
 * observed directory through itself.  An event for a name marks that
 * name's observers; an entry appearing, going or being renamed marks the
 * directory's own observers too.  Marked observers are notified once per
 * FS_WATCH_COALESCE_MS, so a file written in many pieces gives one
 * notification, not hundreds.  Each notification is rendered afresh
 * (coap_server_observation_trigger with NULL), so a deleted file answers
 * 4.04 and that ends its observation, and nobody else's.
 */
#include "fileserver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct watch watch;

typedef struct observer {
  struct observer *next;
  watch *watch;
  char *name; /* the file's name in the directory; NULL: the directory */
  coap_server_observation *obs;
  bool dirty;
} observer;

struct watch {
  watch *next;
  fs_watches *owner;
  uv_fs_event_t handle;
  char *rel_dir;
  const char *base; /* into rel_dir or the root path: what self-events name */
  observer *observers;
};

struct fs_watches {
  fileserver *fs;
  watch *head;
  uv_timer_t flush;
};

static bool is_temp(const char *name) {
  return strncmp(name, FS_TEMP_PREFIX, sizeof FS_TEMP_PREFIX - 1) == 0;
}

static void on_flush(uv_timer_t *timer) {
  fs_watches *w = timer->data;
  for (watch *wt = w->head; wt != NULL; wt = wt->next) {
    for (observer *o = wt->observers; o != NULL; o = o->next) {
      if (!o->dirty)
        continue;
      o->dirty = false;
      /* Never calls back synchronously (aiocoap.h), so the lists stay
       * as they are while this loop runs. */
      coap_server_observation_trigger(o->obs, NULL);
    }
  }
}

static void mark(watch *wt, observer *o) {
  o->dirty = true;
  uv_timer_t *t = &wt->owner->flush;
  if (!uv_is_active((uv_handle_t *)t))
    uv_timer_start(t, on_flush, FS_WATCH_COALESCE_MS, 0);
}

static void on_event(uv_fs_event_t *handle, const char *filename, int events,
                     int status) {
  watch *wt = handle->data;
  /* libuv names the watched directory itself for its own events (deleted,
   * moved): then everything below may have changed. */
  bool all = status < 0 || filename == NULL ||
             ((events & UV_RENAME) && strcmp(filename, wt->base) == 0);
  if (!all && is_temp(filename))
    return;
  fs_log(wt->owner->fs, 2, "change in /%s: %s", wt->rel_dir,
         filename ? filename : "(itself)");
  for (observer *o = wt->observers; o != NULL; o = o->next) {
    if (all || (o->name != NULL && strcmp(o->name, filename) == 0) ||
        (o->name == NULL && (events & UV_RENAME)))
      mark(wt, o);
  }
}

static void on_watch_closed(uv_handle_t *handle) {
  watch *wt = handle->data;
  free(wt->rel_dir);
  free(wt);
}

static void watch_close(fs_watches *w, watch *wt) {
  for (watch **pp = &w->head; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == wt) {
      *pp = wt->next;
      break;
    }
  }
  uv_fs_event_stop(&wt->handle);
  uv_close((uv_handle_t *)&wt->handle, on_watch_closed);
}

static watch *watch_get(fs_watches *w, const char *rel_dir, size_t len) {
  for (watch *wt = w->head; wt != NULL; wt = wt->next)
    if (strlen(wt->rel_dir) == len && memcmp(wt->rel_dir, rel_dir, len) == 0)
      return wt;
  watch *wt = calloc(1, sizeof *wt);
  if (wt == NULL)
    return NULL;
  wt->rel_dir = strndup(rel_dir, len);
  const char *root = w->fs->root_path;
  size_t full_len = strlen(root) + 1 + len + 1;
  char *full = malloc(full_len);
  if (wt->rel_dir == NULL || full == NULL) {
    free(full);
    free(wt->rel_dir);
    free(wt);
    return NULL;
  }
  snprintf(full, full_len, "%s%s%s", root, len > 0 ? "/" : "", wt->rel_dir);
  const char *slash = strrchr(wt->rel_dir, '/');
  wt->base = slash ? slash + 1 : wt->rel_dir;
  if (len == 0) {
    slash = strrchr(root, '/');
    wt->base = slash && slash[1] ? slash + 1 : root;
  }
  wt->owner = w;
  uv_fs_event_init(w->fs->loop, &wt->handle);
  wt->handle.data = wt;
  int rc = uv_fs_event_start(&wt->handle, on_event, full, 0);
  free(full);
  if (rc < 0) {
    fs_log(w->fs, 1, "cannot watch /%s: %s", wt->rel_dir, uv_strerror(rc));
    uv_close((uv_handle_t *)&wt->handle, on_watch_closed);
    return NULL;
  }
  wt->next = w->head;
  w->head = wt;
  return wt;
}

static void on_observation_ended(coap_server_observation *observation,
                                 void *user_data) {
  (void)observation;
  observer *o = user_data;
  watch *wt = o->watch;
  for (observer **pp = &wt->observers; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == o) {
      *pp = o->next;
      break;
    }
  }
  free(o->name);
  free(o);
  if (wt->observers == NULL)
    watch_close(wt->owner, wt);
}

void fs_watch_add_observation(fs_watches *w, const coap_message *request,
                              coap_server_observation *observation) {
  coap_message scratch;
  coap_message_init(&scratch);
  fs_path *path = malloc(sizeof *path);
  if (path == NULL)
    return;
  int rc = fs_path_parse(request, &scratch, path);
  coap_message_clear(&scratch);
  if (rc < 0)
    goto done; /* answered 4.00 without Observe */
  size_t dir_len = path->dir ? strlen(path->rel) : path->parent_len;
  watch *wt = watch_get(w, path->rel, dir_len);
  if (wt == NULL)
    goto done; /* served without Observe */
  observer *o = calloc(1, sizeof *o);
  if (o != NULL && !path->dir) {
    o->name = strdup(path->rel + path->name_off);
    if (o->name == NULL) {
      free(o);
      o = NULL;
    }
  }
  if (o == NULL || coap_server_observation_accept(
                       observation, on_observation_ended, o) < 0) {
    if (o != NULL)
      free(o->name);
    free(o);
    if (wt->observers == NULL)
      watch_close(w, wt);
    goto done;
  }
  o->watch = wt;
  o->obs = observation;
  o->next = wt->observers;
  wt->observers = o;
done:
  free(path);
}

int fs_watches_new(fileserver *fs, fs_watches **out) {
  fs_watches *w = calloc(1, sizeof *w);
  if (w == NULL)
    return COAP_ENOMEM;
  w->fs = fs;
  uv_timer_init(fs->loop, &w->flush);
  w->flush.data = w;
  *out = w;
  return 0;
}

static void on_flush_closed(uv_handle_t *handle) {
  free(handle->data);
}

void fs_watches_close(fs_watches *w) {
  if (w == NULL)
    return;
  /* Observations still open (none once the context has shut down): their
   * end callbacks will not come, so free them here. */
  while (w->head != NULL) {
    watch *wt = w->head;
    while (wt->observers != NULL) {
      observer *o = wt->observers;
      wt->observers = o->next;
      free(o->name);
      free(o);
    }
    watch_close(w, wt);
  }
  uv_close((uv_handle_t *)&w->flush, on_flush_closed);
}
