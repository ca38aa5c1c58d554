/* libFuzzer: AIStore's list-objects answer. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  aisf_list_page pg;
  memset(&pg, 0, sizeof pg);
  char why[160];
  if (aisf_parse_list((const char *)data, size, &pg, why, sizeof why) == 0) {
    for (size_t i = 0; i < pg.n; i++) {
      const aisf_list_entry *e = &pg.v[i];
      if (e->name >= pg.arena_len || e->checksum >= pg.arena_len || e->version >= pg.arena_len ||
          e->atime >= pg.arena_len)
        abort();
      /* every string ends inside the arena */
      if (!memchr(pg.arena + e->name, '\0', pg.arena_len - e->name))
        abort();
    }
    if (strnlen(pg.uuid, sizeof pg.uuid) == sizeof pg.uuid ||
        strnlen(pg.token, sizeof pg.token) == sizeof pg.token)
      abort();
  } else if (pg.n != 0 || !why[0]) {
    abort();
  }
  aisf_list_page_free(&pg);
  return 0;
}
