/* aisfetch: AIStore objects to files or stdout, with parallel range reads.
 *
 * One object (URI) -> a file or stdout; a prefix (URI ending in '/', a bare
 * bucket, or --prefix) or several object URIs -> one file per object under a
 * directory, all read through one reader (one pool of workers, one ring);
 * --list prints a listing.
 *
 * Thread safety: the main thread does all the work; a second thread only
 * waits for SIGINT/SIGTERM and calls aisfetch_cancel(). */
#include "aisfetch.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
  EXIT_USAGE = 1,
  EXIT_NOT_FOUND = 2,
  EXIT_AUTH = 3,
  EXIT_CHANGED = 4,
  EXIT_TIMEOUT = 5,
  EXIT_NETWORK = 6,
  EXIT_PROTOCOL = 7,
  EXIT_SERVER = 8,
  EXIT_CHECKSUM = 9,
  EXIT_SYSTEM = 10,
  EXIT_LOCAL_IO = 11,
  EXIT_PARTIAL = 12,
  EXIT_INTERRUPTED = 130,
};

static const char usage[] =
    "Usage: aisfetch [OPTIONS] [PROVIDER://]BUCKET/OBJECT\n"
    "       aisfetch [OPTIONS] [PROVIDER://]BUCKET/[PREFIX/]   (-o DIR: every object under it)\n"
    "       aisfetch [OPTIONS] URI URI...                        (-o DIR: these objects)\n"
    "       aisfetch --list [--long] [PROVIDER://]BUCKET/[PREFIX]...\n"
    "Download AIStore objects with parallel range reads, in order, validated.\n"
    "\n"
    "  -o, --output FILE|DIR   one object: write to FILE (through FILE.part-*, renamed at\n"
    "                          the end); '-' for stdout; default: the object's base name.\n"
    "                          Several objects: the directory (created if needed) that\n"
    "                          receives DIR/OBJECT_NAME for each; default: '.'\n"
    "  -e, --endpoint URL      the cluster (default: $AIS_ENDPOINT, else http://127.0.0.1:8080)\n"
    "  -n, --num-workers N     parallel range readers, 1..256 (default 8)\n"
    "  -c, --chunk-size SIZE   bytes per range, 4KiB..256MiB; 0 = the object's own chunk\n"
    "                          size, else 8MiB (default 0)\n"
    "  -s, --slots N           ring slots, 1..1024 (default 2 x workers)\n"
    "      --offset N          start at byte N (default 0; one object only)\n"
    "      --length N          read N bytes (default: to the end; one object only)\n"
    "      --verify-checksum   check each whole object's checksum (not with --offset/--length)\n"
    "      --worker-mode MODE  process (default) or thread\n"
    "      --retries N         tries per range after the first (default 5)\n"
    "      --timeout SECONDS   no data for this long fails a try (default 20)\n"
    "      --token TOKEN       AuthN token (default: $AIS_AUTHN_TOKEN)\n"
    "      --prefix            the URI is a prefix even without a trailing '/'\n"
    "                          (ais://b/shard- : every object whose name starts with shard-)\n"
    "      --keep-going        several objects: an object that fails is reported at the end\n"
    "                          and skipped; the others are still written (exit 12)\n"
    "      --list              print the objects under each prefix: NAME<TAB>SIZE\n"
    "      --long              with --list: NAME<TAB>SIZE<TAB>VERSION<TAB>CHECKSUM<TAB>ATIME\n"
    "      --page-size N       entries per listing page (default: the cluster's)\n"
    "  -q, --quiet             no progress bar, no summary\n"
    "  -h, --help              this help\n"
    "\n"
    "SIZE and N accept units: 8MiB, 16mb, 4k, 1GiB (k/m/g are powers of 1024 too;\n"
    "kb/mb/gb are powers of 1000).\n"
    "\n"
    "Exit codes: 0 ok, 1 usage, 2 not found (also: a prefix with no object), 3 not\n"
    "authorized, 4 object changed, 5 timeout, 6 network, 7 protocol, 8 server error,\n"
    "9 checksum mismatch, 10 system error, 11 local write error (or an unsafe object\n"
    "name), 12 some objects failed (--keep-going), 130 interrupted.\n";

static int parse_size(const char *s, uint64_t *out)
{
  char *end;
  errno = 0;
  if (!s || !*s || *s == '-')
    return -1;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0)
    return -1;
  uint64_t mul = 1;
  if (*end) {
    static const struct {
      const char *u;
      uint64_t m;
    } units[] = {
      {"b", 1},           {"k", 1024},        {"kib", 1024},       {"kb", 1000},
      {"m", 1024 * 1024}, {"mib", 1024 * 1024}, {"mb", 1000000},  {"g", 1ull << 30},
      {"gib", 1ull << 30}, {"gb", 1000000000ull}, {"t", 1ull << 40}, {"tib", 1ull << 40},
      {"tb", 1000000000000ull},
    };
    int found = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
      if (strcasecmp(end, units[i].u) == 0) {
        mul = units[i].m;
        found = 1;
      }
    if (!found)
      return -1;
  }
  double r = v * (double)mul;
  if (r > 1.8e19 || r != (double)(uint64_t)r)
    return -1;
  *out = (uint64_t)r;
  return 0;
}

static int exit_code(aisfetch_errkind k)
{
  switch (k) {
  case AISFETCH_OK: return 0;
  case AISFETCH_E_ARG: return EXIT_USAGE;
  case AISFETCH_E_NOT_FOUND: return EXIT_NOT_FOUND;
  case AISFETCH_E_AUTH: return EXIT_AUTH;
  case AISFETCH_E_CHANGED: return EXIT_CHANGED;
  case AISFETCH_E_TIMEOUT: return EXIT_TIMEOUT;
  case AISFETCH_E_NETWORK: return EXIT_NETWORK;
  case AISFETCH_E_PROTOCOL: return EXIT_PROTOCOL;
  case AISFETCH_E_SERVER: return EXIT_SERVER;
  case AISFETCH_E_CHECKSUM: return EXIT_CHECKSUM;
  case AISFETCH_E_CANCELLED: return EXIT_INTERRUPTED;
  case AISFETCH_E_SYSTEM: return EXIT_SYSTEM;
  case AISFETCH_E_WRITE: return EXIT_LOCAL_IO;
  }
  return EXIT_SYSTEM;
}

/* s without quotes */
static void unquoted(const char *s, char *out, size_t n)
{
  size_t o = 0;
  for (; *s && o + 1 < n; s++)
    if (*s != '"' && *s != '\'')
      out[o++] = *s;
  out[o] = '\0';
}

/* The error's message, with AIStore's own message after it when it adds
 * something (the library's message often quotes it already). */
