/* Reads through the library against the emulator: byte-exact for many sizes,
 * worker counts, slot counts and both worker modes; seeks, random access,
 * stops, offsets past 4 GiB, object info, stats, cancel, auth, and nothing
 * left behind after close. */
#include "aisfetch.h"
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

static tu_emu emu;

/* the open's own GET of the first bytes: the library's default, or -1 where a
 * test counts what the workers send */
static long g_first_bytes = 0;
static int g_start_idle = 0;

static aisfetch_reader *open_obj(const char *uri, unsigned workers, size_t cs, unsigned slots,
                                 aisfetch_worker_mode mode)
{
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.first_bytes = g_first_bytes;
  o.start_idle = g_start_idle;
  o.uri = uri;
  o.endpoint = emu.url;
  o.num_workers = workers;
  o.chunk_size = cs;
  o.slots = slots;
  o.worker_mode = mode;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  aisfetch_errkind k = aisfetch_open(&o, &r, &e);
  CHECKF(k == AISFETCH_OK, "open %s: %s", uri, e.message);
  return r;
}

/* reads in order to the end; checks every byte and the offsets */
static uint64_t read_check(aisfetch_reader *r, uint64_t seed, uint64_t from)
{
  uint64_t off = from;
  for (int guard = 0; guard < 1000000; guard++) {
    aisfetch_chunk c;
    aisfetch_error e;
    aisfetch_errkind k = aisfetch_next(r, &c, &e);
    if (k) {
      CHECKF(0, "next at %llu: %s", (unsigned long long)off, e.message);
      break;
    }
    if (!c.len)
      break;
    CHECKF(c.offset == off, "chunk at %llu, expected %llu", (unsigned long long)c.offset,
           (unsigned long long)off);
    int64_t bad = tu_gen_cmp(seed, c.offset, c.data, c.len);
    CHECKF(bad < 0, "wrong byte at %lld", (long long)bad);
    off += c.len;
    aisfetch_release(r, &c);
  }
  return off;
}

static void test_matrix(void)
{
  const size_t cs = 64 * KiB;
  const uint64_t sizes[] = {1, cs - 1, cs, cs + 1, 3 * cs + 123, 64 * cs + 7};
  const unsigned workers[] = {1, 2, 8, 32};
  int fds0 = tu_count_fds();
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    char name[64], uri[128];
    snprintf(name, sizeof name, "m%zu", si);
    snprintf(uri, sizeof uri, "ais://mat/%s", name);
    tu_emu_gen(&emu, "mat", name, sizes[si], 1000 + si, NULL);
    for (size_t wi = 0; wi < 4; wi++)
      for (int mode = 0; mode < 2; mode++) {
        aisfetch_reader *r = open_obj(uri, workers[wi], cs, 0, (aisfetch_worker_mode)mode);
        if (!r)
          continue;
        CHECK(aisfetch_size(r) == sizes[si]);
        uint64_t end = read_check(r, 1000 + si, 0);
        CHECKF(end == sizes[si], "size %llu workers %u mode %d: read %llu",
               (unsigned long long)sizes[si], workers[wi], mode, (unsigned long long)end);
        aisfetch_stats st;
        aisfetch_stats_get(r, &st);
        uint64_t nch = (sizes[si] + cs - 1) / cs;
        /* a hedged range (a slow moment of this machine) may be fetched
         * twice, and so may one read ahead that a hedge evicted */
        uint64_t again = st.hedges + st.evictions;
        CHECKF(st.ranges >= nch && st.ranges <= nch + again && st.bytes >= sizes[si] &&
               st.bytes <= sizes[si] + again * cs && st.retries == 0,
               "ranges %llu bytes %llu retries %llu hedges %llu evictions %llu",
               (unsigned long long)st.ranges, (unsigned long long)st.bytes,
               (unsigned long long)st.retries, (unsigned long long)st.hedges,
               (unsigned long long)st.evictions);
        if (!again)
          CHECKF(st.ranges == nch && st.bytes == sizes[si], "ranges %llu bytes %llu",
                 (unsigned long long)st.ranges, (unsigned long long)st.bytes);
        CHECK(st.num_workers == (nch < workers[wi] ? nch : workers[wi]));
        aisfetch_close(r);
      }
  }
  CHECKF(tu_wait_no_children(1000) == 0, "workers left behind");
  CHECKF(tu_count_fds() == fds0, "fds %d -> %d", fds0, tu_count_fds());
}

static void test_empty(void)
{
  tu_emu_gen(&emu, "mat", "empty", 0, 1, NULL);
  for (int mode = 0; mode < 2; mode++) {
    aisfetch_reader *r = open_obj("ais://mat/empty", 8, 0, 0, (aisfetch_worker_mode)mode);
    if (!r)
      continue;
    CHECK(aisfetch_size(r) == 0);
    aisfetch_chunk c;
    CHECK(aisfetch_next(r, &c, NULL) == AISFETCH_OK && c.len == 0);
    char b[4];
    size_t got = 9;
    CHECK(aisfetch_read_range(r, 0, 4, b, &got, NULL) == AISFETCH_OK && got == 0);
    CHECK(aisfetch_read_all(r, b, 0, NULL) == AISFETCH_OK);
    CHECK(tu_count_children() == 0);
    aisfetch_close(r);
  }
}

