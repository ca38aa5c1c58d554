/* sink: read stdin to the end (or, with --first, to the first byte) and print
 * {"first_ns":CLOCK_MONOTONIC of the first byte,"end_ns":...,"bytes":N}.
 * Used to time the first byte of a command that writes to stdout. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
  int first_only = argc > 1 && strcmp(argv[1], "--first") == 0;
  static char buf[1 << 20];
  uint64_t first = 0, bytes = 0;
  for (;;) {
    ssize_t n = read(0, buf, first_only ? 1 : sizeof buf);
    if (n <= 0)
      break;
    if (!first)
      first = now_ns();
    bytes += (uint64_t)n;
    if (first_only)
      break;
  }
  fprintf(stderr, "{\"first_ns\":%llu,\"end_ns\":%llu,\"bytes\":%llu}\n", (unsigned long long)first,
          (unsigned long long)now_ns(), (unsigned long long)bytes);
  return 0;
}
