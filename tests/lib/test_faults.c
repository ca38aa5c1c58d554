/* Each fault the emulator can inject gives the right bytes (a one-off fault,
 * retried alone) or the specific error (a fault that persists). */
#include "aisfetch.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1024)
static tu_emu emu;
static const size_t CS = 64 * KiB;
static const uint64_t SIZE = 16 * 64 * 1024 + 321;
static unsigned g_workers = 4;
static uint64_t g_size = SIZE; /* what read_obj expects */
static long g_first_bytes = 0;  /* the open's GET of the first bytes (-1: none) */

/* Reads the whole object; returns the error kind (OK when every byte was right). */
static aisfetch_errkind read_obj(const char *obj, uint64_t seed, unsigned retries, long stall_ms,
                                 aisfetch_worker_mode mode, aisfetch_error *e,
                                 aisfetch_stats *st)
{
  char uri[256];
  snprintf(uri, sizeof uri, "ais://f/%s", obj);
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = uri;
  o.endpoint = emu.url;
  o.num_workers = g_workers;
  o.chunk_size = CS;
  o.retries = retries;
  o.stall_timeout_ms = stall_ms;
  o.worker_mode = mode;
  o.first_bytes = g_first_bytes;
  aisfetch_reader *r = NULL;
  aisfetch_errkind k = aisfetch_open(&o, &r, e);
  if (k)
    return k;
  uint64_t off = 0;
  for (int guard = 0; guard < 100000; guard++) {
    aisfetch_chunk c;
    k = aisfetch_next(r, &c, e);
    if (k || !c.len)
      break;
    CHECKF(c.offset == off, "offset %llu != %llu", (unsigned long long)c.offset,
           (unsigned long long)off);
    int64_t bad = tu_gen_cmp(seed, c.offset, c.data, c.len);
    CHECKF(bad < 0, "%s: WRONG BYTE at %lld", obj, (long long)bad);
    off += c.len;
    aisfetch_release(r, &c);
  }
  if (!k)
    CHECKF(off == g_size, "%s: read %llu of %llu", obj, (unsigned long long)off,
           (unsigned long long)g_size);
  if (st)
    aisfetch_stats_get(r, st);
  aisfetch_close(r);
  return k;
}

struct fcase {
  const char *name;
  const char *fault; /* JSON after bucket/object */
  aisfetch_errkind persistent; /* the error when it never stops */
  const char *msg;             /* in the message then */
  int status;                  /* http_status then */
};

static const struct fcase cases[] = {
  {"s503", "\"kind\":\"status\",\"code\":503", AISFETCH_E_SERVER, "503", 503},
  {"s500", "\"kind\":\"status\",\"code\":500", AISFETCH_E_SERVER, "500", 500},
  {"s429", "\"kind\":\"status\",\"code\":429,\"retry_after\":0", AISFETCH_E_SERVER, "429", 429},
  {"reset", "\"kind\":\"reset\",\"after_bytes\":1000", AISFETCH_E_NETWORK, "", 0},
  {"short", "\"kind\":\"short\",\"after_bytes\":1000", AISFETCH_E_NETWORK, "short", 0},
  {"full200", "\"kind\":\"full200\"", AISFETCH_E_PROTOCOL, "200", 200},
  {"badrange", "\"kind\":\"bad_range\"", AISFETCH_E_PROTOCOL, "Content-Range", 206},
  {"extra", "\"kind\":\"extra\",\"bytes\":100", AISFETCH_E_PROTOCOL, "Content-Length", 206},
  {"stall", "\"kind\":\"stall\",\"seconds\":20,\"after_bytes\":1000", AISFETCH_E_TIMEOUT, "no data", 206},
  {"silent", "\"kind\":\"stall\",\"seconds\":20,\"after_bytes\":-1", AISFETCH_E_TIMEOUT, "no data", 0},
};

/* A one-off fault on the first GET at byte OFFSET of a new object NAME: the
 * read gives the right bytes; *st has its stats (the emulator's are reset
 * before it). */
