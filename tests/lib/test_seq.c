/* Sequences of objects through one reader: a prefix listed page by page, a
 * list of URIs; every byte checked against its object; the boundaries
 * (empty objects, object indexes, offsets); per-object errors that the
 * caller skips (an object missing, deleted after the listing, changed);
 * faults at the boundary (a failed range, a failed listing page, a worker
 * killed there); and nothing left behind after close. */
#include "aisfetch.h"
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

static tu_emu emu;
static const uint64_t mix_sizes[] = {1, 0, 4095, 100 * KiB, 1 * MiB + 7, 2, 300 * KiB, 0, 64 * KiB};

/* count generated objects PREFIX0000.. of sizes[i % n], seed seed + i */
static void bulk(const char *bucket, const char *prefix, unsigned count, const uint64_t *sizes,
                 unsigned nsizes, uint64_t seed)
{
  tu_emu_bulk(&emu, bucket, prefix, count, sizes, nsizes, seed);
}

static aisfetch_reader *open_seq(const char *prefix, const char *const *uris, unsigned workers,
                                 size_t cs, aisfetch_worker_mode mode, unsigned page,
                                 aisfetch_errkind want, aisfetch_error *e)
{
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.prefix = prefix;
  o.uris = uris;
  o.endpoint = emu.url;
  o.num_workers = workers;
  o.chunk_size = cs;
  o.worker_mode = mode;
  o.list_page_size = page;
  o.retries = 3;
  aisfetch_reader *r = NULL;
  aisfetch_errkind k = aisfetch_open(&o, &r, e);
  CHECKF(k == want, "open %s: %s (%s)", prefix ? prefix : uris[0], aisfetch_errkind_name(k),
         e->message);
  return r;
}

typedef struct {
  uint64_t objects;      /* objects seen whole */
  uint64_t bytes;
  uint64_t errors;
  aisfetch_errkind last_kind;
  char last_msg[512];
  uint64_t failed_at[16]; /* object index of each error */
} tally;

/* Reads to the end; object i of the stream must be seed seed_of[i] (or
 * seed0 + i) of size_of(i).  With skip, a per-object error is recorded and
 * skipped.  Empty objects are checked through aisfetch_object_at(). */
