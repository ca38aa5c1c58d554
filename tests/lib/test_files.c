/* Objects written by the workers straight into the caller's files
 * (aisfetch_object_set_fd): every file checked byte by byte against its
 * object, chunks in order with data NULL for what went into a file and the
 * ring's bytes written by the caller; retried ranges, killed workers and a
 * file that cannot be written; the arguments refused; the reader forward
 * only; the library's copies of the files closed when it is done with them. */
#include "aisfetch.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)
#define MAXOBJ 400

static tu_emu emu;

static void bulk(const char *bucket, const char *prefix, unsigned count, const uint64_t *sizes,
                 unsigned nsizes, uint64_t seed)
{
  tu_emu_bulk(&emu, bucket, prefix, count, sizes, nsizes, seed);
}

static aisfetch_reader *open_prefix(const char *prefix, unsigned workers, size_t cs,
                                    aisfetch_worker_mode mode, unsigned page)
{
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.prefix = prefix;
  o.endpoint = emu.url;
  o.num_workers = workers;
  o.chunk_size = cs;
  o.worker_mode = mode;
  o.list_page_size = page;
  o.retries = 3;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  aisfetch_errkind k = aisfetch_open(&o, &r, &e);
  CHECKF(k == AISFETCH_OK, "open %s: %s", prefix, e.message);
  return r;
}

/* How many other descriptors of this process are the file fd: by the links
 * in /proc/self/fd (each test file has a name of its own), not by fstat(),
 * which ThreadSanitizer takes for a race with the worker threads' close() */
static int copies_of(int fd)
{
  char path[64], want[256], got[256];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t wn = readlink(path, want, sizeof want - 1);
  if (wn <= 0)
    return -1;
  want[wn] = '\0';
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  for (struct dirent *de; (de = readdir(d));) {
    if (de->d_name[0] == '.' || atoi(de->d_name) == fd)
      continue;
    snprintf(path, sizeof path, "/proc/self/fd/%d", atoi(de->d_name));
    ssize_t k = readlink(path, got, sizeof got - 1);
    if (k > 0) {
      got[k] = '\0';
      n += strcmp(got, want) == 0;
    }
  }
  closedir(d);
  return n;
}

static int new_file(uint64_t i)
{
  char name[64];
  snprintf(name, sizeof name, "test-files-%llu", (unsigned long long)i);
  return memfd_create(name, MFD_CLOEXEC);
}

typedef struct {
  aisfetch_reader *r;
  int fd[MAXOBJ];         /* the caller's file of each object; -1: none (yet) */
  int given[MAXOBJ];      /* set with aisfetch_object_set_fd() */
  uint64_t next_give;     /* the next object to give a file to */
  unsigned ahead;         /* files given this many objects ahead of the read */
  uint64_t direct_bytes, ring_bytes, objects, errors;
  uint64_t failed_at[8];
  aisfetch_errkind last_kind;
  char last_msg[512];
} run_t;

static void give_files(run_t *x, uint64_t cur)
{
  uint64_t known = aisfetch_objects_known(x->r, NULL);
  if (x->next_give < cur)
    x->next_give = cur;
  while (x->next_give < known && x->next_give < cur + x->ahead && x->next_give < MAXOBJ) {
    uint64_t i = x->next_give++;
    x->fd[i] = new_file(i);
    REQUIRE(x->fd[i] >= 0);
    aisfetch_error e;
    aisfetch_errkind k = aisfetch_object_set_fd(x->r, i, x->fd[i], &e);
    CHECKF(k == AISFETCH_OK, "set_fd %llu: %s", (unsigned long long)i, e.message);
    x->given[i] = k == AISFETCH_OK;
  }
}

/* Reads the stream to its end, files given ahead; the ring's chunks are
 * written into the files by this caller, at their offsets.  Per-object
 * errors are recorded and skipped. */