static void test_read_all_and_slots(void)
{
  const uint64_t size = 5 * MiB + 3;
  tu_emu_gen(&emu, "b", "all", size, 77, NULL);
  uint8_t *buf = malloc(size);
  REQUIRE(buf);
  /* fewer slots than workers still works */
  const unsigned slots[] = {1, 2, 0, 40};
  for (size_t i = 0; i < 4; i++) {
    aisfetch_reader *r = open_obj("ais://b/all", 8, 128 * KiB, slots[i], AISFETCH_WORKER_PROCESS);
    if (!r)
      continue;
    memset(buf, 0, size);
    aisfetch_error e;
    CHECKF(aisfetch_read_all(r, buf, size, &e) == AISFETCH_OK, "%s", e.message);
    CHECKF(tu_gen_cmp(77, 0, buf, size) < 0, "read_all with %u slots", slots[i]);
    aisfetch_object_info info;
    aisfetch_object_info_get(r, &info);
    CHECK(info.slots == (slots[i] ? slots[i] : 16));
    CHECK(aisfetch_read_all(r, buf, size - 1, &e) == AISFETCH_E_ARG);
    aisfetch_close(r);
  }
  free(buf);

  /* more slots than the ring has memfds: slots share files */
  for (int mode = 0; mode < 2; mode++) {
    aisfetch_reader *r = open_obj("ais://b/all", 8, 16 * KiB, 150, (aisfetch_worker_mode)mode);
    if (!r)
      continue;
    CHECKF(read_check(r, 77, 0) == size, "150 slots, mode %d", mode);
    aisfetch_close(r);
  }

  /* big enough for the streaming copy, into an unaligned buffer, with an
   * odd tail, and the bytes around it untouched */
  const uint64_t big = 16 * MiB + 4097;
  tu_emu_gen(&emu, "b", "big", big, 78, NULL);
  buf = malloc(big + 2);
  REQUIRE(buf);
  memset(buf, 0xa5, big + 2);
  aisfetch_reader *r = open_obj("ais://b/big", 4, 1 * MiB + 12345, 0, AISFETCH_WORKER_PROCESS);
  if (r) {
    aisfetch_error e;
    CHECKF(aisfetch_read_all(r, buf + 1, big, &e) == AISFETCH_OK, "%s", e.message);
    CHECK(tu_gen_cmp(78, 0, buf + 1, big) < 0);
    CHECK(buf[0] == 0xa5 && buf[big + 1] == 0xa5);
    aisfetch_close(r);
  }
  free(buf);
}

static void test_seek_and_ranges(int mode)
{
  const size_t cs = 256 * KiB;
  const uint64_t size = 40 * cs + 999;
  tu_emu_gen(&emu, "b", "seek", size, 5, NULL);
  aisfetch_reader *r = open_obj("ais://b/seek", 4, cs, 0, (aisfetch_worker_mode)mode);
  if (!r)
    return;
  uint64_t rng = 12345;
  uint8_t *buf = malloc(3 * cs);
  REQUIRE(buf);
  /* 1000 random seeks while streaming: the bytes at each new position are exact */
  for (int i = 0; i < 1000; i++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t off = (rng >> 11) % (size + 1);
    aisfetch_error e;
    CHECK(aisfetch_seek(r, off, &e) == AISFETCH_OK);
    CHECK(aisfetch_tell(r) == off);
    aisfetch_chunk c;
    CHECKF(aisfetch_next(r, &c, &e) == AISFETCH_OK, "%s", e.message);
    CHECKF(c.offset == off, "after seek to %llu got %llu", (unsigned long long)off,
           (unsigned long long)c.offset);
    if (off == size)
      CHECK(c.len == 0);
    else
      CHECK(c.len > 0 && tu_gen_cmp(5, c.offset, c.data, c.len) < 0);
    aisfetch_release(r, &c);
  }
  /* 1000 random access reads of every shape (pull mode) */
  for (int i = 0; i < 1000; i++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t off = (rng >> 11) % (size + 10);
    size_t len = (size_t)((rng >> 40) % (3 * cs));
    if (i % 10 == 0)
      len = 0;
    if (i % 10 == 1)
      off = size - 1;
    size_t got = 0;
    aisfetch_error e;
    CHECKF(aisfetch_read_range(r, off, len, buf, &got, &e) == AISFETCH_OK, "%s", e.message);
    size_t want = off >= size ? 0 : (size - off < len ? (size_t)(size - off) : len);
    CHECKF(got == want, "read_range(%llu, %zu) got %zu want %zu", (unsigned long long)off, len,
           got, want);
    CHECK(got == 0 || tu_gen_cmp(5, off, buf, got) < 0);
  }
  /* sequential small reads ride the readahead */
  aisfetch_stats st0, st1;
  aisfetch_stats_get(r, &st0);
  uint64_t off = 3 * cs + 17;
  for (int i = 0; i < 200; i++) {
    size_t got = 0;
    CHECK(aisfetch_read_range(r, off, 4096, buf, &got, NULL) == AISFETCH_OK && got == 4096);
    CHECK(tu_gen_cmp(5, off, buf, got) < 0);
    off += got;
  }
  aisfetch_stats_get(r, &st1);
  CHECKF(st1.restarts - st0.restarts <= 1, "sequential reads restarted %llu times",
         (unsigned long long)(st1.restarts - st0.restarts));
  /* a stop position: bytes up to it, then the end */
  aisfetch_error e;
  CHECK(aisfetch_seek_range(r, cs + 5, 5 * cs + 11, &e) == AISFETCH_OK);
  uint64_t got_to = cs + 5;
  for (int g = 0; g < 100; g++) {
    aisfetch_chunk c;
    CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK);
    if (!c.len)
      break;
    CHECK(c.offset == got_to && tu_gen_cmp(5, c.offset, c.data, c.len) < 0);
    got_to += c.len;
    aisfetch_release(r, &c);
  }
  CHECKF(got_to == 5 * cs + 11, "stopped at %llu", (unsigned long long)got_to);
  CHECK(aisfetch_seek_range(r, 10, 5, &e) == AISFETCH_E_ARG);
  CHECK(aisfetch_seek(r, size + 1, &e) == AISFETCH_E_ARG);
  /* read to the end after all that */
  CHECK(aisfetch_seek(r, 0, &e) == AISFETCH_OK);
  CHECK(read_check(r, 5, 0) == size);
  free(buf);
  aisfetch_close(r);
}

