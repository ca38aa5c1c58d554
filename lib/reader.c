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
  int direct;         /* its range goes into the object's file, not the slot */
  aisfetch_error err; /* SLOT_FAILED */
} slot_t;

/* a range in flight at a worker */
typedef struct {
  int active;
  int abort_sent;
  uint64_t id;
  unsigned slot;
} wjob_t;

/* One object of the stream (a single object is a sequence of one).  Its
 * chunks are [c0, c0 + nchunks) and its bytes [start, start + size) of the
 * stream; a chunk never spans two objects. */
typedef struct {
  char *name;               /* the object's name in its bucket */
  const aisfetch_uri *base; /* provider, namespace, bucket */
  uint64_t size, start, c0, nchunks;
  char *version, *cksum_type, *cksum_value, *etag; /* NULL: none */
  char *target_url;         /* the target that served it last; NULL: ask the proxy */
  aisfetch_error *err;      /* its HEAD failed: it has no chunk */
  int skipped;              /* aisfetch_skip_object() went past it */
  int wfd1;                 /* aisfetch_object_set_fd()'s copy of the file, + 1; 0: none */
  uint64_t max_chunk_size;
  unsigned chunk_count;
} obj_t;

/* HEADs of a uris sequence, done ahead of the read by a few threads and
 * taken into the stream in order */
typedef struct {
  int done;
  aisfetch_object_info info;
  char target[AISF_URL_MAX];
  aisfetch_errkind kind;
  aisfetch_error err;
} head_t;

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
  aisfetch_uri uri;         /* one object; a prefix (object: the prefix) */
  aisfetch_uri *uris;       /* a uris sequence, parsed */
  uint64_t nuris;
  char endpoint[1024];
  char proxy_url[AISF_URL_MAX];
  char worker_path[PATH_MAX];
  aisf_http_cfg http;
  aisfetch_worker_mode mode;
  int verify;
  int files_set;            /* aisfetch_object_set_fd() was called: read forward only */
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

  /* the stream's objects: size and nchunks are the totals of those known */
  int multi;          /* a sequence (uris or prefix), not one object */
  obj_t *objs;
  uint64_t nobjs, objcap;
  int objs_done;      /* every object is known: size and nchunks are final */
  uint64_t cur;       /* the object the next bytes come from */
  aisfetch_lister *lister;
  head_t *heads;      /* uris: one per object */
  uint64_t next_head;
  pthread_t feeders[8];
  unsigned nfeeders;
  atomic_int stopping; /* close: the feeders' HTTP gives up */
  uint64_t want_obj;  /* a caller waits for this object: the feeders look ahead of it */
  uint64_t want_bytes; /* ... or for the stream's first this many bytes */
  int (*user_cancelled)(void *); /* the open's own cancel callback, asked while it lists */
  void *user_cancelled_data;
  int opening;
  int has_feed_err;   /* the rest of the sequence could not be listed or known: */
  aisfetch_error feed_err; /* the stream ends in this error after the known objects */

  pthread_mutex_t hmu;
  /* held through each call that moves the position (next, seek, read_range,
   * read_all): they are serialised as whole calls, not just their steps */
  pthread_mutex_t cmu;
  aisf_hash *hash;
  uint64_t hash_pos;
  int hash_state;     /* 0 off, 1 running, 2 done */
  uint64_t hash_obj;  /* a sequence: the object being hashed */
  char hash_type[16], hash_want[160];
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

/* One message on sock with nfd descriptors attached (SCM_RIGHTS): the
 * bytes sent, or -1 */