static void read_into_files(run_t *x, void (*at_boundary)(uint64_t obj))
{
  uint64_t stream = 0, last_obj = UINT64_MAX;
  give_files(x, 1); /* object 0's ranges are under way already */
  for (int guard = 0; guard < 1000000; guard++) {
    aisfetch_chunk c;
    aisfetch_error e;
    aisfetch_errkind k = aisfetch_next(x->r, &c, &e);
    if (k) {
      uint64_t idx = aisfetch_object_index(x->r);
      if (x->errors < 8)
        x->failed_at[x->errors] = idx;
      x->errors++;
      x->last_kind = k;
      snprintf(x->last_msg, sizeof x->last_msg, "%s", e.message);
      REQUIRE(x->errors < 50);
      aisfetch_errkind k2 = aisfetch_skip_object(x->r, &e);
      CHECKF(k2 == AISFETCH_OK, "skip: %s", e.message);
      if (k2)
        return;
      uint64_t known = aisfetch_objects_known(x->r, NULL);
      stream = aisfetch_object_index(x->r) < known
                   ? aisfetch_tell(x->r)
                   : stream; /* the end: nothing more is checked */
      continue;
    }
    if (!c.len)
      return;
    CHECKF(c.offset == stream, "chunk at %llu, expected %llu", (unsigned long long)c.offset,
           (unsigned long long)stream);
    REQUIRE(c.object < MAXOBJ);
    if (c.object != last_obj) {
      if (at_boundary)
        at_boundary(c.object);
      last_obj = c.object;
    }
    if (c.data) {
      if (x->fd[c.object] < 0) {
        x->fd[c.object] = new_file(c.object);
        REQUIRE(x->fd[c.object] >= 0);
      }
      CHECK(pwrite(x->fd[c.object], c.data, c.len, (off_t)c.object_offset) == (ssize_t)c.len);
      x->ring_bytes += c.len;
    } else {
      CHECKF(x->given[c.object], "object %llu: a chunk without data, but no file was given",
             (unsigned long long)c.object);
      x->direct_bytes += c.len;
    }
    stream = c.offset + c.len;
    uint64_t obj = c.object;
    aisfetch_release(x->r, &c); /* (which clears c) */
    give_files(x, obj + 1);
  }
  CHECK(0); /* the guard */
}

/* Object i's file holds generated object seed0 + i of its size, whole */
static int check_file(run_t *x, uint64_t i, uint64_t seed0, uint64_t size)
{
  if (!size)
    return x->fd[i] < 0 || lseek(x->fd[i], 0, SEEK_END) == 0;
  if (x->fd[i] < 0 || lseek(x->fd[i], 0, SEEK_END) != (off_t)size)
    return 0;
  void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, x->fd[i], 0);
  if (p == MAP_FAILED)
    return 0;
  int ok = tu_gen_cmp(seed0 + i, 0, p, size) < 0;
  munmap(p, size);
  return ok;
}

static void close_files(run_t *x)
{
  for (int i = 0; i < MAXOBJ; i++)
    if (x->fd[i] >= 0)
      close(x->fd[i]);
}

static void run_init(run_t *x, aisfetch_reader *r, unsigned ahead)
{
  memset(x, 0, sizeof *x);
  x->r = r;
  x->ahead = ahead;
  for (int i = 0; i < MAXOBJ; i++)
    x->fd[i] = -1;
}

static const uint64_t sizes[] = {300 * KiB, 0, 5000, 64 * KiB, 1 * MiB + 7, 1, 200 * KiB};
#define NSIZES (sizeof sizes / sizeof *sizes)

/* How many of objects 0..n-1 (but skip) have a file that is not theirs */
static unsigned files_wrong(run_t *x, unsigned n, uint64_t skip)
{
  unsigned bad = 0;
  for (unsigned i = 0; i < n; i++)
    bad += i != skip && !check_file(x, i, 3000, sizes[i % NSIZES]);
  return bad;
}

/* Files for every object, given as the listing goes (pages of 40), with a
 * failed range and a reset on two objects: every file whole. */