/* A worker sends its next range before the current one ends: with a round
 * trip held by the server, one worker keeps two requests in flight (on two
 * kept-alive connections), and bytes stay exact when seeks abort ranges
 * while two are in flight. */
static void test_pipeline(int mode)
{
  const size_t cs = 512 * KiB;
  const uint64_t size = 8 * cs + 77;
  tu_emu_gen(&emu, "b", "pipe", size, 9, NULL);
  /* a range: 40 ms, then about 105 ms of body, in which the worker's next
   * request must reach the server */
  tu_emu_shape(&emu, 40, 5000000);
  tu_emu_post(&emu, "/_emu/stats/reset");
  g_first_bytes = -1;
  aisfetch_reader *r = open_obj("ais://b/pipe", 1, cs, 0, (aisfetch_worker_mode)mode);
  if (r) {
    CHECK(read_check(r, 9, 0) == size);
    aisfetch_stats st;
    aisfetch_stats_get(r, &st);
    CHECKF(st.ranges == 9 && st.retries == 0, "ranges %llu retries %llu",
           (unsigned long long)st.ranges, (unsigned long long)st.retries);
    aisfetch_close(r);
  }
  long peak = tu_emu_stat(&emu, "targets", "max_active");
  long conns = tu_emu_stat(&emu, "targets", "connections");
  CHECKF(peak == 2, "one worker had %ld requests in flight at once, expected 2", peak);
  /* the HEAD's redirect to the target is one of them */
  CHECKF(conns == 3, "one worker and the HEAD used %ld connections, expected 3", conns);

  tu_emu_shape(&emu, 20, 10000000);
  r = open_obj("ais://b/pipe", 2, cs, 0, (aisfetch_worker_mode)mode);
  uint64_t rng = 99;
  for (int i = 0; r && i < 24; i++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t off = (rng >> 11) % size;
    aisfetch_error e;
    CHECK(aisfetch_seek(r, off, &e) == AISFETCH_OK);
    /* two chunks from there, so that the next ranges are in flight at the
     * next seek */
    for (int k = 0; k < 2; k++) {
      aisfetch_chunk c;
      CHECKF(aisfetch_next(r, &c, &e) == AISFETCH_OK, "%s", e.message);
      CHECKF(c.offset == off, "chunk at %llu, expected %llu", (unsigned long long)c.offset,
             (unsigned long long)off);
      CHECK(c.offset == size ? c.len == 0 : tu_gen_cmp(9, c.offset, c.data, c.len) < 0);
      off += c.len;
      aisfetch_release(r, &c);
    }
  }
  if (r) {
    aisfetch_error e;
    CHECK(aisfetch_seek(r, 0, &e) == AISFETCH_OK);
    CHECK(read_check(r, 9, 0) == size);
    aisfetch_close(r);
  }
  g_first_bytes = 0;
  tu_emu_shape(&emu, 0, 0);
}

/* The chunk at the read position is handed out in pieces as it arrives (at
 * 64 KiB, then each time its bytes double); a reset in the middle of it is
 * retried without writing again what was handed out. */
static void test_progress(int mode)
{
  const size_t cs = 512 * KiB;
  const uint64_t size = 3 * cs + 5;
  tu_emu_gen(&emu, "b", "prog", size, 11, NULL);
  tu_emu_shape(&emu, 5, 500000); /* 512 KiB: about 1 s */
  tu_emu_fault(&emu, "{\"bucket\":\"b\",\"object\":\"prog\",\"offset\":0,\"kind\":\"reset\","
                     "\"after_bytes\":300000}");
  g_first_bytes = -1;
  aisfetch_reader *r = open_obj("ais://b/prog", 1, cs, 0, (aisfetch_worker_mode)mode);
  g_first_bytes = 0;
  if (r) {
    uint64_t off = 0;
    unsigned pieces = 0;
    while (off < cs && pieces < 1000) {
      aisfetch_chunk c;
      aisfetch_error e;
      if (aisfetch_next(r, &c, &e) != AISFETCH_OK) {
        CHECKF(0, "next at %llu: %s", (unsigned long long)off, e.message);
        break;
      }
      CHECKF(c.offset == off && c.len > 0 && off + c.len <= cs, "piece %llu+%zu at %llu",
             (unsigned long long)c.offset, c.len, (unsigned long long)off);
      CHECK(tu_gen_cmp(11, c.offset, c.data, c.len) < 0);
      off += c.len;
      pieces++;
      aisfetch_release(r, &c);
    }
    CHECKF(pieces >= 3, "the first chunk came in %u piece(s)", pieces);
    CHECK(read_check(r, 11, off) == size);
    aisfetch_stats st;
    aisfetch_stats_get(r, &st);
    CHECKF(st.retries >= 1, "retries %llu", (unsigned long long)st.retries);
    aisfetch_close(r);
  }
  tu_emu_clear_faults(&emu);
  tu_emu_shape(&emu, 0, 0);
}