static void fault_once(const struct fcase *fc, const char *name, uint64_t seed, size_t offset,
                       int mode, aisfetch_stats *st)
{
  char json[512];
  aisfetch_error e;
  tu_emu_gen(&emu, "f", name, g_size, seed, NULL);
  tu_emu_post(&emu, "/_emu/stats/reset");
  snprintf(json, sizeof json, "{\"bucket\":\"f\",\"object\":\"%s\",\"offset\":%zu,%s}", name,
           offset, fc->fault);
  long id = tu_emu_fault(&emu, json);
  /* at offset 0 the fault is meant for the open's GET: the HEAD is held so
   * that this GET is surely sent before the open goes on without it */
  if (offset == 0)
    tu_emu_hold_head(&emu, "f", name, 300);
  memset(st, 0, sizeof *st);
  aisfetch_errkind k = read_obj(name, seed, 5, 400, (aisfetch_worker_mode)mode, &e, st);
  CHECKF(k == AISFETCH_OK, "%s once (%s, mode %d): %s", fc->name, name, mode, e.message);
  CHECKF(tu_emu_fault_fired(&emu, id) == 1, "%s once (%s, mode %d): the fault did not fire",
         fc->name, name, mode);
  tu_emu_clear_faults(&emu);
}

/* Every fault once while one worker has two ranges in flight: the server
 * holds each answer 20 ms and sends 1 MB/s per connection (in 20 KB pieces),
 * so the worker asks for the next range (the faulty one) before the current
 * one ends. */
static void test_fault_cases_pipelined(void)
{
  g_workers = 1;
  g_size = 6 * CS + 5;
  g_first_bytes = -1; /* the open's GET would overlap the HEAD: 2 at once already */
  tu_emu_shape(&emu, 20, 1000000);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct fcase *fc = &cases[i];
    char name[64];
    aisfetch_stats st;
    snprintf(name, sizeof name, "pipe-%s", fc->name);
    for (int mode = 0; mode < 2; mode++) {
      fault_once(fc, name, 200 + i, 2 * CS, mode, &st);
      CHECKF(st.retries >= 1, "%s once, pipelined: no retry counted", fc->name);
      long peak = tu_emu_stat(&emu, "targets", "max_active");
      CHECKF(peak == 2, "%s once, pipelined: %ld requests in flight at most", fc->name, peak);
    }
  }
  tu_emu_shape(&emu, 0, 0);
  g_workers = 4;
  g_size = SIZE;
  g_first_bytes = 0;
}

static void test_fault_cases(void)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct fcase *fc = &cases[i];
    char json[512];
    aisfetch_error e;
    aisfetch_stats st;
    for (int mode = 0; mode < 2; mode++) {
      /* a one-off fault on the third range: right bytes, one retry */
      fault_once(fc, fc->name, 100 + i, 2 * CS, mode, &st);
      CHECKF(st.retries + st.hedges >= 1, "%s once: no retry or hedge counted", fc->name);
    }
    /* the same fault on every try of that range: its specific error */
    snprintf(json, sizeof json,
             "{\"bucket\":\"f\",\"object\":\"%s\",\"offset\":%zu,\"count\":-1,%s}", fc->name,
             2 * CS, fc->fault);
    tu_emu_fault(&emu, json);
    double t0 = tu_now_s();
    aisfetch_errkind k = read_obj(fc->name, 100 + i, 2, 400, AISFETCH_WORKER_PROCESS, &e, NULL);
    double dt = tu_now_s() - t0;
    CHECKF(k == fc->persistent, "%s always: kind %s (%s)", fc->name, aisfetch_errkind_name(k),
           e.message);
    CHECKF(strstr(e.message, fc->msg) != NULL, "%s always: message '%s'", fc->name, e.message);
    if (fc->status)
      CHECKF(e.http_status == fc->status, "%s always: status %d", fc->name, e.http_status);
    CHECKF(dt < 15, "%s always: took %.1f s", fc->name, dt);
    tu_emu_clear_faults(&emu);
  }
}

/* Every fault once on the open's GET of the first bytes (the first GET at
 * offset 0): those bytes are not used, or only the whole pages that came
 * before the fault, and the read is exact without a retry.  A stalled answer
 * does not hold the open. */