static ssize_t send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfd)
{
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(AISF_RING_FILES * sizeof(int))];
  } cm;
  memset(&cm, 0, sizeof cm);
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = nfd ? cm.buf : NULL,
                      .msg_controllen = nfd ? CMSG_SPACE(nfd * sizeof(int)) : 0};
  if (nfd) {
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfd * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfd * sizeof(int));
  }
  ssize_t n;
  while ((n = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
    ;
  return n;
}

/* Asks the zygote for a worker on the socket fd; its pid, or -1 when the
 * zygote is gone or failed (errno-like code in *e). */
static pid_t zygote_fork(aisfetch_reader *r, int fd, int *e)
{
  aisf_msg_zygote m = {.type = AISF_ZYG_SPAWN, .pid = 0};
  *e = EPIPE;
  if (send_fds(r->zyg_fd, &m, sizeof m, &fd, 1) != (ssize_t)sizeof m)
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
  unsigned nfd = r->mode == AISFETCH_WORKER_THREAD ? 0 : r->nfiles;
  return send_fds(fd, r->config, r->config_len, r->ring_fd, nfd);
}

/* Starts a worker and sends it its CONFIG; *fdp: its socket (-1 if none was
 * started), for the caller to publish in w->fd.  The dispatcher calls this
 * without the reader's lock: a socket published before its CONFIG went out
 * could be sent a JOB first by a caller's schedule() (seen under
 * ThreadSanitizer: "worker could not apply its configuration: not a CONFIG"). */
static int spawn_worker(aisfetch_reader *r, worker_t *w, int *fdp, aisfetch_error *err)
{
  *fdp = -1;
  int sv[2] = {-1, -1};
  if (r->mode == AISFETCH_WORKER_THREAD) {
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
      aisf_seterr(err, AISFETCH_E_SYSTEM, 0, "socketpair: %s", strerror(errno));
      return -1;
    }
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
    /* A zygote that died is started again, once per worker, and the retry
     * gets a new socket pair: the dead zygote may have forked a worker on
     * the old one before it died, and two workers reading one socket would
     * split its messages (one takes the CONFIG, the other a JOB).  Closing
     * the old pair gives that orphan EOF. */
    for (int attempt = 0; attempt < 2 && pid < 0; attempt++) {
      if (sv[0] >= 0) {
        close(sv[0]);
        sv[0] = -1;
      }
      if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        aisf_seterr(err, AISFETCH_E_SYSTEM, 0, "socketpair: %s", strerror(errno));
        return -1;
      }
      if (r->zyg_fd < 0 && start_zygote(r, err))
        goto fail;
      pid = zygote_fork(r, sv[1], &e);
      close(sv[1]);
      sv[1] = -1;
      if (pid < 0 && (e == EPIPE || e == ETIMEDOUT))
        stop_zygote(r, 0);
      else if (pid < 0)
        break;
    }
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
  if (sv[0] >= 0)
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

/* ---- the stream's chunks: objects end to end, each cut in chunk-size
 * pieces (all under mu) ---- */

/* How many objects have their first chunk (by_chunk) or first byte at or
 * before key, or before it with strict: both grow with the index. */
static uint64_t objs_before(const aisfetch_reader *r, int by_chunk, uint64_t key, int strict)
{
  uint64_t lo = 0, hi = r->nobjs;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    uint64_t v = by_chunk ? r->objs[mid].c0 : r->objs[mid].start;
    if (strict ? v < key : v <= key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* the object of chunk c (< nchunks): the last with c0 <= c, which is never
 * an empty one (an empty object shares its c0 with the next) */
static uint64_t obj_of_chunk(const aisfetch_reader *r, uint64_t c)
{
  uint64_t n = objs_before(r, 1, c, 0);
  return n ? n - 1 : 0;
}

/* the chunk holding stream byte pos; nchunks at or past the known end */
static uint64_t chunk_at(const aisfetch_reader *r, uint64_t pos)
{
  if (pos >= r->size || !r->nobjs)
    return r->nchunks;
  const obj_t *o = &r->objs[objs_before(r, 0, pos, 0) - 1];
  return o->c0 + (pos - o->start) / r->cs;
}

static uint64_t chunk_start(const aisfetch_reader *r, uint64_t c)
{
  const obj_t *o = &r->objs[obj_of_chunk(r, c)];
  return o->start + (c - o->c0) * r->cs;
}

/* the chunk's bytes: cs, less at its object's end */
static uint64_t chunk_len(const aisfetch_reader *r, uint64_t c)
{
  const obj_t *o = &r->objs[obj_of_chunk(r, c)];
  uint64_t in = (c - o->c0) * r->cs;
  return o->size - in < r->cs ? o->size - in : r->cs;
}

/* the chunks before the stop: all once the stop is past the known end */
static uint64_t stop_chunk(const aisfetch_reader *r)
{
  if (r->stop >= r->size)
    return r->nchunks;
  if (r->stop == 0)
    return 0;
  return chunk_at(r, r->stop - 1) + 1;
}

static uint64_t window_end(const aisfetch_reader *r)
{
  uint64_t cur = chunk_at(r, r->pos);
  uint64_t last = stop_chunk(r);
  uint64_t w = r->ra < r->nslots ? r->ra : r->nslots;
  return cur + w < last ? cur + w : last;
}

/* Chunks worth keeping (not aborted, not evicted): the whole ring's span
 * ahead of the position, even while the readahead is ramping up after a
 * seek, so that a reader going back and forth keeps what it fetched. */
static int keep(const aisfetch_reader *r, uint64_t c)
{
  uint64_t cur = chunk_at(r, r->pos);
  uint64_t last = stop_chunk(r);
  uint64_t end = cur + r->nslots < last ? cur + r->nslots : last;
  return c >= cur && c < end;
}

static uint64_t distance(const aisfetch_reader *r, uint64_t c)
{
  uint64_t cur = chunk_at(r, r->pos);
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
        const obj_t *o = &r->objs[obj_of_chunk(r, s->chunk)];
        uint64_t a = chunk_start(r, s->chunk) - o->start;
        aisf_seterr(&s->err, AISFETCH_E_SYSTEM, 0,
                    "%s%sworker died %u times while fetching bytes %llu-%llu",
                    r->multi ? o->name : "", r->multi ? ": " : "", s->deaths,
                    (unsigned long long)a,
                    (unsigned long long)(a + chunk_len(r, s->chunk) - 1));
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

/* what a range of object o is checked against */
static void describe(const aisfetch_reader *r, const obj_t *o, aisf_objdesc *d)
{
  d->size = o->size;
  d->have = (o->version ? AISF_HAVE_VERSION : 0) |
            (o->cksum_type || o->cksum_value ? AISF_HAVE_CKSUM : 0) |
            (o->etag ? AISF_HAVE_ETAG : 0);
  aisf_strlcpy(d->version, o->version ? o->version : "", sizeof d->version);
  aisf_strlcpy(d->cksum_type, o->cksum_type ? o->cksum_type : "", sizeof d->cksum_type);
  aisf_strlcpy(d->cksum_value, o->cksum_value ? o->cksum_value : "", sizeof d->cksum_value);
  aisf_strlcpy(d->etag, o->etag ? o->etag : "", sizeof d->etag);
  if (!r->multi) {
    aisf_strlcpy(d->proxy_url, r->proxy_url, sizeof d->proxy_url);
    return;
  }
  aisfetch_uri u = *o->base;
  aisf_strlcpy(u.object, o->name, sizeof u.object);
  if (aisf_object_url(r->endpoint, &u, d->proxy_url, sizeof d->proxy_url))
    d->proxy_url[0] = '\0'; /* not reached: add_object() failed such an object */
}

#define FILES_FORWARD "%s: objects are being written into their files (object_set_fd): the reader reads forward only"

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
  const obj_t *o = &r->objs[obj_of_chunk(r, c)];
  job.start = (c - o->c0) * r->cs;
  job.len = o->size - job.start < r->cs ? o->size - job.start : r->cs;
  describe(r, o, &job.obj);
  /* the rest of a chunk whose first bytes are in (and may be held: the
   * lease stays, the range starts after them) */
  int rest = s->state == SLOT_PARTIAL && s->chunk == c;
  uint64_t base = rest ? s->avail : 0;
  job.start += base;
  job.len -= base;
  job.slot_off += base;
  /* the chunk at the position: the caller waits on its first bytes */
  if (c == chunk_at(r, r->pos))
    job.flags = AISF_JOB_PROGRESS;
  aisf_strlcpy(job.url, o->target_url ? o->target_url : "", sizeof job.url);
  /* into the object's file: decided at the lease, kept by the rest of a
   * chunk (the file stays open until the object's end is delivered) */
  int direct = rest ? s->direct : o->wfd1 > 0;
  if (direct)
    job.flags |= AISF_JOB_FILE;
  s->direct = direct;
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
  /* (a FILE job without its file, not reached, is the worker's error) */
  int wfd = o->wfd1 - 1;
  if (send_fds(w->fd, &job, sizeof job, &wfd, direct && wfd >= 0) != (ssize_t)sizeof job)
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
  uint64_t c = chunk_at(r, r->pos), end = window_end(r);
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
  uint64_t c = chunk_at(r, r->pos), end = window_end(r);
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
    /* a hedge's copy that completed after the first one is not a range more */
    int again = 0;
    for (unsigned k = 0; k < r->nslots && !again; k++)
      again = k != si && r->slots[k].chunk == s->chunk && r->slots[k].state == SLOT_READY;
    s->state = SLOT_READY;
    s->deaths = 0;
    r->st.bytes += res->bytes;
    r->st.ranges += !again;
    obj_t *o = &r->objs[obj_of_chunk(r, s->chunk)];
    if (res->url[0] && (!o->target_url || strcmp(o->target_url, res->url) != 0)) {
      char *t = strdup(res->url);
      if (t) {
        free(o->target_url);
        o->target_url = t;
      }
    }
    if (res->bytes == r->cs && res->tries == 1 && !s->hedge) {
      uint64_t d = aisf_now_ns() - s->started;
      r->avg_ns = r->avg_ns ? (r->avg_ns * 7 + d) / 8 : d;
    }
    drop_copies(r, s->chunk, si);
    /* the chunk a seek wanted first is in (even if handed out in pieces
     * already): read ahead again */
    if (r->seek_ramp && s->chunk == chunk_at(r, r->pos)) {
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
    if (r->multi) /* which object, for a caller that goes on past it */
      snprintf(s->err.message, sizeof s->err.message, "%.200s: %.300s",
               r->objs[obj_of_chunk(r, s->chunk)].name, res->message);
    else
      aisf_strlcpy(s->err.message, res->message, sizeof s->err.message);
    aisf_strlcpy(s->err.server_message, res->server_message, sizeof s->err.server_message);
    /* one object of a sequence may change; the others are still good */
    if (s->err.kind == AISFETCH_E_CHANGED && !r->multi)
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




static int build_config(aisfetch_reader *r)
{
  const char *str[2] = {r->http.ca_file, r->http.user_agent};
  size_t len = sizeof(aisf_msg_config);
  unsigned n = 2;
  for (unsigned i = 0; i < 2; i++)
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
  memcpy(r->config, &c, sizeof c);
  size_t pos = sizeof c;
  for (unsigned i = 0; i < 2; i++) {
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
  if (o->list_page_size > 1000000)
    return aisf_fail(err, AISFETCH_E_ARG, "list_page_size %u is out of range (0..1000000)",
                     o->list_page_size);
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
static void put_prefix(aisfetch_reader *r, const aisf_prefix *pre, const aisfetch_object_info *info)
{
  if (!r->nobjs || !r->objs[0].size || r->objs[0].err)
    return;
  size_t n = pre->buf ? aisf_prefix_usable(pre, info) : 0;
  size_t c0 = (size_t)chunk_len(r, 0);
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

static char *dup_or_null(const char *s)
{
  return s && *s ? strdup(s) : NULL;
}

/* The reader's copy of the object's file (aisfetch_object_set_fd) goes:
 * a range under way has its own */
static void drop_file(obj_t *o)
{
  if (o->wfd1 > 0)
    close(o->wfd1 - 1);
  o->wfd1 = 0;
}

static void free_obj(obj_t *o)
{
  free(o->name);
  free(o->version);
  free(o->cksum_type);
  free(o->cksum_value);
  free(o->etag);
  free(o->target_url);
  free(o->err);
  drop_file(o);
}

/* Takes an object into the stream, after the known ones (under mu, or
 * before any thread runs).  err: its HEAD failed.  -1: out of memory. */
static int add_object(aisfetch_reader *r, const char *name, const aisfetch_uri *base,
                      const aisfetch_object_info *info, const char *target,
                      const aisfetch_entry *entry, const aisfetch_error *err)
{
  if (r->nobjs == r->objcap) {
    uint64_t cap = r->objcap ? 2 * r->objcap : 64;
    obj_t *n = realloc(r->objs, (size_t)cap * sizeof *n);
    if (!n)
      return -1;
    r->objs = n;
    r->objcap = cap;
  }
  obj_t *o = &r->objs[r->nobjs];
  memset(o, 0, sizeof *o);
  o->name = strdup(name);
  o->base = base;
  int bad = !o->name;
  if (err) {
    if (!(o->err = malloc(sizeof *o->err)))
      bad = 1;
    else
      *o->err = *err;
  } else if (info) {
    o->size = info->size;
    bad |= (info->version[0] && !(o->version = strdup(info->version))) ||
           (info->etag[0] && !(o->etag = strdup(info->etag))) ||
           (target && target[0] && !(o->target_url = strdup(target)));
    if (info->checksum_type[0] || info->checksum_value[0])
      bad |= !(o->cksum_type = strdup(info->checksum_type)) ||
             !(o->cksum_value = strdup(info->checksum_value));
    o->max_chunk_size = info->max_chunk_size;
    o->chunk_count = info->chunk_count;
  } else if (entry) {
    o->size = entry->size;
    o->version = dup_or_null(entry->version);
    o->cksum_value = dup_or_null(entry->checksum);
    bad |= (entry->version[0] && !o->version) || (entry->checksum[0] && !o->cksum_value);
  }
  if (bad) {
    free_obj(o);
    return -1;
  }
  /* what cannot be asked for or counted is an error of that object */
  char url[AISF_URL_MAX];
  aisfetch_uri u = *base;
  aisfetch_error e2;
  const char *why = NULL;
  if (!o->err && (strlen(name) >= sizeof u.object ||
                  (aisf_strlcpy(u.object, name, sizeof u.object),
                   aisf_object_url(r->endpoint, &u, url, sizeof url))))
    why = "its name is too long for a URL";
  else if (!o->err && (o->size > (uint64_t)INT64_MAX || r->size + o->size > (uint64_t)INT64_MAX))
    why = "its size puts the stream past 2^63 bytes";
  if (why) {
    aisf_seterr(&e2, AISFETCH_E_ARG, 0, "%.200s: %s", name, why);
    if (!(o->err = malloc(sizeof *o->err))) {
      free_obj(o);
      return -1;
    }
    *o->err = e2;
    o->size = 0;
  }
  o->start = r->size;
  o->c0 = r->nchunks;
  o->nchunks = (o->size + r->cs - 1) / r->cs;
  r->size += o->size;
  r->nchunks += o->nchunks;
  r->nobjs++;
  return 0;
}

/* under mu: whether the feeders have listed or HEADed far enough for now:
 * a lookahead past the read position, or past what a caller waits for */
static int fed_enough(const aisfetch_reader *r, uint64_t known)
{
  uint64_t ahead = r->uris ? 2u * r->nslots + 16 : 2u * r->nslots + 4096;
  uint64_t anchor = r->cur > r->want_obj ? r->cur : r->want_obj;
  return known > anchor + ahead && r->size > r->want_bytes;
}

static int feeder_cancelled(void *ud)
{
  aisfetch_reader *r = ud;
  /* the open's first page answers to the caller's callback too */
  return atomic_load(&r->stopping) ||
         (r->opening && r->user_cancelled && r->user_cancelled(r->user_cancelled_data));
}

static void feeder_failed(aisfetch_reader *r, const aisfetch_error *e)
{
  /* the rest of the sequence cannot be known: the objects known are read,
   * then the stream ends in this error */
  if (!r->has_feed_err && (e->kind != AISFETCH_E_CANCELLED || !atomic_load(&r->stopping))) {
    r->has_feed_err = 1;
    r->feed_err = *e;
  }
  r->objs_done = 1;
  pthread_cond_broadcast(&r->cv);
  wake(r);
}

/* prefix: lists the rest of the objects while the first are read */
static void *lister_thread(void *arg)
{
  aisfetch_reader *r = arg;
  aisfetch_entry *e = malloc(sizeof *e);
  aisfetch_error err;
  pthread_mutex_lock(&r->mu);
  if (!e) {
    aisf_seterr(&err, AISFETCH_E_SYSTEM, 0, "out of memory listing the objects");
    feeder_failed(r, &err);
  }
  while (e && !r->objs_done) {
    while (!atomic_load(&r->stopping) && fed_enough(r, r->nobjs))
      pthread_cond_wait(&r->cv, &r->mu);
    if (atomic_load(&r->stopping))
      break;
    pthread_mutex_unlock(&r->mu);
    aisfetch_errkind k = aisfetch_list_next(r->lister, e, &err);
    pthread_mutex_lock(&r->mu);
    if (k) {
      feeder_failed(r, &err);
      break;
    }
    if (!e->name[0]) {
      r->objs_done = 1;
    } else if (add_object(r, e->name, &r->uri, NULL, NULL, e, NULL)) {
      aisf_seterr(&err, AISFETCH_E_SYSTEM, 0, "out of memory listing the objects");
      feeder_failed(r, &err);
      break;
    }
    pthread_cond_broadcast(&r->cv);
    wake(r);
  }
  pthread_mutex_unlock(&r->mu);
  free(e);
  return NULL;
}

/* uris: HEADs the objects ahead of the read, a few at once; each is taken
 * into the stream in its turn */
static void *header_thread(void *arg)
{
  aisfetch_reader *r = arg;
  head_t *h = malloc(sizeof *h);
  pthread_mutex_lock(&r->mu);
  while (h && !atomic_load(&r->stopping) && r->next_head < r->nuris) {
    if (fed_enough(r, r->next_head)) {
      pthread_cond_wait(&r->cv, &r->mu);
      continue;
    }
    uint64_t idx = r->next_head++;
    pthread_mutex_unlock(&r->mu);
    char url[AISF_URL_MAX];
    uint64_t redirects = 0;
    memset(h, 0, sizeof *h);
    if (aisf_object_url(r->endpoint, &r->uris[idx], url, sizeof url))
      h->kind = aisf_fail(&h->err, AISFETCH_E_ARG, "object URL too long");
    else
      h->kind = aisf_head(&r->http, url, &h->info, h->target, sizeof h->target, &redirects,
                          &r->stopping, NULL, NULL, NULL, &h->err);
    pthread_mutex_lock(&r->mu);
    r->st.redirects += redirects;
    while (!atomic_load(&r->stopping) && r->nobjs != idx)
      pthread_cond_wait(&r->cv, &r->mu);
    if (atomic_load(&r->stopping))
      break;
    if (h->kind) {
      char m[sizeof h->err.message];
      snprintf(m, sizeof m, "%.200s: %.300s", r->uris[idx].object, h->err.message);
      aisf_strlcpy(h->err.message, m, sizeof h->err.message);
    }
    if (add_object(r, r->uris[idx].object, &r->uris[idx], h->kind ? NULL : &h->info, h->target,
                   NULL, h->kind ? &h->err : NULL)) {
      aisfetch_error e;
      aisf_seterr(&e, AISFETCH_E_SYSTEM, 0, "out of memory");
      feeder_failed(r, &e);
      break;
    }
    if (r->nobjs == r->nuris)
      r->objs_done = 1;
    pthread_cond_broadcast(&r->cv);
    wake(r);
  }
  if (!h) {
    aisfetch_error e;
    aisf_seterr(&e, AISFETCH_E_SYSTEM, 0, "out of memory");
    feeder_failed(r, &e);
  }
  pthread_mutex_unlock(&r->mu);
  free(h);
  return NULL;
}

/* the kind of stream options ask for: 0 one object, 1 uris, 2 prefix */
static int what_kind(const aisfetch_options *o, aisfetch_error *err)
{
  int n = (o->uri != NULL) + (o->uris != NULL) + (o->prefix != NULL);
  if (n != 1) {
    aisf_seterr(err, AISFETCH_E_ARG, 0,
                n ? "give one of uri, uris and prefix, not several"
                  : "nothing to read: give uri, uris or prefix");
    return -1;
  }
  return o->uris ? 1 : o->prefix ? 2 : 0;
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
  int kind = what_kind(o, err);
  if (kind < 0)
    return err->kind;

  aisfetch_reader *r = calloc(1, sizeof *r);
  if (!r)
    return aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
  aisf_prefix pre;
  memset(&pre, 0, sizeof pre);
  aisfetch_object_info *hinfo = NULL;
  for (unsigned i = 0; i < AISF_RING_FILES; i++)
    r->ring_fd[i] = -1;
  r->wake_fd = -1;
  r->zyg_fd = -1;
  r->t_open = aisf_now_ns();
  r->multi = kind != 0;
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->hmu, NULL);
  pthread_mutex_init(&r->cmu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &ca);
  pthread_condattr_destroy(&ca);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  if (kind == 0 && (k = aisfetch_uri_parse(o->uri, &r->uri, err)))
    goto fail;
  if (kind == 2 && (k = aisfetch_prefix_parse(o->prefix, &r->uri, err)))
    goto fail;
  if (kind == 1) {
    uint64_t n = 0;
    while (o->uris[n])
      n++;
    if (!n) {
      k = aisf_fail(err, AISFETCH_E_ARG, "the list of objects is empty");
      goto fail;
    }
    if (!(r->uris = calloc((size_t)n, sizeof *r->uris))) {
      k = aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
      goto fail;
    }
    r->nuris = n;
    for (uint64_t i = 0; i < n; i++)
      if ((k = aisfetch_uri_parse(o->uris[i], &r->uris[i], err))) {
        char m[sizeof err->message];
        snprintf(m, sizeof m, "object %llu of the list: %.450s", (unsigned long long)i, err->message);
        aisf_strlcpy(err->message, m, sizeof err->message);
        goto fail;
      }
  }
  if ((k = aisf_setup_http(&r->http, r->endpoint, sizeof r->endpoint, o, err)))
    goto fail;
  if (kind == 0 && aisf_object_url(r->endpoint, &r->uri, r->proxy_url, sizeof r->proxy_url)) {
    k = aisf_fail(err, AISFETCH_E_ARG, "object URL too long");
    goto fail;
  }
  const char *wp = o->worker_path ? o->worker_path : getenv("AISFETCH_WORKER");
  if (wp && *wp)
    aisf_strlcpy(r->worker_path, wp, sizeof r->worker_path);
  else
    snprintf(r->worker_path, sizeof r->worker_path, "%s/%s", AISFETCH_LIBEXECDIR, WORKER_NAME);
  r->mode = o->worker_mode;
  r->verify = o->verify_checksum != 0;

  /* The helper starts (and loads its libraries: about 6 ms here) while the
   * HEAD or the listing crosses the round trip; its ring is sized after. */
  aisfetch_error zyg_err;
  int zyg_failed = 0;
  if (r->mode == AISFETCH_WORKER_PROCESS && start_zygote(r, &zyg_err))
    zyg_failed = 1;
  if (o->first_bytes >= 0 && kind != 2) {
    size_t cap = o->first_bytes ? (size_t)o->first_bytes : FIRST_BYTES;
    if (o->chunk_size && cap > o->chunk_size)
      cap = o->chunk_size;
    if ((pre.buf = malloc(cap)))
      pre.cap = cap;
  }
  if (r->multi)
    r->cs = o->chunk_size ? o->chunk_size : AISFETCH_DEFAULT_CHUNK_SIZE;
  if (kind != 2) {
    /* one object, or the first of a list: HEAD with its first bytes */
    char url[AISF_URL_MAX];
    const aisfetch_uri *u = kind ? &r->uris[0] : &r->uri;
    if (!(hinfo = calloc(1, sizeof *hinfo))) {
      k = aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
      goto fail;
    }
    if (kind && aisf_object_url(r->endpoint, u, url, sizeof url)) {
      k = aisf_fail(err, AISFETCH_E_ARG, "object URL too long");
      goto fail;
    }
    aisfetch_error herr;
    k = aisf_head(&r->http, kind ? url : r->proxy_url, hinfo, r->target_url,
                  sizeof r->target_url, &r->st.redirects, &r->cancelled, o->open_cancelled,
                  o->open_cancelled_data, pre.buf ? &pre : NULL, &herr);
    if (k && (kind == 0 || k == AISFETCH_E_CANCELLED)) {
      *err = herr;
      goto fail;
    }
    if (kind == 0) {
      r->info = *hinfo;
      if (o->chunk_size)
        r->cs = o->chunk_size;
      else if (hinfo->max_chunk_size)
        r->cs = hinfo->max_chunk_size < AISFETCH_MIN_CHUNK_SIZE ? AISFETCH_MIN_CHUNK_SIZE
                : hinfo->max_chunk_size > AISFETCH_MAX_CHUNK_SIZE
                    ? AISFETCH_MAX_CHUNK_SIZE
                    : (size_t)hinfo->max_chunk_size;
      else
        r->cs = AISFETCH_DEFAULT_CHUNK_SIZE;
    } else if (k) {
      /* a list goes on past an object that failed; the reader says so when
       * it gets there */
      char m[sizeof herr.message];
      snprintf(m, sizeof m, "%.200s: %.300s", u->object, herr.message);
      aisf_strlcpy(herr.message, m, sizeof herr.message);
    }
    if (add_object(r, u->object, u, k ? NULL : hinfo, r->target_url, NULL, k ? &herr : NULL)) {
      k = aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
      goto fail;
    }
    k = AISFETCH_OK;
    r->next_head = 1;
    r->objs_done = r->nobjs == (kind ? r->nuris : 1);
  } else {
    /* a prefix: its first page is listed now, so that an empty prefix is
     * an error of the open, not an empty stream */
    aisfetch_options lo = *o;
    aisfetch_entry *e = malloc(sizeof *e);
    if (!e) {
      k = aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
      goto fail;
    }
    lo.open_cancelled = feeder_cancelled;
    lo.open_cancelled_data = r;
    r->user_cancelled = o->open_cancelled;
    r->user_cancelled_data = o->open_cancelled_data;
    r->opening = 1;
    k = aisfetch_list_open(&lo, o->prefix, &r->lister, err);
    if (!k)
      k = aisfetch_list_next(r->lister, e, err);
    if (!k && !e->name[0])
      k = aisf_fail(err, AISFETCH_E_NOT_FOUND, "no object in bucket %s://%s has a name starting with '%s'",
                    r->uri.provider, r->uri.bucket, r->uri.object);
    if (!k && add_object(r, e->name, &r->uri, NULL, NULL, e, NULL))
      k = aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
    r->opening = 0; /* before the lister thread runs: it reads this */
    free(e);
    if (k)
      goto fail;
  }

  unsigned want = o->num_workers ? o->num_workers : 8;
  if (!r->multi) {
    r->nworkers = r->nchunks < want ? (unsigned)r->nchunks : want;
    if (r->nchunks == 1)
      r->mode = AISFETCH_WORKER_THREAD; /* one plain GET: a process would cost more than it */
  } else {
    r->nworkers = r->objs_done && r->nchunks < want ? (unsigned)r->nchunks : want;
    if (!r->nworkers)
      r->nworkers = 1;
  }
  r->nslots = o->slots ? o->slots : 2 * r->nworkers;
  if ((!r->multi || r->objs_done) && r->nslots > r->nchunks)
    r->nslots = r->nchunks ? (unsigned)r->nchunks : 1;
  /* each slot is mapped on its own at s x stride, from file offset
   * (s / nfiles) x stride: both must be whole pages (16 or 64 KiB on some
   * arm64 and ppc64 kernels, not only 4 KiB) */
  long pg = sysconf(_SC_PAGESIZE);
  size_t page = pg > 4096 ? (size_t)pg : 4096;
  r->stride = (r->cs + page - 1) / page * page;
  r->ring_size = r->stride * r->nslots;
  r->pos = 0;
  r->idle = o->start_idle != 0;
  r->stop = r->idle ? 0 : r->multi ? UINT64_MAX : r->size;
  r->ra = r->nslots;
  r->info.chunk_size = r->cs;
  r->info.num_workers = r->nworkers;
  r->info.slots = r->nslots;
  r->st.num_workers = r->nworkers;
  aisf_strlcpy(r->info.provider, r->uri.provider, sizeof r->info.provider);
  aisf_strlcpy(r->info.bucket, r->uri.bucket, sizeof r->info.bucket);
  aisf_strlcpy(r->info.object, r->uri.object, sizeof r->info.object);

  if (r->verify && !r->multi) {
    int known;
    r->hash = aisf_hash_new(r->info.checksum_type, &known);
    r->hash_state = r->hash ? 1 : 0;
  }
  if (r->mode == AISFETCH_WORKER_THREAD || (!r->multi && r->size == 0))
    stop_zygote(r, 0); /* not needed after all: it has no worker yet */
  if (!r->multi && r->size == 0) {
    r->nslots = r->info.slots = 0; /* an empty object has no ring */
    free(pre.buf);
    free(hinfo);
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
  if (hinfo)
    put_prefix(r, &pre, hinfo);
  free(pre.buf);
  pre.buf = NULL;
  free(hinfo);
  hinfo = NULL;
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
  /* the rest of the sequence is listed or HEADed while it is read */
  unsigned nf = kind == 2 ? 1 : kind == 1 ? (r->nuris - 1 < 8 ? (unsigned)r->nuris - 1 : 8) : 0;
  if (r->objs_done) /* before any feeder runs: no lock needed yet */
    nf = 0;
  for (unsigned i = 0; i < nf; i++) {
    e = pthread_create(&r->feeders[i], NULL, kind == 2 ? lister_thread : header_thread, r);
    if (e) {
      if (i)
        break; /* fewer HEADs at once */
      k = aisf_fail(err, AISFETCH_E_SYSTEM, "pthread_create: %s", strerror(e));
      goto fail;
    }
    r->nfeeders++;
  }
  *out = r;
  return AISFETCH_OK;
fail:
  free(pre.buf);
  free(hinfo);
  aisfetch_close(r);
  return k;
}

void aisfetch_close(aisfetch_reader *r)
{
  if (!r)
    return;
  atomic_store(&r->stopping, 1);
  pthread_mutex_lock(&r->mu);
  r->closing = 1;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  for (unsigned i = 0; i < r->nfeeders; i++)
    pthread_join(r->feeders[i], NULL);
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
  aisfetch_list_close(r->lister);
  for (uint64_t i = 0; i < r->nobjs; i++)
    free_obj(&r->objs[i]);
  free(r->objs);
  free(r->uris);
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
  aisfetch_reader *m = (aisfetch_reader *)r;
  pthread_mutex_lock(&m->mu);
  uint64_t n = m->size;
  pthread_mutex_unlock(&m->mu);
  return n;
}

/* under mu: object i's info */
static void obj_info(const aisfetch_reader *r, uint64_t i, aisfetch_object_info *info)
{
  *info = r->info;
  if (i >= r->nobjs)
    return;
  const obj_t *o = &r->objs[i];
  if (r->multi) {
    info->size = o->size;
    aisf_strlcpy(info->version, o->version ? o->version : "", sizeof info->version);
    aisf_strlcpy(info->checksum_type, o->cksum_type ? o->cksum_type : "",
                 sizeof info->checksum_type);
    aisf_strlcpy(info->checksum_value, o->cksum_value ? o->cksum_value : "",
                 sizeof info->checksum_value);
    aisf_strlcpy(info->etag, o->etag ? o->etag : "", sizeof info->etag);
    info->max_chunk_size = o->max_chunk_size;
    info->chunk_count = o->chunk_count;
    aisf_strlcpy(info->provider, o->base->provider, sizeof info->provider);
    aisf_strlcpy(info->bucket, o->base->bucket, sizeof info->bucket);
    aisf_strlcpy(info->object, o->name, sizeof info->object);
  }
  aisf_strlcpy(info->target_url, o->target_url ? o->target_url : "", sizeof info->target_url);
}

void aisfetch_object_info_get(aisfetch_reader *r, aisfetch_object_info *info)
{
  pthread_mutex_lock(&r->mu);
  obj_info(r, r->cur, info);
  pthread_mutex_unlock(&r->mu);
}

uint64_t aisfetch_objects_known(aisfetch_reader *r, int *complete)
{
  pthread_mutex_lock(&r->mu);
  uint64_t n = r->nobjs;
  if (complete)
    *complete = r->has_feed_err ? -1 : r->objs_done;
  pthread_mutex_unlock(&r->mu);
  return n;
}

/* under mu: waits until object idx is known or the sequence is; 0 when it is */
static aisfetch_errkind wait_object(aisfetch_reader *r, uint64_t idx, aisfetch_error *err)
{
  if (idx >= r->nobjs && !r->objs_done && idx > r->want_obj) {
    r->want_obj = idx;
    pthread_cond_broadcast(&r->cv); /* a feeder parked at its lookahead goes on */
  }
  while (idx >= r->nobjs && !r->objs_done) {
    if (atomic_load(&r->cancelled))
      return aisf_fail(err, AISFETCH_E_CANCELLED, "cancelled");
    if (r->closing)
      return aisf_fail(err, AISFETCH_E_CANCELLED, "the reader is closing");
    pthread_cond_wait(&r->cv, &r->mu);
  }
  if (idx < r->nobjs)
    return AISFETCH_OK;
  if (r->has_feed_err) { /* the listing failed: object idx may exist */
    if (err)
      *err = r->feed_err;
    return r->feed_err.kind;
  }
  return aisf_fail(err, AISFETCH_E_ARG, "no object %llu: the sequence has %llu",
                   (unsigned long long)idx, (unsigned long long)r->nobjs);
}

aisfetch_errkind aisfetch_object_at(aisfetch_reader *r, uint64_t idx, aisfetch_object_info *info,
                                    uint64_t *stream_offset, aisfetch_error *err)
{
  pthread_mutex_lock(&r->mu);
  aisfetch_errkind k = wait_object(r, idx, err);
  if (!k) {
    if (info)
      obj_info(r, idx, info);
    if (stream_offset)
      *stream_offset = r->objs[idx].start;
    if (r->objs[idx].err) {
      if (err)
        *err = *r->objs[idx].err;
      k = r->objs[idx].err->kind;
    }
  }
  pthread_mutex_unlock(&r->mu);
  return k;
}

/* under mu: past the objects that ended before pos, stopping at one whose
 * HEAD failed (1 then) */
static int settle_cur(aisfetch_reader *r)
{
  uint64_t was = r->cur;
  int failed = 0;
  while (r->cur < r->nobjs) {
    obj_t *o = &r->objs[r->cur];
    if (o->err && !o->skipped) {
      failed = 1;
      break;
    }
    if (r->pos < o->start + o->size)
      break;
    if (r->cur + 1 >= r->nobjs && !r->objs_done)
      break;
    drop_file(o); /* passed: an empty object has no last chunk to let its file go */
    r->cur++;
  }
  if (r->cur != was)
    pthread_cond_broadcast(&r->cv); /* the feeders look ahead of cur */
  return failed;
}

uint64_t aisfetch_object_index(aisfetch_reader *r)
{
  pthread_mutex_lock(&r->mu);
  settle_cur(r);
  uint64_t i = r->cur;
  pthread_mutex_unlock(&r->mu);
  return i;
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

static void release_locked(aisfetch_reader *r, aisfetch_chunk *c);

/* The checksum type of a value whose type is not known (a listing's): its
 * length tells, as AIStore's types all differ in it (xxhash and xxhash2 are
 * both XXH64). */
static const char *type_of_value(const char *v)
{
  switch (strlen(v)) {
  case 8: return "crc32c";
  case 16: return "xxhash";
  case 32: return "md5";
  case 64: return "sha256";
  case 128: return "sha512";
  default: return "";
  }
}

/* A sequence with verify_checksum: each object read in order from its
 * first byte is hashed; when its last chunk's hash does not match, that
 * chunk is taken back (the caller never gets it), the position stays in
 * the object, and the object's error is AISFETCH_E_CHECKSUM: next() returns
 * it until aisfetch_skip_object(). */
static aisfetch_errkind hash_object_chunk(aisfetch_reader *r, aisfetch_chunk *c,
                                          aisfetch_error *err)
{
  pthread_mutex_lock(&r->hmu);
  if (c->object_offset == 0) {
    aisf_hash_free(r->hash);
    r->hash = NULL;
    r->hash_state = 0;
    pthread_mutex_lock(&r->mu);
    const obj_t *o = &r->objs[c->object];
    const char *type = o->cksum_type ? o->cksum_type : o->cksum_value ? type_of_value(o->cksum_value) : "";
    aisf_strlcpy(r->hash_type, type, sizeof r->hash_type);
    aisf_strlcpy(r->hash_want, o->cksum_value ? o->cksum_value : "", sizeof r->hash_want);
    pthread_mutex_unlock(&r->mu);
    int known;
    if (r->hash_want[0] && (r->hash = aisf_hash_new(r->hash_type, &known))) {
      r->hash_state = 1;
      r->hash_obj = c->object;
      r->hash_pos = 0;
    }
  }
  aisfetch_errkind k = AISFETCH_OK;
  if (r->hash_state == 1 && c->object == r->hash_obj && c->object_offset == r->hash_pos) {
    aisf_hash_update(r->hash, c->data, c->len);
    r->hash_pos += c->len;
    pthread_mutex_lock(&r->mu);
    obj_t *o = &r->objs[c->object];
    if (r->hash_pos == o->size) {
      char got[160];
      aisf_hash_final(r->hash, got, sizeof got);
      r->hash = NULL;
      r->hash_state = 0;
      if (strcasecmp(got, r->hash_want) != 0) {
        aisfetch_error e;
        aisf_seterr(&e, AISFETCH_E_CHECKSUM, 0,
                    "%.200s: checksum mismatch: %s of the bytes read is %s, the object's is %.130s",
                    o->name, r->hash_type, got, r->hash_want);
        if (!o->err && (o->err = malloc(sizeof *o->err)))
          *o->err = e;
        r->pos = c->offset;
        r->cur = c->object; /* another thread's object_index() may have moved it on */
        release_locked(r, c);
        if (err)
          *err = e;
        k = AISFETCH_E_CHECKSUM;
      }
    }
    pthread_mutex_unlock(&r->mu);
  } else if (r->hash_state == 1) {
    r->hash_state = 0; /* not read in order: nothing to verify */
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
    if (r->pos < stop && settle_cur(r)) {
      if (err)
        *err = *r->objs[r->cur].err;
      return r->objs[r->cur].err->kind;
    }
    if (r->pos < stop && r->pos >= r->size && r->objs_done && r->has_feed_err) {
      if (err)
        *err = r->feed_err;
      return r->feed_err.kind;
    }
    if (r->pos >= stop || (r->pos >= r->size && r->objs_done)) {
      chunk->offset = r->pos;
      chunk->object = r->cur < r->nobjs || !r->nobjs ? r->cur : r->nobjs;
      return AISFETCH_OK;
    }
    if (r->pos >= r->size) { /* the next objects are still being listed */
      pthread_cond_wait(&r->cv, &r->mu);
      continue;
    }
    uint64_t c = chunk_at(r, r->pos);
    int s = find_slot(r, c);
    uint64_t cstart = chunk_start(r, c);
    /* a range still arriving: the bytes its worker reported written */
    int partial = s >= 0 &&
                  (r->slots[s].state == SLOT_FETCHING || r->slots[s].state == SLOT_PARTIAL) &&
                  cstart + r->slots[s].avail > r->pos;
    if (s >= 0 && (r->slots[s].state == SLOT_READY || partial)) {
      slot_t *sl = &r->slots[s];
      uint64_t cend = cstart + chunk_len(r, c);
      if (partial)
        cend = cstart + sl->avail;
      if (cend > stop)
        cend = stop;
      sl->holds++;
      chunk->data = sl->direct ? NULL : r->ring + (size_t)s * r->stride + (r->pos - cstart);
      chunk->len = (size_t)(cend - r->pos);
      chunk->offset = r->pos;
      chunk->object = obj_of_chunk(r, c);
      chunk->object_offset = r->pos - r->objs[chunk->object].start;
      obj_t *co = &r->objs[chunk->object];
      if (chunk->object_offset + chunk->len == co->size)
        drop_file(co); /* all of it is in the file */
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
    reposition(r, r->pos, r->multi ? UINT64_MAX : r->size, r->nslots);
  aisfetch_errkind k = next_locked(r, chunk, r->stop, err);
  pthread_mutex_unlock(&r->mu);
  if (k)
    return k;
  if (chunk->len && r->multi && r->verify)
    return hash_object_chunk(r, chunk, err);
  if (chunk->len)
    hash_chunk(r, chunk);
  else if (!r->multi && chunk->offset >= r->size)
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
  if (c->len && c->slot_ < r->nslots) {
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

aisfetch_errkind aisfetch_object_set_fd(aisfetch_reader *r, uint64_t index, int fd,
                                       aisfetch_error *err)
{
  if (!r)
    return aisf_fail(err, AISFETCH_E_ARG, "no reader");
  int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
  if (fl < 0)
    return aisf_fail(err, AISFETCH_E_ARG, "object_set_fd: %d is not an open file", fd);
  if ((fl & O_ACCMODE) == O_RDONLY || (fl & O_APPEND))
    return aisf_fail(err, AISFETCH_E_ARG, "object_set_fd: the file must be open for writing %s",
                     (fl & O_APPEND) ? "without O_APPEND" : "(O_WRONLY or O_RDWR)");
  if (r->verify)
    return aisf_fail(err, AISFETCH_E_ARG,
                     "object_set_fd: with verify_checksum the bytes must pass through the ring");
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0)
    return aisf_fail(err, AISFETCH_E_SYSTEM, "object_set_fd: %s", strerror(errno));
  pthread_mutex_lock(&r->mu);
  aisfetch_errkind k = AISFETCH_OK;
  if (index >= r->nobjs) {
    k = aisf_fail(err, AISFETCH_E_ARG, "object_set_fd: object %llu is not known yet (%llu are)",
                  (unsigned long long)index, (unsigned long long)r->nobjs);
  } else if (index < r->cur || r->objs[index].skipped) {
    k = aisf_fail(err, AISFETCH_E_ARG, "object_set_fd: the read is past object %llu",
                  (unsigned long long)index);
  } else if (r->objs[index].wfd1 > 0) {
    /* ranges already sent write into the first file: a second would miss them */
    k = aisf_fail(err, AISFETCH_E_ARG, "object_set_fd: object %llu has a file already",
                  (unsigned long long)index);
  } else {
    obj_t *o = &r->objs[index];
    o->wfd1 = dup + 1;
    r->files_set = 1;
    dup = -1;
  }
  pthread_mutex_unlock(&r->mu);
  if (dup >= 0)
    close(dup);
  return k;
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
/* under mu: the object the bytes at off come from: an object whose HEAD
 * failed and that starts there comes first (the read reports it) */
static uint64_t obj_at(const aisfetch_reader *r, uint64_t off)
{
  uint64_t lo = objs_before(r, 0, off, 1); /* the first that starts at or after off */
  if (lo > 0 && (lo == r->nobjs || r->objs[lo].start > off))
    lo--; /* off is inside object lo - 1 */
  return lo;
}

static void reposition(aisfetch_reader *r, uint64_t off, uint64_t stop, unsigned ra)
{
  if (r->size && off != r->pos && off < r->size && find_slot(r, chunk_at(r, off)) < 0)
    r->st.restarts++;
  if (r->multi && off != r->pos) {
    r->cur = obj_at(r, off);
    pthread_cond_broadcast(&r->cv); /* the feeders look ahead of cur */
  }
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
/* under mu: waits until the stream's first `bytes` are known, or all of it;
 * 0, or why not */
static aisfetch_errkind wait_bytes(aisfetch_reader *r, uint64_t bytes, aisfetch_error *err)
{
  if (!r->objs_done && r->size < bytes && bytes > r->want_bytes) {
    r->want_bytes = bytes;
    pthread_cond_broadcast(&r->cv);
  }
  while (!r->objs_done && r->size < bytes) {
    if (atomic_load(&r->cancelled))
      return aisf_fail(err, AISFETCH_E_CANCELLED, "cancelled");
    if (r->closing)
      return aisf_fail(err, AISFETCH_E_CANCELLED, "the reader is closing");
    pthread_cond_wait(&r->cv, &r->mu);
  }
  if (r->size < bytes && r->has_feed_err) { /* the listing failed before there */
    if (err)
      *err = r->feed_err;
    return r->feed_err.kind;
  }
  return AISFETCH_OK;
}

static aisfetch_errkind seek_call(aisfetch_reader *r, uint64_t off, uint64_t stop,
                                  aisfetch_error *err)
{
  pthread_mutex_lock(&r->mu);
  aisfetch_errkind k = r->files_set ? aisf_fail(err, AISFETCH_E_ARG, FILES_FORWARD, "seek")
                                    : wait_bytes(r, off, err);
  if (!k && stop > r->size && r->objs_done)
    stop = r->size;
  if (!k && off > r->size)
    k = aisf_fail(err, AISFETCH_E_ARG, "seek to %llu is past the end of the %s (%llu bytes)",
                  (unsigned long long)off, r->multi ? "stream" : "object",
                  (unsigned long long)r->size);
  if (!k && stop < off)
    k = aisf_fail(err, AISFETCH_E_ARG, "stop %llu is before the start %llu",
                  (unsigned long long)stop, (unsigned long long)off);
  if (k) {
    pthread_mutex_unlock(&r->mu);
    return k;
  }
  /* A seek to bytes the ring does not hold fetches their chunk alone first:
   * in parallel with the readahead it would get a share of the bandwidth. */
  int alone = off != r->pos && off < r->size && find_slot(r, chunk_at(r, off)) < 0;
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
  if (len == 0)
    return AISFETCH_OK;
  pthread_mutex_lock(&r->cmu);
  pthread_mutex_lock(&r->mu);
  if (r->files_set) {
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_unlock(&r->cmu);
    return aisf_fail(err, AISFETCH_E_ARG, FILES_FORWARD, "read_range");
  }
  k = wait_bytes(r, off + len < off ? UINT64_MAX : off + len, err);
  if (k || off >= r->size) {
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_unlock(&r->cmu);
    return k;
  }
  if (len > r->size - off)
    len = (size_t)(r->size - off);
  uint64_t span64 = chunk_at(r, off + len - 1) - chunk_at(r, off) + 1;
  unsigned span = span64 > r->nslots ? r->nslots : (unsigned)span64;
  unsigned ra;
  if (off == r->rr_end && r->pos == off)
    ra = r->ra * 2; /* sequential: grow the readahead */
  else
    ra = span + 1;
  if (ra < span)
    ra = span;
  if (ra > r->nslots)
    ra = r->nslots;
  reposition(r, off, r->multi ? UINT64_MAX : r->size, ra);
  r->seek_ramp = 0;
  while (done < len) {
    aisfetch_chunk c;
    k = next_locked(r, &c, off + len, err);
    if (k || c.len == 0)
      break;
    const uint8_t *src = c.data;
    size_t n = c.len;
    if (!src) { /* another thread gave a file meanwhile */
      release_locked(r, &c);
      k = aisf_fail(err, AISFETCH_E_ARG, FILES_FORWARD, "read_range");
      break;
    }
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
  pthread_mutex_lock(&r->mu);
  aisfetch_errkind k0 = r->files_set ? aisf_fail(err, AISFETCH_E_ARG, FILES_FORWARD, "read_all")
                                     : wait_bytes(r, UINT64_MAX, err);
  uint64_t size = r->size;
  pthread_mutex_unlock(&r->mu);
  if (k0)
    return k0;
  if (dst_len < size)
    return aisf_fail(err, AISFETCH_E_ARG, "buffer of %zu bytes is smaller than the %s (%llu)",
                     dst_len, r->multi ? "stream" : "object", (unsigned long long)size);
  pthread_mutex_lock(&r->cmu);
  aisfetch_errkind k = seek_call(r, 0, UINT64_MAX, err);
  /* an object bigger than the caches: its start is out of them by its end */
  int stream = size >= AISF_STREAM_COPY_MIN;
  while (!k) {
    aisfetch_chunk c;
    k = next_call(r, &c, err);
    if (k || c.len == 0)
      break;
    if (!c.data) { /* another thread gave a file meanwhile */
      aisfetch_release(r, &c);
      k = aisf_fail(err, AISFETCH_E_ARG, FILES_FORWARD, "read_all");
      break;
    }
    if (stream)
      aisf_copy_stream((uint8_t *)dst + c.offset, c.data, c.len);
    else
      memcpy((uint8_t *)dst + c.offset, c.data, c.len);
    aisfetch_release(r, &c);
  }
  pthread_mutex_unlock(&r->cmu);
  return k;
}

aisfetch_errkind aisfetch_skip_object(aisfetch_reader *r, aisfetch_error *err)
{
  pthread_mutex_lock(&r->cmu);
  pthread_mutex_lock(&r->mu);
  if (r->has_fatal) {
    /* the reader's error, not an object's: no object to skip past it */
    if (err)
      *err = r->fatal;
    aisfetch_errkind k = r->fatal.kind;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_unlock(&r->cmu);
    return k;
  }
  settle_cur(r);
  uint64_t cur = r->cur;
  aisfetch_errkind k = cur < r->nobjs ? wait_object(r, cur + 1, err) : AISFETCH_OK;
  if (k == AISFETCH_E_ARG)
    k = AISFETCH_OK; /* it was the last: the end */
  if (!k && cur >= r->nobjs && r->has_feed_err) {
    if (err)
      *err = r->feed_err;
    k = r->feed_err.kind;
  }
  if (!k && cur < r->nobjs) {
    r->objs[cur].skipped = 1;
    drop_file(&r->objs[cur]);
    uint64_t off = cur + 1 < r->nobjs ? r->objs[cur + 1].start : r->size;
    reposition(r, off, r->multi ? UINT64_MAX : r->size, r->nslots);
    r->seek_ramp = 0;
    r->cur = cur + 1;
  }
  pthread_mutex_unlock(&r->mu);
  pthread_mutex_lock(&r->hmu);
  if (r->hash_state == 1)
    r->hash_state = 0;
  pthread_mutex_unlock(&r->hmu);
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