static void read_seq(aisfetch_reader *r, uint64_t seed0, int skip, tally *t,
                     void (*at_boundary)(uint64_t obj))
{
  memset(t, 0, sizeof *t);
  uint64_t want_obj = 0, want_in = 0, stream = 0;
  for (int guard = 0; guard < 2000000; guard++) {
    aisfetch_chunk c;
    aisfetch_error e;
    aisfetch_errkind k = aisfetch_next(r, &c, &e);
    if (k) {
      uint64_t at = aisfetch_object_index(r);
      if (t->errors < 16)
        t->failed_at[t->errors] = at;
      t->errors++;
      t->last_kind = k;
      snprintf(t->last_msg, sizeof t->last_msg, "%s", e.message);
      if (!skip || t->errors > 100)
        break;
      if (aisfetch_skip_object(r, &e) != AISFETCH_OK)
        break; /* the reader's error, not the object's */
      want_obj = at + 1;
      want_in = 0;
      aisfetch_object_info inf;
      if (want_obj < aisfetch_objects_known(r, NULL))
        aisfetch_object_at(r, want_obj, &inf, &stream, NULL);
      continue;
    }
    if (!c.len) {
      int done;
      uint64_t n = aisfetch_objects_known(r, &done);
      CHECK(done);
      if (want_in)
        t->objects++, want_obj++;
      /* empty objects at the end */
      for (; want_obj < n; want_obj++) {
        aisfetch_object_info inf;
        if (aisfetch_object_at(r, want_obj, &inf, NULL, NULL) == AISFETCH_OK) {
          CHECKF(inf.size == 0, "object %llu (%llu bytes) was never read",
                 (unsigned long long)want_obj, (unsigned long long)inf.size);
          t->objects++;
        }
      }
      break;
    }
    if (c.object != want_obj || c.object_offset != want_in) {
      /* the next object starts: the one before ended, the ones between are empty */
      if (want_in)
        t->objects++, want_obj++;
      for (; want_obj < c.object; want_obj++) {
        aisfetch_object_info inf;
        aisfetch_errkind ok = aisfetch_object_at(r, want_obj, &inf, NULL, NULL);
        CHECKF(ok || inf.size == 0, "object %llu (%llu bytes) skipped", (unsigned long long)want_obj,
               (unsigned long long)inf.size);
        t->objects += ok == AISFETCH_OK;
      }
      CHECKF(c.object == want_obj && c.object_offset == 0,
             "chunk of object %llu at %llu, expected object %llu at 0",
             (unsigned long long)c.object, (unsigned long long)c.object_offset,
             (unsigned long long)want_obj);
      want_in = 0;
    }
    if (c.object_offset == 0 && at_boundary)
      at_boundary(c.object);
    aisfetch_object_at(r, c.object, NULL, &stream, NULL);
    CHECKF(c.offset == stream + c.object_offset, "stream offset %llu, object %llu + %llu",
           (unsigned long long)c.offset, (unsigned long long)stream,
           (unsigned long long)c.object_offset);
    aisfetch_object_info inf;
    aisfetch_object_at(r, c.object, &inf, NULL, NULL);
    /* generated objects PREFIXnnnnn have seed seed0 + nnnnn */
    size_t nl = strlen(inf.object);
    uint64_t num = nl >= 5 ? strtoull(inf.object + nl - 5, NULL, 10) : 0;
    int64_t bad = tu_gen_cmp(seed0 + num, c.object_offset, c.data, c.len);
    CHECKF(bad < 0, "object %llu (%s): wrong byte at %lld", (unsigned long long)c.object,
           inf.object, (long long)bad);
    want_in = c.object_offset + c.len;
    if (want_in == inf.size) {
      t->objects++;
      want_obj++;
      want_in = 0;
    }
    t->bytes += c.len;
    aisfetch_release(r, &c);
  }
}

/* A prefix of small objects of mixed sizes (empty ones too), listed in
 * pages of 300, read through one reader. */
static void test_prefix_mixed(aisfetch_worker_mode mode)
{
  unsigned n = 2000;
  uint64_t total = 0;
  for (unsigned i = 0; i < n; i++)
    total += mix_sizes[i % 9];
  aisfetch_error e;
  aisfetch_reader *r = open_seq("ais://mix/m/", NULL, 8, 1 * MiB, mode, 300, AISFETCH_OK, &e);
  REQUIRE(r);
  tally t;
  read_seq(r, 1000, 0, &t, NULL);
  CHECKF(t.errors == 0, "error: %s", t.last_msg);
  CHECKF(t.objects == n, "%llu objects of %u", (unsigned long long)t.objects, n);
  CHECKF(t.bytes == total, "%llu bytes of %llu", (unsigned long long)t.bytes,
         (unsigned long long)total);
  int done;
  CHECK(aisfetch_objects_known(r, &done) == n && done);
  CHECK(aisfetch_size(r) == total);
  aisfetch_object_info inf;
  uint64_t so;
  CHECK(aisfetch_object_at(r, 4, &inf, &so, &e) == AISFETCH_OK);
  CHECK(strcmp(inf.object, "m/00004") == 0 && inf.size == 1 * MiB + 7 && inf.version[0]);
  CHECK(so == 1 + 0 + 4095 + 100 * KiB);
  CHECK(aisfetch_object_at(r, n, &inf, &so, &e) == AISFETCH_E_ARG);
  aisfetch_close(r);
}

/* Random access over the stream: a seek into the middle of an object, a
 * read across a boundary. */