/* chunks held by the caller stay valid while others are fetched */
static void test_holding(void)
{
  const size_t cs = 64 * KiB;
  tu_emu_gen(&emu, "b", "hold", 20 * cs, 9, NULL);
  g_first_bytes = -1; /* whole chunks from the start, not the open's first bytes */
  aisfetch_reader *r = open_obj("ais://b/hold", 2, cs, 4, AISFETCH_WORKER_THREAD);
  g_first_bytes = 0;
  if (!r)
    return;
  aisfetch_chunk held[4];
  for (int i = 0; i < 3; i++)
    CHECK(aisfetch_next(r, &held[i], NULL) == AISFETCH_OK && held[i].len == cs);
  CHECK(aisfetch_slots_held(r) == 3);
  aisfetch_chunk c;
  CHECK(aisfetch_next(r, &c, NULL) == AISFETCH_OK && c.offset == 3 * cs);
  aisfetch_error e;
  /* all four held: asking for more is an error, not a hang */
  CHECK(aisfetch_next(r, &held[3], &e) == AISFETCH_E_ARG && strstr(e.message, "held"));
  for (int i = 0; i < 3; i++)
    CHECK(tu_gen_cmp(9, held[i].offset, held[i].data, held[i].len) < 0);
  for (int i = 0; i < 3; i++)
    aisfetch_release(r, &held[i]);
  aisfetch_release(r, &c);
  aisfetch_release(r, &c); /* a second release is harmless */
  CHECK(aisfetch_slots_held(r) == 0);
  CHECK(read_check(r, 9, 4 * cs) == 20 * cs);
  aisfetch_close(r);
}

/* The open's first bytes, held while a worker fetches the rest of their
 * chunk into the same slot: releasing them gives the slot back (with one
 * slot, the read could not go on otherwise). */
static void test_hold_first_bytes(int mode)
{
  const size_t cs = 1 * MiB;
  tu_emu_gen(&emu, "b", "holdfb", 4 * cs + 5, 19, NULL);
  const unsigned slots[] = {1, 0};
  for (int i = 0; i < 2; i++) {
    /* the open's 64 KiB surely all in (the HEAD held), and the rest of chunk
     * 0 held back, so that next() surely takes those 64 KiB before it (a
     * slow machine's worker could win otherwise) */
    char f[160];
    snprintf(f, sizeof f,
             "{\"bucket\":\"b\",\"object\":\"holdfb\",\"offset\":%zu,\"kind\":\"delay\",\"ms\":400}",
             (size_t)(64 * KiB));
    long rest = tu_emu_fault(&emu, f);
    tu_emu_hold_head(&emu, "b", "holdfb", 200);
    g_first_bytes = 64 * KiB;
    aisfetch_reader *r = open_obj("ais://b/holdfb", 1, cs, slots[i], (aisfetch_worker_mode)mode);
    g_first_bytes = 0;
    if (!r) {
      tu_emu_clear_faults(&emu);
      continue;
    }
    aisfetch_chunk c;
    aisfetch_error e;
    CHECKF(aisfetch_next(r, &c, &e) == AISFETCH_OK, "%s", e.message);
    CHECKF(c.offset == 0 && c.len == 64 * KiB, "first piece %zu bytes", c.len);
    aisfetch_stats st;
    aisfetch_stats_get(r, &st);
    for (int t = 0; t < 1000 && st.ranges < 1; t++) {
      tu_sleep_ms(10);
      aisfetch_stats_get(r, &st);
    }
    CHECKF(st.ranges >= 1, "the rest of chunk 0 did not come (slots %u, mode %d)", slots[i], mode);
    CHECK(tu_gen_cmp(19, c.offset, c.data, c.len) < 0);
    uint64_t from = c.len;
    aisfetch_release(r, &c);
    CHECKF(aisfetch_slots_held(r) == 0, "slots %u mode %d: %u held after the release", slots[i],
           mode, aisfetch_slots_held(r));
    CHECK(read_check(r, 19, from) == 4 * cs + 5);
    aisfetch_close(r);
    CHECKF(tu_emu_fault_fired(&emu, rest) == 1, "the delay did not hold the rest of chunk 0");
    tu_emu_clear_faults(&emu);
  }
}

/* Opened idle, the reader fetches nothing past the open's GET until it is
 * told where: a seek first fetches from there, a next() first from 0.
 * Opened as usual, it reads ahead at once (the check above can fail). */
static void test_start_idle(int mode)
{
  const size_t cs = 256 * KiB;
  const uint64_t size = 8 * cs + 3;
  tu_emu_gen(&emu, "b", "idle", size, 27, NULL);
  for (int idle = 1; idle >= 0; idle--) {
    tu_emu_post(&emu, "/_emu/stats/reset");
    g_start_idle = idle;
    aisfetch_reader *r = open_obj("ais://b/idle", 2, cs, 0, (aisfetch_worker_mode)mode);
    g_start_idle = 0;
    if (!r)
      continue;
    long gets;
    if (idle) {
      /* time for the workers to start and ask, were they told to */
      tu_sleep_ms(300);
      gets = tu_emu_stat(&emu, "targets", "GET");
      CHECKF(gets == 1, "opened idle (mode %d): %ld GETs before the first seek", mode, gets);
    } else {
      gets = tu_emu_stat_wait(&emu, "targets", "GET", 2, 5000);
      CHECKF(gets > 1, "opened as usual (mode %d): no readahead", mode);
    }
    aisfetch_error e;
    CHECK(aisfetch_seek(r, 6 * cs + 1, &e) == AISFETCH_OK);
    CHECK(read_check(r, 27, 6 * cs + 1) == size);
    aisfetch_stats st;
    aisfetch_stats_get(r, &st);
    if (idle) {
      /* the open's GET, then chunks 6, 7 and 8 (each again after a hedge) */
      gets = tu_emu_stat(&emu, "targets", "GET");
      CHECKF(gets >= 4 && gets <= 4 + (long)(st.hedges + st.evictions), "mode %d: %ld GETs",
             mode, gets);
      aisfetch_close(r);
      /* and a next() first reads from the start */
      g_start_idle = 1;
      r = open_obj("ais://b/idle", 2, cs, 0, (aisfetch_worker_mode)mode);
      g_start_idle = 0;
      if (r)
        CHECK(read_check(r, 27, 0) == size);
    }
    aisfetch_close(r);
  }
}

