/* treemon: run a command, and measure its whole process tree.
 *
 *   treemon [-i MS] [-p MS] [-t SECONDS] -- COMMAND [ARGS...]
 *
 * Prints one JSON object on stdout when the command ends:
 *   t_start_ns   CLOCK_MONOTONIC just before the command was started
 *   wall_s       until the command (the root of the tree) exited
 *   user_s sys_s CPU of the tree: getrusage of the root and of every
 *                descendant it (or its descendants) waited for; worker
 *                processes are children of the measured process, so they count
 *   mem_peak     peak over samples every -i ms (default 20) of the tree's memory:
 *                sum of RssAnon over the tree's processes, plus every shared
 *                memory object (memfd, /dev/shm) open in the tree counted once
 *                by its allocated size (a ring mapped by N workers is counted
 *                once, not N times)
 *   pss_peak     with -p MS: peak of the sum of Pss less Pss_Shmem (smaps_rollup)
 *                over the tree, plus each shared memory object once as in
 *                mem_peak, sampled every MS (costly: walks page tables), else 0
 *   nproc_peak   most processes seen at once in the tree
 *   rc           exit status (128+signal when killed)
 * With -t, the tree is killed (SIGKILL to its process group) after SECONDS.
 *
 * The tree is found through /proc/PID/task/TID/children, from the root down.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXP 4096
#define MAXSHM 256

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int read_file(const char *path, char *buf, size_t n)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t k = read(fd, buf, n - 1);
  close(fd);
  if (k < 0)
    return -1;
  buf[k] = '\0';
  return (int)k;
}

/* the tree under root, breadth first; returns the count */
static int tree(pid_t root, pid_t *out, int max)
{
  int n = 0, i = 0;
  out[n++] = root;
  while (i < n) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", out[i]);
    DIR *d = opendir(path);
    i++;
    if (!d)
      continue;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      char cp[512], buf[8192];
      snprintf(cp, sizeof cp, "%s/%s/children", path, e->d_name);
      if (read_file(cp, buf, sizeof buf) <= 0)
        continue;
      char *s = buf, *end;
      for (;;) {
        long v = strtol(s, &end, 10);
        if (end == s)
          break;
        if (n < max)
          out[n++] = (pid_t)v;
        s = end;
      }
    }
    closedir(d);
  }
  return n;
}

static long status_kb(const char *buf, const char *key)
{
  const char *p = strstr(buf, key);
  if (!p)
    return 0;
  return strtol(p + strlen(key), NULL, 10);
}

typedef struct {
  dev_t dev;
  ino_t ino;
  uint64_t bytes;
} shm_t;

/* one sample: RssAnon summed, shared memory objects counted once; *shared_out: the latter */
static uint64_t sample_mem(const pid_t *p, int n, uint64_t *shared_out)
{
  static shm_t shm[MAXSHM];
  int nshm = 0;
  uint64_t anon = 0, max_rss_shmem = 0;
  for (int i = 0; i < n; i++) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", p[i]);
    if (read_file(path, buf, sizeof buf) <= 0)
      continue;
    anon += (uint64_t)status_kb(buf, "RssAnon:") * 1024;
    uint64_t rs = (uint64_t)status_kb(buf, "RssShmem:") * 1024;
    if (rs > max_rss_shmem)
      max_rss_shmem = rs;
    snprintf(path, sizeof path, "/proc/%d/fd", p[i]);
    DIR *d = opendir(path);
    if (!d)
      continue;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      char fp[512], link[256];
      snprintf(fp, sizeof fp, "%s/%s", path, e->d_name);
      ssize_t k = readlink(fp, link, sizeof link - 1);
      if (k <= 0)
        continue;
      link[k] = '\0';
      if (strncmp(link, "/memfd:", 7) != 0 && strncmp(link, "/dev/shm/", 9) != 0)
        continue;
      struct stat st;
      if (stat(fp, &st) != 0)
        continue;
      int seen = 0;
      for (int j = 0; j < nshm; j++)
        if (shm[j].dev == st.st_dev && shm[j].ino == st.st_ino)
          seen = 1;
      if (!seen && nshm < MAXSHM) {
        shm[nshm].dev = st.st_dev;
        shm[nshm].ino = st.st_ino;
        shm[nshm].bytes = (uint64_t)st.st_blocks * 512;
        nshm++;
      }
    }
    closedir(d);
  }
  uint64_t shared = 0;
  for (int j = 0; j < nshm; j++)
    shared += shm[j].bytes;
  /* shared memory mapped without an open descriptor: at least the largest mapping */
  if (shared < max_rss_shmem)
    shared = max_rss_shmem;
  if (shared_out)
    *shared_out = shared;
  return anon + shared;
}