static void test_seek_across(void)
{
  aisfetch_error e;
  aisfetch_reader *r = open_seq("ais://big/b/", NULL, 4, 256 * KiB, AISFETCH_WORKER_PROCESS, 0,
                                AISFETCH_OK, &e);
  REQUIRE(r);
  /* 20 objects of 700 KiB, seeds 2000.. */
  uint64_t osz = 700 * KiB;
  CHECK(aisfetch_size(r) == 20 * osz || aisfetch_objects_known(r, NULL) < 20);
  uint8_t *buf = malloc(2 * osz);
  size_t got = 0;
  uint64_t off = 7 * osz + osz - 1000;
  CHECK(aisfetch_read_range(r, off, 5000, buf, &got, &e) == AISFETCH_OK && got == 5000);
  CHECK(tu_gen_cmp(2007, osz - 1000, buf, 1000) < 0);
  CHECK(tu_gen_cmp(2008, 0, buf + 1000, 4000) < 0);
  CHECK(aisfetch_seek(r, 11 * osz + 12345, &e) == AISFETCH_OK);
  aisfetch_chunk c;
  CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK && c.len > 0);
  CHECK(c.object == 11 && c.object_offset == 12345 && c.offset == 11 * osz + 12345);
  CHECK(tu_gen_cmp(2011, 12345, c.data, c.len) < 0);
  aisfetch_release(r, &c);
  CHECK(aisfetch_object_index(r) == 11);
  /* skip the rest of object 11 */
  CHECK(aisfetch_skip_object(r, &e) == AISFETCH_OK);
  CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK && c.object == 12 && c.object_offset == 0);
  aisfetch_release(r, &c);
  CHECK(aisfetch_seek(r, 21 * osz, &e) == AISFETCH_E_ARG);
  /* the whole stream into one buffer */
  uint8_t *all = malloc(20 * osz);
  CHECK(aisfetch_read_all(r, all, 20 * osz, &e) == AISFETCH_OK);
  for (unsigned i = 0; i < 20; i++)
    CHECKF(tu_gen_cmp(2000 + i, 0, all + i * osz, osz) < 0, "object %u", i);
  free(all);
  free(buf);
  aisfetch_close(r);
}

/* A list of URIs in two buckets, one missing in the middle: the reader
 * says which and goes on past it. */
static void test_uris(aisfetch_worker_mode mode)
{
  char names[12][64];
  const char *uris[13];
  for (unsigned i = 0; i < 12; i++) {
    snprintf(names[i], sizeof names[i], "ais://%s/b/%05u", i % 2 ? "big" : "mix2", i);
    uris[i] = names[i];
  }
  uris[12] = NULL;
  /* mix2/b/000NN: seeds 3000 + i for the even ones */
  for (unsigned i = 0; i < 12; i += 2)
    if (i != 6)
      tu_emu_gen(&emu, "mix2", names[i] + strlen("ais://mix2/"), 333 * KiB + i, 3000 + i, NULL);
  aisfetch_error e;
  aisfetch_reader *r = open_seq(NULL, uris, 4, 128 * KiB, mode, 0, AISFETCH_OK, &e);
  REQUIRE(r);
  unsigned objs = 0, errs = 0;
  uint64_t cur = UINT64_MAX, in = 0;
  for (int guard = 0; guard < 100000; guard++) {
    aisfetch_chunk c;
    aisfetch_errkind k = aisfetch_next(r, &c, &e);
    if (k) {
      errs++;
      CHECKF(k == AISFETCH_E_NOT_FOUND && strstr(e.message, "b/00006"), "%s: %s",
             aisfetch_errkind_name(k), e.message);
      CHECK(aisfetch_object_index(r) == 6);
      CHECK(aisfetch_skip_object(r, &e) == AISFETCH_OK);
      continue;
    }
    if (!c.len)
      break;
    if (c.object != cur) {
      objs++;
      cur = c.object;
      in = 0;
    }
    CHECK(c.object_offset == in);
    uint64_t seed = c.object % 2 ? 2000 + c.object : 3000 + c.object;
    CHECKF(tu_gen_cmp(seed, c.object_offset, c.data, c.len) < 0, "object %llu",
           (unsigned long long)c.object);
    in += c.len;
    aisfetch_release(r, &c);
  }
  CHECKF(objs == 11 && errs == 1, "%u objects, %u errors", objs, errs);
  aisfetch_close(r);
}