static void test_files_prefix(aisfetch_worker_mode mode)
{
  const unsigned n = 150;
  tu_emu_fault(&emu, "{\"bucket\":\"fl\",\"object\":\"f/00020\",\"kind\":\"status\",\"code\":500}");
  tu_emu_fault(&emu, "{\"bucket\":\"fl\",\"object\":\"f/00031\",\"kind\":\"reset\","
                     "\"after_bytes\":10000}");
  int fds0 = tu_count_fds();
  aisfetch_reader *r = open_prefix("ais://fl/f/", 4, 64 * KiB, mode, 40);
  REQUIRE(r);
  static run_t x;
  run_init(&x, r, 24);
  read_into_files(&x, NULL);
  CHECKF(x.errors == 0, "%llu errors: %s", (unsigned long long)x.errors, x.last_msg);
  unsigned bad = files_wrong(&x, n, UINT64_MAX);
  CHECKF(bad == 0, "%s: %u of %u files wrong", mode ? "thread" : "process", bad, n);
  /* most bytes went into the files, the first object's through the ring */
  CHECKF(x.direct_bytes > 10 * x.ring_bytes && x.ring_bytes >= 64 * KiB,
         "%llu bytes into files, %llu through the ring", (unsigned long long)x.direct_bytes,
         (unsigned long long)x.ring_bytes);
  /* both faults hit a range that went into a file */
  char u[512], fl[8192] = "";
  snprintf(u, sizeof u, "%s/_emu/faults", emu.url);
  CHECK(tu_http("GET", u, NULL, 0, fl, sizeof fl) == 200);
  const char *p = fl;
  int fired = 0;
  while ((p = strstr(p, "\"fired\": 1")))
    fired++, p++;
  CHECKF(fired == 2, "faults: %s", fl);
  /* the reader has let go of every file it was given (the object's end went
   * out), before it closes */
  int held = 0;
  for (unsigned i = 0; i < n; i++)
    held += x.fd[i] >= 0 && copies_of(x.fd[i]) != 0;
  CHECKF(held == 0, "%d files still held by the reader", held);
  aisfetch_close(r);
  close_files(&x);
  CHECKF(tu_count_fds() == fds0, "fds %d -> %d", fds0, tu_count_fds());
  tu_emu_clear_faults(&emu);
}

/* A worker SIGKILLed at every 10th object: its ranges are written again by
 * its replacement, into the same files. */
static void kill_one(uint64_t obj)
{
  if (obj % 10 != 3)
    return;
  pid_t zyg, wk[64];
  int nw = tu_zygote_workers(1, 2000, &zyg, wk, 64);
  if (nw > 0)
    kill(wk[obj % (uint64_t)nw], SIGKILL);
}

static void test_files_workers_killed(void)
{
  aisfetch_reader *r = open_prefix("ais://fl/f/", 4, 64 * KiB, AISFETCH_WORKER_PROCESS, 0);
  REQUIRE(r);
  static run_t x;
  run_init(&x, r, 16);
  read_into_files(&x, kill_one);
  CHECKF(x.errors == 0, "%llu errors: %s", (unsigned long long)x.errors, x.last_msg);
  unsigned bad = files_wrong(&x, 150, UINT64_MAX);
  CHECKF(bad == 0, "%u files wrong", bad);
  aisfetch_stats st;
  aisfetch_stats_get(r, &st);
  CHECKF(st.respawns >= 5, "%llu respawns", (unsigned long long)st.respawns);
  aisfetch_close(r);
  close_files(&x);
}

/* A file that cannot take the bytes (/dev/full) is that object's error,
 * named, and the others go on. */
static void test_files_write_fails(void)
{
  aisfetch_reader *r = open_prefix("ais://fl/f/", 3, 64 * KiB, AISFETCH_WORKER_PROCESS, 0);
  REQUIRE(r);
  static run_t x;
  run_init(&x, r, 0); /* files given by hand */
  int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(full >= 0);
  aisfetch_error e;
  aisfetch_object_info info;
  REQUIRE(aisfetch_object_at(r, 40, &info, NULL, &e) == AISFETCH_OK); /* listed that far */
  CHECKF(aisfetch_object_set_fd(r, 4, full, &e) == AISFETCH_OK, "%s", e.message); /* 1 MiB + 7 */
  close(full); /* the reader has its own copy */
  for (unsigned i = 5; i < 40; i++) {
    x.fd[i] = new_file(i);
    REQUIRE(x.fd[i] >= 0 && aisfetch_object_set_fd(r, i, x.fd[i], &e) == AISFETCH_OK);
    x.given[i] = 1;
  }
  x.given[4] = 1;
  read_into_files(&x, NULL);
  CHECKF(x.errors == 1 && x.failed_at[0] == 4 && x.last_kind == AISFETCH_E_WRITE &&
             strstr(x.last_msg, "f/00004") && strstr(x.last_msg, "its file") &&
             strstr(x.last_msg, strerror(ENOSPC)),
         "%llu errors: %s", (unsigned long long)x.errors, x.last_msg);
  unsigned bad = files_wrong(&x, 150, 4); /* (4 is /dev/full) */
  CHECKF(bad == 0, "%u files wrong", bad);
  aisfetch_close(r);
  close_files(&x);
}