/* Calls from two threads are serialised as whole calls: read_range copies
 * the bytes it was asked for while another thread seeks and reads. */
struct other_thread {
  aisfetch_reader *r;
  uint64_t size;
  atomic_int stop;
  unsigned calls, wrong; /* checked after the join */
};

static void *seek_and_next(void *arg)
{
  struct other_thread *o = arg;
  uint32_t x = 12345;
  for (int i = 0; i < 100000 && !atomic_load(&o->stop); i++) {
    x = x * 1103515245u + 12345u;
    aisfetch_chunk c;
    if (aisfetch_seek(o->r, x % o->size, NULL) == AISFETCH_OK &&
        aisfetch_next(o->r, &c, NULL) == AISFETCH_OK) {
      o->wrong += c.len && tu_gen_cmp(23, c.offset, c.data, c.len) >= 0;
      aisfetch_release(o->r, &c);
    }
    o->calls++;
    tu_sleep_ms(2);
  }
  return NULL;
}

static void test_concurrent_calls(void)
{
  const uint64_t size = 24 * MiB;
  tu_emu_gen(&emu, "b", "conc", size, 23, NULL);
  aisfetch_reader *r = open_obj("ais://b/conc", 4, 1 * MiB, 0, AISFETCH_WORKER_PROCESS);
  if (!r)
    return;
  struct other_thread o = {.r = r, .size = size, .calls = 0, .wrong = 0};
  atomic_init(&o.stop, 0);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, seek_and_next, &o) == 0);
  const size_t len = 6 * MiB;
  uint8_t *buf = malloc(len);
  REQUIRE(buf);
  for (int i = 0; i < 12; i++) {
    uint64_t off = (uint64_t)(i * 5 % 18) * MiB + (uint64_t)i * 4099;
    size_t got = 0;
    aisfetch_error e;
    CHECKF(aisfetch_read_range(r, off, len, buf, &got, &e) == AISFETCH_OK, "%s", e.message);
    CHECKF(got == len, "read_range at %llu: %zu bytes", (unsigned long long)off, got);
    CHECKF(tu_gen_cmp(23, off, buf, got) < 0, "read_range at %llu: wrong bytes", (unsigned long long)off);
  }
  atomic_store(&o.stop, 1);
  pthread_join(t, NULL);
  CHECK(o.calls > 0 && o.wrong == 0);
  free(buf);
  aisfetch_close(r);
}

static void test_big(void)
{
  /* past 4 GiB: generated, no disk */
  const uint64_t size = ((uint64_t)5 << 30) + 12345;
  tu_emu_gen(&emu, "big", "huge", size, 31337, "cksum=none");
  aisfetch_reader *r = open_obj("ais://big/huge", 8, 1 * MiB, 0, AISFETCH_WORKER_PROCESS);
  if (!r)
    return;
  CHECK(aisfetch_size(r) == size);
  const uint64_t offs[] = {((uint64_t)4 << 30) - 100, (uint64_t)4 << 30, ((uint64_t)4 << 30) + 1,
                           size - 3 * MiB - 5, size - 100};
  uint8_t *buf = malloc(2 * MiB);
  REQUIRE(buf);
  for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
    size_t got = 0;
    aisfetch_error e;
    CHECKF(aisfetch_read_range(r, offs[i], 2 * MiB, buf, &got, &e) == AISFETCH_OK, "%s", e.message);
    size_t want = size - offs[i] < 2 * MiB ? (size_t)(size - offs[i]) : 2 * MiB;
    CHECK(got == want);
    CHECKF(tu_gen_cmp(31337, offs[i], buf, got) < 0, "past 4 GiB at %llu", (unsigned long long)offs[i]);
  }
  /* stream the last 24 MiB in order */
  CHECK(aisfetch_seek(r, size - 24 * MiB, NULL) == AISFETCH_OK);
  CHECK(read_check(r, 31337, size - 24 * MiB) == size);
  free(buf);
  aisfetch_close(r);
}

