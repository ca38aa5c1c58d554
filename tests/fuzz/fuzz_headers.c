/* libFuzzer: response header lines and Content-Range values. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  uint64_t a, b, sz;
  int un;
  if (aisf_parse_content_range((const char *)data, size, &a, &b, &sz, &un) == 0 && !un &&
      (a > b || b >= sz))
    abort();
  aisf_resp r;
  aisf_resp_reset(&r);
  /* the input as a sequence of header lines */
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p + 1) : (size_t)(end - p);
    aisf_resp_header(&r, p, len);
    p += len;
  }
  if (r.have_content_range && !r.malformed && !r.content_range_unsatisfied &&
      (r.cr_start > r.cr_end || r.cr_end >= r.cr_size))
    abort();
  if (strlen(r.version) >= sizeof r.version || strlen(r.hdr_error) >= sizeof r.hdr_error)
    abort();
  return 0;
}
