/* sink: read stdin to the end (or, with --first, to the first byte) and print
 * {"first_ns":CLOCK_MONOTONIC of the first byte,"end_ns":...,"bytes":N}.
 * Used to time the first byte of a command that writes to stdout. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <stdint.h>
#include <stdlib.h>
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

void aisf_copy_stream(void *dst, const void *src, size_t n); /* lib/util.c */

/* A worker's copy: 256 KiB pieces from a hot buffer (libcurl's) into a
 * 128 MiB shared mapping of a memfd (the ring), already mapped in: GB/s of
 * memcpy, or of the library's copy with non-temporal stores.  Best of 5. */
static double slot_copy(int stream)
{
  size_t ring = (size_t)128 << 20, piece = 256 * 1024;
  int fd = memfd_create("slotcopy", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)ring) < 0)
    return 0;
  char *r = mmap(NULL, ring, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  close(fd);
  char *src = malloc(piece);
  if (r == MAP_FAILED || !src)
    return 0;
  memset(r, 0, ring);
  double best = 0;
  for (int i = 0; i < 5; i++) {
    uint64_t t = now_ns();
    for (size_t o = 0; o < ring; o += piece) {
      memset(src, (int)(o >> 18), piece); /* as the kernel fills libcurl's buffer */
      if (stream)
        aisf_copy_stream(r + o, src, piece);
      else
        memcpy(r + o, src, piece);
    }
    double gbps = (double)ring / (double)(now_ns() - t);
    if (gbps > best)
      best = gbps;
  }
  munmap(r, ring);
  free(src);
  return best;
}

/* --memcpy: the machine's memory copy bandwidth, one core, 64 MiB buffers;
 * then the workers' copy into the ring, plain and streaming */
static int memcpy_bench(void)
{
  size_t n = (size_t)64 << 20;
  char *a = malloc(n), *b = malloc(n);
  if (!a || !b)
    return 1;
  memset(a, 1, n);
  memset(b, 2, n);
  double best = 0;
  for (int i = 0; i < 10; i++) {
    uint64_t t = now_ns();
    memcpy(i & 1 ? a : b, i & 1 ? b : a, n);
    double gbps = (double)n / (double)(now_ns() - t);
    if (gbps > best)
      best = gbps;
  }
  double plain = slot_copy(0), stream = slot_copy(1);
  fprintf(stderr, "{\"memcpy_GBps\":%.2f,\"slot_memcpy_GBps\":%.2f,\"slot_stream_GBps\":%.2f,"
                  "\"check\":%d}\n", best, plain, stream, a[n / 2] + b[n / 3]);
  free(a);
  free(b);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "--memcpy") == 0)
    return memcpy_bench();
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