static void test_info_and_protocol(void)
{
  tu_emu_gen(&emu, "b", "dir/sub/info obj", 300 * KiB, 4, NULL);
  tu_emu_post(&emu, "/_emu/stats/reset");
  /* the open's GET brings the first chunk whole (with the HEAD held) */
  tu_emu_hold_head(&emu, "b", "dir/sub/info obj", 200);
  aisfetch_reader *r = open_obj("ais://b/dir/sub/info obj", 2, 16 * KiB, 0, AISFETCH_WORKER_PROCESS);
  if (!r)
    return;
  aisfetch_object_info info;
  aisfetch_object_info_get(r, &info);
  CHECK(info.size == 300 * KiB);
  CHECKF(!strcmp(info.checksum_type, "xxhash2") && strlen(info.checksum_value) == 16, "%s %s",
         info.checksum_type, info.checksum_value);
  CHECK(info.version[0] != '\0');
  CHECK(!strcmp(info.bucket, "b") && !strcmp(info.object, "dir/sub/info obj") &&
        !strcmp(info.provider, "ais"));
  CHECKF(strstr(info.target_url, "pid=") && strstr(info.target_url, "utm=") &&
         !strstr(info.target_url, "props="), "%s", info.target_url);
  CHECK(read_check(r, 4, 0) == 300 * KiB);
  aisfetch_stats st;
  aisfetch_stats_get(r, &st);
  /* a hedge or a range evicted by one is fetched twice (a slow moment) */
  uint64_t again = st.hedges + st.evictions;
  CHECKF(st.ranges >= 19 && st.ranges <= 19 + again && st.redirects >= 2,
         "ranges %llu hedges %llu evictions %llu redirects %llu", (unsigned long long)st.ranges,
         (unsigned long long)st.hedges, (unsigned long long)st.evictions,
         (unsigned long long)st.redirects);
  aisfetch_close(r);
  /* one HEAD and the GET of the first chunk through the proxy, every other
   * range straight to the target over kept-alive connections */
  CHECKF(tu_emu_stat(&emu, "proxy", "HEAD") == 1, "proxy HEADs %ld", tu_emu_stat(&emu, "proxy", "HEAD"));
  CHECKF(tu_emu_stat(&emu, "proxy", "GET") == 1, "proxy GETs %ld", tu_emu_stat(&emu, "proxy", "GET"));
  long gets = tu_emu_stat(&emu, "targets", "GET");
  CHECKF(gets >= 19 && gets <= (long)(19 + again), "target GETs %ld", gets);
  /* at most two each (a worker asks for its next range before the current
   * one ends), not one per range */
  long conns = tu_emu_stat(&emu, "targets", "connections");
  CHECKF(conns >= 3 && conns <= 5, "target connections %ld for 2 workers and the open", conns);

  /* the object's own chunk size when chunk_size is 0 */
  tu_emu_gen(&emu, "b", "chunked", 1 * MiB + 1, 8, "chunk=262144");
  r = open_obj("ais://b/chunked", 4, 0, 0, AISFETCH_WORKER_THREAD);
  if (r) {
    aisfetch_object_info_get(r, &info);
    CHECKF(info.chunk_size == 262144 && info.max_chunk_size == 262144 && info.chunk_count == 5,
           "chunk %zu max %llu count %u", info.chunk_size, (unsigned long long)info.max_chunk_size,
           info.chunk_count);
    CHECK(info.num_workers == 4 && info.slots == 5);
    CHECK(read_check(r, 8, 0) == 1 * MiB + 1);
    aisfetch_close(r);
  }
  r = open_obj("ais://b/all", 4, 0, 0, AISFETCH_WORKER_THREAD);
  if (r) {
    aisfetch_object_info_get(r, &info);
    CHECK(info.chunk_size == 8 * MiB && info.num_workers == 1 && info.slots == 1);
    aisfetch_close(r);
  }
  /* other providers and names that need escaping */
  tu_emu_gen(&emu, "b", "we%ird#name?.bin", 1000, 3, "provider=aws");
  r = open_obj("s3://b/we%ird#name?.bin", 2, 0, 0, AISFETCH_WORKER_THREAD);
  if (r) {
    CHECK(read_check(r, 3, 0) == 1000);
    aisfetch_close(r);
  }
}

/* The open's GET of the first bytes, sent with the HEAD: a small object
 * needs no other request; a larger one starts with at least 64 KiB in, and
 * the rest of the first chunk is one range; an answer cut short (slow
 * server) gives its first whole 4 KiB pages, and the rest is fetched. */
