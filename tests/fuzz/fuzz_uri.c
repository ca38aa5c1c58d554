/* libFuzzer: object URIs, endpoints and the object URL built from them. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  aisfetch_uri u;
  aisfetch_error e;
  if (aisfetch_uri_parse(s, &u, &e) == AISFETCH_OK) {
    char url[AISF_URL_MAX];
    if (aisf_object_url("http://127.0.0.1:8080", &u, url, sizeof url) == 0) {
      aisf_url_drop_param(url, "provider");
      aisf_url_drop_param(url, "namespace");
    }
    if (!u.bucket[0] || !u.object[0])
      abort();
  }
  char ep[256];
  if (aisfetch_endpoint_parse(s, ep, sizeof ep, &e) == AISFETCH_OK &&
      strncmp(ep, "http", 4) != 0)
    abort();
  char *q = strchr(s, '?') ? s : NULL;
  if (q) {
    aisf_url_drop_param(s, "props");
  }
  free(s);
  return 0;
}
