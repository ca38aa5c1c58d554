/* The ordered reader: HEAD, the ring, the worker pool and the scheduler.
 *
 * Thread safety: every field below `mu` is guarded by it.  A dispatcher
 * thread owns the workers' sockets: it hands out ranges, collects results,
 * respawns dead workers and wakes waiting callers (cond `cv`).  API calls
 * change the window and poke the dispatcher through `wake_fd`.  The hash of
 * the in-order stream has its own lock so that hashing a chunk never stalls
 * the dispatcher.
 *
 * Worker processes: one helper is started with posix_spawn (never fork() in
 * the caller's multi-threaded process); it is a zygote that fork()s the
 * workers, which is safe in that single-threaded helper and costs one
 * exec and one load of libcurl's ~30 libraries instead of one per worker.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AISFETCH_LIBEXECDIR
#define AISFETCH_LIBEXECDIR "/usr/local/libexec"
#endif
#define WORKER_NAME "aisfetch-worker"
#define FIRST_BYTES ((size_t)1 << 20) /* the open's prefix GET, by default */

extern char **environ;

/* PARTIAL: the chunk's first avail bytes are in (the open's prefix GET), no
 * range is fetching the rest */
enum { SLOT_FREE, SLOT_FETCHING, SLOT_READY, SLOT_FAILED, SLOT_PARTIAL };

typedef struct {
  int state;
  uint64_t chunk;
  unsigned holds;     /* chunks handed to the caller and not yet released */
  uint64_t lease;     /* bumped at every new fetch into the slot */
  unsigned deaths;    /* workers that died fetching this chunk */
  uint64_t started;   /* when the fetch was sent */
  int hedge;          /* a second fetch of a chunk another slot is fetching too */
  uint64_t avail;     /* FETCHING, PARTIAL: the first bytes known written */
  uint64_t base;      /* bytes of the chunk in before its range was sent */
  aisfetch_error err; /* SLOT_FAILED */
} slot_t;

/* a range in flight at a worker */
typedef struct {
  int active;
  int abort_sent;
  uint64_t id;
  unsigned slot;
} wjob_t;

typedef struct {
  pid_t pid;
  pthread_t thr;
  int thr_started;
  int fd;             /* parent's end of the control socket; -1 while dead */
  wjob_t job[2];      /* the second only after the worker said NEAR of the first */
  uint64_t near_id;   /* the job the worker said NEAR of */
  uint64_t busy_ns;
  uint64_t respawn_at;
} worker_t;

struct aisfetch_reader {
  aisfetch_uri uri;
  char endpoint[1024];
  char proxy_url[AISF_URL_MAX];
  char worker_path[PATH_MAX];
  aisf_http_cfg http;
  aisfetch_worker_mode mode;
  int verify;
  aisfetch_object_info info;
  uint64_t size;
  size_t cs;
  uint64_t nchunks;
  unsigned nworkers, nslots;
  size_t stride;
  int ring_fd[AISF_RING_FILES];   /* slot s is in ring_fd[s % nfiles] */
  unsigned nfiles;
  uint8_t *ring;
  size_t ring_size;
  char *config;
  size_t config_len;
  int wake_fd;
  int zyg_fd;         /* control socket of the zygote; -1 when none */
  pid_t zyg_pid;
  pthread_t disp;
  int disp_started;
  atomic_int cancelled;
  uint64_t t_open;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  slot_t *slots;
  worker_t *wk;
  int closing;
  uint64_t pos, stop;
  int idle;           /* opened idle: nothing fetched until next, seek or read */
  unsigned ra;        /* readahead in chunks */
  uint64_t rr_end;    /* end of the last read_range, to spot sequential access */
  uint64_t next_job;
  char target_url[AISF_URL_MAX];
  uint64_t avg_ns;    /* moving average of a full range's fetch time */
  int seek_ramp;      /* readahead held at one chunk until a seek's first chunk is in */
  int has_fatal;
  aisfetch_error fatal;
  aisfetch_stats st;

  pthread_mutex_t hmu;
  /* held through each call that moves the position (next, seek, read_range,
   * read_all): they are serialised as whole calls, not just their steps */
  pthread_mutex_t cmu;
  aisf_hash *hash;
  uint64_t hash_pos;
  int hash_state;     /* 0 off, 1 running, 2 done */
};

void aisfetch_options_init(aisfetch_options *o)
{
  memset(o, 0, sizeof *o);
  o->num_workers = 8;
  o->retries = 5;
  o->skip_verify = -1;
}

static void wake(aisfetch_reader *r)
{
  uint64_t one = 1;
  ssize_t n = write(r->wake_fd, &one, sizeof one);
  (void)n;
}

/* ---- workers ---- */

/* A thread worker's socket and the reader, which outlives it (closed only
 * after the workers are joined) */
typedef struct {
  int ctrl;
  const aisfetch_reader *r;
} thread_arg;

static void *worker_thread(void *arg)
{
  thread_arg a = *(thread_arg *)arg;
  free(arg);
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  /* the reader's own memfds: a copy per worker in the same process would
   * take workers x files descriptors (32 x 64 is past a 1024 limit) */
  aisf_worker_run(a.ctrl, a.r->ring_fd, a.r->nfiles);
  close(a.ctrl);
  return NULL;
}

/* Starts the zygote: the helper with its control socket on fd 3, every other
 * descriptor closed. */
static int start_zygote(aisfetch_reader *r, aisfetch_error *err)
{
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    aisf_seterr(err, AISFETCH_E_SYSTEM, 0, "socketpair: %s", strerror(errno));
    return -1;
  }
  /* move ours out of the way first so that dup2 never meets an fd equal
   * to its target */
  int cfd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int e = cfd < 0 ? errno : 0;
  if (!e)
    e = posix_spawn_file_actions_adddup2(&fa, cfd, 3);
  if (!e)
    e = posix_spawn_file_actions_addclosefrom_np(&fa, 4);
  char *argv[] = {r->worker_path, (char *)"--aisfetch-worker", NULL};
  pid_t pid = 0;
  if (!e)
    e = posix_spawn(&pid, r->worker_path, &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (cfd >= 0)
    close(cfd);
  close(sv[1]);
  if (e) {
    close(sv[0]);
    aisf_seterr(err, AISFETCH_E_SYSTEM, 0, "cannot start the worker helper %s: %s",
                r->worker_path, strerror(e));
    return -1;
  }
  r->zyg_fd = sv[0];
  r->zyg_pid = pid;
  return 0;
}

/* Gives the zygote up to grace_ms to exit, then kills it; reaps it either
 * way.  Its end of the control socket closes only when it exits, so EOF
 * there is the wakeup (the host must not be made to take SIGCHLD). */
static void stop_zygote(aisfetch_reader *r, long grace_ms)
{
  int gone = 0;
  if (r->zyg_fd >= 0) {
    uint64_t until = aisf_now_ns() + (uint64_t)grace_ms * 1000000u;
    for (;;) {
      uint64_t now = aisf_now_ns();
      if (now >= until)
        break;
      struct pollfd p = {.fd = r->zyg_fd, .events = POLLIN};
      int n = poll(&p, 1, (int)((until - now + 999999u) / 1000000u));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      char junk[64]; /* a late answer to a SPAWN */
      ssize_t k = recv(r->zyg_fd, junk, sizeof junk, MSG_DONTWAIT);
      if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
        gone = 1;
        break;
      }
    }
    close(r->zyg_fd);
    r->zyg_fd = -1;
  }
  if (r->zyg_pid <= 0)
    return;
  if (!gone)
    kill(r->zyg_pid, SIGKILL);
  while (waitpid(r->zyg_pid, NULL, 0) < 0 && errno == EINTR)
    ;
  r->zyg_pid = 0;
}

/* Asks the zygote for a worker on the socket fd; its pid, or -1 when the
 * zygote is gone or failed (errno-like code in *e). */