static void test_bad_input(void)
{
  aisfetch_error e;
  aisfetch_reader *r = open_seq("ais://mix/nothing-here/", NULL, 4, 0, AISFETCH_WORKER_PROCESS,
                                0, AISFETCH_E_NOT_FOUND, &e);
  CHECK(!r && strstr(e.message, "nothing-here"));
  r = open_seq("ais://no-such-bucket/", NULL, 4, 0, AISFETCH_WORKER_PROCESS, 0,
               AISFETCH_E_NOT_FOUND, &e);
  CHECKF(!r && strstr(e.message, "no-such-bucket"), "%s", e.message);
  const char *bad[] = {"ais://mix/m/00001", "gopher://x/y", NULL};
  r = open_seq(NULL, bad, 4, 0, AISFETCH_WORKER_PROCESS, 0, AISFETCH_E_ARG, &e);
  CHECKF(!r && strstr(e.message, "object 1 of the list"), "%s", e.message);
  const char *none[] = {NULL};
  r = open_seq(NULL, none, 4, 0, AISFETCH_WORKER_PROCESS, 0, AISFETCH_E_ARG, &e);
  CHECK(!r);
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = "ais://mix/m/00001";
  o.prefix = "ais://mix/m/";
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && !r);
}

/* The listing: every entry, in name order, with sizes; a page that fails
 * once is retried. */
static void test_lister(void)
{
  long f = tu_emu_fault(&emu, "{\"method\":\"LIST\",\"node\":\"proxy\",\"kind\":\"status\","
                              "\"code\":503,\"nth\":3}");
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.endpoint = emu.url;
  o.list_page_size = 250;
  aisfetch_lister *l;
  aisfetch_error e;
  REQUIRE(aisfetch_list_open(&o, "ais://mix/m/", &l, &e) == AISFETCH_OK);
  aisfetch_entry en;
  char prev[1024] = "";
  unsigned n = 0;
  for (int guard = 0; guard < 10000; guard++) {
    aisfetch_errkind k = aisfetch_list_next(l, &en, &e);
    CHECKF(k == AISFETCH_OK, "%s", e.message);
    if (k || !en.name[0])
      break;
    CHECK(strcmp(prev, en.name) < 0);
    CHECKF(en.size == mix_sizes[n % 9], "%s: %llu", en.name, (unsigned long long)en.size);
    snprintf(prev, sizeof prev, "%s", en.name);
    n++;
  }
  CHECKF(n == 2000, "%u entries", n);
  CHECK(tu_emu_fault_fired(&emu, f) == 1);
  aisfetch_list_close(l);
  tu_emu_clear_faults(&emu);
}

/* Faults at the boundaries: the first range of an object fails once (its
 * retry serves it); a listing page fails once (retried); an object deleted
 * after the listing is a per-object error; one overwritten is "changed". */