/* What object_set_fd refuses, and a reader with files reads forward only */
static void test_files_args(void)
{
  aisfetch_error e;
  aisfetch_reader *r = open_prefix("ais://fl/f/", 2, 64 * KiB, AISFETCH_WORKER_THREAD, 0);
  REQUIRE(r);
  int mf = memfd_create("test-files", MFD_CLOEXEC);
  REQUIRE(mf >= 0);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", mf);
  int ro = open(path, O_RDONLY | O_CLOEXEC);
  int ap = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  REQUIRE(ro >= 0 && ap >= 0);
  CHECK(aisfetch_object_set_fd(NULL, 1, mf, &e) == AISFETCH_E_ARG);
  CHECK(aisfetch_object_set_fd(r, 1, -1, &e) == AISFETCH_E_ARG);
  CHECKF(aisfetch_object_set_fd(r, 1, ro, &e) == AISFETCH_E_ARG && strstr(e.message, "writing"),
         "%s", e.message);
  CHECKF(aisfetch_object_set_fd(r, 1, ap, &e) == AISFETCH_E_ARG && strstr(e.message, "O_APPEND"),
         "%s", e.message);
  CHECKF(aisfetch_object_set_fd(r, 1000000, mf, &e) == AISFETCH_E_ARG &&
             strstr(e.message, "not known"),
         "%s", e.message);
  /* nothing was taken: reading anywhere is allowed still */
  char buf[16];
  size_t got = 0;
  CHECK(aisfetch_read_range(r, 10, sizeof buf, buf, &got, &e) == AISFETCH_OK && got == sizeof buf);
  CHECK(aisfetch_seek(r, 0, &e) == AISFETCH_OK);
  /* object 0 read through, then its file is refused; object 2 takes one */
  aisfetch_chunk c;
  uint64_t first = 0;
  while (aisfetch_next(r, &c, &e) == AISFETCH_OK && c.len && c.object == 0) {
    first += c.len;
    aisfetch_release(r, &c);
  }
  CHECK(first == sizes[0]);
  if (c.len)
    aisfetch_release(r, &c);
  CHECKF(aisfetch_object_set_fd(r, 0, mf, &e) == AISFETCH_E_ARG && strstr(e.message, "past"),
         "%s", e.message);
  CHECKF(aisfetch_object_set_fd(r, 2, mf, &e) == AISFETCH_OK, "%s", e.message);
  /* ranges already sent write into the first file: no second one */
  CHECKF(aisfetch_object_set_fd(r, 2, mf, &e) == AISFETCH_E_ARG && strstr(e.message, "already"),
         "%s", e.message);
  CHECKF(aisfetch_seek(r, 0, &e) == AISFETCH_E_ARG && strstr(e.message, "forward only"), "%s",
         e.message);
  CHECK(aisfetch_read_range(r, 0, sizeof buf, buf, &got, &e) == AISFETCH_E_ARG);
  static char all[64];
  CHECK(aisfetch_read_all(r, all, sizeof all, &e) == AISFETCH_E_ARG);
  aisfetch_close(r);
  close(ro);
  close(ap);
  close(mf);

  /* with verify_checksum the bytes must pass through the ring */
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.prefix = "ais://fl/f/";
  o.endpoint = emu.url;
  o.num_workers = 2;
  o.verify_checksum = 1;
  REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  mf = memfd_create("test-files", MFD_CLOEXEC);
  CHECKF(aisfetch_object_set_fd(r, 1, mf, &e) == AISFETCH_E_ARG && strstr(e.message, "verify"),
         "%s", e.message);
  aisfetch_close(r);
  close(mf);
}

int main(void)
{
  int fds0 = tu_count_fds();
  tu_emu_start(&emu, NULL);
  bulk("fl", "f/", 150, sizes, NSIZES, 3000);
  int fds1 = tu_count_fds();
  test_files_prefix(AISFETCH_WORKER_PROCESS);
  test_files_prefix(AISFETCH_WORKER_THREAD);
  test_files_workers_killed();
  test_files_write_fails();
  test_files_args();
  CHECKF(tu_count_fds() == fds1, "fds %d -> %d", fds1, tu_count_fds());
  tu_emu_stop(&emu);
  CHECK(tu_wait_no_children(1000) == 0);
  CHECKF(tu_count_fds() == fds0, "fds %d -> %d", fds0, tu_count_fds());
  return tu_finish("test_files");
}
