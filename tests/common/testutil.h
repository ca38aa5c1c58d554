/* Test support: a tiny check harness, the emulator as a child process, the
 * emulator's generated-object content, and leak checks for fds/children. */
#ifndef AISFETCH_TESTUTIL_H
#define AISFETCH_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

extern int tu_failures;

/* 1 in a build with AddressSanitizer (TU_ASAN) or ThreadSanitizer (TU_TSAN):
 * GCC says so with __SANITIZE_*__, clang with __has_feature */
#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
#ifndef TU_ASAN
#define TU_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define TU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TU_TSAN 1
#endif
#endif
#ifndef TU_TSAN
#define TU_TSAN 0
#endif

/* Wall-time bounds of the tests are multiplied by this: a sanitizer build
 * runs several times slower, and each process it starts pays for its
 * sanitizer's setup and exit-time checks.  The bounds stay far below what
 * the bug each one catches would take. */
#define TU_SLOWDOWN (TU_ASAN || TU_TSAN ? 10 : 1)

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);             \
      tu_failures++;                                                                       \
    }                                                                                      \
  } while (0)

#define CHECKF(cond, ...)                                                                  \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);             \
      fprintf(stderr, __VA_ARGS__);                                                        \
      fputc('\n', stderr);                                                                 \
      tu_failures++;                                                                       \
    }                                                                                      \
  } while (0)

#define REQUIRE(cond)                                                                      \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);           \
      exit(1);                                                                             \
    }                                                                                      \
  } while (0)

int tu_finish(const char *name);
void tu_sleep_ms(int ms);
double tu_now_s(void); /* monotonic */

typedef struct {
  pid_t pid;
  int stdin_fd;
  char url[256];
  char dir[256];
} tu_emu;

/* Starts tools/ais-emulator.py ($AISEMU_PYTHON $AISEMU_SCRIPT) with extra
 * arguments (NULL-terminated); exits the test on failure. */
void tu_emu_start(tu_emu *e, const char *const *args);
void tu_emu_stop(tu_emu *e);
/* HTTP to the control API; returns the status, body into out (may be NULL) */
long tu_http(const char *method, const char *url, const char *body, size_t body_len, char *out,
             size_t out_n);
/* count generated objects PREFIX00000.. (5 digits) of sizes[i % nsizes],
 * object i of seed seed + i, in one request; exits on failure */
void tu_emu_bulk(tu_emu *e, const char *bucket, const char *prefix, unsigned count,
                 const uint64_t *sizes, unsigned nsizes, uint64_t seed);
void tu_emu_gen(tu_emu *e, const char *bucket, const char *obj, uint64_t size, uint64_t seed,
                const char *query_extra);
void tu_emu_put(tu_emu *e, const char *bucket, const char *obj, const void *data, size_t len);
/* adds a fault (JSON as the emulator takes it); returns its id */
long tu_emu_fault(tu_emu *e, const char *json);
/* how often fault id fired, -1 when it is gone */
long tu_emu_fault_fired(tu_emu *e, long id);
/* holds the next HEAD of bucket/obj at the proxy ms long, so that the open's
 * GET of the first bytes is surely in when the HEAD answers */
long tu_emu_hold_head(tu_emu *e, const char *bucket, const char *obj, int ms);
void tu_emu_clear_faults(tu_emu *e);
void tu_emu_post(tu_emu *e, const char *path);
/* the emulator's round trip (ms) and per-connection rate (bytes/s, 0 = none) */
void tu_emu_shape(tu_emu *e, int rtt_ms, long rate);
/* a counter from GET /_emu/stats, e.g. ("targets", -1, "GET") sums targets */
long tu_emu_stat(tu_emu *e, const char *node, const char *field);
/* the same, polled until it is at least at_least or ms have passed */
long tu_emu_stat_wait(tu_emu *e, const char *node, const char *field, long at_least, int ms);

/* The emulator's generated content of object seed S at [off, off+len). */
void tu_gen(uint64_t seed, uint64_t off, void *buf, size_t len);
/* compares buf with the generated content; returns the first bad offset or -1 */
int64_t tu_gen_cmp(uint64_t seed, uint64_t off, const void *buf, size_t len);

int tu_count_fds(void);
int tu_count_children(void);
int tu_count_children_of(pid_t parent);
/* helper processes (zygotes) that are children of parent, into out */
int tu_list_children(pid_t parent, pid_t *out, int max);
/* workers: the children of the zygotes of parent */
int tu_count_workers_of(pid_t parent); /* aisfetch-worker children of this process */
/* this process's workers, children of its one helper (the zygote), once
 * there are want of them (up to ms): their count, their pids in wk, the
 * helper's in *zyg (0 unless there is exactly one) */
int tu_zygote_workers(int want, int ms, pid_t *zyg, pid_t *wk, int max);
/* waits up to ms for no children; returns the count left */
int tu_wait_no_children(int ms);
char *tu_mkdtemp(void);
void tu_rm_rf(const char *dir);

#endif