static void test_boundary_faults(void)
{
  uint64_t sz = 256 * KiB;
  bulk("bf", "o/", 400, &sz, 1, 5000);
  tu_emu_fault(&emu, "{\"bucket\":\"bf\",\"object\":\"o/00010\",\"kind\":\"status\",\"code\":500}");
  tu_emu_fault(&emu, "{\"bucket\":\"bf\",\"object\":\"o/00011\",\"kind\":\"reset\","
                     "\"after_bytes\":1000}");
  tu_emu_fault(&emu, "{\"method\":\"LIST\",\"node\":\"proxy\",\"kind\":\"reset\",\"nth\":2}");
  aisfetch_error e;
  aisfetch_reader *r = open_seq("ais://bf/o/", NULL, 4, 0, AISFETCH_WORKER_PROCESS, 100,
                                AISFETCH_OK, &e);
  REQUIRE(r);
  /* listed by the open (the first page), far ahead of the ring: */
  char url[512];
  snprintf(url, sizeof url, "%s/_emu/objects/bf/o/00050", emu.url);
  CHECK(tu_http("DELETE", url, NULL, 0, NULL, 0) == 200);
  tu_emu_fault(&emu, "{\"bucket\":\"bf\",\"object\":\"o/00060\",\"kind\":\"overwrite\"}");
  tally t;
  read_seq(r, 5000, 1, &t, NULL);
  CHECKF(t.errors == 2, "%llu errors, last %s", (unsigned long long)t.errors, t.last_msg);
  CHECK(t.failed_at[0] == 50 && t.failed_at[1] == 60);
  CHECKF(t.last_kind == AISFETCH_E_CHANGED && strstr(t.last_msg, "o/00060"), "%s", t.last_msg);
  CHECKF(t.objects == 398, "%llu objects", (unsigned long long)t.objects);
  aisfetch_stats st;
  aisfetch_stats_get(r, &st);
  CHECK(st.retries >= 2);
  aisfetch_close(r);
  tu_emu_clear_faults(&emu);
}

/* A worker SIGKILLed each time a new object starts: the ranges it had
 * are fetched again by its replacement; the stream is whole. */
static pid_t g_workers[64];
static void kill_one(uint64_t obj)
{
  if (obj % 25 != 5)
    return;
  pid_t zyg;
  int n = tu_zygote_workers(1, 2000, &zyg, g_workers, 64);
  if (n > 0)
    kill(g_workers[obj % (uint64_t)n], SIGKILL);
}

static void test_kill_at_boundary(void)
{
  uint64_t sz = 200 * KiB;
  bulk("bk", "k/", 100, &sz, 1, 7000);
  aisfetch_error e;
  aisfetch_reader *r = open_seq("ais://bk/k/", NULL, 4, 64 * KiB, AISFETCH_WORKER_PROCESS, 0,
                                AISFETCH_OK, &e);
  REQUIRE(r);
  tally t;
  read_seq(r, 7000, 1, &t, kill_one);
  CHECKF(t.errors == 0, "%s", t.last_msg);
  CHECKF(t.objects == 100, "%llu objects", (unsigned long long)t.objects);
  aisfetch_stats st;
  aisfetch_stats_get(r, &st);
  CHECKF(st.respawns >= 1, "%llu respawns", (unsigned long long)st.respawns);
  aisfetch_close(r);
}

/* A name that is not UTF-8 is listed as the cluster's raw bytes, and read
 * back by that name. */
static void test_raw_name(void)
{
  static const char name[] = "u/\xff\xfe-x";
  const char data[] = "bytes of an object whose name is not UTF-8";
  tu_emu_put(&emu, "raw", name, data, sizeof data);
  tu_emu_put(&emu, "raw", "u/plain", "p", 1);
  aisfetch_error e;
  aisfetch_reader *r = open_seq("ais://raw/u/", NULL, 2, 0, AISFETCH_WORKER_THREAD, 0,
                                AISFETCH_OK, &e);
  REQUIRE(r);
  /* in byte order: 0xff comes after 'p' */
  aisfetch_object_info inf;
  CHECK(aisfetch_object_at(r, 1, &inf, NULL, &e) == AISFETCH_OK);
  CHECKF(strcmp(inf.object, name) == 0 && inf.size == sizeof data, "%s", inf.object);
  aisfetch_chunk c;
  CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK && c.object == 0 && c.len == 1);
  aisfetch_release(r, &c);
  CHECKF(aisfetch_next(r, &c, &e) == AISFETCH_OK, "%s", e.message);
  CHECK(c.object == 1 && c.len == sizeof data && memcmp(c.data, data, sizeof data) == 0);
  aisfetch_release(r, &c);
  CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK && c.len == 0);
  aisfetch_close(r);
}