static void test_first_bytes(int mode)
{
  aisfetch_stats st;
  tu_emu_gen(&emu, "b", "fb-small", 64 * KiB + 3, 21, NULL);
  tu_emu_post(&emu, "/_emu/stats/reset");
  aisfetch_reader *r = open_obj("ais://b/fb-small", 4, 0, 0, (aisfetch_worker_mode)mode);
  if (r) {
    /* the helper started with the HEAD is stopped: one chunk is read by a
     * thread */
    CHECKF(tu_count_children() == 0, "%d child processes for a one-chunk object",
           tu_count_children());
    aisfetch_stats_get(r, &st);
    CHECKF(st.bytes == 64 * KiB + 3 && st.ranges == 1, "after open: %llu bytes, %llu ranges",
           (unsigned long long)st.bytes, (unsigned long long)st.ranges);
    CHECK(read_check(r, 21, 0) == 64 * KiB + 3);
    aisfetch_close(r);
  }
  CHECKF(tu_emu_stat(&emu, "targets", "GET") == 1, "small object: %ld GETs, expected 1",
         tu_emu_stat(&emu, "targets", "GET"));

  const uint64_t size = 3 * MiB + 5;
  tu_emu_gen(&emu, "b", "fb-big", size, 22, NULL);
  tu_emu_post(&emu, "/_emu/stats/reset");
  /* the HEAD held 1 s, the open's GET sent at 128 KiB/s: about 128 KiB are
   * in when the HEAD answers, all 256 only a second later */
  tu_emu_hold_head(&emu, "b", "fb-big", 1000);
  long slow = tu_emu_fault(&emu, "{\"bucket\":\"b\",\"object\":\"fb-big\",\"offset\":0,"
                                 "\"kind\":\"slow\",\"rate\":131072}");
  g_first_bytes = 256 * KiB;
  /* one worker: no hedge, so every count below is exact */
  r = open_obj("ais://b/fb-big", 1, 1 * MiB, 0, (aisfetch_worker_mode)mode);
  if (r) {
    aisfetch_stats_get(r, &st);
    /* the open stops waiting once 64 KiB are in */
    CHECKF(st.bytes >= 64 * KiB && st.bytes < 256 * KiB && st.bytes % 4096 == 0 && st.ranges == 0,
           "after open: %llu bytes, %llu ranges", (unsigned long long)st.bytes,
           (unsigned long long)st.ranges);
    long used = (long)st.bytes;
    CHECK(read_check(r, 22, 0) == size);
    aisfetch_stats_get(r, &st);
    CHECKF(st.bytes == size && st.ranges == 4 && st.hedges == 0, "%llu bytes in %llu ranges",
           (unsigned long long)st.bytes, (unsigned long long)st.ranges);
    aisfetch_close(r);
    /* no byte was asked twice: the targets sent the object once, and at
     * most the part of the open's GET that came after the open stopped
     * waiting (the emulator counts the bytes of an answer when it ends,
     * and the slow answer to that GET ends at its next piece) */
    long sent = tu_emu_stat_wait(&emu, "targets", "bytes", (long)size, 3000);
    CHECKF(sent >= (long)size && sent <= (long)size + (long)(256 * KiB) - used,
           "the targets sent %ld bytes of %llu, %ld used from the open's GET", sent,
           (unsigned long long)size, used);
  }
  CHECK(tu_emu_fault_fired(&emu, slow) == 1);
  tu_emu_clear_faults(&emu);

  /* 4 MB/s after a 10 ms round trip: the open waits for its GET as long as
   * the HEAD took (10 ms at least), so the first chunk is partly in */
  tu_emu_shape(&emu, 10, 4000000);
  g_first_bytes = 1 * MiB;
  /* the HEAD held 60 ms: part of the GET's body is in by then, and the
   * whole 1 MiB only some 200 ms later */
  tu_emu_hold_head(&emu, "b", "fb-big", 60);
  r = open_obj("ais://b/fb-big", 1, 1 * MiB, 0, (aisfetch_worker_mode)mode);
  if (r) {
    aisfetch_stats_get(r, &st);
    CHECKF(st.bytes > 0 && st.bytes < 1 * MiB && st.bytes % 4096 == 0,
           "after open: %llu bytes", (unsigned long long)st.bytes);
    /* away and back while the first chunk is only partly in */
    aisfetch_error e;
    CHECK(aisfetch_seek(r, 2 * MiB + 7, &e) == AISFETCH_OK);
    aisfetch_chunk c;
    CHECKF(aisfetch_next(r, &c, &e) == AISFETCH_OK && c.offset == 2 * MiB + 7 && c.len > 0 &&
               tu_gen_cmp(22, c.offset, c.data, c.len) < 0, "%s", e.message);
    aisfetch_release(r, &c);
    CHECK(aisfetch_seek(r, 0, &e) == AISFETCH_OK);
    CHECK(read_check(r, 22, 0) == size);
    aisfetch_close(r);
  }
  tu_emu_shape(&emu, 0, 0);
  g_first_bytes = 0;
}

static void test_errors(void)
{
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.endpoint = emu.url;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  o.uri = "ais://nosuchbucket/o";
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_NOT_FOUND && e.http_status == 404 && !r);
  CHECKF(strstr(e.server_message, "does not exist") != NULL, "'%s'", e.server_message);
  o.uri = "ais://b/nosuchobject";
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_NOT_FOUND && e.http_status == 404);
  CHECKF(strstr(e.message, "nosuchobject") && strstr(e.server_message, "does not exist"), "%s | %s",
         e.message, e.server_message);
  /* a worker helper that does not exist is a precise error */
  o.uri = "ais://b/all";
  o.chunk_size = 64 * KiB;
  o.worker_path = "/nonexistent/aisfetch-worker";
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_SYSTEM && strstr(e.message, "helper") && !r);
  aisfetch_close(r);
  /* one chunk needs no helper: a thread does the one GET */
  o.chunk_size = 0;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  aisfetch_close(r);
  CHECK(tu_count_children() == 0);
}

struct canceller {
  aisfetch_reader *r;
  int ms;
};

static void *cancel_later(void *arg)
{
  struct canceller *c = arg;
  tu_sleep_ms(c->ms);
  aisfetch_cancel(c->r);
  return NULL;
}

static void test_cancel(void)
{
  tu_emu_gen(&emu, "b", "stall", 256 * KiB, 6, NULL);
  tu_emu_fault(&emu, "{\"bucket\":\"b\",\"object\":\"stall\",\"kind\":\"stall\",\"seconds\":30,"
                     "\"after_bytes\":100,\"count\":-1}");
  for (int mode = 0; mode < 2; mode++) {
    aisfetch_reader *r = open_obj("ais://b/stall", 2, 64 * KiB, 0, (aisfetch_worker_mode)mode);
    if (!r)
      continue;
    struct canceller c = {r, 150};
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, &c);
    double t0 = tu_now_s();
    aisfetch_chunk ch;
    aisfetch_error e;
    CHECK(aisfetch_next(r, &ch, &e) == AISFETCH_E_CANCELLED);
    double dt = tu_now_s() - t0;
    CHECKF(dt < 1.0, "cancel took %.3f s", dt);
    pthread_join(t, NULL);
    /* stays cancelled until cleared */
    CHECK(aisfetch_next(r, &ch, &e) == AISFETCH_E_CANCELLED);
    aisfetch_cancel_clear(r);
    /* close in the middle of stalled ranges is quick and leaves nothing */
    t0 = tu_now_s();
    aisfetch_close(r);
    dt = tu_now_s() - t0;
    CHECKF(dt < 1.0, "close took %.3f s", dt);
    CHECK(tu_count_children() == 0);
  }
  tu_emu_clear_faults(&emu);
}

