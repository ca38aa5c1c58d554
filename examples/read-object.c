/* read-object: the smallest libaisfetch program — an object to stdout, in
 * order, with its size and checksum on stderr.
 *
 *   cc read-object.c $(pkg-config --cflags --libs libaisfetch) -o read-object
 *   ./read-object ais://bucket/object > object.bin
 */
#include <aisfetch.h>
#include <stdio.h>

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s ais://BUCKET/OBJECT\n", argv[0]);
    return 2;
  }
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = argv[1];
  o.num_workers = 8;
  o.verify_checksum = 1;
  aisfetch_reader *r;
  aisfetch_error e;
  if (aisfetch_open(&o, &r, &e) != AISFETCH_OK) {
    fprintf(stderr, "%s: %s\n", aisfetch_errkind_name(e.kind), e.message);
    return 1;
  }
  aisfetch_object_info info;
  aisfetch_object_info_get(r, &info);
  fprintf(stderr, "%llu bytes, %s %s\n", (unsigned long long)info.size, info.checksum_type,
          info.checksum_value);
  aisfetch_chunk c;
  aisfetch_errkind k;
  while ((k = aisfetch_next(r, &c, &e)) == AISFETCH_OK && c.len) {
    fwrite(c.data, 1, c.len, stdout);
    aisfetch_release(r, &c);
  }
  if (k != AISFETCH_OK)
    fprintf(stderr, "%s: %s\n", aisfetch_errkind_name(k), e.message);
  aisfetch_close(r);
  return k == AISFETCH_OK ? 0 : 1;
}