static void err_text(const aisfetch_error *e, char *out, size_t n)
{
  char a[sizeof e->message], b[sizeof e->server_message];
  unquoted(e->message, a, sizeof a);
  unquoted(e->server_message, b, sizeof b);
  int extra = b[0] && !strstr(a, b);
  snprintf(out, n, "%s%s%s", e->message, extra ? " - " : "", extra ? e->server_message : "");
}

/* An object name as printable text on one line: control bytes and '\' are
 * written \xHH; other bytes (UTF-8 or not) as they are. */
static const char *esc(const char *s, char *out, size_t n)
{
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < n; p++) {
    if (*p < 0x20 || *p == 0x7f || *p == '\\')
      o += (size_t)snprintf(out + o, n - o, "\\x%02x", *p);
    else
      out[o++] = (char)*p;
  }
  out[o] = '\0';
  return out;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human(double b, char *out, size_t n)
{
  const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (b >= 1024 && i < 4) {
    b /= 1024;
    i++;
  }
  snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

/* One line, redrawn in place: bar, bytes, (objects), rate, time left.  With
 * objects, the totals may still grow (a listing in progress): they get a '+'. */
static void progress(uint64_t done, uint64_t total, double t0, int final, int objects,
                     uint64_t objs_done, uint64_t objs_known, int complete)
{
  double dt = now_s() - t0;
  double rate = dt > 0 ? (double)done / dt : 0;
  char d[32], t[32], r[32], ob[64] = "";
  human((double)done, d, sizeof d);
  human((double)total, t, sizeof t);
  human(rate, r, sizeof r);
  int width = 30;
  int fill = total ? (int)((double)done / (double)total * width) : width;
  if (fill > width)
    fill = width;
  char bar[64];
  for (int i = 0; i < width; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[width] = '\0';
  double eta = rate > 0 && total > done ? (double)(total - done) / rate : 0;
  if (eta > 99 * 60 + 59)
    eta = 99 * 60 + 59;
  if (objects)
    snprintf(ob, sizeof ob, "  %llu/%llu%s objects", (unsigned long long)objs_done,
             (unsigned long long)objs_known, complete ? "" : "+");
  fprintf(stderr, "\r[%s] %s / %s%s%s  %s/s  ETA %02d:%02d\033[K%s", bar, d, t,
          objects && !complete ? "+" : "", ob, r, (int)eta / 60, (int)eta % 60, final ? "\n" : "");
  fflush(stderr);
}

struct sigctx {
  aisfetch_reader *r;
  sigset_t set;
  int fired;
};

static void *sig_thread(void *arg)
{
  struct sigctx *s = arg;
  int sig;
  if (sigwait(&s->set, &sig) == 0 && sig != SIGUSR2) {
    s->fired = 1;
    aisfetch_cancel(s->r);
  }
  return NULL;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* A chunk into fd, -1 (errno) on failure: nothing when the workers wrote
 * it into the file (data NULL); at its place in the object with seek (a
 * file given to the reader, whose other ranges the workers write) */
static int put_chunk(int fd, const aisfetch_chunk *c, int seek)
{
  if (!c->data)
    return 0;
  if (seek && lseek(fd, (off_t)c->object_offset, SEEK_SET) < 0)
    return -1;
  return write_all(fd, c->data, c->len);
}

/* ------------------------------------------------------------------ */
/* One object to a file or stdout (the original mode).                 */

static int run_single(aisfetch_options *o, const char *output, uint64_t offset, uint64_t length,
                      int quiet, struct sigctx *sc)
{
  aisfetch_uri u;
  aisfetch_error e;
  if (aisfetch_uri_parse(o->uri, &u, &e)) {
    fprintf(stderr, "aisfetch: %s\n", e.message);
    return EXIT_USAGE;
  }
  char defname[1024];
  if (!output) {
    const char *slash = strrchr(u.object, '/');
    snprintf(defname, sizeof defname, "%s", slash ? slash + 1 : u.object);
    output = defname;
  }
  int to_stdout = strcmp(output, "-") == 0;

  /* the open's GET of the object's first bytes is of no use to a read that
   * starts elsewhere */
  if (offset > 0)
    o->first_bytes = -1;
  /* nor is readahead from 0 before the range is set (its ranges past the
   * stop would be aborted) */
  o->start_idle = offset > 0 || length != UINT64_MAX;
  aisfetch_reader *r = NULL;
  aisfetch_errkind k = aisfetch_open(o, &r, &e);
  if (k) {
    fprintf(stderr, "aisfetch: %s: %s\n", aisfetch_errkind_name(k), e.message);
    return exit_code(k);
  }
  sc->r = r;
  pthread_t st;
  pthread_create(&st, NULL, sig_thread, sc);

  uint64_t size = aisfetch_size(r);
  int rc = 0;
  char tmp[4200] = "";
  int fd = 1, direct = 0;
  if (offset > size) {
    fprintf(stderr, "aisfetch: --offset %llu is past the end of the object (%llu bytes)\n",
            (unsigned long long)offset, (unsigned long long)size);
    rc = EXIT_USAGE;
    goto out;
  }
  uint64_t stop = length == UINT64_MAX || length > size - offset ? size : offset + length;
  struct stat ost;
  if (!to_stdout && stat(output, &ost) == 0 && !S_ISREG(ost.st_mode)) {
    /* a device or a pipe (/dev/null, a FIFO): write to it as it is */
    if (S_ISDIR(ost.st_mode)) {
      fprintf(stderr, "aisfetch: %s is a directory\n", output);
      rc = EXIT_USAGE;
      goto out;
    }
    fd = open(output, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      fprintf(stderr, "aisfetch: cannot open %s: %s\n", output, strerror(errno));
      rc = EXIT_LOCAL_IO;
      goto out;
    }
    direct = 1;
  } else if (!to_stdout) {
    snprintf(tmp, sizeof tmp, "%s.part-XXXXXX", output);
    fd = mkstemp(tmp);
    if (fd < 0) {
      fprintf(stderr, "aisfetch: cannot create %s: %s\n", tmp, strerror(errno));
      tmp[0] = '\0';
      rc = EXIT_LOCAL_IO;
      goto out;
    }
    fchmod(fd, 0644);
  }
  if ((k = aisfetch_seek_range(r, offset, stop, &e))) {
    fprintf(stderr, "aisfetch: %s\n", e.message);
    rc = exit_code(k);
    goto out;
  }
  /* the whole object into a new file: the workers write it (see run_multi's
   * files made ahead); the ranges already under way come through the ring */
  aisfetch_error fe;
  int files = tmp[0] && offset == 0 && stop == size && size > 0 && !o->verify_checksum &&
              aisfetch_object_set_fd(r, 0, fd, &fe) == AISFETCH_OK;
  int bar = !quiet && isatty(2);
  double t0 = now_s(), last = 0;
  uint64_t done = 0, total = stop - offset;
  for (;;) {
    aisfetch_chunk c;
    k = aisfetch_next(r, &c, &e);
    if (k) {
      if (bar)
        fputc('\n', stderr);
      if (k == AISFETCH_E_CANCELLED && sc->fired) {
        fprintf(stderr, "aisfetch: interrupted after %llu bytes\n", (unsigned long long)done);
      } else {
        char m[1100];
        err_text(&e, m, sizeof m);
        fprintf(stderr, "aisfetch: %s: %s\n", aisfetch_errkind_name(k), m);
      }
      rc = exit_code(k);
      goto out;
    }
    if (!c.len)
      break;
    if (put_chunk(fd, &c, files)) {
      fprintf(stderr, "\naisfetch: writing %s: %s\n", to_stdout ? "stdout" : tmp, strerror(errno));
      aisfetch_release(r, &c);
      rc = EXIT_LOCAL_IO;
      goto out;
    }
    done += c.len;
    aisfetch_release(r, &c);
    if (bar && now_s() - last > 0.2) {
      last = now_s();
      progress(done, total, t0, 0, 0, 0, 0, 1);
    }
  }
  if (direct) {
    if (close(fd)) {
      fprintf(stderr, "aisfetch: writing %s: %s\n", output, strerror(errno));
      fd = -1;
      rc = EXIT_LOCAL_IO;
      goto out;
    }
    fd = -1;
  } else if (!to_stdout) {
    if (fsync(fd) || close(fd)) {
      fprintf(stderr, "aisfetch: writing %s: %s\n", tmp, strerror(errno));
      fd = -1;
      rc = EXIT_LOCAL_IO;
      goto out;
    }
    fd = -1;
    if (rename(tmp, output)) {
      fprintf(stderr, "aisfetch: renaming %s to %s: %s\n", tmp, output, strerror(errno));
      rc = EXIT_LOCAL_IO;
      goto out;
    }
    tmp[0] = '\0';
  }
  if (bar)
    progress(done, total, t0, 1, 0, 0, 0, 1);
  if (!quiet) {
    aisfetch_stats s;
    aisfetch_stats_get(r, &s);
    aisfetch_object_info info;
    aisfetch_object_info_get(r, &info);
    int verified = o->verify_checksum && offset == 0 && stop == size && info.checksum_type[0] &&
                   strcmp(info.checksum_type, "none") != 0;
    double dt = now_s() - t0;
    fprintf(stderr, "%llu bytes in %.3f s, %.1f MB/s, %u workers, %llu ranges, %llu retries%s\n",
            (unsigned long long)done, dt, dt > 0 ? (double)done / dt / 1e6 : 0.0, s.num_workers,
            (unsigned long long)s.ranges, (unsigned long long)s.retries,
            verified ? ", checksum verified" : "");
  }
out:
  if (!to_stdout && fd >= 0)
    close(fd);
  if (tmp[0])
    unlink(tmp);
  pthread_kill(st, SIGUSR2);
  pthread_join(st, NULL);
  aisfetch_close(r);
  return rc;
}

/* ------------------------------------------------------------------ */
/* --list                                                              */

static int run_list(const aisfetch_options *o, char **uris, int n, int longfmt, int quiet)
{
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    aisfetch_lister *l = NULL;
    aisfetch_error e;
    char m[1100], name[4200];
    aisfetch_errkind k = aisfetch_list_open(o, uris[i], &l, &e);
    uint64_t count = 0, bytes = 0;
    while (!k) {
      aisfetch_entry en;
      if ((k = aisfetch_list_next(l, &en, &e)) || !en.name[0])
        break;
      count++;
      bytes += en.size;
      esc(en.name, name, sizeof name);
      if (longfmt) {
        char v[600], c[700], a[300];
        printf("%s\t%llu\t%s\t%s\t%s\n", name, (unsigned long long)en.size,
               en.version[0] ? esc(en.version, v, sizeof v) : "-",
               en.checksum[0] ? esc(en.checksum, c, sizeof c) : "-",
               en.atime[0] ? esc(en.atime, a, sizeof a) : "-");
      } else {
        printf("%s\t%llu\n", name, (unsigned long long)en.size);
      }
    }
    aisfetch_list_close(l);
    if (fflush(stdout) || ferror(stdout)) {
      fprintf(stderr, "aisfetch: writing the listing: %s\n", strerror(errno));
      return EXIT_LOCAL_IO;
    }
    if (k) {
      err_text(&e, m, sizeof m);
      fprintf(stderr, "aisfetch: %s: %s: %s\n", esc(uris[i], name, sizeof name),
              aisfetch_errkind_name(k), m);
      rc = exit_code(k);
    } else if (!quiet) {
      if (count)
        fprintf(stderr, "%s: %llu objects, %llu bytes\n", esc(uris[i], name, sizeof name),
                (unsigned long long)count, (unsigned long long)bytes);
      else
        fprintf(stderr, "aisfetch: no object under %s\n", esc(uris[i], name, sizeof name));
    }
  }
  return rc;
}

/* ------------------------------------------------------------------ */
/* Several objects (a prefix or a list of URIs) into a directory.      */

struct failure {
  char *name;
  char kind[32];
  char *msg;
};

enum obj_state { OBJ_NONE, OBJ_OPEN, OBJ_DIR, OBJ_DISCARD };

/* Files made ahead of the read for the objects after the current one, and
 * given to the library (aisfetch_object_set_fd): its workers write their
 * ranges straight into them.  On the benchmark's two cores this takes the
 * bytes' trip through the ring and back out of it off the CPU.  At most
 * AHEAD, and fewer under a low RLIMIT_NOFILE: each costs three descriptors
 * (the file, its directory, the library's copy), and with thread workers
 * every range in flight one more. */
#define AHEAD 128

struct prepared {
  uint64_t idx;
  int dirfd, fd;
  uint64_t size;
  char name[1024], tmp[300], base[300];
};

struct multi {
  aisfetch_reader *r;
  int rootfd;
  const char *outdir;
  int keep_going;
  int bar_open;            /* a progress line is on the terminal, without its newline */
  uint64_t cur;            /* objects below it are finished (written, or failed) */
  enum obj_state state;    /* of object cur */
  char name[1024];         /* object cur's name */
  uint64_t size, written;  /* object cur's size, bytes written so far */
  int dirfd, fd;           /* object cur's directory and temporary file */
  char tmp[300], base[300];
  uint64_t ok, bytes;      /* objects written, bytes written (of all objects) */
  uint64_t ok_bytes;       /* bytes of the objects written */
  struct failure *fails;
  size_t nfails, cap;
  struct prepared *prep;   /* the files made ahead, in object order; NULL: none are made
                            * (--verify-checksum, few descriptors) */
  size_t nprep;
  uint64_t prep_next;      /* the next object to make a file for */
  int prep_stop;           /* making files ahead failed for a local reason: not again */
  size_t ahead;            /* at most this many files made ahead */
  /* the last error the reader returned for an object (with --keep-going) */
  int last_set;
  size_t last_fail;        /* its entry in fails */
  aisfetch_errkind last_kind;
  char last_text[1100], last_name[1024];
};

static void end_bar(struct multi *m)
{
  if (m->bar_open)
    fputc('\n', stderr);
  m->bar_open = 0;
}

/* Records that an object failed.  Returns 0 with --keep-going (go on),
 * else prints the error and returns the exit code. */
__attribute__((format(printf, 5, 6)))
static int object_failed(struct multi *m, const char *name, const char *kind, int code,
                         const char *fmt, ...)
{
  char buf[1400], en[4200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  /* the library's messages may start with the object's name: it is said once */
  size_t nl = strlen(name);
  const char *msg = buf;
  if (nl && !strncmp(buf, name, nl) && buf[nl] == ':' && buf[nl + 1] == ' ')
    msg = buf + nl + 2;
  if (!m->keep_going) {
    end_bar(m);
    fprintf(stderr, "aisfetch: %s: %s: %s\n", esc(name, en, sizeof en), kind, msg);
    return code;
  }
  if (m->nfails == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct failure *f = realloc(m->fails, cap * sizeof *f);
    if (!f) {
      fprintf(stderr, "aisfetch: out of memory\n");
      return EXIT_SYSTEM;
    }
    m->fails = f;
    m->cap = cap;
  }
  struct failure *f = &m->fails[m->nfails];
  f->name = strdup(name);
  f->msg = strdup(msg);
  if (!f->name || !f->msg) {
    free(f->name);
    free(f->msg);
    fprintf(stderr, "aisfetch: out of memory\n");
    return EXIT_SYSTEM;
  }
  snprintf(f->kind, sizeof f->kind, "%s", kind);
  m->nfails++;
  return 0;
}

#define UNSAFE_HINT \
  "not written (the name must be a relative path without '.', '..' or empty components)"

/* Why a name cannot be a path under the output directory, or NULL.  A name
 * ending in '/' (a "directory" marker object) is checked without it. */
static const char *unsafe_name(const char *name)
{
  size_t len = strlen(name);
  if (!len)
    return "empty name";
  if (name[0] == '/')
    return "absolute path";
  const char *p = name;
  const char *end = name + len - (name[len - 1] == '/');
  if (end[-1] == '/')
    return "empty path component ('//')";
  while (p < end) {
    const char *slash = memchr(p, '/', (size_t)(end - p));
    size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
    if (n == 0)
      return "empty path component ('//')";
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return "'.' or '..' path component";
    if (n > NAME_MAX)
      return "path component longer than NAME_MAX";
    p += n + 1;
  }
  return NULL;
}

/* Creates (as needed) and opens the directories of name under rootfd, never
 * following a symbolic link; *base: the last component ("" for a name ending
 * in '/').  Returns a directory descriptor, or -1 with errno. */
static int open_dirs_how(int rootfd, const char *name, const char **base, int create)
{
  int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
  const char *p = name;
  while (fd >= 0) {
    const char *slash = strchr(p, '/');
    if (!slash) {
      *base = p;
      return fd;
    }
    char comp[NAME_MAX + 1];
    size_t n = (size_t)(slash - p);
    memcpy(comp, p, n);
    comp[n] = '\0';
    int nfd = -1;
    if (!create || mkdirat(fd, comp, 0777) == 0 || errno == EEXIST)
      nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int saved = errno;
    close(fd);
    errno = saved;
    fd = nfd;
    p = slash + 1;
  }
  return -1;
}

static int open_dirs(int rootfd, const char *name, const char **base)
{
  return open_dirs_how(rootfd, name, base, 1);
}

static void discard_current(struct multi *m)
{
  if (m->fd >= 0)
    close(m->fd);
  if (m->tmp[0])
    unlinkat(m->dirfd, m->tmp, 0);
  if (m->dirfd >= 0)
    close(m->dirfd);
  m->fd = m->dirfd = -1;
  m->tmp[0] = '\0';
}

static void drop_prepared(struct prepared *p)
{
  close(p->fd);
  unlinkat(p->dirfd, p->tmp, 0);
  close(p->dirfd);
}

/* Files made ahead for objects the read has gone past (failed, skipped)
 * are removed. */
static void drop_prepared_below(struct multi *m, uint64_t idx)
{
  size_t n = 0;
  while (n < m->nprep && m->prep[n].idx < idx)
    drop_prepared(&m->prep[n++]);
  if (n) {
    memmove(m->prep, m->prep + n, (m->nprep - n) * sizeof *m->prep);
    m->nprep -= n;
  }
}

/* The temporary file NAME.part-XXXXXX (shorter when NAME is near NAME_MAX)
 * in dirfd: its descriptor, its name in tmp, or -1 (errno). */
static int make_part(int dirfd, const char *base, char *tmp, size_t tmpn)
{
  static unsigned serial;
  int fd = -1;
  for (int tries = 0; tries < 100; tries++) {
    unsigned x = (unsigned)getpid() * 2654435761u ^ (unsigned)(uint64_t)(now_s() * 1e9) ^
                 (++serial * 40503u);
    if (strlen(base) + 12 <= NAME_MAX)
      snprintf(tmp, tmpn, "%s.part-%06x", base, x & 0xffffff);
    else
      snprintf(tmp, tmpn, ".aisfetch.part-%06x", x & 0xffffff);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd >= 0 || errno != EEXIST)
      break;
  }
  return fd;
}

/* Makes files for the objects after the current one, up to AHEAD of them
 * and as far as they are known.  Whatever is odd about an object (a failed
 * HEAD, an unsafe name, a directory marker, an empty object, a local error)
 * leaves it to begin_object(), which says why in its turn. */
static void prepare_ahead(struct multi *m)
{
  if (!m->prep || m->prep_stop || m->nprep >= m->ahead)
    return; /* (before the reader's lock: this runs after every chunk) */
  if (m->prep_next <= m->cur)
    m->prep_next = m->cur + 1;
  uint64_t known = aisfetch_objects_known(m->r, NULL);
  while (m->nprep < m->ahead && m->prep_next < known && m->prep_next < m->cur + m->ahead) {
    uint64_t idx = m->prep_next++;
    aisfetch_object_info info;
    aisfetch_error e;
    memset(&info, 0, sizeof info);
    if (aisfetch_object_at(m->r, idx, &info, NULL, &e) || !info.size || unsafe_name(info.object) ||
        info.object[strlen(info.object) - 1] == '/')
      continue;
    struct prepared *p = &m->prep[m->nprep];
    const char *base;
    /* only into directories that are there: making them is begin_object()'s,
     * in the objects' order (object "a" comes before "a/b" and must win, and
     * a run that stops leaves no directory it did not use) */
    p->dirfd = open_dirs_how(m->rootfd, info.object, &base, 0);
    if (p->dirfd < 0) {
      m->prep_stop = errno == EMFILE || errno == ENFILE;
      continue;
    }
    p->fd = make_part(p->dirfd, base, p->tmp, sizeof p->tmp);
    if (p->fd < 0) {
      m->prep_stop = errno == EMFILE || errno == ENFILE;
      close(p->dirfd);
      continue;
    }
    if (aisfetch_object_set_fd(m->r, idx, p->fd, &e)) {
      drop_prepared(p);
      m->prep_stop = e.kind == AISFETCH_E_SYSTEM; /* out of descriptors */
      continue;
    }
    p->idx = idx;
    p->size = info.size;
    snprintf(p->name, sizeof p->name, "%s", info.object);
    snprintf(p->base, sizeof p->base, "%s", base);
    m->nprep++;
  }
}

/* Object idx starts: check its name, make its directories and its temporary
 * file.  A failure of this object leaves it OBJ_DISCARD (0 returned with
 * --keep-going); a non-zero return ends the run. */
static int begin_object(struct multi *m, uint64_t idx)
{
  aisfetch_object_info info;
  aisfetch_error e;
  char em[1100];
  memset(&info, 0, sizeof info);
  m->state = OBJ_DISCARD;
  m->written = 0;
  drop_prepared_below(m, idx);
  if (m->nprep && m->prep[0].idx == idx) { /* its file is made, the workers write into it */
    struct prepared *p = &m->prep[0];
    snprintf(m->name, sizeof m->name, "%s", p->name);
    snprintf(m->tmp, sizeof m->tmp, "%s", p->tmp);
    snprintf(m->base, sizeof m->base, "%s", p->base);
    m->size = p->size;
    m->dirfd = p->dirfd;
    m->fd = p->fd;
    memmove(m->prep, m->prep + 1, (m->nprep - 1) * sizeof *m->prep);
    m->nprep--;
    m->state = OBJ_OPEN;
    return 0;
  }
  aisfetch_errkind k = aisfetch_object_at(m->r, idx, &info, NULL, &e);
  snprintf(m->name, sizeof m->name, "%s", info.object[0] ? info.object : "(unnamed)");
  m->size = info.size;
  if (k) {
    err_text(&e, em, sizeof em);
    return object_failed(m, m->name, aisfetch_errkind_name(k), exit_code(k), "%s", em);
  }
  const char *why = unsafe_name(info.object);
  size_t len = strlen(info.object);
  if (!why && info.object[len - 1] == '/' && info.size)
    why = "name ends with '/' but the object is not empty";
  if (why)
    return object_failed(m, m->name, "unsafe name", EXIT_LOCAL_IO, "%s: %s", why, UNSAFE_HINT);
  const char *base;
  m->dirfd = open_dirs(m->rootfd, info.object, &base);
  if (m->dirfd < 0)
    return object_failed(m, m->name, "local", EXIT_LOCAL_IO, "creating its directory under %s: %s",
                         m->outdir, strerror(errno));
  if (!*base) { /* a directory marker: the directory is all there is */
    m->state = OBJ_DIR;
    return 0;
  }
  snprintf(m->base, sizeof m->base, "%s", base);
  m->fd = make_part(m->dirfd, base, m->tmp, sizeof m->tmp);
  if (m->fd < 0) {
    int saved = errno;
    m->tmp[0] = '\0';
    discard_current(m);
    return object_failed(m, m->name, "local", EXIT_LOCAL_IO, "creating a file under %s: %s",
                         m->outdir, strerror(saved));
  }
  m->state = OBJ_OPEN;
  return 0;
}

/* Object cur is done (all its bytes came): give the file its name. */
static int finish_object(struct multi *m)
{
  int rc = 0;
  if (m->state == OBJ_OPEN) {
    if (m->written != m->size) {
      discard_current(m);
      rc = object_failed(m, m->name, "protocol", EXIT_PROTOCOL,
                         "%llu bytes received of %llu", (unsigned long long)m->written,
                         (unsigned long long)m->size);
    } else if (close(m->fd)) {
      m->fd = -1;
      int saved = errno;
      discard_current(m);
      rc = object_failed(m, m->name, "local", EXIT_LOCAL_IO, "writing: %s", strerror(saved));
    } else {
      m->fd = -1;
      if (renameat(m->dirfd, m->tmp, m->dirfd, m->base)) {
        int saved = errno;
        discard_current(m);
        rc = object_failed(m, m->name, "local", EXIT_LOCAL_IO, "renaming its file into place: %s",
                           strerror(saved));
      } else {
        m->tmp[0] = '\0';
        discard_current(m);
        m->ok++;
        m->ok_bytes += m->written;
      }
    }
  } else if (m->state == OBJ_DIR) {
    discard_current(m);
    m->ok++;
  } else {
    discard_current(m);
  }
  m->state = OBJ_NONE;
  m->cur++;
  drop_prepared_below(m, m->cur);
  return rc;
}

/* Objects cur..upto-1 gave no bytes: they are empty (or their HEAD failed). */
static int settle_until(struct multi *m, uint64_t upto)
{
  int rc = 0;
  while (!rc && m->cur < upto) {
    if (m->state == OBJ_NONE && (rc = begin_object(m, m->cur)))
      break;
    rc = finish_object(m);
  }
  return rc;
}

/* Whether an error is the reader's own (a failed listing: the library gives
 * it again at every call) rather than an object's: it is the very error
 * (kind and text) last recorded for an object, given again for another
 * object, or by the skip past that object (the library starts the message
 * of an object's error with the object's name, so two objects' errors never
 * read the same).  The failure recorded for that object is dropped then. */
static int reader_error(struct multi *m, aisfetch_errkind k, const char *text, int after_skip)
{
  if (!m->last_set || m->last_kind != k || strcmp(m->last_text, text))
    return 0;
  if (!after_skip && !strcmp(m->last_name, m->name))
    return 0; /* the same name twice in a row (a list of URIs): cannot tell */
  m->last_set = 0;
  if (m->last_fail < m->nfails) {
    free(m->fails[m->last_fail].name);
    free(m->fails[m->last_fail].msg);
    memmove(&m->fails[m->last_fail], &m->fails[m->last_fail + 1],
            (m->nfails - m->last_fail - 1) * sizeof *m->fails);
    m->nfails--;
  }
  return 1;
}

/* After a chunk or an error of object idx: if the reader is still in it,
 * skip the rest (its bytes are not wanted). */
static int skip_if_in(struct multi *m, uint64_t idx)
{
  if (aisfetch_object_index(m->r) != idx)
    return 0;
  aisfetch_error e;
  aisfetch_errkind k = aisfetch_skip_object(m->r, &e);
  if (k) {
    char em[1100];
    err_text(&e, em, sizeof em);
    end_bar(m);
    if (reader_error(m, k, em, 1))
      fprintf(stderr, "aisfetch: %s: %s\n", aisfetch_errkind_name(k), em);
    else
      fprintf(stderr, "aisfetch: skipping an object: %s: %s\n", aisfetch_errkind_name(k), em);
    return exit_code(k);
  }
  if (aisfetch_object_index(m->r) <= idx) {
    end_bar(m);
    fprintf(stderr, "aisfetch: the reader did not move past object %llu\n",
            (unsigned long long)idx);
    return EXIT_SYSTEM;
  }
  return 0;
}

/* aisfetch_next() failed (not cancelled): an error of the object at the
 * position (recorded, and skipped with --keep-going), or of the reader. */
static int object_error(struct multi *m, aisfetch_errkind k, const aisfetch_error *e)
{
  char em[1100];
  int rc;
  err_text(e, em, sizeof em);
  uint64_t idx = aisfetch_object_index(m->r);
  uint64_t known = aisfetch_objects_known(m->r, NULL);
  if (idx >= known || idx < m->cur) { /* not one object's: the listing, the reader */
    end_bar(m);
    fprintf(stderr, "aisfetch: %s: %s\n", aisfetch_errkind_name(k), em);
    return exit_code(k);
  }
  /* objects before idx are complete (or empty) */
  if ((rc = settle_until(m, idx)))
    return rc;
  int refused = m->state == OBJ_DISCARD; /* its name, already reported */
  if (m->state == OBJ_NONE) {
    aisfetch_object_info info;
    aisfetch_error e2;
    memset(&info, 0, sizeof info);
    aisfetch_object_at(m->r, idx, &info, NULL, &e2);
    snprintf(m->name, sizeof m->name, "%s", info.object[0] ? info.object : "(unnamed)");
    /* a name that would not have been written is the first reason (the
     * read of a name with '.' or '..' components may fail on its own) */
    const char *why = info.object[0] ? unsafe_name(info.object) : NULL;
    if (why) {
      refused = 1;
      if ((rc = object_failed(m, m->name, "unsafe name", EXIT_LOCAL_IO, "%s: %s", why,
                              UNSAFE_HINT)))
        return rc;
    }
  }
  discard_current(m);
  m->state = OBJ_DISCARD;
  if (m->keep_going && reader_error(m, k, em, 0)) {
    end_bar(m);
    fprintf(stderr, "aisfetch: %s: %s\n", aisfetch_errkind_name(k), em);
    return exit_code(k);
  }
  if (!refused) {
    if ((rc = object_failed(m, m->name, aisfetch_errkind_name(k), exit_code(k), "%s", em)))
      return rc;
    m->last_set = 1;
    m->last_fail = m->nfails - 1;
    m->last_kind = k;
    snprintf(m->last_text, sizeof m->last_text, "%s", em);
    snprintf(m->last_name, sizeof m->last_name, "%s", m->name);
  }
  if ((rc = skip_if_in(m, idx)))
    return rc;
  return finish_object(m);
}

static int mkdir_p(const char *path)
{
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || !*p) {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0777) && errno != EEXIST)
        return -1;
      *p = c;
      if (!c)
        return 0;
    }
  }
}