static void test_fault_cases_first_bytes(void)
{
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct fcase *fc = &cases[i];
    char name[64];
    snprintf(name, sizeof name, "first-%s", fc->name);
    for (int mode = 0; mode < 2; mode++) {
      aisfetch_stats st;
      double t0 = tu_now_s();
      fault_once(fc, name, 300 + i, 0, mode, &st);
      double dt = tu_now_s() - t0;
      /* a hedge (a range that lagged on a busy machine), or a range it
       * evicted, fetches a chunk twice */
      CHECKF(st.retries == 0 && st.bytes >= SIZE &&
                 st.bytes <= SIZE + (st.hedges + st.evictions) * CS,
             "%s on the first bytes: %llu retries, %llu bytes, %llu hedges, %llu evictions",
             fc->name, (unsigned long long)st.retries, (unsigned long long)st.bytes,
             (unsigned long long)st.hedges, (unsigned long long)st.evictions);
      CHECKF(dt < 5.3, "%s on the first bytes: took %.1f s", fc->name, dt);
      /* the fault was spent on the open's GET, not on a worker's */
      CHECKF(tu_emu_stat(&emu, "proxy", "GET") == 1, "%s: %ld GETs at the proxy", fc->name,
             tu_emu_stat(&emu, "proxy", "GET"));
    }
  }
  /* an object the GET would bring whole, that GET stalled before its body
   * and the stall timeout 20 s: the open gives up on it after about a
   * second, and a worker fetches the object */
  g_size = 60000;
  tu_emu_gen(&emu, "f", "first-small", g_size, 399, NULL);
  tu_emu_fault(&emu, "{\"bucket\":\"f\",\"object\":\"first-small\",\"offset\":0,"
                     "\"kind\":\"stall\",\"seconds\":20,\"after_bytes\":-1}");
  aisfetch_error e;
  double t0 = tu_now_s();
  aisfetch_errkind k = read_obj("first-small", 399, 5, 0, AISFETCH_WORKER_PROCESS, &e, NULL);
  double dt = tu_now_s() - t0;
  CHECKF(k == AISFETCH_OK, "small object, first bytes stalled: %s", e.message);
  CHECKF(dt < 4, "small object, first bytes stalled: took %.1f s", dt);
  tu_emu_clear_faults(&emu);
  g_size = SIZE;
}

static void test_slow_and_retry_after(void)
{
  aisfetch_error e;
  aisfetch_stats st;
  tu_emu_gen(&emu, "f", "slow", SIZE, 7, NULL);
  char json[256];
  snprintf(json, sizeof json,
           "{\"bucket\":\"f\",\"object\":\"slow\",\"offset\":%zu,\"kind\":\"slow\",\"rate\":200000}", CS);
  tu_emu_fault(&emu, json);
  CHECKF(read_obj("slow", 7, 5, 5000, AISFETCH_WORKER_PROCESS, &e, &st) == AISFETCH_OK, "%s", e.message);
  tu_emu_clear_faults(&emu);

  tu_emu_gen(&emu, "f", "ra", SIZE, 8, NULL);
  snprintf(json, sizeof json,
           "{\"bucket\":\"f\",\"object\":\"ra\",\"offset\":%zu,\"kind\":\"status\",\"code\":503,"
           "\"retry_after\":1}", CS);
  tu_emu_fault(&emu, json);
  double t0 = tu_now_s();
  g_workers = 1; /* no hedge can overtake the wait */
  CHECKF(read_obj("ra", 8, 5, 5000, AISFETCH_WORKER_THREAD, &e, &st) == AISFETCH_OK, "%s", e.message);
  g_workers = 4;
  CHECKF(tu_now_s() - t0 >= 0.95, "Retry-After not honoured: %.2f s", tu_now_s() - t0);
  tu_emu_clear_faults(&emu);

  /* a 404 from the proxy at HEAD is final, a 503 at HEAD is retried */
  tu_emu_gen(&emu, "f", "head", SIZE, 9, NULL);
  tu_emu_fault(&emu, "{\"bucket\":\"f\",\"object\":\"head\",\"node\":\"proxy\",\"method\":\"HEAD\","
                     "\"kind\":\"status\",\"code\":503}");
  CHECKF(read_obj("head", 9, 5, 5000, AISFETCH_WORKER_THREAD, &e, &st) == AISFETCH_OK, "%s", e.message);
  tu_emu_clear_faults(&emu);
}

/* Overwritten at the fifth range, or between the HEAD and the open's GET of
 * the first bytes (that GET held 400 ms at the proxy, the object small
 * enough for the open to wait for it): never bytes of two versions. */
static void test_changed(void)
{
  aisfetch_error e;
  for (int mode = 0; mode < 4; mode++) {
    g_size = mode < 2 ? SIZE : 60000;
    tu_emu_gen(&emu, "f", "changed", g_size, 10, NULL);
    char json[256];
    snprintf(json, sizeof json,
             "{\"bucket\":\"f\",\"object\":\"changed\",\"offset\":%zu,\"kind\":\"overwrite\"}",
             mode < 2 ? 5 * CS : 0);
    if (mode >= 2)
      tu_emu_fault(&emu, "{\"bucket\":\"f\",\"object\":\"changed\",\"node\":\"proxy\","
                         "\"kind\":\"delay\",\"ms\":400}");
    tu_emu_fault(&emu, json);
    aisfetch_errkind k = read_obj("changed", 10, 5, 5000, (aisfetch_worker_mode)(mode % 2), &e, NULL);
    CHECKF(k == AISFETCH_E_CHANGED, "overwrite %d: %s (%s)", mode, aisfetch_errkind_name(k), e.message);
    CHECKF(strstr(e.message, "changed"), "%s", e.message);
    tu_emu_clear_faults(&emu);
  }
  g_size = SIZE;
}

