/* libFuzzer: AIStore's JSON error body. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char out[64];
  if (aisf_parse_error_json((const char *)data, size, out, sizeof out) == 0) {
    size_t n = strnlen(out, sizeof out);
    if (n == sizeof out)
      abort();
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)out[i] < 0x20)
        abort();
  }
  return 0;
}
