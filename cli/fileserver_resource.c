/*
 * aiocoap-fileserver: the one resource, path-capable at "/", that serves
 * the whole tree (aiocoap's FileServer).  It declares no get_etag and no
 * content formats, so every condition (ETag, If-Match, If-None-Match,
 * Accept) reaches it and is evaluated against the file itself, at the
 * moment it is used (fileserver.h).
 */
#include "fileserver.h"

#include <stdlib.h>
#include <string.h>

/*
 * RFC 7959 handled here for files: GET reads the block asked for, PUT
 * writes each block as it comes.  Directory listings are made whole and
 * left to the library to slice, as aiocoap does.
 */
static bool fs_needs_blockwise(coap_resource *resource,
                               const coap_message *request) {
  (void)resource;
  if (request->code != COAP_CODE_GET && request->code != COAP_CODE_FETCH)
    return false;
  size_t n = coap_options_count_of(&request->opt, COAP_OPT_URI_PATH);
  if (n == 0)
    return true;
  const coap_option *last =
      coap_options_get_nth(&request->opt, COAP_OPT_URI_PATH, n - 1);
  return last->len == 0;
}

static int fs_render(coap_resource *resource, coap_message *request,
                     coap_message *response, coap_future **later) {
  fileserver *fs = resource->user_data;
  fs_path *path = malloc(sizeof *path);
  if (path == NULL)
    return COAP_ENOMEM;
  if (fs_path_parse(request, response, path) == 0) {
    switch (request->code) {
    case COAP_CODE_GET:
      fs_get(fs, request, path, response);
      break;
    case COAP_CODE_PUT:
      fs_put(fs, request, path, response, later);
      break;
    case COAP_CODE_DELETE:
      fs_delete(fs, request, path, response);
      break;
    default:
      fs_answer(response, COAP_CODE_METHOD_NOT_ALLOWED, "Method not allowed");
      break;
    }
  }
  free(path);
  return 0;
}

static void fs_add_observation(coap_resource *resource,
                               const coap_message *request,
                               coap_server_observation *observation) {
  fileserver *fs = resource->user_data;
  if (request->code == COAP_CODE_GET)
    fs_watch_add_observation(fs->watches, request, observation);
}

static const coap_resource_vtable fs_vtable = {
    .render = fs_render,
    .needs_blockwise_assembly = fs_needs_blockwise,
    .add_observation = fs_add_observation,
};

int fs_resource_new(fileserver *fs, coap_resource **out) {
  coap_resource *res;
  int rc = coap_resource_new(&fs_vtable, fs, &res);
  if (rc < 0)
    return rc;
  coap_resource_set_path_capable(res, true);
  /* aiocoap's get_resources_as_linkheader: the tree's root, with the
   * kitchen-sink file service's resource type. */
  coap_link_attributes attrs = {
      .ct = "40", .rt = "tag:chrysn@fsfe.org,2022:fileserver", .sz = -1};
  rc = coap_resource_set_link_attributes(res, &attrs);
  if (rc < 0) {
    coap_resource_unref(res);
    return rc;
  }
  *out = res;
  return 0;
}
