#include "testutil.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
int tu_failures;

int tu_finish(const char *name)
{
  if (tu_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, tu_failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

void tu_sleep_ms(int ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

char *tu_mkdtemp(void)
{
  const char *t = getenv("TMPDIR");
  char *p = malloc(512);
  REQUIRE(p);
  snprintf(p, 512, "%s/aisfetch-test-XXXXXX", t && *t ? t : "/tmp");
  REQUIRE(mkdtemp(p));
  return p;
}

void tu_rm_rf(const char *dir)
{
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *de;
    while ((de = readdir(d))) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
        continue;
      char p[1024];
      snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
      struct stat st;
      if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
        tu_rm_rf(p);
      else
        unlink(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

void tu_emu_start(tu_emu *e, const char *const *args)
{
  const char *py = getenv("AISEMU_PYTHON");
  const char *script = getenv("AISEMU_SCRIPT");
  REQUIRE(py && script);
  memset(e, 0, sizeof *e);
  char *dir = tu_mkdtemp();
  snprintf(e->dir, sizeof e->dir, "%s", dir);
  free(dir);
  char ready[300];
  snprintf(ready, sizeof ready, "%s/ready", e->dir);
  const char *argv[64];
  int n = 0;
  argv[n++] = py;
  argv[n++] = script;
  argv[n++] = "--port";
  argv[n++] = "0";
  argv[n++] = "--exit-on-stdin-eof";
  argv[n++] = "--ready-file";
  argv[n++] = ready;
  for (; args && *args && n < 62; args++)
    argv[n++] = *args;
  argv[n] = NULL;
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawn(&e->pid, py, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[0]);
  REQUIRE(rc == 0);
  e->stdin_fd = p[1];
  for (int i = 0; i < 1000; i++) {
    FILE *f = fopen(ready, "r");
    if (f) {
      if (fgets(e->url, sizeof e->url, f)) {
        e->url[strcspn(e->url, "\r\n")] = '\0';
        fclose(f);
        return;
      }
      fclose(f);
    }
    if (waitpid(e->pid, NULL, WNOHANG) == e->pid) {
      fprintf(stderr, "the emulator exited before it was ready\n");
      exit(1);
    }
    tu_sleep_ms(10);
  }
  fprintf(stderr, "the emulator was not ready within 10 s\n");
  kill(e->pid, SIGKILL);
  exit(1);
}

void tu_emu_stop(tu_emu *e)
{
  if (e->pid <= 0)
    return;
  close(e->stdin_fd);
  kill(e->pid, SIGTERM);
  for (int i = 0; i < 300; i++) {
    if (waitpid(e->pid, NULL, WNOHANG) == e->pid) {
      e->pid = 0;
      break;
    }
    tu_sleep_ms(10);
  }
  if (e->pid > 0) {
    kill(e->pid, SIGKILL);
    waitpid(e->pid, NULL, 0);
    e->pid = 0;
  }
  tu_rm_rf(e->dir);
}

struct membuf {
  char *p;
  size_t n, len;
};

static size_t mb_write(char *d, size_t s, size_t n, void *ud)
{
  struct membuf *m = ud;
  size_t len = s * n;
  if (m->p && m->n) {
    size_t room = m->n - 1 - m->len;
    size_t c = len < room ? len : room;
    memcpy(m->p + m->len, d, c);
    m->len += c;
    m->p[m->len] = '\0';
  }
  return len;
}

long tu_http(const char *method, const char *url, const char *body, size_t body_len, char *out,
             size_t out_n)
{
  CURL *c = curl_easy_init();
  REQUIRE(c);
  struct membuf m = {out, out_n, 0};
  if (out && out_n)
    out[0] = '\0';
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mb_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  } else if (!strcmp(method, "PUT") || !strcmp(method, "POST")) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
  }
  CURLcode rc = curl_easy_perform(c);
  long st = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
  curl_easy_cleanup(c);
  return rc == CURLE_OK ? st : -1;
}

/* percent-encodes an object name, keeping '/' */
static const char *enc(const char *s)
{
  static char out[3 * 1024 + 1];
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < sizeof out; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("-_.~/", *p)) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = '\0';
  return out;
}

void tu_emu_gen(tu_emu *e, const char *bucket, const char *obj, uint64_t size, uint64_t seed,
                const char *extra)
{
  char url[2048], out[4096];
  snprintf(url, sizeof url, "%s/_emu/objects/%s/%s?size=%llu&seed=%llu%s%s", e->url, bucket, enc(obj),
           (unsigned long long)size, (unsigned long long)seed, extra && *extra ? "&" : "",
           extra ? extra : "");
  long st = tu_http("PUT", url, NULL, 0, out, sizeof out);
  if (st != 200) {
    fprintf(stderr, "emulator PUT %s -> %ld %s\n", url, st, out);
    exit(1);
  }
}

void tu_emu_bulk(tu_emu *e, const char *bucket, const char *prefix, unsigned count,
                 const uint64_t *sizes, unsigned nsizes, uint64_t seed)
{
  char body[4096], url[512], out[4096];
  int n = snprintf(body, sizeof body,
                   "{\"bucket\":\"%s\",\"prefix\":\"%s\",\"count\":%u,\"width\":5,\"seed\":%llu,"
                   "\"sizes\":[",
                   bucket, prefix, count, (unsigned long long)seed);
  for (unsigned i = 0; i < nsizes && n < (int)sizeof body - 32; i++)
    n += snprintf(body + n, sizeof body - (size_t)n, "%s%llu", i ? "," : "",
                  (unsigned long long)sizes[i]);
  snprintf(body + n, sizeof body - (size_t)n, "]}");
  snprintf(url, sizeof url, "%s/_emu/objects/bulk", e->url);
  long st = tu_http("POST", url, body, strlen(body), out, sizeof out);
  if (st != 200) {
    fprintf(stderr, "emulator bulk %s -> %ld %s\n", body, st, out);
    exit(1);
  }
}

void tu_emu_put(tu_emu *e, const char *bucket, const char *obj, const void *data, size_t len)
{
  char url[2048], out[4096];
  snprintf(url, sizeof url, "%s/_emu/objects/%s/%s", e->url, bucket, enc(obj));
  long st = tu_http("PUT", url, data, len, out, sizeof out);
  if (st != 200) {
    fprintf(stderr, "emulator PUT %s -> %ld %s\n", url, st, out);
    exit(1);
  }
}

long tu_emu_fault(tu_emu *e, const char *json)
{
  char url[512], out[4096];
  snprintf(url, sizeof url, "%s/_emu/faults", e->url);
  long st = tu_http("POST", url, json, strlen(json), out, sizeof out);
  if (st != 200) {
    fprintf(stderr, "emulator fault %s -> %ld %s\n", json, st, out);
    exit(1);
  }
  char *p = strstr(out, "\"id\": ");
  REQUIRE(p);
  return atol(p + 6);
}

long tu_emu_fault_fired(tu_emu *e, long id)
{
  char url[512], key[48];
  static char out[1 << 16];
  snprintf(url, sizeof url, "%s/_emu/faults", e->url);
  REQUIRE(tu_http("GET", url, NULL, 0, out, sizeof out) == 200);
  snprintf(key, sizeof key, "\"id\": %ld,", id);
  char *p = strstr(out, key);
  if (!p)
    return -1;
  p = strstr(p, "\"fired\": ");
  return p ? atol(p + 9) : -1;
}

long tu_emu_hold_head(tu_emu *e, const char *bucket, const char *obj, int ms)
{
  char json[1024];
  snprintf(json, sizeof json,
           "{\"bucket\":\"%s\",\"object\":\"%s\",\"node\":\"proxy\",\"method\":\"HEAD\","
           "\"kind\":\"delay\",\"ms\":%d,\"count\":1}",
           bucket, obj, ms);
  return tu_emu_fault(e, json);
}

void tu_emu_clear_faults(tu_emu *e)
{
  char url[512];
  snprintf(url, sizeof url, "%s/_emu/faults", e->url);
  REQUIRE(tu_http("DELETE", url, NULL, 0, NULL, 0) == 200);
}

void tu_emu_post(tu_emu *e, const char *path)
{
  char url[1024], out[1024];
  snprintf(url, sizeof url, "%s%s", e->url, path);
  long st = tu_http("POST", url, NULL, 0, out, sizeof out);
  if (st != 200) {
    fprintf(stderr, "emulator POST %s -> %ld %s\n", url, st, out);
    exit(1);
  }
}

/* Round trip held on every answer and per-connection rate cap (0: none). */
void tu_emu_shape(tu_emu *e, int rtt_ms, long rate)
{
  char url[512], body[128], out[256];
  snprintf(url, sizeof url, "%s/_emu/config", e->url);
  snprintf(body, sizeof body, "{\"rtt_ms\": %d, \"rate\": %ld}", rtt_ms, rate);
  REQUIRE(tu_http("POST", url, body, strlen(body), out, sizeof out) == 200);
}

long tu_emu_stat_wait(tu_emu *e, const char *node, const char *field, long at_least, int ms)
{
  long v = tu_emu_stat(e, node, field);
  for (int t = 0; t < ms / 10 && v < at_least; t++) {
    tu_sleep_ms(10);
    v = tu_emu_stat(e, node, field);
  }
  return v;
}

/* Sums "field" over the objects of "node" ("proxy" or "targets") in the stats
 * JSON; a plain scan that is enough for the emulator's flat numbers. */
long tu_emu_stat(tu_emu *e, const char *node, const char *field)
{
  char url[512];
  static char out[1 << 20];
  snprintf(url, sizeof url, "%s/_emu/stats", e->url);
  REQUIRE(tu_http("GET", url, NULL, 0, out, sizeof out) == 200);
  char key[64];
  snprintf(key, sizeof key, "\"%s\"", node);
  char *p = strstr(out, key);
  if (!p)
    return -1;
  /* the node's value ends at the matching bracket */
  char *q = strchr(p, ':');
  if (!q)
    return -1;
  q++;
  while (*q == ' ')
    q++;
  int depth = 0;
  char *end = q;
  for (; *end; end++) {
    if (*end == '{' || *end == '[')
      depth++;
    else if (*end == '}' || *end == ']') {
      if (--depth == 0) {
        end++;
        break;
      }
    }
  }
  char f[64];
  snprintf(f, sizeof f, "\"%s\":", field);
  long sum = 0;
  for (char *s = q; s < end && (s = strstr(s, f)) && s < end; s += strlen(f))
    sum += strtol(s + strlen(f), NULL, 10);
  return sum;
}

/* ---- the generator: see tools/ais-emulator.py ---- */

static uint8_t gen_table[65536];
static pthread_once_t gen_once = PTHREAD_ONCE_INIT;

static void gen_fill_table(void)
{
  uint64_t state = 0;
  for (int i = 0; i < 8192; i++) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    for (int b = 0; b < 8; b++)
      gen_table[i * 8 + b] = (uint8_t)(z >> (8 * b));
  }
}

static void gen_init(void)
{
  pthread_once(&gen_once, gen_fill_table);
}

static void gen_block(uint64_t seed, uint64_t n, uint8_t blk[4096])
{
  uint64_t h = n * 0x9E3779B97F4A7C15ull + seed;
  for (int b = 0; b < 8; b++)
    blk[b] = (uint8_t)(h >> (8 * b));
  /* (n * 2654435761 + seed) mod 61448 in exact arithmetic */
  uint64_t k = ((n % 61448u) * (2654435761u % 61448u) + seed % 61448u) % 61448u;
  memcpy(blk + 8, gen_table + k, 4088);
}

void tu_gen(uint64_t seed, uint64_t off, void *buf, size_t len)
{
  gen_init();
  uint8_t *out = buf;
  uint8_t blk[4096];
  while (len) {
    uint64_t n = off / 4096;
    size_t in = (size_t)(off % 4096);
    size_t c = 4096 - in < len ? 4096 - in : len;
    gen_block(seed, n, blk);
    memcpy(out, blk + in, c);
    out += c;
    off += c;
    len -= c;
  }
}

int64_t tu_gen_cmp(uint64_t seed, uint64_t off, const void *buf, size_t len)
{
  gen_init();
  const uint8_t *p = buf;
  uint8_t blk[4096];
  size_t done = 0;
  while (done < len) {
    uint64_t o = off + done;
    size_t in = (size_t)(o % 4096);
    size_t c = 4096 - in < len - done ? 4096 - in : len - done;
    gen_block(seed, o / 4096, blk);
    if (memcmp(p + done, blk + in, c) != 0) {
      for (size_t i = 0; i < c; i++)
        if (p[done + i] != blk[in + i])
          return (int64_t)(o + i);
    }
    done += c;
  }
  return -1;
}

int tu_count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  struct dirent *de;
  if (!d)
    return -1;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the DIR itself */
}