/* A listing that fails for good after its first pages: the objects listed
 * are read whole, then the stream ends in the listing's error, which is
 * the reader's, not an object's: skipping cannot go past it. */
static void test_list_fails(void)
{
  uint64_t sz = 10 * KiB;
  bulk("lf", "f/", 300, &sz, 1, 9000);
  tu_emu_fault(&emu, "{\"method\":\"LIST\",\"bucket\":\"lf\",\"kind\":\"status\",\"code\":500,"
                     "\"nth\":3,\"count\":-1}");
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.prefix = "ais://lf/";
  o.endpoint = emu.url;
  o.num_workers = 4;
  o.list_page_size = 20;
  o.retries = 1;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  tally t;
  read_seq(r, 9000, 1, &t, NULL);
  CHECKF(t.objects == 40, "%llu objects", (unsigned long long)t.objects);
  CHECKF(t.errors == 1 && t.last_kind == AISFETCH_E_SERVER && strstr(t.last_msg, "HTTP 500"),
         "%llu errors: %s", (unsigned long long)t.errors, t.last_msg);
  int done;
  CHECK(aisfetch_objects_known(r, &done) == 40 && done == -1);
  CHECK(aisfetch_skip_object(r, &e) == AISFETCH_E_SERVER);
  aisfetch_chunk c;
  CHECK(aisfetch_next(r, &c, &e) == AISFETCH_E_SERVER);
  CHECK(aisfetch_object_at(r, 40, NULL, NULL, &e) == AISFETCH_E_SERVER);
  aisfetch_close(r);
  tu_emu_clear_faults(&emu);
}

/* Names with dot segments are those objects, not others (libcurl would
 * squash "x/./y" into "x/y" unless told not to). */
static void test_dot_names(void)
{
  tu_emu_put(&emu, "dots", "x/y", "plain", 5);
  char url[512], out[512];
  snprintf(url, sizeof url, "%s/_emu/objects/bulk", emu.url);
  const char *body = "{\"bucket\":\"dots\",\"names\":[\"x/./y\"],\"size\":3000,\"seed\":77}";
  REQUIRE(tu_http("POST", url, body, strlen(body), out, sizeof out) == 200);
  const char *uris[] = {"ais://dots/x/./y", "ais://dots/x/y", NULL};
  aisfetch_error e;
  aisfetch_reader *r = open_seq(NULL, uris, 2, 0, AISFETCH_WORKER_THREAD, 0, AISFETCH_OK, &e);
  REQUIRE(r);
  aisfetch_chunk c;
  CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK && c.object == 0 && c.len == 3000 &&
        tu_gen_cmp(77, 0, c.data, c.len) < 0);
  aisfetch_release(r, &c);
  CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK && c.object == 1 && c.len == 5 &&
        memcmp(c.data, "plain", 5) == 0);
  aisfetch_release(r, &c);
  aisfetch_close(r);
}

/* verify_checksum over a prefix: each object's bytes hashed with the type
 * its listed value's length tells; an object whose checksum is false is an
 * error of that object, and its last chunk is never handed out. */