static int run_multi(aisfetch_options *o, const char *outdir, int quiet, int keep_going,
                     struct sigctx *sc)
{
  struct multi m;
  memset(&m, 0, sizeof m);
  m.rootfd = m.dirfd = m.fd = -1;
  m.keep_going = keep_going;
  m.outdir = outdir;
  char en[4200], em[1100];
  int rc = 0, have_thread = 0;
  pthread_t st;
  double t0 = now_s(), last = 0;
  int bar = !quiet && isatty(2);

  aisfetch_error e;
  aisfetch_errkind k;
  /* (an object of a list whose HEAD fails is an error of that object, given
   * by aisfetch_next(), not by the open) */
  if ((k = aisfetch_open(o, &m.r, &e))) {
    err_text(&e, em, sizeof em);
    if (o->prefix)
      fprintf(stderr, "aisfetch: %s: %s: %s\n", esc(o->prefix, en, sizeof en),
              aisfetch_errkind_name(k), em);
    else
      fprintf(stderr, "aisfetch: %s: %s\n", aisfetch_errkind_name(k), em);
    rc = exit_code(k);
    goto out;
  }
  sc->r = m.r;
  pthread_create(&st, NULL, sig_thread, sc);
  have_thread = 1;

  /* the directory is made once there is something to put in it */
  if (mkdir_p(outdir) ||
      (m.rootfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    fprintf(stderr, "aisfetch: output directory %s: %s\n", outdir, strerror(errno));
    rc = EXIT_LOCAL_IO;
    goto out;
  }
  struct rlimit nofile;
  m.ahead = AHEAD;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    /* room for the reader (ring, sockets, workers' ranges) first */
    rlim_t spare = nofile.rlim_cur > 256 ? (nofile.rlim_cur - 256) / 4 : 0;
    if (spare < m.ahead)
      m.ahead = (size_t)spare;
  }
  if (m.ahead && !o->verify_checksum)
    m.prep = calloc(m.ahead, sizeof *m.prep);
  prepare_ahead(&m);

