/* aisfetch: one AIStore object to a file or stdout, with parallel range reads. */
#include "aisfetch.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
  EXIT_INTERRUPTED = 130,
};

static const char usage[] =
    "Usage: aisfetch [OPTIONS] [PROVIDER://]BUCKET/OBJECT\n"
    "Download one AIStore object with parallel range reads, in order, validated.\n"
    "\n"
    "  -o, --output FILE       write to FILE (through FILE.part-*, renamed at the end);\n"
    "                          '-' for stdout; default: the object's base name\n"
    "  -e, --endpoint URL      the cluster (default: $AIS_ENDPOINT, else http://127.0.0.1:8080)\n"
    "  -n, --num-workers N     parallel range readers, 1..256 (default 8)\n"
    "  -c, --chunk-size SIZE   bytes per range, 4KiB..256MiB; 0 = the object's own chunk\n"
    "                          size, else 8MiB (default 0)\n"
    "  -s, --slots N           ring slots, 1..1024 (default 2 x workers)\n"
    "      --offset N          start at byte N (default 0)\n"
    "      --length N          read N bytes (default: to the end)\n"
    "      --verify-checksum   check the whole object's checksum (full reads only)\n"
    "      --worker-mode MODE  process (default) or thread\n"
    "      --retries N         tries per range after the first (default 5)\n"
    "      --timeout SECONDS   no data for this long fails a try (default 20)\n"
    "      --token TOKEN       AuthN token (default: $AIS_AUTHN_TOKEN)\n"
    "  -q, --quiet             no progress bar, no summary\n"
    "  -h, --help              this help\n"
    "\n"
    "SIZE and N accept units: 8MiB, 16mb, 4k, 1GiB (k/m/g are powers of 1024 too;\n"
    "kb/mb/gb are powers of 1000).\n"
    "\n"
    "Exit codes: 0 ok, 1 usage, 2 not found, 3 not authorized, 4 object changed,\n"
    "5 timeout, 6 network, 7 protocol, 8 server error, 9 checksum mismatch,\n"
    "10 system error, 11 local write error, 130 interrupted.\n";

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
  }
  return EXIT_SYSTEM;
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

static void progress(uint64_t done, uint64_t total, double t0, int final)
{
  double dt = now_s() - t0;
  double rate = dt > 0 ? (double)done / dt : 0;
  char d[32], t[32], r[32];
  human((double)done, d, sizeof d);
  human((double)total, t, sizeof t);
  human(rate, r, sizeof r);
  int width = 30;
  int fill = total ? (int)((double)done / (double)total * width) : width;
  char bar[64];
  for (int i = 0; i < width; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[width] = '\0';
  double eta = rate > 0 ? (double)(total - done) / rate : 0;
  fprintf(stderr, "\r[%s] %s / %s  %s/s  ETA %02d:%02d%s", bar, d, t, r, (int)eta / 60,
          (int)eta % 60, final ? "\n" : "");
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

int main(int argc, char **argv)
{
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.chunk_size = 0;
  const char *output = NULL;
  uint64_t offset = 0, length = UINT64_MAX, v;
  int quiet = 0;
  enum { OPT_OFFSET = 256, OPT_LENGTH, OPT_VERIFY, OPT_MODE, OPT_RETRIES, OPT_TIMEOUT, OPT_TOKEN };
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
    case 'q': quiet = 1; break;
    case 'h': fputs(usage, stdout); return 0;
    default: fputs(usage, stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc - 1) {
    fprintf(stderr, "aisfetch: expected exactly one object URI\n%s", usage);
    return EXIT_USAGE;
  }
  o.uri = argv[optind];
  aisfetch_uri u;
  aisfetch_error e;
  if (aisfetch_uri_parse(o.uri, &u, &e)) {
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

  /* SIGINT/SIGTERM cancel the read from a thread of their own */
  struct sigctx sc = {0};
  sigemptyset(&sc.set);
  sigaddset(&sc.set, SIGINT);
  sigaddset(&sc.set, SIGTERM);
  sigaddset(&sc.set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &sc.set, NULL);
  signal(SIGPIPE, SIG_IGN);

  /* the open's GET of the object's first bytes is of no use to a read that
   * starts elsewhere */
  if (offset > 0)
    o.first_bytes = -1;
  /* nor is readahead from 0 before the range is set (its ranges past the
   * stop would be aborted) */
  o.start_idle = offset > 0 || length != UINT64_MAX;
  aisfetch_reader *r = NULL;
  aisfetch_errkind k = aisfetch_open(&o, &r, &e);
  if (k) {
    fprintf(stderr, "aisfetch: %s: %s\n", aisfetch_errkind_name(k), e.message);
    return exit_code(k);
  }
  sc.r = r;
  pthread_t st;
  pthread_create(&st, NULL, sig_thread, &sc);

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
  int bar = !quiet && isatty(2);
  double t0 = now_s(), last = 0;
  uint64_t done = 0, total = stop - offset;
  for (;;) {
    aisfetch_chunk c;
    k = aisfetch_next(r, &c, &e);
    if (k) {
      if (bar)
        fputc('\n', stderr);
      if (k == AISFETCH_E_CANCELLED && sc.fired)
        fprintf(stderr, "aisfetch: interrupted after %llu bytes\n", (unsigned long long)done);
      else
        fprintf(stderr, "aisfetch: %s: %s%s%s\n", aisfetch_errkind_name(k), e.message,
                e.server_message[0] && !strstr(e.message, e.server_message) ? " - " : "",
                e.server_message[0] && !strstr(e.message, e.server_message) ? e.server_message : "");
      rc = exit_code(k);
      goto out;
    }
    if (!c.len)
      break;
    if (write_all(fd, c.data, c.len)) {
      fprintf(stderr, "\naisfetch: writing %s: %s\n", to_stdout ? "stdout" : tmp, strerror(errno));
      aisfetch_release(r, &c);
      rc = EXIT_LOCAL_IO;
      goto out;
    }
    done += c.len;
    aisfetch_release(r, &c);
    if (bar && now_s() - last > 0.2) {
      last = now_s();
      progress(done, total, t0, 0);
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
    progress(done, total, t0, 1);
  if (!quiet) {
    aisfetch_stats s;
    aisfetch_stats_get(r, &s);
    aisfetch_object_info info;
    aisfetch_object_info_get(r, &info);
    int verified = o.verify_checksum && offset == 0 && stop == size && info.checksum_type[0] &&
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