static void test_verify(void)
{
  char url[512], out[512];
  snprintf(url, sizeof url, "%s/_emu/objects/bulk", emu.url);
  const char *body = "{\"bucket\":\"vf\",\"prefix\":\"v/\",\"count\":12,\"width\":5,"
                     "\"sizes\":[300000,5000,0,1048576],\"seed\":4000,\"cksum\":\"xxhash2\"}";
  REQUIRE(tu_http("POST", url, body, strlen(body), out, sizeof out) == 200);
  const char *md5 = "{\"bucket\":\"vf\",\"names\":[\"v/00005\"],\"size\":5000,\"seed\":4005,"
                    "\"cksum\":\"md5\"}";
  REQUIRE(tu_http("POST", url, md5, strlen(md5), out, sizeof out) == 200);
  tu_emu_gen(&emu, "vf", "v/00007", 1048576, 4007, "cksum=xxhash&cksum_value=0123456789abcdef");
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.prefix = "ais://vf/v/";
  o.endpoint = emu.url;
  o.num_workers = 3;
  o.chunk_size = 256 * KiB;
  o.verify_checksum = 1;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  tally t;
  read_seq(r, 4000, 1, &t, NULL);
  CHECKF(t.errors == 1 && t.failed_at[0] == 7 && t.last_kind == AISFETCH_E_CHECKSUM &&
             strstr(t.last_msg, "v/00007") && strstr(t.last_msg, "0123456789abcdef"),
         "%llu errors: %s", (unsigned long long)t.errors, t.last_msg);
  CHECKF(t.objects == 11, "%llu objects", (unsigned long long)t.objects);
  /* object 7's last chunk was withheld: 1 MiB - 256 KiB of it came out */
  uint64_t total = 0;
  for (unsigned i = 0; i < 12; i++)
    total += (uint64_t[]){300000, 5000, 0, 1048576}[i % 4];
  CHECKF(t.bytes == total - 256 * KiB, "%llu bytes of %llu", (unsigned long long)t.bytes,
         (unsigned long long)total);
  aisfetch_close(r);
}

/* A watchdog: cancels the reader if a call takes longer than ms (a hang
 * becomes a failed check, not a stuck test). */
typedef struct {
  aisfetch_reader *r;
  int ms;
  atomic_int fired, stop;
  pthread_t t;
} dog_t;

static void *dog_run(void *a)
{
  dog_t *d = a;
  for (int i = 0; i < d->ms / 10 && !atomic_load(&d->stop); i++)
    tu_sleep_ms(10);
  if (!atomic_load(&d->stop)) {
    atomic_store(&d->fired, 1);
    aisfetch_cancel(d->r);
  }
  return NULL;
}

static void dog_start(dog_t *d, aisfetch_reader *r, int ms)
{
  d->r = r;
  d->ms = ms * TU_SLOWDOWN;
  atomic_init(&d->fired, 0);
  atomic_init(&d->stop, 0);
  REQUIRE(pthread_create(&d->t, NULL, dog_run, d) == 0);
}

static int dog_end(dog_t *d)
{
  atomic_store(&d->stop, 1);
  pthread_join(d->t, NULL);
  return atomic_load(&d->fired);
}

/* Calls that wait for objects far past the feeders' lookahead (one slot:
 * 18 URIs HEADed ahead; 4098 listed ahead) get them: the feeders look
 * ahead of what a caller waits for, not only of the read position. */
static void test_wait_beyond_lookahead(void)
{
  enum { N = 60 };
  static char names[N][64];
  static const char *uris[N + 1];
  uint64_t sz = 1000;
  bulk("la", "o/", N, &sz, 1, 8000);
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "ais://la/o/%05d", i);
    uris[i] = names[i];
  }
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uris = uris;
  o.endpoint = emu.url;
  o.num_workers = 1;
  o.slots = 1;
  o.worker_mode = AISFETCH_WORKER_THREAD;
  aisfetch_error e;
  dog_t d;
  for (int t = 0; t < 4; t++) {
    aisfetch_reader *r = NULL;
    REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
    static uint8_t buf[N * 1000];
    size_t got = 0;
    aisfetch_chunk c;
    aisfetch_object_info inf;
    dog_start(&d, r, 10000);
    if (t == 0) {
      CHECKF(aisfetch_read_all(r, buf, sizeof buf, &e) == AISFETCH_OK, "%s", e.message);
      CHECK(tu_gen_cmp(8000 + 59, 0, buf + 59 * 1000, 1000) < 0);
    } else if (t == 1) {
      CHECK(aisfetch_object_at(r, 50, &inf, NULL, &e) == AISFETCH_OK && inf.size == 1000);
    } else if (t == 2) {
      CHECK(aisfetch_read_range(r, 50 * 1000, 100, buf, &got, &e) == AISFETCH_OK && got == 100 &&
            tu_gen_cmp(8050, 0, buf, 100) < 0);
    } else {
      tu_sleep_ms(300); /* the HEADs park at their lookahead */
      CHECK(aisfetch_seek(r, aisfetch_size(r), &e) == AISFETCH_OK);
      CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK && c.len > 0);
      aisfetch_release(r, &c);
    }
    CHECKF(!dog_end(&d), "case %d hung", t);
    aisfetch_close(r);
  }
  sz = 10;
  bulk("lp", "q/", 4200, &sz, 1, 500);
  aisfetch_options_init(&o);
  o.prefix = "ais://lp/q/";
  o.endpoint = emu.url;
  o.num_workers = 1;
  o.slots = 1;
  o.list_page_size = 1000;
  aisfetch_reader *r = NULL;
  REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  aisfetch_object_info inf;
  dog_start(&d, r, 10000);
  CHECK(aisfetch_object_at(r, 4150, &inf, NULL, &e) == AISFETCH_OK && !strcmp(inf.object, "q/04150"));
  CHECK(!dog_end(&d));
  aisfetch_close(r);
}

