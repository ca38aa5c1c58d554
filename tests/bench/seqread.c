/* seqread: reads one object, or every object under a prefix, through
 * libaisfetch and drops the bytes (the many-objects benchmark's reader
 * without a file system in the way).  Prints one JSON line:
 * {"bytes":N,"objects":N,"errors":N,"error":"..."}; exit status 1 on an error.
 *
 *   seqread -e ENDPOINT [-n WORKERS] [-c CHUNK] [-s SLOTS] [--prefix] URI
 */
#include <aisfetch.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
  aisfetch_options o;
  aisfetch_options_init(&o);
  int prefix = 0;
  const char *uri = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-e") && i + 1 < argc)
      o.endpoint = argv[++i];
    else if (!strcmp(argv[i], "-n") && i + 1 < argc)
      o.num_workers = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "-c") && i + 1 < argc)
      o.chunk_size = (size_t)strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "-s") && i + 1 < argc)
      o.slots = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--prefix"))
      prefix = 1;
    else
      uri = argv[i];
  }
  if (!uri) {
    fprintf(stderr, "usage: seqread -e ENDPOINT [-n N] [-c CHUNK] [-s SLOTS] [--prefix] URI\n");
    return 2;
  }
  if (prefix)
    o.prefix = uri;
  else
    o.uri = uri;
  aisfetch_reader *r;
  aisfetch_error e;
  unsigned long long bytes = 0, objects = 0;
  aisfetch_errkind k = aisfetch_open(&o, &r, &e);
  if (!k) {
    unsigned long long last = (unsigned long long)-1;
    for (;;) {
      aisfetch_chunk c;
      k = aisfetch_next(r, &c, &e);
      if (k || !c.len)
        break;
      if (c.object != last) {
        objects++;
        last = c.object;
      }
      bytes += c.len;
      aisfetch_release(r, &c);
    }
    aisfetch_close(r);
  }
  printf("{\"bytes\":%llu,\"objects\":%llu,\"errors\":%d,\"error\":\"%s\"}\n", bytes, objects,
         k ? 1 : 0, k ? aisfetch_errkind_name(k) : "");
  if (k)
    fprintf(stderr, "seqread: %s\n", e.message);
  return k ? 1 : 0;
}