/* Pss without its shared-memory part, summed, plus each shared memory object
 * once by its allocated size: a ring that workers fill with pwrite() and the
 * caller maps but never touches (output to /dev/null) has no Pss at all */
static uint64_t sample_pss(const pid_t *p, int n)
{
  uint64_t t = 0, shared = 0;
  sample_mem(p, n, &shared);
  for (int i = 0; i < n; i++) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", p[i]);
    if (read_file(path, buf, sizeof buf) <= 0)
      continue;
    long pss = status_kb(buf, "\nPss:"), sh = status_kb(buf, "\nPss_Shmem:");
    t += (uint64_t)(pss > sh ? pss - sh : 0) * 1024;
  }
  return t + shared;
}

int main(int argc, char **argv)
{
  long interval_ms = 20, pss_ms = 0;
  double limit_s = 0;
  int opt;
  while ((opt = getopt(argc, argv, "+i:p:t:")) != -1) {
    switch (opt) {
    case 'i': interval_ms = atol(optarg); break;
    case 'p': pss_ms = atol(optarg); break;
    case 't': limit_s = atof(optarg); break;
    default:
      fprintf(stderr, "usage: treemon [-i MS] [-p MS] [-t SECONDS] -- COMMAND [ARGS...]\n");
      return 2;
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "treemon: no command\n");
    return 2;
  }
  if (interval_ms < 1)
    interval_ms = 1;
  uint64_t t0 = now_ns();
  pid_t child = fork();
  if (child < 0) {
    perror("treemon: fork");
    return 2;
  }
  if (child == 0) {
    setpgid(0, 0);
    execvp(argv[optind], argv + optind);
    fprintf(stderr, "treemon: cannot run %s: %s\n", argv[optind], strerror(errno));
    _exit(127);
  }
  setpgid(child, child);
  /* a pidfd wakes the sampling loop as soon as the command exits, so that
   * wall_s is exact even for commands shorter than one interval */
  int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  static pid_t pids[MAXP];
  uint64_t mem_peak = 0, pss_peak = 0, next_pss = t0;
  int nproc_peak = 0, status = 0;
  long samples = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  uint64_t t_end = 0;
  for (;;) {
    pid_t w = wait4(child, &status, WNOHANG, &ru);
    if (w == child) {
      t_end = now_ns();
      break;
    }
    if (w < 0 && errno != EINTR) {
      t_end = now_ns();
      break;
    }
    int n = tree(child, pids, MAXP);
    if (n > nproc_peak)
      nproc_peak = n;
    uint64_t m = sample_mem(pids, n, NULL);
    if (m > mem_peak)
      mem_peak = m;
    uint64_t now = now_ns();
    if (pss_ms > 0 && now >= next_pss) {
      uint64_t p = sample_pss(pids, n);
      if (p > pss_peak)
        pss_peak = p;
      next_pss = now + (uint64_t)pss_ms * 1000000u;
    }
    samples++;
    if (limit_s > 0 && (double)(now - t0) / 1e9 > limit_s) {
      kill(-child, SIGKILL);
      kill(child, SIGKILL);
    }
    if (pidfd >= 0) {
      struct pollfd pf = {.fd = pidfd, .events = POLLIN};
      poll(&pf, 1, (int)interval_ms);
    } else {
      struct timespec ts = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  if (pidfd >= 0)
    close(pidfd);
  /* whatever is left of the tree (a process that outlived the root) */
  kill(-child, SIGKILL);
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  printf("{\"t_start_ns\":%llu,\"wall_s\":%.6f,\"user_s\":%.6f,\"sys_s\":%.6f,"
         "\"mem_peak\":%llu,\"pss_peak\":%llu,\"nproc_peak\":%d,\"samples\":%ld,\"rc\":%d}\n",
         (unsigned long long)t0, (double)(t_end - t0) / 1e9,
         (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
         (unsigned long long)mem_peak, (unsigned long long)pss_peak, nproc_peak, samples, rc);
  return 0;
}