/* An empty object with slots set: no ring, and the calls that walk the
 * slots must not touch one. */
static void test_empty_with_slots(void)
{
  tu_emu_put(&emu, "es", "empty", "", 0);
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = "ais://es/empty";
  o.endpoint = emu.url;
  o.slots = 4;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  CHECK(aisfetch_seek_range(r, 0, 0, &e) == AISFETCH_OK);
  CHECK(aisfetch_slots_held(r) == 0);
  aisfetch_chunk c;
  CHECK(aisfetch_seek(r, 0, &e) == AISFETCH_OK && aisfetch_next(r, &c, &e) == AISFETCH_OK && !c.len);
  aisfetch_close(r);
}

/* The open's first listing page answers to the caller's open_cancelled. */
static int g_asked;
static int cancel_now(void *ud)
{
  (void)ud;
  g_asked++;
  return 1;
}

static void test_open_cancelled(void)
{
  tu_emu_put(&emu, "oc", "x/1", "abc", 3);
  tu_emu_fault(&emu, "{\"method\":\"LIST\",\"bucket\":\"oc\",\"kind\":\"status\",\"code\":503,"
                     "\"count\":-1}");
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.prefix = "ais://oc/x/";
  o.endpoint = emu.url;
  o.retries = 6;
  o.open_cancelled = cancel_now;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  double t0 = tu_now_s();
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_CANCELLED && !r && g_asked > 0);
  CHECKF(tu_now_s() - t0 < 2.0 * TU_SLOWDOWN, "%.1f s", tu_now_s() - t0);
  tu_emu_clear_faults(&emu);
}

int main(void)
{
  int fds0 = tu_count_fds();
  tu_emu_start(&emu, NULL);
  bulk("mix", "m/", 2000, mix_sizes, 9, 1000);
  uint64_t big = 700 * KiB;
  bulk("big", "b/", 20, &big, 1, 2000);
  int fds1 = tu_count_fds();
  test_prefix_mixed(AISFETCH_WORKER_PROCESS);
  test_prefix_mixed(AISFETCH_WORKER_THREAD);
  test_seek_across();
  test_uris(AISFETCH_WORKER_PROCESS);
  test_uris(AISFETCH_WORKER_THREAD);
  test_bad_input();
  test_lister();
  test_raw_name();
  test_list_fails();
  test_dot_names();
  test_verify();
  test_wait_beyond_lookahead();
  test_empty_with_slots();
  test_open_cancelled();
  test_boundary_faults();
  test_kill_at_boundary();
  CHECKF(tu_count_fds() == fds1, "fds %d -> %d", fds1, tu_count_fds());
  tu_emu_stop(&emu);
  CHECK(tu_wait_no_children(1000) == 0);
  CHECKF(tu_count_fds() == fds0, "fds %d -> %d", fds0, tu_count_fds());
  return tu_finish("test_seq");
}