static pid_t zygote_fork(aisfetch_reader *r, int fd, int *e)
{
  aisf_msg_zygote m = {.type = AISF_ZYG_SPAWN, .pid = 0};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } cm;
  memset(&cm, 0, sizeof cm);
  struct iovec iov = {.iov_base = &m, .iov_len = sizeof m};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                      .msg_controllen = sizeof cm.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  *e = EPIPE;
  if (sendmsg(r->zyg_fd, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof m)
    return -1;
  struct pollfd p = {.fd = r->zyg_fd, .events = POLLIN};
  if (poll(&p, 1, 5000) != 1) {
    *e = ETIMEDOUT;
    return -1;
  }
  aisf_msg_zygote ans;
  if (recv(r->zyg_fd, &ans, sizeof ans, 0) != (ssize_t)sizeof ans || ans.type != AISF_ZYG_SPAWNED)
    return -1;
  if (ans.pid <= 0) {
    *e = -ans.pid;
    return -1;
  }
  return ans.pid;
}

/* A new worker's CONFIG, with the ring's memfds attached for a process
 * (a thread uses the reader's) */
static ssize_t send_config(const aisfetch_reader *r, int fd)
{
  int nfd = r->mode == AISFETCH_WORKER_THREAD ? 0 : (int)r->nfiles;
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(AISF_RING_FILES * sizeof(int))];
  } cm;
  memset(&cm, 0, sizeof cm);
  struct iovec iov = {.iov_base = r->config, .iov_len = r->config_len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = nfd ? cm.buf : NULL,
                      .msg_controllen = nfd ? CMSG_SPACE((size_t)nfd * sizeof(int)) : 0};
  if (nfd) {
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
    memcpy(CMSG_DATA(c), r->ring_fd, (size_t)nfd * sizeof(int));
  }
  ssize_t n;
  while ((n = sendmsg(fd, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
    ;
  return n;
}

/* Starts a worker and sends it its CONFIG; *fdp: its socket (-1 if none was
 * started), for the caller to publish in w->fd.  The dispatcher calls this
 * without the reader's lock: a socket published before its CONFIG went out
 * could be sent a JOB first by a caller's schedule() (seen under
 * ThreadSanitizer: "worker could not apply its configuration: not a CONFIG"). */
static int spawn_worker(aisfetch_reader *r, worker_t *w, int *fdp, aisfetch_error *err)
{
  *fdp = -1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    aisf_seterr(err, AISFETCH_E_SYSTEM, 0, "socketpair: %s", strerror(errno));
    return -1;
  }
  if (r->mode == AISFETCH_WORKER_THREAD) {
    thread_arg *a = malloc(sizeof *a);
    int e = a ? 0 : ENOMEM;
    if (a) {
      a->ctrl = sv[1];
      a->r = r;
      e = pthread_create(&w->thr, NULL, worker_thread, a);
      if (e)
        free(a);
    }
    if (e) {
      aisf_seterr(err, AISFETCH_E_SYSTEM, 0, "pthread_create: %s", strerror(e));
      goto fail;
    }
    w->thr_started = 1;
  } else {
    int e = 0;
    pid_t pid = -1;
    /* a zygote that died is started again, once per worker */
    for (int attempt = 0; attempt < 2 && pid < 0; attempt++) {
      if (r->zyg_fd < 0 && start_zygote(r, err))
        goto fail;
      pid = zygote_fork(r, sv[1], &e);
      if (pid < 0 && (e == EPIPE || e == ETIMEDOUT))
        stop_zygote(r, 0);
      else if (pid < 0)
        break;
    }
    close(sv[1]);
    sv[1] = -1;
    if (pid < 0) {
      aisf_seterr(err, AISFETCH_E_SYSTEM, 0, "the worker helper %s could not start a worker: %s",
                  r->worker_path, strerror(e));
      goto fail;
    }
    w->pid = pid; /* the zygote's child: for information, the zygote reaps it */
  }
  *fdp = sv[0];
  if (send_config(r, sv[0]) != (ssize_t)r->config_len) {
    aisf_seterr(err, AISFETCH_E_SYSTEM, 0, "cannot configure a worker: %s", strerror(errno));
    return -1; /* published all the same: the dispatcher will see it dead */
  }
  return 0;
fail:
  close(sv[0]);
  if (sv[1] >= 0)
    close(sv[1]);
  return -1;
}

/* A started worker's socket, under the reader's lock (or before the
 * dispatcher runs) */
static void publish_worker(worker_t *w, int fd)
{
  w->fd = fd;
  memset(w->job, 0, sizeof w->job);
  w->near_id = 0;
}

/* Ends a worker whose socket is closed (or about to be): a thread has seen
 * EOF and returns; a process sees the same EOF and exits, and its zygote
 * reaps it. */
static void reap_worker(worker_t *w)
{
  if (w->fd >= 0) {
    close(w->fd);
    w->fd = -1;
  }
  if (w->thr_started) {
    pthread_join(w->thr, NULL);
    w->thr_started = 0;
  }
  w->pid = 0;
}

/* ---- scheduling (all under mu) ---- */

static uint64_t window_end(const aisfetch_reader *r)
{
  uint64_t cur = r->pos / r->cs;
  uint64_t last = r->stop >= r->size ? r->nchunks : (r->stop + r->cs - 1) / r->cs;
  uint64_t w = r->ra < r->nslots ? r->ra : r->nslots;
  return cur + w < last ? cur + w : last;
}

/* Chunks worth keeping (not aborted, not evicted): the whole ring's span
 * ahead of the position, even while the readahead is ramping up after a
 * seek, so that a reader going back and forth keeps what it fetched. */
static int keep(const aisfetch_reader *r, uint64_t c)
{
  uint64_t cur = r->pos / r->cs;
  uint64_t last = r->stop >= r->size ? r->nchunks : (r->stop + r->cs - 1) / r->cs;
  uint64_t end = cur + r->nslots < last ? cur + r->nslots : last;
  return c >= cur && c < end;
}

static uint64_t distance(const aisfetch_reader *r, uint64_t c)
{
  uint64_t cur = r->pos / r->cs;
  return c >= cur ? c - cur : cur - c;
}

/* The slot holding chunk c, best first: ready, then fetching, then failed
 * (a hedged chunk can be in two slots at once). */
static int find_slot(const aisfetch_reader *r, uint64_t c)
{
  static const int rank[] = {[SLOT_FREE] = 0, [SLOT_FETCHING] = 2, [SLOT_READY] = 3,
                             [SLOT_FAILED] = 1, [SLOT_PARTIAL] = 2};
  int best = -1;
  for (unsigned i = 0; i < r->nslots; i++) {
    const slot_t *s = &r->slots[i];
    if (s->state == SLOT_FREE || s->chunk != c)
      continue;
    if (best < 0 || rank[s->state] > rank[r->slots[best].state] ||
        (rank[s->state] == 2 && rank[r->slots[best].state] == 2 &&
         s->avail > r->slots[best].avail))
      best = (int)i;
  }
  return best;
}

static void set_fatal(aisfetch_reader *r, const aisfetch_error *e)
{
  if (!r->has_fatal) {
    r->has_fatal = 1;
    r->fatal = *e;
  }
}

static unsigned njobs(const worker_t *w)
{
  return (unsigned)w->job[0].active + (unsigned)w->job[1].active;
}

/* A live worker that can take a range: idle, or ending its only one. */
static int can_take(const worker_t *w)
{
  if (w->fd < 0)
    return 0;
  unsigned n = njobs(w);
  return n == 0 || (n == 1 && w->near_id == (w->job[0].active ? w->job[0].id : w->job[1].id));
}

static void send_abort(aisfetch_reader *r, unsigned wi, wjob_t *j);

/* a range that will not come: the slot holds again what it held before it
 * was sent (the open's first bytes of the chunk, or nothing) */
static void unfetch(slot_t *s)
{
  s->state = s->base ? SLOT_PARTIAL : SLOT_FREE;
  s->avail = s->base;
}

/* A worker that could not take its CONFIG sent FAIL before it exited; a
 * JOB sent to it meanwhile fails at once, and that failure must not hide the
 * cause (nor respawn a worker that would fail alike). */
/* A worker's FAIL (it could not take its CONFIG): the next would fail
 * alike, so the reader fails, and the caller is told why. */
static void fail_from(aisfetch_reader *r, aisf_msg_result *res)
{
  aisfetch_error e;
  res->message[sizeof res->message - 1] = '\0';
  aisf_seterr(&e, AISFETCH_E_SYSTEM, 0, "%s", res->message);
  set_fatal(r, &e);
}

static void take_fail(aisfetch_reader *r, worker_t *w)
{
  aisf_msg_result res;
  for (int n = 0; w->fd >= 0 && n < 64; n++) {
    ssize_t k = recv(w->fd, &res, sizeof res, MSG_DONTWAIT);
    if (k <= 0)
      return;
    if (k == (ssize_t)sizeof res && res.type == AISF_MSG_FAIL) {
      fail_from(r, &res);
      return;
    }
  }
}

static void worker_died(aisfetch_reader *r, unsigned i)
{
  worker_t *w = &r->wk[i];
  take_fail(r, w);
  reap_worker(w);
  r->st.respawns++;
  for (unsigned k = 0; k < 2; k++) {
    if (!w->job[k].active)
      continue;
    slot_t *s = &r->slots[w->job[k].slot];
    w->job[k].active = 0;
    if (s->state == SLOT_FETCHING) {
      s->deaths++;
      r->st.retries++;
      if (s->deaths > r->http.retries) {
        s->state = SLOT_FAILED;
        aisf_seterr(&s->err, AISFETCH_E_SYSTEM, 0,
                    "worker died %u times while fetching bytes %llu-%llu", s->deaths,
                    (unsigned long long)(s->chunk * r->cs),
                    (unsigned long long)(s->chunk * r->cs + r->cs - 1));
      } else {
        unfetch(s);
      }
    }
  }
  /* a caller may wait on a slot that failed here, also when a send failed
   * inside schedule() */
  pthread_cond_broadcast(&r->cv);
  /* back off when workers keep dying, so a broken helper cannot spin */
  uint64_t delay = r->st.respawns > r->nworkers ? 100000000u : 0;
  w->respawn_at = aisf_now_ns() + delay;
}

static void send_job(aisfetch_reader *r, unsigned wi, unsigned si, uint64_t c, int hedge)
{
  worker_t *w = &r->wk[wi];
  slot_t *s = &r->slots[si];
  wjob_t *wj = w->job[0].active ? &w->job[1] : &w->job[0];
  aisf_msg_job job;
  memset(&job, 0, sizeof job);
  job.type = AISF_MSG_JOB;
  job.job_id = ++r->next_job;
  job.slot_off = (uint64_t)si * r->stride;
  job.start = c * r->cs;
  job.len = r->size - job.start < r->cs ? r->size - job.start : r->cs;
  /* the rest of a chunk whose first bytes are in (and may be held: the
   * lease stays, the range starts after them) */
  int rest = s->state == SLOT_PARTIAL && s->chunk == c;
  uint64_t base = rest ? s->avail : 0;
  job.start += base;
  job.len -= base;
  job.slot_off += base;
  /* the chunk at the position: the caller waits on its first bytes */
  if (c == r->pos / r->cs)
    job.flags = AISF_JOB_PROGRESS;
  aisf_strlcpy(job.url, r->target_url, sizeof job.url);
  s->state = SLOT_FETCHING;
  s->chunk = c;
  s->lease += !rest;
  s->started = aisf_now_ns();
  s->hedge = hedge;
  s->avail = base;
  s->base = base;
  wj->active = 1;
  wj->abort_sent = 0;
  wj->id = job.job_id;
  wj->slot = si;
  if (send(w->fd, &job, sizeof job, MSG_NOSIGNAL) != (ssize_t)sizeof job)
    worker_died(r, wi);
}

/* slot s may take a new range: not fetching, not held, its chunk done with */
static int reusable(const aisfetch_reader *r, unsigned s)
{
  const slot_t *sl = &r->slots[s];
  return sl->state != SLOT_FETCHING && !sl->holds &&
         (sl->state == SLOT_FREE || !keep(r, sl->chunk));
}

/* A slot for worker w's next range, or -1: a free one (the slots s with
 * s % workers == w first), else the one whose chunk is done with and farthest
 * from the position.  (Workers write with pwrite(), so which worker wrote a
 * slot before costs nothing.) */
static int pick_slot(const aisfetch_reader *r, unsigned w)
{
  int free_any = -1, other = -1;
  for (unsigned s = 0; s < r->nslots; s++) {
    const slot_t *sl = &r->slots[s];
    if (!reusable(r, s))
      continue;
    if (sl->state == SLOT_FREE) {
      if (s % r->nworkers == w)
        return (int)s;
      if (free_any < 0)
        free_any = (int)s;
    } else if (other < 0 || distance(r, sl->chunk) > distance(r, r->slots[other].chunk)) {
      other = (int)s;
    }
  }
  return free_any >= 0 ? free_any : other;
}

/* a slot with the first bytes of a chunk still wanted, the rest unfetched
 * and not in (or on its way to) another slot */
static int partial_slot(const aisfetch_reader *r)
{
  for (unsigned s = 0; s < r->nslots; s++) {
    const slot_t *p = &r->slots[s];
    if (p->state != SLOT_PARTIAL || !keep(r, p->chunk))
      continue;
    int other = 0;
    for (unsigned k = 0; k < r->nslots; k++)
      other |= r->slots[k].chunk == p->chunk &&
               (r->slots[k].state == SLOT_READY || r->slots[k].state == SLOT_FETCHING);
    if (!other)
      return (int)s;
  }
  return -1;
}

/* A ring full of readahead must still make room for a chunk nearer the
 * position: an unheld slot past c whose range failed (it is fetched again
 * when the position gets there), else the ready, unheld slot with the
 * farthest chunk past c, or -1. */
static int evict_beyond(const aisfetch_reader *r, uint64_t c)
{
  int best = -1;
  for (unsigned k = 0; k < r->nslots; k++) {
    const slot_t *sl = &r->slots[k];
    if (sl->holds || sl->chunk <= c)
      continue;
    if (sl->state == SLOT_FAILED)
      return (int)k;
    if (sl->state == SLOT_READY && (best < 0 || sl->chunk > r->slots[best].chunk))
      best = (int)k;
  }
  return best;
}

/* The first chunks in order that are still being fetched, long after a range
 * normally takes: fetch them a second time; the first answer wins. */
static int hedge_candidate(const aisfetch_reader *r, uint64_t *chunk)
{
  if (!r->avg_ns || r->nworkers < 2)
    return 0;
  uint64_t now = aisf_now_ns();
  uint64_t late = 2 * r->avg_ns > 50000000u ? 2 * r->avg_ns : 50000000u;
  uint64_t c = r->pos / r->cs, end = window_end(r);
  for (unsigned k = 0; k < 2 && c + k < end; k++) {
    int copies = 0, slow = -1;
    for (unsigned i = 0; i < r->nslots; i++) {
      const slot_t *sl = &r->slots[i];
      if (sl->chunk != c + k || sl->state == SLOT_FREE)
        continue;
      copies++;
      if (sl->state == SLOT_FETCHING && now - sl->started > late)
        slow = (int)i;
    }
    if (copies == 1 && slow >= 0) {
      *chunk = c + k;
      return 1;
    }
  }
  return 0;
}

static void send_abort(aisfetch_reader *r, unsigned wi, wjob_t *j)
{
  worker_t *w = &r->wk[wi];
  if (w->fd < 0 || !j->active || j->abort_sent)
    return;
  aisf_msg_abort a = {.type = AISF_MSG_ABORT, .job_id = j->id};
  j->abort_sent = 1;
  if (send(w->fd, &a, sizeof a, MSG_NOSIGNAL) != (ssize_t)sizeof a)
    worker_died(r, wi);
}

static void schedule(aisfetch_reader *r)
{
  if (r->closing)
    return;
  for (unsigned i = 0; i < r->nworkers; i++)
    for (unsigned k = 0; k < 2; k++) {
      wjob_t *j = &r->wk[i].job[k];
      if (j->active && !keep(r, r->slots[j->slot].chunk))
        send_abort(r, i, j);
    }
  if (r->has_fatal)
    return;
  uint64_t c = r->pos / r->cs, end = window_end(r);
  for (unsigned i = 0; i < r->nworkers; i++) {
    if (!can_take(&r->wk[i]))
      continue;
    int ps = partial_slot(r);
    if (ps >= 0) {
      send_job(r, i, (unsigned)ps, r->slots[ps].chunk, 0);
      continue;
    }
    uint64_t h;
    int hedge = hedge_candidate(r, &h);
    if (!hedge) {
      while (c < end && find_slot(r, c) >= 0)
        c++;
      if (c >= end)
        return;
      h = c;
    }
    int best = pick_slot(r, i);
    if (best < 0) {
      best = evict_beyond(r, h);
      if (best < 0)
        return;
      r->st.evictions += r->slots[best].state == SLOT_READY;
    }
    r->st.hedges += (unsigned)hedge;
    send_job(r, i, (unsigned)best, h, hedge);
  }
}

/* the other fetches of chunk c than slot keep: abort or drop them */
static void drop_copies(aisfetch_reader *r, uint64_t c, unsigned keep)
{
  for (unsigned i = 0; i < r->nslots; i++) {
    slot_t *s = &r->slots[i];
    if (i == keep || s->chunk != c)
      continue;
    if ((s->state == SLOT_FAILED || s->state == SLOT_PARTIAL) && !s->holds)
      s->state = SLOT_FREE;
    if (s->state != SLOT_FETCHING)
      continue;
    for (unsigned k = 0; k < r->nworkers; k++)
      for (unsigned m = 0; m < 2; m++)
        if (r->wk[k].job[m].active && r->wk[k].job[m].slot == i)
          send_abort(r, k, &r->wk[k].job[m]);
  }
}

static void handle_result(aisfetch_reader *r, unsigned i, const aisf_msg_result *res)
{
  worker_t *w = &r->wk[i];
  w->busy_ns += res->busy_ns;
  wjob_t *wj = NULL;
  for (unsigned k = 0; k < 2; k++)
    if (w->job[k].active && w->job[k].id == res->job_id)
      wj = &w->job[k];
  if (!wj)
    return;
  unsigned si = wj->slot;
  slot_t *s = &r->slots[si];
  wj->active = 0;
  r->st.redirects += res->redirects;
  if (res->tries > 1)
    r->st.retries += res->tries - 1;
  if (res->kind == AISFETCH_OK) {
    s->state = SLOT_READY;
    s->deaths = 0;
    r->st.bytes += res->bytes;
    r->st.ranges++;
    if (res->url[0])
      aisf_strlcpy(r->target_url, res->url, sizeof r->target_url);
    if (res->bytes == r->cs && res->tries == 1 && !s->hedge) {
      uint64_t d = aisf_now_ns() - s->started;
      r->avg_ns = r->avg_ns ? (r->avg_ns * 7 + d) / 8 : d;
    }
    drop_copies(r, s->chunk, si);
    /* the chunk a seek wanted first is in (even if handed out in pieces
     * already): read ahead again */
    if (r->seek_ramp && s->chunk == r->pos / r->cs) {
      r->seek_ramp = 0;
      r->ra = r->nslots;
    }
  } else if (res->kind == AISFETCH_E_CANCELLED) {
    unfetch(s);
  } else {
    /* kept even while another fetch of the chunk is in flight: a reader
     * waits for that one (ready ranks above failed), and the chunk is not
     * hedged again */
    s->state = SLOT_FAILED;
    s->err.kind = (aisfetch_errkind)res->kind;
    s->err.http_status = res->http_status;
    aisf_strlcpy(s->err.message, res->message, sizeof s->err.message);
    aisf_strlcpy(s->err.server_message, res->server_message, sizeof s->err.server_message);
    if (s->err.kind == AISFETCH_E_CHANGED)
      set_fatal(r, &s->err);
  }
}

static void *dispatcher(void *arg)
{
  aisfetch_reader *r = arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  struct pollfd *pfd = calloc(r->nworkers + 1, sizeof *pfd);
  aisf_msg_result *res = malloc(sizeof *res);
  if (!pfd || !res) {
    pthread_mutex_lock(&r->mu);
    aisfetch_error e;
    aisf_seterr(&e, AISFETCH_E_SYSTEM, 0, "out of memory in the dispatcher");
    set_fatal(r, &e);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    free(pfd);
    free(res);
    return NULL;
  }
  pthread_mutex_lock(&r->mu);
  while (!r->closing) {
    uint64_t now = aisf_now_ns();
    int timeout = -1, spawned = 0;
    for (unsigned i = 0; i < r->nworkers; i++) {
      worker_t *w = &r->wk[i];
      /* after a fatal error no worker is wanted (one that failed to start
       * would only fail again) */
      if (w->fd >= 0 || r->has_fatal)
        continue;
      if (now >= w->respawn_at) {
        /* one per round, without the lock (a fork waits for the helper):
         * the caller goes on taking bytes, and the workers already up get
         * their ranges in between */
        if (spawned) {
          timeout = 0;
          continue;
        }
        spawned = 1;
        aisfetch_error e;
        pthread_mutex_unlock(&r->mu);
        int fd;
        int bad = spawn_worker(r, w, &fd, &e) && fd < 0;
        pthread_mutex_lock(&r->mu);
        if (fd >= 0)
          publish_worker(w, fd);
        if (bad) {
          /* fatal only with no worker left: the others go on, and this
           * one is tried again in a second (fork may fail for a moment) */
          w->respawn_at = now + 1000000000u;
          unsigned alive = 0;
          for (unsigned k = 0; k < r->nworkers; k++)
            alive += r->wk[k].fd >= 0;
          if (!alive) {
            set_fatal(r, &e);
            pthread_cond_broadcast(&r->cv);
          }
        }
      } else {
        int ms = (int)((w->respawn_at - now) / 1000000u) + 1;
        if (timeout < 0 || ms < timeout)
          timeout = ms;
      }
    }
    schedule(r);
    /* an idle worker beside a range in flight: look again soon, to hedge
     * that range if it lags */
    if (r->avg_ns && !r->has_fatal) {
      int idle = 0, fetching = 0;
      for (unsigned i = 0; i < r->nworkers; i++)
        idle += can_take(&r->wk[i]);
      for (unsigned i = 0; i < r->nslots; i++)
        fetching += r->slots[i].state == SLOT_FETCHING;
      if (idle && fetching && (timeout < 0 || timeout > 20))
        timeout = 20;
    }
    pfd[0].fd = r->wake_fd;
    pfd[0].events = POLLIN;
    for (unsigned i = 0; i < r->nworkers; i++) {
      pfd[i + 1].fd = r->wk[i].fd;
      pfd[i + 1].events = POLLIN;
      pfd[i + 1].revents = 0;
    }
    if (r->has_fatal && timeout < 0)
      timeout = 1000;
    pthread_mutex_unlock(&r->mu);
    int n = poll(pfd, r->nworkers + 1, timeout);
    pthread_mutex_lock(&r->mu);
    if (n <= 0)
      continue;
    if (pfd[0].revents) {
      uint64_t v;
      ssize_t k = read(r->wake_fd, &v, sizeof v);
      (void)k;
    }
    int changed = 0;
    for (unsigned i = 0; i < r->nworkers; i++) {
      worker_t *w = &r->wk[i];
      if (!pfd[i + 1].revents || w->fd != pfd[i + 1].fd || w->fd < 0)
        continue;
      for (;;) {
        ssize_t k = recv(w->fd, res, sizeof *res, MSG_DONTWAIT);
        if (k == (ssize_t)sizeof *res && res->type == AISF_MSG_RESULT) {
          handle_result(r, i, res);
          changed = 1;
          continue;
        }
        if (k == (ssize_t)sizeof(aisf_msg_progress) && res->type == AISF_MSG_PROGRESS) {
          aisf_msg_progress pr;
          memcpy(&pr, res, sizeof pr);
          for (unsigned m = 0; m < 2; m++) {
            wjob_t *wj = &w->job[m];
            slot_t *sl = &r->slots[wj->slot];
            if (wj->active && wj->id == pr.job_id && sl->state == SLOT_FETCHING &&
                sl->base + pr.bytes > sl->avail && sl->base + pr.bytes <= r->cs) {
              sl->avail = sl->base + pr.bytes;
              changed = 1;
            }
          }
          continue;
        }
        if (k == (ssize_t)sizeof *res && res->type == AISF_MSG_FAIL) {
          fail_from(r, res); /* its EOF follows */
          changed = 1;
          continue;
        }
        if (k == (ssize_t)sizeof(aisf_msg_abort) && res->type == AISF_MSG_NEAR) {
          aisf_msg_abort near;
          memcpy(&near, res, sizeof near);
          w->near_id = near.job_id;
          continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
          break;
        /* EOF, an error or a garbled message: the worker is gone */
        worker_died(r, i);
        changed = 1;
        break;
      }
    }
    if (changed)
      pthread_cond_broadcast(&r->cv);
  }
  pthread_mutex_unlock(&r->mu);
  free(pfd);
  free(res);
  return NULL;
}

/* ---- open / close ---- */

static int env_true(const char *v)
{
  return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
               strcasecmp(v, "on") == 0);
}

static int header_ok(const char *h)
{
  const char *colon = strchr(h, ':');
  if (!colon || colon == h)
    return 0;
  for (const char *p = h; *p; p++)
    if (*p == '\r' || *p == '\n')
      return 0;
  return 1;
}

static int add_header(aisf_http_cfg *c, const char *h)
{
  struct curl_slist *l = curl_slist_append(c->headers, h);
  if (!l)
    return -1;
  c->headers = l;
  return 0;
}

static int build_config(aisfetch_reader *r)
{
  char flags[4] = {0};
  size_t nf = 0;
  if (r->info.version[0])
    flags[nf++] = 'v';
  if (r->info.checksum_type[0] || r->info.checksum_value[0])
    flags[nf++] = 'c';
  if (r->info.etag[0])
    flags[nf++] = 'e';
  const char *str[8] = {r->proxy_url,          r->http.ca_file,       r->http.user_agent,
                        r->info.version,       r->info.checksum_type, r->info.checksum_value,
                        r->info.etag,          flags};
  size_t len = sizeof(aisf_msg_config);
  unsigned n = 8;
  for (unsigned i = 0; i < 8; i++)
    len += strlen(str[i]) + 1;
  for (struct curl_slist *l = r->http.headers; l; l = l->next, n++)
    len += strlen(l->data) + 1;
  if (len > AISF_MSG_MAX || n > 16)
    return -1;
  r->config = malloc(len);
  if (!r->config)
    return -1;
  aisf_msg_config c;
  memset(&c, 0, sizeof c);
  c.type = AISF_MSG_CONFIG;
  c.nstrings = n;
  c.connect_timeout_ms = r->http.connect_timeout_ms;
  c.stall_timeout_ms = r->http.stall_timeout_ms;
  c.retries = r->http.retries;
  c.skip_verify = r->http.skip_verify;
  c.stride = r->stride;
  c.nslots = r->nslots;
  c.nfiles = r->nfiles;
  c.object_size = r->size;
  memcpy(r->config, &c, sizeof c);
  size_t pos = sizeof c;
  for (unsigned i = 0; i < 8; i++) {
    size_t l = strlen(str[i]) + 1;
    memcpy(r->config + pos, str[i], l);
    pos += l;
  }
  for (struct curl_slist *l = r->http.headers; l; l = l->next) {
    size_t k = strlen(l->data) + 1;
    memcpy(r->config + pos, l->data, k);
    pos += k;
  }
  r->config_len = pos;
  return 0;
}

static aisfetch_errkind check_options(const aisfetch_options *o, aisfetch_error *err)
{
  if (o->num_workers > AISFETCH_MAX_WORKERS)
    return aisf_fail(err, AISFETCH_E_ARG, "num_workers %u is out of range (1..%d)", o->num_workers,
                     AISFETCH_MAX_WORKERS);
  if (o->chunk_size &&
      (o->chunk_size < AISFETCH_MIN_CHUNK_SIZE || o->chunk_size > AISFETCH_MAX_CHUNK_SIZE))
    return aisf_fail(err, AISFETCH_E_ARG,
                     "chunk_size %zu is out of range (0 for the object's own, or 4 KiB..256 MiB)",
                     o->chunk_size);
  if (o->slots > AISFETCH_MAX_SLOTS)
    return aisf_fail(err, AISFETCH_E_ARG, "slots %u is out of range (0 for 2 x workers, or 1..%d)",
                     o->slots, AISFETCH_MAX_SLOTS);
  if (o->worker_mode != AISFETCH_WORKER_PROCESS && o->worker_mode != AISFETCH_WORKER_THREAD)
    return aisf_fail(err, AISFETCH_E_ARG, "unknown worker mode %d", (int)o->worker_mode);
  if (o->retries > 100)
    return aisf_fail(err, AISFETCH_E_ARG, "retries %u is out of range (0..100)", o->retries);
  if (o->connect_timeout_ms < 0 || o->stall_timeout_ms < 0 ||
      o->connect_timeout_ms > 3600000 || o->stall_timeout_ms > 3600000)
    return aisf_fail(err, AISFETCH_E_ARG, "timeouts must be 0..3600000 ms");
  if (o->skip_verify < -1 || o->skip_verify > 1)
    return aisf_fail(err, AISFETCH_E_ARG, "skip_verify must be -1, 0 or 1");
  if (o->first_bytes < -1 || o->first_bytes > (long)AISFETCH_MAX_CHUNK_SIZE)
    return aisf_fail(err, AISFETCH_E_ARG,
                     "first_bytes %ld is out of range (-1 for none, 0 for 1 MiB, or 1..256 MiB)",
                     o->first_bytes);
  return AISFETCH_OK;
}

/* The ring: its memfds (one per slot, up to AISF_RING_FILES), mapped
 * read-only slot by slot into one contiguous range, slot s at s x stride. */
static aisfetch_errkind make_ring(aisfetch_reader *r, aisfetch_error *err)
{
  r->nfiles = r->nslots < AISF_RING_FILES ? r->nslots : AISF_RING_FILES;
  size_t per = (r->nslots + r->nfiles - 1) / r->nfiles;
  for (unsigned i = 0; i < r->nfiles; i++) {
    r->ring_fd[i] = memfd_create("aisfetch-ring", MFD_CLOEXEC);
    if (r->ring_fd[i] < 0 || ftruncate(r->ring_fd[i], (off_t)(per * r->stride)) < 0)
      return aisf_fail(err, AISFETCH_E_SYSTEM, "cannot make the ring (%u x %zu bytes): %s",
                       r->nslots, r->stride, strerror(errno));
  }
  void *base = mmap(NULL, r->ring_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    return aisf_fail(err, AISFETCH_E_SYSTEM, "cannot map the ring: %s", strerror(errno));
  r->ring = base;
  for (unsigned s = 0; s < r->nslots; s++) {
    void *p = mmap(r->ring + (size_t)s * r->stride, r->stride, PROT_READ, MAP_SHARED | MAP_FIXED,
                   r->ring_fd[s % r->nfiles], (off_t)((size_t)(s / r->nfiles) * r->stride));
    if (p == MAP_FAILED)
      return aisf_fail(err, AISFETCH_E_SYSTEM, "cannot map the ring: %s", strerror(errno));
  }
  return AISFETCH_OK;
}

/* The bytes the open's prefix GET brought that agree with the HEAD go into
 * slot 0 as chunk 0's start: whole, or the rest is fetched as one range. */
static void put_prefix(aisfetch_reader *r, const aisf_prefix *pre)
{
  size_t n = pre->buf ? aisf_prefix_usable(pre, &r->info) : 0;
  size_t c0 = r->size < r->cs ? (size_t)r->size : r->cs;
  if (n > c0)
    n = c0;
  size_t done = 0;
  while (done < n) {
    ssize_t k = pwrite(r->ring_fd[0], pre->buf + done, n - done, (off_t)done);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return;
    done += (size_t)k;
  }
  if (!n)
    return;
  slot_t *s = &r->slots[0];
  s->chunk = 0;
  s->state = n == c0 ? SLOT_READY : SLOT_PARTIAL;
  s->avail = s->base = n;
  r->st.bytes += n;
  r->st.ranges += n == c0;
  r->st.redirects += pre->redirects;
}

aisfetch_errkind aisfetch_open(const aisfetch_options *o, aisfetch_reader **out,
                               aisfetch_error *err)
{
  aisfetch_error scratch;
  if (!err)
    err = &scratch;
  memset(err, 0, sizeof *err);
  if (!o || !out)
    return aisf_fail(err, AISFETCH_E_ARG, "options and output must not be NULL");
  *out = NULL;
  aisfetch_errkind k = check_options(o, err);
  if (k)
    return k;

  aisfetch_reader *r = calloc(1, sizeof *r);
  if (!r)
    return aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
  aisf_prefix pre;
  memset(&pre, 0, sizeof pre);
  for (unsigned i = 0; i < AISF_RING_FILES; i++)
    r->ring_fd[i] = -1;
  r->wake_fd = -1;
  r->zyg_fd = -1;
  r->t_open = aisf_now_ns();
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->hmu, NULL);
  pthread_mutex_init(&r->cmu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &ca);
  pthread_condattr_destroy(&ca);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  if ((k = aisfetch_uri_parse(o->uri, &r->uri, err)))
    goto fail;
  const char *ep = o->endpoint ? o->endpoint : getenv("AIS_ENDPOINT");
  if (!ep || !*ep)
    ep = AISFETCH_DEFAULT_ENDPOINT;
  if ((k = aisfetch_endpoint_parse(ep, r->endpoint, sizeof r->endpoint, err)))
    goto fail;
  if (aisf_object_url(r->endpoint, &r->uri, r->proxy_url, sizeof r->proxy_url)) {
    k = aisf_fail(err, AISFETCH_E_ARG, "object URL too long");
    goto fail;
  }

  r->http.connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
  r->http.stall_timeout_ms = o->stall_timeout_ms ? o->stall_timeout_ms : 20000;
  r->http.retries = o->retries;
  const char *cafile = o->ca_file ? o->ca_file : getenv("AIS_CLIENT_CA");
  aisf_strlcpy(r->http.ca_file, cafile ? cafile : "", sizeof r->http.ca_file);
  r->http.skip_verify = o->skip_verify >= 0 ? o->skip_verify : env_true(getenv("AIS_SKIP_VERIFY_CRT"));
  if (o->user_agent && *o->user_agent)
    aisf_strlcpy(r->http.user_agent, o->user_agent, sizeof r->http.user_agent);
  else
    snprintf(r->http.user_agent, sizeof r->http.user_agent, "libaisfetch/%d.%d.%d",
             AISFETCH_VERSION_MAJOR, AISFETCH_VERSION_MINOR, AISFETCH_VERSION_MICRO);
  const char *tok = o->token ? o->token : getenv("AIS_AUTHN_TOKEN");
  if (tok && *tok) {
    char h[8192];
    if ((size_t)snprintf(h, sizeof h, "Authorization: Bearer %s", tok) >= sizeof h ||
        !header_ok(h)) {
      k = aisf_fail(err, AISFETCH_E_ARG, "the token is too long or contains a line break");
      goto fail;
    }
    if (add_header(&r->http, h)) {
      k = aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
      goto fail;
    }
  }
  for (const char *const *h = o->extra_headers; h && *h; h++) {
    if (!header_ok(*h)) {
      k = aisf_fail(err, AISFETCH_E_ARG, "extra header '%.100s' is not 'Name: value' on one line",
                    *h);
      goto fail;
    }
    if (add_header(&r->http, *h)) {
      k = aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
      goto fail;
    }
  }
  const char *wp = o->worker_path ? o->worker_path : getenv("AISFETCH_WORKER");
  if (wp && *wp)
    aisf_strlcpy(r->worker_path, wp, sizeof r->worker_path);
  else
    snprintf(r->worker_path, sizeof r->worker_path, "%s/%s", AISFETCH_LIBEXECDIR, WORKER_NAME);
  r->mode = o->worker_mode;
  r->verify = o->verify_checksum;

  /* The helper starts (and loads its libraries: about 6 ms here) while the
   * HEAD crosses the round trip; its ring is sized once the HEAD is in. */
  aisfetch_error zyg_err;
  int zyg_failed = 0;
  if (r->mode == AISFETCH_WORKER_PROCESS && start_zygote(r, &zyg_err))
    zyg_failed = 1;
  if (o->first_bytes >= 0) {
    size_t cap = o->first_bytes ? (size_t)o->first_bytes : FIRST_BYTES;
    if (o->chunk_size && cap > o->chunk_size)
      cap = o->chunk_size;
    if ((pre.buf = malloc(cap)))
      pre.cap = cap;
  }
  if ((k = aisf_head(&r->http, r->proxy_url, &r->info, r->target_url, sizeof r->target_url,
                     &r->st.redirects, &r->cancelled, o->open_cancelled,
                     o->open_cancelled_data, &pre, err)))
    goto fail;
  r->size = r->info.size;
  aisf_strlcpy(r->info.provider, r->uri.provider, sizeof r->info.provider);
  aisf_strlcpy(r->info.bucket, r->uri.bucket, sizeof r->info.bucket);
  aisf_strlcpy(r->info.object, r->uri.object, sizeof r->info.object);

  if (o->chunk_size)
    r->cs = o->chunk_size;
  else if (r->info.max_chunk_size)
    r->cs = r->info.max_chunk_size < AISFETCH_MIN_CHUNK_SIZE ? AISFETCH_MIN_CHUNK_SIZE
            : r->info.max_chunk_size > AISFETCH_MAX_CHUNK_SIZE
                ? AISFETCH_MAX_CHUNK_SIZE
                : (size_t)r->info.max_chunk_size;
  else
    r->cs = AISFETCH_DEFAULT_CHUNK_SIZE;
  r->nchunks = (r->size + r->cs - 1) / r->cs;
  unsigned want = o->num_workers ? o->num_workers : 8;
  r->nworkers = r->nchunks < want ? (unsigned)r->nchunks : want;
  if (r->nchunks == 1)
    r->mode = AISFETCH_WORKER_THREAD; /* one plain GET: a process would cost more than it */
  r->nslots = o->slots ? o->slots : 2 * r->nworkers;
  if (r->nslots > r->nchunks)
    r->nslots = (unsigned)r->nchunks;
  /* each slot is mapped on its own at s x stride, from file offset
   * (s / nfiles) x stride: both must be whole pages (16 or 64 KiB on some
   * arm64 and ppc64 kernels, not only 4 KiB) */
  long pg = sysconf(_SC_PAGESIZE);
  size_t page = pg > 4096 ? (size_t)pg : 4096;
  r->stride = (r->cs + page - 1) / page * page;
  r->ring_size = r->stride * r->nslots;
  r->pos = 0;
  r->idle = o->start_idle != 0;
  r->stop = r->idle ? 0 : r->size;
  r->ra = r->nslots;
  r->info.chunk_size = r->cs;
  r->info.num_workers = r->nworkers;
  r->info.slots = r->nslots;
  r->st.num_workers = r->nworkers;

  if (r->verify) {
    int known;
    r->hash = aisf_hash_new(r->info.checksum_type, &known);
    r->hash_state = r->hash ? 1 : 0;
  }
  if (r->mode == AISFETCH_WORKER_THREAD || r->size == 0)
    stop_zygote(r, 0); /* not needed after all: it has no worker yet */
  if (r->size == 0) {
    free(pre.buf);
    *out = r;
    return AISFETCH_OK;
  }

  if ((k = make_ring(r, err)))
    goto fail;
  r->slots = calloc(r->nslots, sizeof *r->slots);
  r->wk = calloc(r->nworkers, sizeof *r->wk);
  r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (!r->slots || !r->wk || r->wake_fd < 0 || build_config(r)) {
    k = aisf_fail(err, AISFETCH_E_SYSTEM, "cannot set up the reader: %s", strerror(errno));
    goto fail;
  }
  for (unsigned i = 0; i < r->nworkers; i++)
    r->wk[i].fd = -1;
  put_prefix(r, &pre);
  free(pre.buf);
  pre.buf = NULL;
  if (zyg_failed && r->mode == AISFETCH_WORKER_PROCESS) {
    *err = zyg_err;
    k = err->kind;
    goto fail;
  }
  /* Threads start here.  Processes are forked by the dispatcher, one at a
   * time, while the caller takes the first bytes (forking eight takes about
   * 9 ms here when the helper has just started). */
  for (unsigned i = 0; r->mode == AISFETCH_WORKER_THREAD && i < r->nworkers; i++) {
    int fd;
    int bad = spawn_worker(r, &r->wk[i], &fd, err) && fd < 0;
    if (fd >= 0)
      publish_worker(&r->wk[i], fd);
    if (bad) {
      k = err->kind;
      goto fail;
    }
  }
  int e = pthread_create(&r->disp, NULL, dispatcher, r);
  if (e) {
    k = aisf_fail(err, AISFETCH_E_SYSTEM, "pthread_create: %s", strerror(e));
    goto fail;
  }
  r->disp_started = 1;
  *out = r;
  return AISFETCH_OK;
fail:
  free(pre.buf);
  aisfetch_close(r);
  return k;
}

void aisfetch_close(aisfetch_reader *r)
{
  if (!r)
    return;
  pthread_mutex_lock(&r->mu);
  r->closing = 1;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  if (r->disp_started) {
    wake(r);
    pthread_join(r->disp, NULL);
  }
  if (r->wk) {
    /* close every socket first so that all workers wind down together */
    for (unsigned i = 0; i < r->nworkers; i++)
      if (r->wk[i].fd >= 0) {
        close(r->wk[i].fd);
        r->wk[i].fd = -1;
      }
    for (unsigned i = 0; i < r->nworkers; i++)
      reap_worker(&r->wk[i]);
  }
  if (r->zyg_fd >= 0) {
    aisf_msg_zygote q = {.type = AISF_ZYG_QUIT, .pid = 0};
    ssize_t n = send(r->zyg_fd, &q, sizeof q, MSG_NOSIGNAL);
    (void)n; /* a zygote already gone needs no QUIT */
  }
  /* unmapping a large ring takes a while (256 MiB: about 30 ms): while the
   * workers exit */
  if (r->ring)
    munmap(r->ring, r->ring_size);
  for (unsigned i = 0; i < AISF_RING_FILES; i++)
    if (r->ring_fd[i] >= 0)
      close(r->ring_fd[i]);
  /* after QUIT the zygote waits up to 100 ms for its workers, then kills
   * them and exits */
  stop_zygote(r, 2000);
  if (r->wake_fd >= 0)
    close(r->wake_fd);
  aisf_hash_free(r->hash);
  curl_slist_free_all(r->http.headers);
  free(r->config);
  free(r->slots);
  free(r->wk);
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
  pthread_mutex_destroy(&r->hmu);
  pthread_mutex_destroy(&r->cmu);
  free(r);
  curl_global_cleanup();
}

/* ---- reading ---- */

uint64_t aisfetch_size(const aisfetch_reader *r)
{
  return r->size;
}

void aisfetch_object_info_get(aisfetch_reader *r, aisfetch_object_info *info)
{
  pthread_mutex_lock(&r->mu);
  *info = r->info;
  aisf_strlcpy(info->target_url, r->target_url, sizeof info->target_url);
  pthread_mutex_unlock(&r->mu);
}

uint64_t aisfetch_tell(const aisfetch_reader *r)
{
  aisfetch_reader *m = (aisfetch_reader *)r;
  pthread_mutex_lock(&m->mu);
  uint64_t p = m->pos;
  pthread_mutex_unlock(&m->mu);
  return p;
}

static void hash_chunk(aisfetch_reader *r, const aisfetch_chunk *c)
{
  pthread_mutex_lock(&r->hmu);
  if (r->hash_state == 1) {
    if (c->offset == r->hash_pos) {
      aisf_hash_update(r->hash, c->data, c->len);
      r->hash_pos += c->len;
    } else {
      r->hash_state = 0;
    }
  }
  pthread_mutex_unlock(&r->hmu);
}

/* the end of the in-order stream: compare the whole object's checksum */
static aisfetch_errkind hash_finish(aisfetch_reader *r, aisfetch_error *err)
{
  aisfetch_errkind k = AISFETCH_OK;
  pthread_mutex_lock(&r->hmu);
  if (r->hash_state == 1 && r->hash_pos == r->size) {
    char got[160];
    aisf_hash_final(r->hash, got, sizeof got);
    r->hash = NULL;
    r->hash_state = 2;
    if (strcasecmp(got, r->info.checksum_value) != 0) {
      k = aisf_fail(err, AISFETCH_E_CHECKSUM,
                    "checksum mismatch: %s of the bytes read is %s, the object's is %s",
                    r->info.checksum_type, got, r->info.checksum_value);
      pthread_mutex_lock(&r->mu);
      set_fatal(r, err);
      pthread_mutex_unlock(&r->mu);
    }
  }
  pthread_mutex_unlock(&r->hmu);
  return k;
}

/* under mu: the next chunk at pos, without hashing */
static aisfetch_errkind next_locked(aisfetch_reader *r, aisfetch_chunk *chunk, uint64_t stop,
                                    aisfetch_error *err)
{
  memset(chunk, 0, sizeof *chunk);
  for (;;) {
    if (atomic_load(&r->cancelled))
      return aisf_fail(err, AISFETCH_E_CANCELLED, "cancelled");
    if (r->closing)
      return aisf_fail(err, AISFETCH_E_CANCELLED, "the reader is closing");
    if (r->has_fatal) {
      if (err)
        *err = r->fatal;
      return r->fatal.kind;
    }
    if (r->pos >= stop || r->pos >= r->size) {
      chunk->offset = r->pos;
      return AISFETCH_OK;
    }
    uint64_t c = r->pos / r->cs;
    int s = find_slot(r, c);
    uint64_t cstart = c * r->cs;
    /* a range still arriving: the bytes its worker reported written */
    int partial = s >= 0 &&
                  (r->slots[s].state == SLOT_FETCHING || r->slots[s].state == SLOT_PARTIAL) &&
                  cstart + r->slots[s].avail > r->pos;
    if (s >= 0 && (r->slots[s].state == SLOT_READY || partial)) {
      slot_t *sl = &r->slots[s];
      uint64_t cend = cstart + r->cs < r->size ? cstart + r->cs : r->size;
      if (partial)
        cend = cstart + sl->avail;
      if (cend > stop)
        cend = stop;
      sl->holds++;
      chunk->data = r->ring + (size_t)s * r->stride + (r->pos - cstart);
      chunk->len = (size_t)(cend - r->pos);
      chunk->offset = r->pos;
      chunk->slot_ = (unsigned)s;
      chunk->lease_ = sl->lease;
      r->pos = cend;
      r->st.bytes_delivered += chunk->len;
      if (r->seek_ramp && !partial) { /* the chunk a seek wanted first is here: read ahead again */
        r->seek_ramp = 0;
        r->ra = r->nslots;
      }
      wake(r);
      return AISFETCH_OK;
    }
    if (s >= 0 && r->slots[s].state == SLOT_FAILED) {
      if (err)
        *err = r->slots[s].err;
      return r->slots[s].err.kind;
    }
    if (s < 0) {
      unsigned held = 0;
      for (unsigned i = 0; i < r->nslots; i++)
        held += r->slots[i].holds > 0;
      if (held == r->nslots)
        return aisf_fail(err, AISFETCH_E_ARG,
                         "all %u slots are held by the caller: release chunks before asking for more",
                         r->nslots);
    }
    wake(r);
    pthread_cond_wait(&r->cv, &r->mu);
  }
}

static void reposition(aisfetch_reader *r, uint64_t off, uint64_t stop, unsigned ra);

/* under cmu */
static aisfetch_errkind next_call(aisfetch_reader *r, aisfetch_chunk *chunk, aisfetch_error *err)
{
  pthread_mutex_lock(&r->mu);
  if (r->idle) /* opened idle: the first next() reads on from the start */
    reposition(r, r->pos, r->size, r->nslots);
  aisfetch_errkind k = next_locked(r, chunk, r->stop, err);
  pthread_mutex_unlock(&r->mu);
  if (k)
    return k;
  if (chunk->len)
    hash_chunk(r, chunk);
  else if (chunk->offset >= r->size)
    return hash_finish(r, err);
  return AISFETCH_OK;
}

aisfetch_errkind aisfetch_next(aisfetch_reader *r, aisfetch_chunk *chunk, aisfetch_error *err)
{
  pthread_mutex_lock(&r->cmu);
  aisfetch_errkind k = next_call(r, chunk, err);
  pthread_mutex_unlock(&r->cmu);
  return k;
}

static void release_locked(aisfetch_reader *r, aisfetch_chunk *c)
{
  if (c->data && c->slot_ < r->nslots) {
    slot_t *s = &r->slots[c->slot_];
    if (s->lease == c->lease_ && s->holds > 0) {
      s->holds--;
      if (!s->holds)
        wake(r);
    }
  }
  memset(c, 0, sizeof *c);
}

void aisfetch_release(aisfetch_reader *r, aisfetch_chunk *c)
{
  if (!r || !c)
    return;
  pthread_mutex_lock(&r->mu);
  release_locked(r, c);
  pthread_mutex_unlock(&r->mu);
}

unsigned aisfetch_slots_held(aisfetch_reader *r)
{
  unsigned held = 0;
  pthread_mutex_lock(&r->mu);
  for (unsigned i = 0; i < r->nslots; i++)
    held += r->slots[i].holds > 0;
  pthread_mutex_unlock(&r->mu);
  return held;
}

/* under mu: move the window; keeps what is still useful */
static void reposition(aisfetch_reader *r, uint64_t off, uint64_t stop, unsigned ra)
{
  if (r->size && off != r->pos && find_slot(r, off / r->cs) < 0 && off < r->size)
    r->st.restarts++;
  r->pos = off;
  r->stop = stop;
  r->idle = 0;
  r->ra = ra ? ra : 1;
  /* a failed range may succeed when asked again */
  for (unsigned i = 0; i < r->nslots; i++)
    if (r->slots[i].state == SLOT_FAILED && !r->slots[i].holds)
      r->slots[i].state = SLOT_FREE;
  wake(r);
}

/* under cmu */
static aisfetch_errkind seek_call(aisfetch_reader *r, uint64_t off, uint64_t stop,
                                  aisfetch_error *err)
{
  if (stop > r->size)
    stop = r->size;
  if (off > r->size)
    return aisf_fail(err, AISFETCH_E_ARG, "seek to %llu is past the end of the object (%llu bytes)",
                     (unsigned long long)off, (unsigned long long)r->size);
  if (stop < off)
    return aisf_fail(err, AISFETCH_E_ARG, "stop %llu is before the start %llu",
                     (unsigned long long)stop, (unsigned long long)off);
  pthread_mutex_lock(&r->mu);
  /* A seek to bytes the ring does not hold fetches their chunk alone first:
   * in parallel with the readahead it would get a share of the bandwidth. */
  int alone = off != r->pos && off < r->size && find_slot(r, off / r->cs) < 0;
  reposition(r, off, stop, alone ? 1 : r->nslots);
  r->seek_ramp = alone;
  pthread_mutex_unlock(&r->mu);
  pthread_mutex_lock(&r->hmu);
  if (r->hash_state == 1 && off != r->hash_pos)
    r->hash_state = 0; /* a seek breaks the in-order stream: nothing left to verify */
  pthread_mutex_unlock(&r->hmu);
  return AISFETCH_OK;
}

aisfetch_errkind aisfetch_seek_range(aisfetch_reader *r, uint64_t off, uint64_t stop,
                                     aisfetch_error *err)
{
  pthread_mutex_lock(&r->cmu);
  aisfetch_errkind k = seek_call(r, off, stop, err);
  pthread_mutex_unlock(&r->cmu);
  return k;
}

aisfetch_errkind aisfetch_seek(aisfetch_reader *r, uint64_t off, aisfetch_error *err)
{
  return aisfetch_seek_range(r, off, UINT64_MAX, err);
}

aisfetch_errkind aisfetch_read_range(aisfetch_reader *r, uint64_t off, size_t len, void *buf,
                                     size_t *got, aisfetch_error *err)
{
  size_t done = 0;
  aisfetch_errkind k = AISFETCH_OK;
  if (got)
    *got = 0;
  if (len && !buf)
    return aisf_fail(err, AISFETCH_E_ARG, "read_range into a NULL buffer");
  if (off >= r->size || len == 0)
    return AISFETCH_OK;
  if (len > r->size - off)
    len = (size_t)(r->size - off);
  pthread_mutex_lock(&r->cmu);
  pthread_mutex_lock(&r->mu);
  unsigned span = (unsigned)((off + len - 1) / r->cs - off / r->cs + 1);
  unsigned ra;
  if (off == r->rr_end && r->pos == off)
    ra = r->ra * 2; /* sequential: grow the readahead */
  else
    ra = span + 1;
  if (ra < span)
    ra = span;
  if (ra > r->nslots)
    ra = r->nslots;
  reposition(r, off, r->size, ra);
  r->seek_ramp = 0;
  while (done < len) {
    aisfetch_chunk c;
    k = next_locked(r, &c, off + len, err);
    if (k || c.len == 0)
      break;
    const uint8_t *src = c.data;
    size_t n = c.len;
    /* copy without the lock: the held slot cannot be reused meanwhile */
    pthread_mutex_unlock(&r->mu);
    memcpy((uint8_t *)buf + done, src, n);
    pthread_mutex_lock(&r->mu);
    release_locked(r, &c);
    done += n;
  }
  r->rr_end = off + done;
  pthread_mutex_unlock(&r->mu);
  pthread_mutex_lock(&r->hmu);
  if (r->hash_state == 1)
    r->hash_state = 0;
  pthread_mutex_unlock(&r->hmu);
  pthread_mutex_unlock(&r->cmu);
  if (got)
    *got = done;
  return k;
}

aisfetch_errkind aisfetch_read_all(aisfetch_reader *r, void *dst, size_t dst_len,
                                   aisfetch_error *err)
{
  if (dst_len < r->size)
    return aisf_fail(err, AISFETCH_E_ARG, "buffer of %zu bytes is smaller than the object (%llu)",
                     dst_len, (unsigned long long)r->size);
  pthread_mutex_lock(&r->cmu);
  aisfetch_errkind k = seek_call(r, 0, UINT64_MAX, err);
  /* an object bigger than the caches: its start is out of them by its end */
  int stream = r->size >= AISF_STREAM_COPY_MIN;
  while (!k) {
    aisfetch_chunk c;
    k = next_call(r, &c, err);
    if (k || c.len == 0)
      break;
    if (stream)
      aisf_copy_stream((uint8_t *)dst + c.offset, c.data, c.len);
    else
      memcpy((uint8_t *)dst + c.offset, c.data, c.len);
    aisfetch_release(r, &c);
  }
  pthread_mutex_unlock(&r->cmu);
  return k;
}

void aisfetch_cancel(aisfetch_reader *r)
{
  atomic_store(&r->cancelled, 1);
  pthread_mutex_lock(&r->mu);
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

void aisfetch_cancel_clear(aisfetch_reader *r)
{
  atomic_store(&r->cancelled, 0);
}

void aisfetch_stats_get(aisfetch_reader *r, aisfetch_stats *st)
{
  pthread_mutex_lock(&r->mu);
  *st = r->st;
  for (unsigned i = 0; i < r->nworkers && i < AISFETCH_MAX_WORKERS; i++)
    st->worker_busy_ns[i] = r->wk[i].busy_ns;
  pthread_mutex_unlock(&r->mu);
  st->elapsed_s = (double)(aisf_now_ns() - r->t_open) / 1e9;
}