  for (;;) {
    aisfetch_chunk c;
    k = aisfetch_next(m.r, &c, &e);
    if (k) {
      if (k == AISFETCH_E_CANCELLED) {
        end_bar(&m);
        fprintf(stderr, "aisfetch: interrupted after %llu objects, %llu bytes\n",
                (unsigned long long)m.ok, (unsigned long long)m.ok_bytes);
        rc = EXIT_INTERRUPTED;
        break;
      }
      if ((rc = object_error(&m, k, &e)))
        break;
      continue;
    }
    if (!c.len) {
      int complete = 0;
      uint64_t known = aisfetch_objects_known(m.r, &complete);
      if (m.state != OBJ_NONE && known <= m.cur)
        known = m.cur + 1; /* the object being written is finished in any case */
      rc = settle_until(&m, known);
      break;
    }
    m.last_set = 0; /* bytes came: the reader is well */
    uint64_t idx = c.object;
    if (idx < m.cur || (idx == m.cur && m.state == OBJ_OPEN && c.object_offset != m.written) ||
        (idx > m.cur && c.object_offset != 0) ||
        (idx == m.cur && m.state == OBJ_NONE && c.object_offset != 0)) {
      aisfetch_release(m.r, &c);
      end_bar(&m);
      fprintf(stderr, "aisfetch: bytes out of order: object %llu at %llu (expected object %llu at %llu)\n",
              (unsigned long long)idx, (unsigned long long)c.object_offset,
              (unsigned long long)m.cur, (unsigned long long)m.written);
      rc = EXIT_SYSTEM;
      break;
    }
    rc = settle_until(&m, idx);
    if (!rc && m.state == OBJ_NONE)
      rc = begin_object(&m, idx);
    if (!rc && m.state == OBJ_OPEN) {
      /* bytes through the ring go where they belong: the workers write the
       * rest of a file made ahead at their offsets */
      if (put_chunk(m.fd, &c, 1)) {
        int saved = errno;
        discard_current(&m);
        m.state = OBJ_DISCARD;
        rc = object_failed(&m, m.name, "local", EXIT_LOCAL_IO, "writing under %s: %s", outdir,
                           strerror(saved));
      } else {
        m.written += c.len;
        m.bytes += c.len;
      }
    }
    aisfetch_release(m.r, &c);
    if (!rc && m.state == OBJ_DISCARD)
      rc = skip_if_in(&m, idx);
    if (rc)
      break;
    prepare_ahead(&m);
    if (bar && now_s() - last > 0.2) {
      int complete = 0;
      uint64_t known = aisfetch_objects_known(m.r, &complete);
      last = now_s();
      progress(m.bytes, aisfetch_size(m.r), t0, 0, 1, m.cur, known, complete);
      m.bar_open = 1;
    }
  }
  if (!rc && syncfs(m.rootfd)) {
    end_bar(&m);
    fprintf(stderr, "aisfetch: writing under %s: %s\n", outdir, strerror(errno));
    rc = EXIT_LOCAL_IO;
  }
  if (!rc && bar) {
    int complete = 0;
    uint64_t known = aisfetch_objects_known(m.r, &complete);
    progress(m.bytes, aisfetch_size(m.r), t0, 1, 1, m.cur, known, complete);
    m.bar_open = 0;
  }
  if (!rc && !quiet) {
    aisfetch_stats s;
    aisfetch_stats_get(m.r, &s);
    double dt = now_s() - t0;
    fprintf(stderr,
            "%llu objects, %llu bytes in %.3f s, %.1f MB/s, %u workers, %llu ranges, %llu retries%s",
            (unsigned long long)m.ok, (unsigned long long)m.ok_bytes, dt,
            dt > 0 ? (double)m.bytes / dt / 1e6 : 0.0, s.num_workers,
            (unsigned long long)s.ranges, (unsigned long long)s.retries,
            m.nfails ? "" : "\n");
    if (m.nfails)
      fprintf(stderr, ", %zu failed\n", m.nfails);
  }
out:
  discard_current(&m);
  drop_prepared_below(&m, UINT64_MAX);
  free(m.prep);
  end_bar(&m);
  if (m.nfails) {
    fprintf(stderr, "aisfetch: %zu object%s failed:\n", m.nfails, m.nfails == 1 ? "" : "s");
    for (size_t i = 0; i < m.nfails; i++)
      fprintf(stderr, "  %s: %s: %s\n", esc(m.fails[i].name, en, sizeof en), m.fails[i].kind,
              m.fails[i].msg);
    if (!rc)
      rc = EXIT_PARTIAL;
  }
  for (size_t i = 0; i < m.nfails; i++) {
    free(m.fails[i].name);
    free(m.fails[i].msg);
  }
  free(m.fails);
  if (have_thread) {
    pthread_kill(st, SIGUSR2);
    pthread_join(st, NULL);
  }
  aisfetch_close(m.r);
  if (m.rootfd >= 0)
    close(m.rootfd);
  return rc;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.chunk_size = 0;
  const char *output = NULL;
  uint64_t offset = 0, length = UINT64_MAX, v;
  int quiet = 0, list = 0, longfmt = 0, as_prefix = 0, keep_going = 0;
  enum {
    OPT_OFFSET = 256, OPT_LENGTH, OPT_VERIFY, OPT_MODE, OPT_RETRIES, OPT_TIMEOUT, OPT_TOKEN,
    OPT_PREFIX, OPT_KEEP_GOING, OPT_LIST, OPT_LONG, OPT_PAGE_SIZE,
  };
  static const struct option longopts[] = {
    {"output", required_argument, NULL, 'o'},
    {"endpoint", required_argument, NULL, 'e'},
    {"num-workers", required_argument, NULL, 'n'},
    {"chunk-size", required_argument, NULL, 'c'},
    {"slots", required_argument, NULL, 's'},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"length", required_argument, NULL, OPT_LENGTH},
    {"verify-checksum", no_argument, NULL, OPT_VERIFY},
    {"worker-mode", required_argument, NULL, OPT_MODE},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"prefix", no_argument, NULL, OPT_PREFIX},
    {"keep-going", no_argument, NULL, OPT_KEEP_GOING},
    {"list", no_argument, NULL, OPT_LIST},
    {"long", no_argument, NULL, OPT_LONG},
    {"page-size", required_argument, NULL, OPT_PAGE_SIZE},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  int ch;
  while ((ch = getopt_long(argc, argv, "o:e:n:c:s:qh", longopts, NULL)) != -1) {
    switch (ch) {
    case 'o': output = optarg; break;
    case 'e': o.endpoint = optarg; break;
    case 'n':
      if (parse_size(optarg, &v) || v < 1 || v > AISFETCH_MAX_WORKERS) {
        fprintf(stderr, "aisfetch: --num-workers '%s': expected 1..%d\n", optarg, AISFETCH_MAX_WORKERS);
        return EXIT_USAGE;
      }
      o.num_workers = (unsigned)v;
      break;
    case 'c':
      if (parse_size(optarg, &v) ||
          (v && (v < AISFETCH_MIN_CHUNK_SIZE || v > AISFETCH_MAX_CHUNK_SIZE))) {
        fprintf(stderr, "aisfetch: --chunk-size '%s': expected 0 or 4KiB..256MiB\n", optarg);
        return EXIT_USAGE;
      }
      o.chunk_size = (size_t)v;
      break;
    case 's':
      if (parse_size(optarg, &v) || v < 1 || v > AISFETCH_MAX_SLOTS) {
        fprintf(stderr, "aisfetch: --slots '%s': expected 1..%d\n", optarg, AISFETCH_MAX_SLOTS);
        return EXIT_USAGE;
      }
      o.slots = (unsigned)v;
      break;
    case OPT_OFFSET:
      if (parse_size(optarg, &offset)) {
        fprintf(stderr, "aisfetch: --offset '%s' is not a byte count\n", optarg);
        return EXIT_USAGE;
      }
      break;
    case OPT_LENGTH:
      if (parse_size(optarg, &length)) {
        fprintf(stderr, "aisfetch: --length '%s' is not a byte count\n", optarg);
        return EXIT_USAGE;
      }
      break;
    case OPT_VERIFY: o.verify_checksum = 1; break;
    case OPT_MODE:
      if (!strcmp(optarg, "process"))
        o.worker_mode = AISFETCH_WORKER_PROCESS;
      else if (!strcmp(optarg, "thread"))
        o.worker_mode = AISFETCH_WORKER_THREAD;
      else {
        fprintf(stderr, "aisfetch: --worker-mode '%s': expected process or thread\n", optarg);
        return EXIT_USAGE;
      }
      break;
    case OPT_RETRIES:
      if (parse_size(optarg, &v) || v > 100) {
        fprintf(stderr, "aisfetch: --retries '%s': expected 0..100\n", optarg);
        return EXIT_USAGE;
      }
      o.retries = (unsigned)v;
      break;
    case OPT_TIMEOUT: {
      char *end;
      double s = strtod(optarg, &end);
      if (*end || s <= 0 || s > 3600) {
        fprintf(stderr, "aisfetch: --timeout '%s': expected seconds, 0 < s <= 3600\n", optarg);
        return EXIT_USAGE;
      }
      o.stall_timeout_ms = (long)(s * 1000);
      break;
    }
    case OPT_TOKEN: o.token = optarg; break;
    case OPT_PREFIX: as_prefix = 1; break;
    case OPT_KEEP_GOING: keep_going = 1; break;
    case OPT_LIST: list = 1; break;
    case OPT_LONG: longfmt = 1; break;
    case OPT_PAGE_SIZE:
      if (parse_size(optarg, &v) || v < 1 || v > 1000000) {
        fprintf(stderr, "aisfetch: --page-size '%s': expected 1..1000000\n", optarg);
        return EXIT_USAGE;
      }
      o.list_page_size = (unsigned)v;
      break;
    case 'q': quiet = 1; break;
    case 'h': fputs(usage, stdout); return 0;
    default: fputs(usage, stderr); return EXIT_USAGE;
    }
  }
  int nargs = argc - optind;
  char **args = argv + optind;
  if (nargs < 1) {
    fprintf(stderr, "aisfetch: expected an object URI, a prefix, or several object URIs\n%s", usage);
    return EXIT_USAGE;
  }
  int ranged = offset > 0 || length != UINT64_MAX;
  aisfetch_uri u;
  aisfetch_error e;

  if (list) {
    if (output || ranged || keep_going) {
      fprintf(stderr, "aisfetch: --list prints to stdout and takes no --output, --offset, "
                      "--length or --keep-going\n");
      return EXIT_USAGE;
    }
    for (int i = 0; i < nargs; i++)
      if (aisfetch_prefix_parse(args[i], &u, &e)) {
        fprintf(stderr, "aisfetch: %s\n", e.message);
        return EXIT_USAGE;
      }
    return run_list(&o, args, nargs, longfmt, quiet);
  }
  if (longfmt) {
    fprintf(stderr, "aisfetch: --long goes with --list\n");
    return EXIT_USAGE;
  }

  /* one argument: an object, or a prefix (a trailing '/', a bare bucket, --prefix) */
  int is_prefix = 0;
  if (nargs == 1) {
    size_t len = strlen(args[0]);
    is_prefix = as_prefix || (len && args[0][len - 1] == '/') ||
                (aisfetch_uri_parse(args[0], &u, &e) && !aisfetch_prefix_parse(args[0], &u, &e) &&
                 !u.object[0]);
  } else if (as_prefix) {
    fprintf(stderr, "aisfetch: --prefix takes one URI\n");
    return EXIT_USAGE;
  }

  /* SIGINT/SIGTERM cancel the read from a thread of their own */
  struct sigctx sc;
  memset(&sc, 0, sizeof sc);
  sigemptyset(&sc.set);
  sigaddset(&sc.set, SIGINT);
  sigaddset(&sc.set, SIGTERM);
  sigaddset(&sc.set, SIGUSR2);

  if (nargs == 1 && !is_prefix) { /* (--keep-going: nothing to go on to) */
    pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* past RLIMIT_FSIZE: EFBIG, an error, no .part left */
    o.uri = args[0];
    return run_single(&o, output, offset, length, quiet, &sc);
  }

  /* several objects into a directory */
  if (ranged) {
    fprintf(stderr, "aisfetch: --offset and --length are for one object\n");
    return EXIT_USAGE;
  }
  if (output && !*output) {
    fprintf(stderr, "aisfetch: --output: empty directory name\n");
    return EXIT_USAGE;
  }
  if (output && !strcmp(output, "-")) {
    fprintf(stderr, "aisfetch: several objects go to a directory, not to stdout (-o -)\n");
    return EXIT_USAGE;
  }
  struct stat ost;
  if (output && stat(output, &ost) == 0 && !S_ISDIR(ost.st_mode)) {
    fprintf(stderr, "aisfetch: %s is not a directory (several objects go to a directory)\n",
            output);
    return EXIT_USAGE;
  }
  if (is_prefix) {
    if (aisfetch_prefix_parse(args[0], &u, &e)) {
      fprintf(stderr, "aisfetch: %s\n", e.message);
      return EXIT_USAGE;
    }
    o.prefix = args[0];
  } else {
    for (int i = 0; i < nargs; i++) {
      size_t len = strlen(args[i]);
      if (len && args[i][len - 1] == '/') {
        fprintf(stderr, "aisfetch: %s: a prefix is downloaded alone, not with other URIs\n",
                args[i]);
        return EXIT_USAGE;
      }
      if (aisfetch_uri_parse(args[i], &u, &e)) {
        fprintf(stderr, "aisfetch: %s\n", e.message);
        return EXIT_USAGE;
      }
    }
    o.uris = (const char *const *)args; /* argv is NULL-terminated */
  }
  pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
  return run_multi(&o, output ? output : ".", quiet, keep_going, &sc);
}