static double g_cancel_at;

static int cancel_after(void *ud)
{
  (void)ud;
  return tu_now_s() >= g_cancel_at;
}

/* An open stuck on a HEAD that never answers gives up when asked to. */
static void test_cancel_open(void)
{
  tu_emu_gen(&emu, "b", "headstall", 1000, 1, NULL);
  tu_emu_fault(&emu, "{\"bucket\":\"b\",\"object\":\"headstall\",\"node\":\"proxy\","
                     "\"method\":\"HEAD\",\"kind\":\"stall\",\"seconds\":30,\"after_bytes\":-1,"
                     "\"count\":-1}");
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = "ais://b/headstall";
  o.endpoint = emu.url;
  o.open_cancelled = cancel_after;
  double t0 = tu_now_s();
  g_cancel_at = t0 + 0.15;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_CANCELLED && !r);
  double dt = tu_now_s() - t0;
  CHECKF(dt >= 0.15 && dt < 1.0, "open gave up after %.3f s", dt);
  tu_emu_clear_faults(&emu);
}

static void test_verify_checksum(void)
{
  const char *types[] = {"xxhash", "xxhash2", "crc32c", "md5", "sha256", "sha512", "none"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    char name[32], q[64], uri[64];
    snprintf(name, sizeof name, "ck-%s", types[i]);
    snprintf(q, sizeof q, "cksum=%s", types[i]);
    snprintf(uri, sizeof uri, "ais://ck/%s", name);
    tu_emu_gen(&emu, "ck", name, 777 * KiB + 5, 50 + i, q);
    aisfetch_options o;
    aisfetch_options_init(&o);
    o.uri = uri;
    o.endpoint = emu.url;
    o.chunk_size = 64 * KiB;
    o.num_workers = 4;
    o.verify_checksum = 1;
    aisfetch_reader *r = NULL;
    aisfetch_error e;
    if (aisfetch_open(&o, &r, &e)) {
      CHECKF(0, "%s", e.message);
      continue;
    }
    aisfetch_object_info info;
    aisfetch_object_info_get(r, &info);
    /* AIStore sends no checksum headers for type none */
    CHECKF(!strcmp(info.checksum_type, types[i]) || (!strcmp(types[i], "none") && !info.checksum_type[0]),
           "type %s", info.checksum_type);
    CHECK(read_check(r, 50 + i, 0) == 777 * KiB + 5);
    aisfetch_close(r);
  }
}

static void test_auth(void)
{
  tu_emu_stop(&emu);
  const char *args[] = {"--token", "sekrit", "--forbidden-token", "nope", NULL};
  tu_emu_start(&emu, args);
  tu_emu_gen(&emu, "b", "auth", 100 * KiB, 1, NULL);
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = "ais://b/auth";
  o.endpoint = emu.url;
  o.chunk_size = 16 * KiB;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_AUTH && e.http_status == 401);
  o.token = "expired";
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_AUTH && e.http_status == 401);
  CHECKF(strstr(e.server_message, "expired") != NULL, "'%s'", e.server_message);
  o.token = "nope";
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_AUTH && e.http_status == 403);
  o.token = "sekrit";
  CHECKF(aisfetch_open(&o, &r, &e) == AISFETCH_OK, "%s", e.message);
  if (r) {
    CHECK(read_check(r, 1, 0) == 100 * KiB);
    aisfetch_close(r);
  }
  /* from the environment */
  setenv("AIS_AUTHN_TOKEN", "sekrit", 1);
  o.token = NULL;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  aisfetch_close(r);
  setenv("AIS_AUTHN_TOKEN", "", 1);
  /* the endpoint from the environment */
  setenv("AIS_ENDPOINT", emu.url, 1);
  o.endpoint = NULL;
  o.token = "sekrit";
  r = NULL;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  aisfetch_close(r);
  setenv("AIS_ENDPOINT", "", 1);
}

int main(void)
{
  int fds0 = tu_count_fds();
  tu_emu_start(&emu, NULL);
  int fds1 = tu_count_fds();
  test_matrix();
  test_empty();
  test_read_all_and_slots();
  test_seek_and_ranges(AISFETCH_WORKER_PROCESS);
  test_seek_and_ranges(AISFETCH_WORKER_THREAD);
  test_holding();
  test_start_idle(AISFETCH_WORKER_PROCESS);
  test_start_idle(AISFETCH_WORKER_THREAD);
  test_hold_first_bytes(AISFETCH_WORKER_PROCESS);
  test_hold_first_bytes(AISFETCH_WORKER_THREAD);
  test_concurrent_calls();
  test_pipeline(AISFETCH_WORKER_PROCESS);
  test_pipeline(AISFETCH_WORKER_THREAD);
  test_progress(AISFETCH_WORKER_PROCESS);
  test_progress(AISFETCH_WORKER_THREAD);
  test_info_and_protocol();
  test_first_bytes(AISFETCH_WORKER_PROCESS);
  test_first_bytes(AISFETCH_WORKER_THREAD);
  test_errors();
  test_cancel();
  test_cancel_open();
  test_verify_checksum();
  test_big();
  CHECKF(tu_count_fds() == fds1, "fds %d -> %d", fds1, tu_count_fds());
  test_auth();
  tu_emu_stop(&emu);
  CHECK(tu_wait_no_children(1000) == 0);
  CHECKF(tu_count_fds() == fds0, "fds %d -> %d", fds0, tu_count_fds());
  return tu_finish("test_read");
}