/* The target that served the first ranges loses the object (or goes away):
 * the reader goes back through the proxy and continues byte-exact. */
static void test_moved_and_down(void)
{
  for (int down = 0; down < 2; down++) {
    const char *obj = down ? "gone" : "moved";
    tu_emu_gen(&emu, "f", obj, SIZE, 11, NULL);
    char uri[64];
    snprintf(uri, sizeof uri, "ais://f/%s", obj);
    aisfetch_options o;
    aisfetch_options_init(&o);
    o.uri = uri;
    o.endpoint = emu.url;
    o.num_workers = 2;
    o.chunk_size = CS;
    o.slots = 2;
    o.connect_timeout_ms = 2000;
    o.first_bytes = -1; /* chunk 0 whole, not the open's first bytes */
    aisfetch_reader *r = NULL;
    aisfetch_error e;
    if (aisfetch_open(&o, &r, &e)) {
      CHECKF(0, "%s", e.message);
      continue;
    }
    aisfetch_chunk c;
    CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK && c.len == CS);
    aisfetch_release(r, &c);
    /* before the move: a worker may meet it (and be redirected) at once */
    aisfetch_stats st0, st1;
    aisfetch_stats_get(r, &st0);
    char url[512], meta[2048];
    snprintf(url, sizeof url, "%s/_emu/objects/f/%s", emu.url, obj);
    REQUIRE(tu_http("GET", url, NULL, 0, meta, sizeof meta) == 200);
    char *t = strstr(meta, "\"owner\"");
    REQUIRE(t);
    int owner = atoi(strchr(t, ':') + 1);
    char path[256];
    snprintf(path, sizeof path, "/_emu/move/f/%s?target=%d", obj, (owner + 1) % 3);
    tu_emu_post(&emu, path);
    if (down) {
      snprintf(path, sizeof path, "/_emu/targets/%d/down", owner);
      tu_emu_post(&emu, path);
    }
    uint64_t off = CS;
    for (int g = 0; g < 1000; g++) {
      aisfetch_errkind k = aisfetch_next(r, &c, &e);
      if (k) {
        CHECKF(0, "%s: %s", obj, e.message);
        break;
      }
      if (!c.len)
        break;
      CHECK(c.offset == off && tu_gen_cmp(11, c.offset, c.data, c.len) < 0);
      off += c.len;
      aisfetch_release(r, &c);
    }
    CHECKF(off == SIZE, "%s: read to %llu", obj, (unsigned long long)off);
    aisfetch_stats_get(r, &st1);
    CHECKF(st1.redirects > st0.redirects, "%s: no new redirect", obj);
    aisfetch_close(r);
    if (down) {
      snprintf(path, sizeof path, "/_emu/targets/%d/up", owner);
      tu_emu_post(&emu, path);
    }
  }
}

/* A worker process killed in the middle of a range is replaced and the range
 * fetched again. */
static void test_worker_killed(void)
{
  tu_emu_gen(&emu, "f", "kill", SIZE, 12, NULL);
  tu_emu_fault(&emu, "{\"bucket\":\"f\",\"object\":\"kill\",\"kind\":\"slow\",\"rate\":300000,\"count\":-1}");
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = "ais://f/kill";
  o.endpoint = emu.url;
  o.num_workers = 4;
  o.chunk_size = CS;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  /* kill two of our workers, children of our helper (the zygote), once all
   * four are forked (the slow answers keep them busy) */
  pid_t zyg, wk[64];
  int nw = tu_zygote_workers(4, 10000, &zyg, wk, 64);
  CHECK(zyg != 0);
  CHECKF(nw == 4, "%d workers", nw);
  int killed = 0;
  for (int i = 0; i < nw && i < 2; i++)
    killed += kill(wk[i], SIGKILL) == 0;
  /* and the helper itself: a new one is started for the respawns */
  if (zyg)
    kill(zyg, SIGKILL);
  CHECK(killed == 2);
  tu_emu_clear_faults(&emu);
  uint64_t off = 0;
  for (int g = 0; g < 1000; g++) {
    aisfetch_chunk c;
    if (aisfetch_next(r, &c, &e)) {
      CHECKF(0, "%s", e.message);
      break;
    }
    if (!c.len)
      break;
    CHECK(c.offset == off && tu_gen_cmp(12, c.offset, c.data, c.len) < 0);
    off += c.len;
    aisfetch_release(r, &c);
  }
  CHECK(off == SIZE);
  aisfetch_stats st;
  aisfetch_stats_get(r, &st);
  CHECKF(st.respawns >= 2, "respawns %llu", (unsigned long long)st.respawns);
  aisfetch_close(r);
  CHECK(tu_wait_no_children(1000) == 0);
}