int tu_count_children(void)
{
  return tu_count_children_of(getpid());
}

int tu_list_children(pid_t me, pid_t *out, int max)
{
  DIR *d = opendir("/proc");
  int n = 0;
  struct dirent *de;
  if (!d)
    return -1;
  while ((de = readdir(d))) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9')
      continue;
    char p[300], buf[512];
    snprintf(p, sizeof p, "/proc/%s/stat", de->d_name);
    FILE *f = fopen(p, "r");
    if (!f)
      continue;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = '\0';
    char *rp = strrchr(buf, ')');
    if (!rp)
      continue;
    char state;
    int ppid;
    if (sscanf(rp + 2, "%c %d", &state, &ppid) != 2 || ppid != me || state == 'Z')
      continue;
    snprintf(p, sizeof p, "/proc/%s/cmdline", de->d_name);
    f = fopen(p, "r");
    if (!f)
      continue;
    k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = '\0';
    for (size_t i = 0; i < k; i++)
      if (!buf[i])
        buf[i] = ' ';
    if (strstr(buf, "--aisfetch-worker")) {
      if (out && n < max)
        out[n] = (pid_t)atoi(de->d_name);
      n++;
    }
  }
  closedir(d);
  return n;
}

int tu_count_children_of(pid_t me)
{
  return tu_list_children(me, NULL, 0);
}

int tu_count_workers_of(pid_t me)
{
  pid_t z[64];
  int nz = tu_list_children(me, z, 64), n = 0;
  for (int i = 0; i < nz && i < 64; i++)
    n += tu_list_children(z[i], NULL, 0);
  return n;
}

int tu_zygote_workers(int want, int ms, pid_t *zyg, pid_t *wk, int max)
{
  int nw = 0;
  *zyg = 0;
  for (int t = 0; t < ms / 10 && nw < want; t++) {
    tu_sleep_ms(10);
    pid_t z[4];
    int nz = tu_list_children(getpid(), z, 4);
    *zyg = nz == 1 ? z[0] : 0;
    nw = nz == 1 ? tu_list_children(z[0], wk, max) : 0;
  }
  return nw;
}

double tu_now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int tu_wait_no_children(int ms)
{
  int n = tu_count_children();
  for (int i = 0; i < ms / 10 && n > 0; i++) {
    tu_sleep_ms(10);
    n = tu_count_children();
  }
  return n;
}
