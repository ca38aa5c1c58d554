/* Nothing left behind: the parent killed with SIGKILL mid-stream takes its
 * workers with it within 1 s, and nothing appears in /dev/shm; 20 readers of
 * different objects at once in one process, in both worker modes; a close
 * while a child forked without exec holds copies of the sockets. */
#include "aisfetch.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static tu_emu emu;

static int count_shm(void)
{
  DIR *d = opendir("/dev/shm");
  int n = 0;
  struct dirent *de;
  while (d && (de = readdir(d)))
    n += de->d_name[0] != '.';
  if (d)
    closedir(d);
  return n;
}

static void reap_all(void)
{
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
}

/* workers anywhere whose command line is the helper's, and that are ours:
 * as a subreaper we inherit the orphans of the killed CLI */
static void test_parent_killed(const char *cli)
{
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  tu_emu_gen(&emu, "l", "slow", 64 << 20, 3, NULL);
  tu_emu_fault(&emu, "{\"bucket\":\"l\",\"object\":\"slow\",\"kind\":\"slow\",\"rate\":1000000,\"count\":-1}");
  int shm0 = count_shm();
  for (int mode = 0; mode < 2; mode++) {
    pid_t pid;
    const char *argv[] = {cli, "-q", "-e", emu.url, "-n", "8", "-c", "1MiB", "-o", "-",
                          "--worker-mode", mode ? "thread" : "process", "ais://l/slow", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    REQUIRE(posix_spawn(&pid, cli, &fa, NULL, (char *const *)argv, environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    /* wait until its workers run */
    int seen = 0;
    for (int i = 0; i < 300 && seen < 8 && mode == 0; i++) {
      struct timespec ts = {0, 10000000};
      nanosleep(&ts, NULL);
      seen = tu_count_workers_of(pid);
    }
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    if (mode == 0)
      CHECKF(seen == 8, "%d workers seen", seen);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* orphans are ours now; each must exit within 1 s */
    int left = -1;
    for (int i = 0; i < 100; i++) {
      reap_all();
      left = tu_count_children() + tu_count_workers_of(getpid());
      if (left == 0)
        break;
      nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    CHECKF(left == 0, "%d workers alive 1 s after their parent was killed", left);
    reap_all();
  }
  CHECKF(count_shm() == shm0, "/dev/shm had %d entries, now %d", shm0, count_shm());
  tu_emu_clear_faults(&emu);
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

struct job {
  int i;
  int mode;
  int ok;
};

static void *reader_thread(void *arg)
{
  struct job *j = arg;
  char uri[64];
  snprintf(uri, sizeof uri, "ais://many/o%d", j->i);
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = uri;
  o.endpoint = emu.url;
  o.num_workers = 3;
  o.chunk_size = 64 * 1024;
  o.worker_mode = (aisfetch_worker_mode)j->mode;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  if (aisfetch_open(&o, &r, &e)) {
    fprintf(stderr, "reader %d: %s\n", j->i, e.message);
    return NULL;
  }
  uint64_t off = 0;
  int ok = 1;
  for (int g = 0; g < 10000; g++) {
    aisfetch_chunk c;
    if (aisfetch_next(r, &c, &e)) {
      fprintf(stderr, "reader %d: %s\n", j->i, e.message);
      ok = 0;
      break;
    }
    if (!c.len)
      break;
    if (c.offset != off || tu_gen_cmp(500 + (uint64_t)j->i, c.offset, c.data, c.len) >= 0)
      ok = 0;
    off += c.len;
    aisfetch_release(r, &c);
  }
  j->ok = ok && off == (uint64_t)(1 << 20) + (uint64_t)j->i * 1000;
  aisfetch_close(r);
  return NULL;
}

static void test_many_readers(void)
{
  for (int i = 0; i < 20; i++) {
    char name[32];
    snprintf(name, sizeof name, "o%d", i);
    tu_emu_gen(&emu, "many", name, (1 << 20) + (uint64_t)i * 1000, 500 + (uint64_t)i, NULL);
  }
  int fds0 = tu_count_fds();
  for (int mode = 0; mode < 2; mode++) {
    pthread_t t[20];
    struct job j[20];
    for (int i = 0; i < 20; i++) {
      j[i] = (struct job){i, mode, 0};
      pthread_create(&t[i], NULL, reader_thread, &j[i]);
    }
    for (int i = 0; i < 20; i++) {
      pthread_join(t[i], NULL);
      CHECKF(j[i].ok, "reader %d mode %d", i, mode);
    }
  }
  CHECK(tu_wait_no_children(1000) == 0);
  CHECKF(tu_count_fds() == fds0, "fds %d -> %d", fds0, tu_count_fds());
}

/* gone, or a zombie nobody has reaped yet */
static int gone(pid_t pid)
{
  char path[64], st[256];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 1;
  size_t n = fread(st, 1, sizeof st - 1, f);
  fclose(f);
  st[n] = '\0';
  const char *p = strrchr(st, ')');
  return p && p[1] == ' ' && p[2] == 'Z';
}

/* The host forks a child without exec while a reader is open: the child
 * holds copies of the reader's sockets, so no worker sees EOF.  Closing the
 * reader still ends its workers, and quickly. */
static void test_fork_without_exec(void)
{
  tu_emu_gen(&emu, "fork", "o", 8u << 20, 41, NULL);
  aisfetch_options o;
  aisfetch_options_init(&o);
  o.uri = "ais://fork/o";
  o.endpoint = emu.url;
  o.num_workers = 4;
  o.chunk_size = 1u << 20;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  REQUIRE(aisfetch_open(&o, &r, &e) == AISFETCH_OK);
  aisfetch_chunk c;
  CHECK(aisfetch_next(r, &c, &e) == AISFETCH_OK && c.len > 0);
  aisfetch_release(r, &c);
  pid_t zyg, wk[16];
  int nw = tu_zygote_workers(4, 2000, &zyg, wk, 16);
  CHECKF(nw == 4, "%d workers", nw);
  pid_t kid = fork();
  REQUIRE(kid >= 0);
  if (kid == 0) {
    struct timespec ts = {10, 0};
    nanosleep(&ts, NULL);
    _exit(0);
  }
  double t0 = tu_now_s();
  aisfetch_close(r);
  double dt = tu_now_s() - t0;
  CHECKF(dt < 1.0, "close took %.2f s with a forked child holding the sockets", dt);
  int alive = 0;
  for (int i = 0; i < nw; i++)
    alive += !gone(wk[i]);
  CHECKF(alive == 0, "%d of %d workers alive after close", alive, nw);
  kill(kid, SIGKILL);
  while (waitpid(kid, NULL, 0) < 0 && errno == EINTR)
    ;
}

int main(void)
{
  const char *cli = getenv("AISFETCH_CLI");
  REQUIRE(cli);
  tu_emu_start(&emu, NULL);
  test_many_readers();
  test_parent_killed(cli);
  test_fork_without_exec();
  tu_emu_stop(&emu);
  return tu_finish("test_lifecycle");
}