/* The caller holds a piece of the chunk at the position, the other slot
 * holds a range that failed (404) ahead of it, and the worker of the held
 * chunk dies: the failed range gives up its slot, no hang. */
struct next_thread {
  aisfetch_reader *r;
  aisfetch_chunk c;
  aisfetch_errkind k;
  atomic_int done;
};

static void *next_in_thread(void *arg)
{
  struct next_thread *t = arg;
  t->k = aisfetch_next(t->r, &t->c, NULL);
  atomic_store(&t->done, 1);
  return NULL;
}

static void test_held_piece_dead_worker(void)
{
  const size_t cs = 1024 * KiB;
  tu_emu_gen(&emu, "f", "heldkill", 4 * cs, 31, NULL);
  long nf = tu_emu_fault(&emu, "{\"bucket\":\"f\",\"object\":\"heldkill\",\"node\":\"target\",\"method\":\"GET\","
                     "\"offset\":1048576,\"kind\":\"status\",\"code\":404,\"count\":-1}");
  tu_emu_fault(&emu, "{\"bucket\":\"f\",\"object\":\"heldkill\",\"node\":\"target\",\"method\":\"GET\","
                     "\"offset\":0,\"kind\":\"slow\",\"rate\":100000,\"count\":1}");
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = "ais://f/heldkill";
  o.endpoint = emu.url;
  o.num_workers = 2;
  o.slots = 2;
  o.chunk_size = cs;
  o.first_bytes = -1;
  o.retries = 1;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  aisfetch_chunk held;
  CHECKF(aisfetch_next(r, &held, &e) == AISFETCH_OK && held.offset == 0 && held.len > 0 &&
             held.len < cs, "%s", e.message);
  /* both workers forked, and the range of chunk 1 failed: its two tries
   * answered 404 (and a moment for the reader to take the answer) */
  for (int t = 0; t < 1000 && tu_emu_fault_fired(&emu, nf) < 2; t++)
    tu_sleep_ms(10);
  CHECKF(tu_emu_fault_fired(&emu, nf) >= 2, "chunk 1 asked %ld times", tu_emu_fault_fired(&emu, nf));
  tu_sleep_ms(100);
  pid_t zyg, wk[16];
  int nw = tu_zygote_workers(2, 10000, &zyg, wk, 16);
  CHECKF(nw == 2, "%d workers", nw);
  for (int i = 0; i < nw; i++)
    kill(wk[i], SIGKILL);
  struct next_thread t = {.r = r, .k = AISFETCH_OK};
  atomic_init(&t.done, 0);
  pthread_t th;
  REQUIRE(pthread_create(&th, NULL, next_in_thread, &t) == 0);
  for (int i = 0; i < 500 && !atomic_load(&t.done); i++)
    tu_sleep_ms(10);
  CHECKF(atomic_load(&t.done), "next() still blocked 5 s after the workers died");
  if (!atomic_load(&t.done))
    aisfetch_cancel(r);
  pthread_join(th, NULL);
  if (t.k == AISFETCH_OK) {
    CHECK(t.c.offset == held.len && t.c.len > 0);
    CHECK(tu_gen_cmp(31, t.c.offset, t.c.data, t.c.len) < 0);
    aisfetch_release(r, &t.c);
  } else {
    CHECKF(0, "next after the workers died: %s", aisfetch_errkind_name(t.k));
  }
  CHECK(tu_gen_cmp(31, held.offset, held.data, held.len) < 0);
  aisfetch_release(r, &held);
  aisfetch_close(r);
  tu_emu_clear_faults(&emu);
}

/* One range far slower than its peers is fetched again by an idle worker;
 * the first answer wins and the reader does not wait for the straggler. */
static void test_straggler(void)
{
  for (int mode = 0; mode < 2; mode++) {
    tu_emu_gen(&emu, "f", "straggler", SIZE, 13, NULL);
    char json[256];
    snprintf(json, sizeof json,
             "{\"bucket\":\"f\",\"object\":\"straggler\",\"offset\":%zu,\"kind\":\"slow\","
             "\"rate\":20000}", 2 * CS); /* 3.3 s for this range alone */
    tu_emu_fault(&emu, json);
    aisfetch_error e;
    aisfetch_stats st;
    double t0 = tu_now_s();
    CHECKF(read_obj("straggler", 13, 5, 20000, (aisfetch_worker_mode)mode, &e, &st) == AISFETCH_OK,
           "%s", e.message);
    double dt = tu_now_s() - t0;
    CHECKF(st.hedges >= 1, "no hedge (mode %d)", mode);
    CHECKF(dt < 3.0, "the reader waited for the straggler: %.2f s", dt);
    tu_emu_clear_faults(&emu);
  }
}

/* End-to-end checksum: a server that claims a checksum its bytes do not have
 * is caught at the end, before the end is reported; every type. */
static void test_checksum_mismatch(void)
{
  static const struct {
    const char *type, *bad;
  } t[] = {
    {"xxhash", "0123456789abcdef"}, {"xxhash2", "0123456789abcdef"}, {"crc32c", "01234567"},
    {"md5", "0123456789abcdef0123456789abcdef"},
    {"sha256", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
    {"sha512", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char q[256];
    snprintf(q, sizeof q, "cksum=%s&cksum_value=%s", t[i].type, t[i].bad);
    tu_emu_gen(&emu, "f", "liar", SIZE, 14, q);
    for (int verify = 0; verify < 2; verify++) {
      aisfetch_options o;
      aisfetch_options_init(&o);
      o.uri = "ais://f/liar";
      o.endpoint = emu.url;
      o.chunk_size = CS;
      o.num_workers = 4;
      o.verify_checksum = verify;
      aisfetch_reader *r = NULL;
      aisfetch_error e;
      REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
      uint64_t off = 0;
      aisfetch_errkind k = AISFETCH_OK;
      for (int g = 0; g < 1000; g++) {
        aisfetch_chunk c;
        k = aisfetch_next(r, &c, &e);
        if (k || !c.len)
          break;
        CHECK(tu_gen_cmp(14, c.offset, c.data, c.len) < 0);
        off += c.len;
        aisfetch_release(r, &c);
      }
      CHECK(off == SIZE);
      if (verify) {
        CHECKF(k == AISFETCH_E_CHECKSUM && strstr(e.message, t[i].type) && strstr(e.message, t[i].bad),
               "%s: %s (%s)", t[i].type, aisfetch_errkind_name(k), e.message);
        aisfetch_chunk c;
        CHECK(aisfetch_next(r, &c, &e) == AISFETCH_E_CHECKSUM); /* and it stays an error */
      } else {
        CHECKF(k == AISFETCH_OK, "%s without verification: %s", t[i].type, e.message);
      }
      aisfetch_close(r);
    }
  }
}

/* The ring's memfds obey RLIMIT_FSIZE: a ring that cannot be made fails the
 * open, and a write into it that fails is a system error that names its
 * cause (not retried as if the network had failed, no wrong bytes, no hang).
 * Thread mode: a worker process would be killed by SIGXFSZ instead (a dead
 * worker, tested elsewhere). */
static void test_ring_write_fails(void)
{
  tu_emu_gen(&emu, "f", "fsz", SIZE, 31, NULL);
  char uri[] = "ais://f/fsz";
  struct rlimit old;
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  struct sigaction ign, prev;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(SIGXFSZ, &ign, &prev);
  struct rlimit lim = {.rlim_cur = CS / 2 + 100, .rlim_max = old.rlim_max}; /* within a slot */
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = uri;
  o.endpoint = emu.url;
  o.num_workers = g_workers;
  o.chunk_size = CS;
  o.worker_mode = AISFETCH_WORKER_THREAD;
  o.first_bytes = -1;
  o.start_idle = 1;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  aisfetch_errkind k = aisfetch_open(&o, &r, &e);
  setrlimit(RLIMIT_FSIZE, &old);
  CHECKF(k == AISFETCH_E_SYSTEM && strstr(e.message, "cannot make the ring"), "kind %d: %s",
         (int)k, e.message);
  k = aisfetch_open(&o, &r, &e);
  CHECKF(k == AISFETCH_OK, "open: %s", e.message);
  if (!k) {
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    aisfetch_chunk c;
    uint64_t off = 0;
    for (int guard = 0; guard < 1000 && (k = aisfetch_next(r, &c, &e)) == AISFETCH_OK && c.len;
         guard++) {
      CHECK(tu_gen_cmp(31, c.offset, c.data, c.len) < 0 && c.offset == off);
      off += c.len;
      aisfetch_release(r, &c);
    }
    setrlimit(RLIMIT_FSIZE, &old);
    CHECKF(k == AISFETCH_E_SYSTEM && strstr(e.message, "into the ring") &&
               strstr(e.message, strerror(EFBIG)),
           "kind %d: %s", (int)k, e.message);
    CHECKF(off < CS / 2 + 100, "%llu bytes handed out", (unsigned long long)off);
    aisfetch_stats st;
    aisfetch_stats_get(r, &st);
    CHECKF(st.retries == 0, "%llu retries of a local write error", (unsigned long long)st.retries);
    aisfetch_close(r);
  }
  sigaction(SIGXFSZ, &prev, NULL);
}

/* Thread mode with many workers and slots under a modest open-files limit:
 * the workers share the reader's memfds (one per slot, up to 64).  Sent to
 * each worker over SCM_RIGHTS they took workers x files descriptors in this
 * one process (32 x 64 = 2048): recvmsg lost them (MSG_CTRUNC), the workers
 * exited and the read failed as "worker died 6 times". */
static void test_thread_many_files(void)
{
  const uint64_t size = 128 * CS + 777;
  tu_emu_gen(&emu, "f", "manyfd", size, 41, NULL);
  struct rlimit old;
  REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
  /* the reader's 64 memfds, 32 socket pairs and each worker's few
   * connections fit; 2048 copies of the memfds do not */
  struct rlimit lim = {.rlim_cur = 384, .rlim_max = old.rlim_max};
  REQUIRE(old.rlim_cur >= lim.rlim_cur && tu_count_fds() < 64);
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = "ais://f/manyfd";
  o.endpoint = emu.url;
  o.num_workers = 32;
  o.slots = 64;
  o.chunk_size = CS;
  o.worker_mode = AISFETCH_WORKER_THREAD;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
  aisfetch_errkind k = aisfetch_open(&o, &r, &e);
  CHECKF(k == AISFETCH_OK, "open: %s", e.message);
  uint64_t off = 0;
  int peak = 0;
  for (int guard = 0; !k && guard < 10000; guard++) {
    aisfetch_chunk c;
    k = aisfetch_next(r, &c, &e);
    CHECKF(k == AISFETCH_OK, "kind %d at %llu: %s", (int)k, (unsigned long long)off, e.message);
    if (k || !c.len)
      break;
    CHECK(c.offset == off && tu_gen_cmp(41, c.offset, c.data, c.len) < 0);
    off += c.len;
    aisfetch_release(r, &c);
    int n = tu_count_fds();
    peak = n > peak ? n : peak;
  }
  CHECKF(off == size, "read %llu of %llu", (unsigned long long)off, (unsigned long long)size);
  if (r) {
    aisfetch_stats st;
    aisfetch_stats_get(r, &st);
    CHECKF(st.respawns == 0, "%llu workers died", (unsigned long long)st.respawns);
    aisfetch_close(r);
  }
  setrlimit(RLIMIT_NOFILE, &old);
  fprintf(stderr, "thread mode, 32 workers, 64 slots: at most %d fds\n", peak);
}

/* An open's cancel callback runs during the HEAD, after the worker helper
 * has started: it lifts the open-files limit again for the reader, while the
 * helper (and the workers it forks) keep the low one. */
static struct rlimit g_nofile;
static int g_lifted;
static int lift_nofile(void *ud)
{
  (void)ud;
  if (!g_lifted)
    g_lifted = setrlimit(RLIMIT_NOFILE, &g_nofile) == 0;
  return 0;
}

/* A worker process that cannot take the ring's 64 memfds with its CONFIG
 * (too many open files) makes the read fail with that cause, at once, not as
 * "worker died 6 times" after a round of respawns. */
static void test_process_config_fails(void)
{
  const uint64_t size = 64 * CS;
  tu_emu_gen(&emu, "f", "cfgfail", size, 43, NULL);
  tu_emu_hold_head(&emu, "f", "cfgfail", 50); /* the callback surely runs */
  REQUIRE(getrlimit(RLIMIT_NOFILE, &g_nofile) == 0);
  /* room for the reader's descriptors until the callback; a worker has a
   * handful of its own, so 64 more cannot fit */
  struct rlimit lim = {.rlim_cur = (rlim_t)tu_count_fds() + 16, .rlim_max = g_nofile.rlim_max};
  REQUIRE(lim.rlim_cur < 48);
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = "ais://f/cfgfail";
  o.endpoint = emu.url;
  o.num_workers = 2;
  o.slots = 64;
  o.chunk_size = CS;
  o.first_bytes = -1;
  o.worker_mode = AISFETCH_WORKER_PROCESS;
  o.open_cancelled = lift_nofile;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  g_lifted = 0;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
  aisfetch_errkind k = aisfetch_open(&o, &r, &e);
  setrlimit(RLIMIT_NOFILE, &g_nofile);
  CHECK(g_lifted);
  CHECKF(k == AISFETCH_OK, "open: %s", e.message);
  if (k)
    return;
  aisfetch_chunk c;
  double t0 = tu_now_s();
  k = aisfetch_next(r, &c, &e);
  CHECKF(k == AISFETCH_E_SYSTEM && strstr(e.message, "could not receive the ring") &&
             strstr(e.message, strerror(EMFILE)),
         "kind %d: %s", (int)k, e.message);
  CHECKF(tu_now_s() - t0 < 5.0 * TU_SLOWDOWN, "%.1f s to fail", tu_now_s() - t0);
  /* and it stays failed, without workers started over and over */
  tu_sleep_ms(300);
  aisfetch_stats st;
  aisfetch_stats_get(r, &st);
  CHECKF(st.respawns <= 2, "%llu respawns", (unsigned long long)st.respawns);
  CHECK(aisfetch_next(r, &c, &e) == AISFETCH_E_SYSTEM);
  aisfetch_close(r);
}

/* A zygote that dies after it forked a worker and before it answered leaves
 * that worker reading the socket the library gave it.  The respawn must not
 * give that socket to a second worker: two workers on one socket split its
 * messages, one takes the CONFIG and the other fails on a JOB ("not a
 * CONFIG", seen under ThreadSanitizer when test_worker_killed's SIGKILL
 * reached the zygote between its fork and its answer). */
static void test_zygote_dies_after_fork(void)
{
  const char *fake = getenv("AISFETCH_TEST_ZYGOTE_DIES");
  const char *real = getenv("AISFETCH_WORKER");
  REQUIRE(fake && real);
  char mark[64];
  snprintf(mark, sizeof mark, "/tmp/zygote_dies.%d", (int)getpid());
  REQUIRE(setenv("ZYGOTE_DIES_REAL", real, 1) == 0 && setenv("ZYGOTE_DIES_MARK", mark, 1) == 0);
  const uint64_t size = 24 * CS;
  tu_emu_gen(&emu, "f", "zygdies", size, 45, NULL);
  for (int round = 0; round < 4; round++) {
    unlink(mark);
    aisfetch_options o;
    aisfetch_options_init(&o);
    o.uri = "ais://f/zygdies";
    o.endpoint = emu.url;
    o.num_workers = 4;
    o.chunk_size = CS;
    o.worker_mode = AISFETCH_WORKER_PROCESS;
    o.worker_path = fake;
    aisfetch_reader *r = NULL;
    aisfetch_error e;
    aisfetch_errkind k = aisfetch_open(&o, &r, &e);
    CHECKF(k == AISFETCH_OK, "round %d, open: %s", round, e.message);
    if (k)
      break;
    uint64_t off = 0;
    for (int g = 0; g < 1000; g++) {
      aisfetch_chunk c;
      k = aisfetch_next(r, &c, &e);
      CHECKF(k == AISFETCH_OK, "round %d at %llu: %s", round, (unsigned long long)off, e.message);
      if (k || !c.len)
        break;
      CHECK(c.offset == off && tu_gen_cmp(45, c.offset, c.data, c.len) < 0);
      off += c.len;
      aisfetch_release(r, &c);
    }
    CHECKF(off == size, "round %d: read to %llu", round, (unsigned long long)off);
    /* the helper starts while open() returns: look once the workers ran */
    CHECKF(access(mark, F_OK) == 0, "round %d: the helper that dies was not started", round);
    aisfetch_close(r);
  }
  unlink(mark);
  unsetenv("ZYGOTE_DIES_REAL");
  unsetenv("ZYGOTE_DIES_MARK");
  CHECK(tu_wait_no_children(1000) == 0);
}

int main(void)
{
  int fds0 = tu_count_fds();
  tu_emu_start(&emu, NULL);
  int fds1 = tu_count_fds();
  test_fault_cases();
  test_fault_cases_pipelined();
  test_fault_cases_first_bytes();
  test_slow_and_retry_after();
  test_straggler();
  test_checksum_mismatch();
  test_changed();
  test_moved_and_down();
  test_worker_killed();
  test_zygote_dies_after_fork();
  test_held_piece_dead_worker();
  test_ring_write_fails();
  test_thread_many_files();
  test_process_config_fails();
  CHECKF(tu_count_fds() == fds1, "fds %d -> %d", fds1, tu_count_fds());
  tu_emu_stop(&emu);
  CHECK(tu_wait_no_children(1000) == 0);
  CHECKF(tu_count_fds() == fds0, "fds %d -> %d", fds0, tu_count_fds());
  return tu_finish("test_faults");
}
