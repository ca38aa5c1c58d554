/* The worker loop: ranges into ring slots, validated.
 *
 * The same code runs in a helper process and on a thread.  A worker runs at
 * most two ranges at once, each on its own curl easy handle in one multi
 * handle.  When the current range is about to end (its remaining bytes will
 * take about one first-byte latency), the worker says NEAR and the parent may
 * send the next range at once: that request crosses the round trip while the
 * current one finishes, so no connection waits a round trip between ranges.
 * Connections stay open across ranges in the multi's pool (two per worker).
 * The control socket is polled together with the transfers: an ABORT or the
 * parent's end (EOF) stops a range at once.
 *
 * Bytes go into the ring with pwrite() on its memfds, not through a mapping:
 * the kernel copies through its own linear map, so a worker has no page
 * tables for the ring at all.  A mapping's first write to each page, in each
 * worker, was most of the CPU of a many-worker read (and on a shadow-paged
 * virtual machine every 4 KiB page of a large ring costs about as much again
 * on each pass).  One memfd per slot (up to AISF_RING_FILES) keeps writers off
 * each other's inode lock.
 *
 * Thread safety: a worker touches only its own state, the slots of the ring
 * assigned to its ranges (written by nobody else meanwhile) and its socket.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_JOBS 2

typedef struct worker worker;

enum { J_FREE, J_PENDING, J_RUNNING, J_BACKOFF };

typedef struct {
  worker *w;
  int state;
  CURL *easy;
  aisf_msg_job job;
  char url[AISF_URL_MAX];    /* where the current try goes */
  int via_proxy, fell_back;
  unsigned tries;
  uint64_t t0;               /* the job's start */
  uint64_t wake_at;          /* J_BACKOFF: when to try again */
  int abort_req;             /* an ABORT (or the parent's end) came for this job */
  int near_sent;
  int fd;                    /* the memfd that holds the job's slot, or wfd */
  uint64_t foff;             /* the job's first byte in it */
  int wfd;                   /* the object's file that came with a FILE job; -1: none */
  int wfd_lost;              /* it did not come: the process had no descriptor left */
  uint64_t hw;               /* bytes written by any try: never written again */
  char *stage;               /* the bytes after hw, gathered for one pwrite() */
  size_t staged;
  uint64_t next_report;      /* PROGRESS when hw reaches it */
  aisf_msg_result res;
  /* the current try */
  uint64_t got;
  aisf_resp resp;
  int checked;
  aisfetch_errkind fail;     /* set by the callbacks to stop the transfer */
  int fail_retry;
  char fail_msg[512];
  uint64_t t_try, t_head, t_body, last_io_ns;
  uint64_t checked_ctrl_at;  /* got, when the control socket was last looked at */
  char range[64];
  char curlerr[CURL_ERROR_SIZE];
  char body[2048];           /* error body of a non-2xx answer */
  size_t body_len;
} job;

struct worker {
  int ctrl;
  int files[AISF_RING_FILES];  /* the ring's memfds */
  int own_files;             /* received with the CONFIG (a process): closed at the end */
  unsigned nfiles, nslots;
  uint64_t stride;
  aisf_http_cfg http;
  CURLM *multi;
  job jobs[MAX_JOBS];
  char *buf;                 /* one control message */
  uint64_t seed;
  int parent_gone;
  unsigned nactive;          /* jobs not J_FREE, for the busy time */
  uint64_t looked_at;        /* when run() last read its transfers */
  double ttfb_min;           /* least first-byte time seen, ns; -1: none yet */
  uint64_t busy_since, busy_acc;
};
static void xfail(job *x, aisfetch_errkind kind, int retry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void xfail(job *x, aisfetch_errkind kind, int retry, const char *fmt, ...)
{
  if (x->fail)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->fail_msg, sizeof x->fail_msg, fmt, ap);
  va_end(ap);
  x->fail = kind;
  x->fail_retry = retry;
}

/* Checks a 2xx answer's headers against the range asked and the HEAD. */
static void check_headers(job *x)
{
  const aisf_objdesc *o = &x->job.obj;
  aisf_resp *r = &x->resp;
  uint64_t end = x->job.start + x->job.len - 1;
  x->checked = 1;
  if (r->status == 200) {
    xfail(x, AISFETCH_E_PROTOCOL, 1,
          "server answered 200 (whole object) to the range request bytes=%llu-%llu",
          (unsigned long long)x->job.start, (unsigned long long)end);
    return;
  }
  if (r->status != 206) {
    xfail(x, AISFETCH_E_PROTOCOL, 1, "unexpected HTTP %ld to a range request", r->status);
    return;
  }
  if (r->malformed) {
    xfail(x, AISFETCH_E_PROTOCOL, 1, "malformed %s header in the answer to bytes=%llu-%llu",
          r->malformed_what, (unsigned long long)x->job.start, (unsigned long long)end);
    return;
  }
  if (!r->have_content_range) {
    xfail(x, AISFETCH_E_PROTOCOL, 1, "206 without Content-Range for bytes=%llu-%llu",
          (unsigned long long)x->job.start, (unsigned long long)end);
    return;
  }
  if (r->cr_size != o->size) {
    xfail(x, AISFETCH_E_CHANGED, 0, "object size changed from %llu to %llu during the read",
          (unsigned long long)o->size, (unsigned long long)r->cr_size);
    return;
  }
  if (r->cr_start != x->job.start || r->cr_end != end) {
    xfail(x, AISFETCH_E_PROTOCOL, 1,
          "Content-Range bytes %llu-%llu does not match the requested bytes %llu-%llu",
          (unsigned long long)r->cr_start, (unsigned long long)r->cr_end,
          (unsigned long long)x->job.start, (unsigned long long)end);
    return;
  }
  if (r->have_content_length && r->content_length != x->job.len) {
    xfail(x, AISFETCH_E_PROTOCOL, 1, "Content-Length %llu for a range of %llu bytes",
          (unsigned long long)r->content_length, (unsigned long long)x->job.len);
    return;
  }
  switch (aisf_resp_other_object(r, (o->have & AISF_HAVE_VERSION) ? o->version : "",
                                 (o->have & AISF_HAVE_CKSUM) != 0, o->cksum_type, o->cksum_value,
                                 (o->have & AISF_HAVE_ETAG) ? o->etag : "")) {
  case 'v':
    xfail(x, AISFETCH_E_CHANGED, 0, "object changed during the read: version '%s' became '%s'",
          o->version, r->have_version ? r->version : "(none)");
    break;
  case 'c':
    xfail(x, AISFETCH_E_CHANGED, 0, "object changed during the read: checksum %s:%s became %s:%s",
          o->cksum_type[0] ? o->cksum_type : "(listed)", o->cksum_value,
          r->cksum_type[0] ? r->cksum_type : "(none)", r->cksum_value);
    break;
  case 'e':
    xfail(x, AISFETCH_E_CHANGED, 0, "object changed during the read: ETag %s became %s", o->etag,
          r->etag);
    break;
  }
}


static void send_msg(worker *w, const void *m, size_t n)
{
  while (send(w->ctrl, m, n, MSG_NOSIGNAL) < 0 && errno == EINTR)
    ;
}

/* busy time of the worker as a whole (two ranges at once count once) */
static void busy_add(worker *w, int d)
{
  uint64_t now = aisf_now_ns();
  if (w->nactive)
    w->busy_acc += now - w->busy_since;
  w->busy_since = now;
  w->nactive = (unsigned)((int)w->nactive + d);
}

static job *find_job(worker *w, uint64_t id)
{
  for (unsigned i = 0; i < MAX_JOBS; i++)
    if (w->jobs[i].state != J_FREE && w->jobs[i].job.job_id == id)
      return &w->jobs[i];
  return NULL;
}

/* The job's answer to the parent; frees the job. */
static void finish(job *j)
{
  worker *w = j->w;
  if (j->state == J_RUNNING)
    curl_multi_remove_handle(w->multi, j->easy);
  j->state = J_FREE;
  if (j->wfd >= 0)
    close(j->wfd);
  j->wfd = -1;
  busy_add(w, -1);
  j->res.type = AISF_MSG_RESULT;
  j->res.job_id = j->job.job_id;
  j->res.tries = j->tries;
  j->res.busy_ns = w->busy_acc;
  w->busy_acc = 0;
  if (!w->parent_gone)
    send_msg(w, &j->res, sizeof j->res);
}

static void finish_cancelled(job *j)
{
  j->res.kind = AISFETCH_E_CANCELLED;
  snprintf(j->res.message, sizeof j->res.message, "range aborted");
  finish(j);
}

/* The descriptors a received message carries: the first max into fds (their
 * count returned), the rest closed */
static unsigned take_fds(struct msghdr *mh, int *fds, unsigned max)
{
  unsigned got = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
      continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
      if (got < max)
        fds[got++] = fd;
      else
        close(fd);
    }
  }
  return got;
}

/* Reads every waiting control message without blocking.  It may run inside
 * a curl callback, so it only marks jobs: service() acts on the marks. */
static void ctrl_read(worker *w)
{
  for (;;) {
    union {
      struct cmsghdr h;
      char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct iovec iov = {.iov_base = w->buf, .iov_len = AISF_MSG_MAX};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                        .msg_controllen = sizeof cm.buf};
    ssize_t n = recvmsg(w->ctrl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    int fd = -1; /* a FILE job's file */
    if (n >= 0)
      take_fds(&mh, &fd, 1);
    /* a file the kernel could not give us (no descriptor left): the job
     * says so (below) instead of writing into the ring */
    int lost = n > 0 && (mh.msg_flags & MSG_CTRUNC);
    uint32_t type = 0;
    if (n >= (ssize_t)sizeof type)
      memcpy(&type, w->buf, sizeof type);
    if (type != AISF_MSG_JOB && fd >= 0) {
      close(fd);
      fd = -1;
    }
    if (type == AISF_MSG_JOB && n == (ssize_t)sizeof(aisf_msg_job)) {
      job *j = NULL;
      for (unsigned i = 0; i < MAX_JOBS && !j; i++)
        if (w->jobs[i].state == J_FREE)
          j = &w->jobs[i];
      aisf_msg_job m;
      memcpy(&m, w->buf, sizeof m);
      m.url[sizeof m.url - 1] = '\0';
      if (!j) {
        aisf_msg_result res;
        memset(&res, 0, sizeof res);
        res.type = AISF_MSG_RESULT;
        res.job_id = m.job_id;
        res.kind = AISFETCH_E_SYSTEM;
        snprintf(res.message, sizeof res.message, "the parent sent a range to a busy worker");
        send_msg(w, &res, sizeof res);
        if (fd >= 0)
          close(fd);
        continue;
      }
      CURL *e = j->easy;
      char *stage = j->stage;
      memset(j, 0, sizeof *j);
      j->w = w;
      j->easy = e;
      j->stage = stage;
      j->wfd = fd;
      j->wfd_lost = lost;
      j->job = m;
      j->state = J_PENDING;
      j->t0 = aisf_now_ns();
      j->next_report = 64 * 1024;
      busy_add(w, +1);
      continue;
    }
    if (fd >= 0)
      close(fd); /* a JOB of the wrong size */
    if (type == AISF_MSG_ABORT && n == (ssize_t)sizeof(aisf_msg_abort)) {
      aisf_msg_abort a;
      memcpy(&a, w->buf, sizeof a);
      job *j = find_job(w, a.job_id);
      if (j)
        j->abort_req = 1;
      /* else: an ABORT of a finished job, nothing to do */
      continue;
    }
    /* EOF, an error or a message out of place: the parent is gone */
    w->parent_gone = 1;
    for (unsigned i = 0; i < MAX_JOBS; i++)
      w->jobs[i].abort_req = 1;
    return;
  }
}

static size_t header_cb(char *buf, size_t size, size_t n, void *ud)
{
  job *x = ud;
  aisf_resp_header(&x->resp, buf, size * n);
  x->last_io_ns = aisf_now_ns();
  if (!x->t_head)
    x->t_head = x->last_io_ns;
  if (size * n >= 5 && memcmp(buf, "HTTP/", 5) == 0)
    x->checked = 0;
  return size * n;
}

/* NEAR once the rest of the range takes about as long as a request's first
 * byte did (plus a quarter and 1 ms), at the rate seen over at least a
 * quarter of the range (or 128 KiB) and 1 ms */
static void maybe_near(job *x, uint64_t now)
{
  uint64_t enough = x->job.len / 4 < 128 * 1024 ? x->job.len / 4 : 128 * 1024;
  if (x->near_sent || !x->t_body || x->got < enough || x->got >= x->job.len ||
      now <= x->t_body + 1000000u)
    return;
  /* the least first-byte time this worker has seen: a first byte that had
   * to wait for a CPU (a busy machine) says nothing of the path */
  double ttfb = x->w->ttfb_min;
  double lead = ttfb * 1.25 + 1e6;
  double body = (double)x->job.len * (double)(now - x->t_body) / (double)x->got;
  double rest = body * (double)(x->job.len - x->got) / (double)x->job.len;
  if (rest > lead)
    return;
  /* A second connection and its socket buffers cost CPU (about 10 % of an
   * 8-worker read on loopback): worth it only where the first byte takes a
   * noticeable part (1/32) of the range. */
  if (ttfb * 32 < body) {
    x->near_sent = 1;
    return;
  }
  aisf_msg_abort m = {.type = AISF_MSG_NEAR, .job_id = x->job.job_id};
  x->near_sent = 1;
  send_msg(x->w, &m, sizeof m);
}

/* libcurl hands over 16 KiB at a time: gathered into one pwrite() of up to
 * STAGE bytes, a sixteenth of the calls (the buffer stays hot in the cache) */
#define STAGE (256 * 1024)

/* Writes bytes of the range at its offset into the slot: 0, or an errno. */
static int put(job *x, uint64_t off, const char *buf, size_t n)
{
  while (n) {
    ssize_t k = pwrite(x->fd, buf, n, (off_t)(x->foff + off));
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return k < 0 ? errno : EIO;
    buf += k;
    off += (uint64_t)k;
    n -= (size_t)k;
  }
  return 0;
}

/* the staged bytes into the slot; -1 (and the try failed) if that failed */
static int flush(job *x)
{
  if (x->staged && x->wfd >= 0) {
    /* an aborted range (a hedge that lost, a range no longer wanted) must
     * not write into a file the caller may have finished already */
    struct pollfd p = {.fd = x->w->ctrl, .events = POLLIN};
    if (poll(&p, 1, 0) > 0)
      ctrl_read(x->w);
    if (x->abort_req)
      return -1;
  }
  int e = x->staged ? put(x, x->hw, x->stage, x->staged) : 0;
  if (e) {
    /* the caller's file is the caller's error, and no retry mends it */
    xfail(x, x->wfd >= 0 ? AISFETCH_E_WRITE : AISFETCH_E_SYSTEM, 0,
          "cannot write bytes=%s into %s: %s", x->range, x->wfd >= 0 ? "its file" : "the ring",
          strerror(e));
    return -1;
  }
  x->hw += x->staged;
  x->staged = 0;
  return 0;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *ud)
{
  job *x = ud;
  size_t len = size * n;
  uint64_t now = aisf_now_ns();
  x->last_io_ns = now;
  if (x->resp.status < 200 || x->resp.status > 299) {
    size_t room = sizeof x->body - 1 - x->body_len;
    size_t c = len < room ? len : room;
    memcpy(x->body + x->body_len, buf, c);
    x->body_len += c;
    x->body[x->body_len] = '\0';
    return len;
  }
  if (!x->checked)
    check_headers(x);
  if (x->fail)
    return 0;
  /* libcurl may read a whole range in one perform call: look for an ABORT
   * every 256 KiB so that a seek does not wait for ranges nobody wants */
  if (x->got - x->checked_ctrl_at >= 256 * 1024) {
    struct pollfd p = {.fd = x->w->ctrl, .events = POLLIN};
    x->checked_ctrl_at = x->got;
    if (poll(&p, 1, 0) > 0)
      ctrl_read(x->w);
    if (x->abort_req)
      return 0;
  }
  if (len > x->job.len - x->got) {
    xfail(x, AISFETCH_E_PROTOCOL, 1,
          "server sent more bytes than asked for the range bytes=%s", x->range);
    return 0;
  }
  if (!x->got && !x->t_body) {
    /* from the request's sending to the first body byte (a server may send
     * the headers first) */
    curl_off_t pre = 0;
    curl_easy_getinfo(x->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    x->t_body = now;
    double ttfb = (double)(now - x->t_try) - (double)pre * 1e3;
    if (ttfb < 0)
      ttfb = 0;
    if (x->w->ttfb_min < 0 || ttfb < x->w->ttfb_min)
      x->w->ttfb_min = ttfb;
  }
  /* a retry gets the same checked bytes again: what an earlier try wrote may
   * be in the caller's hands already */
  uint64_t have = x->hw + x->staged;
  if (x->got + len > have) {
    size_t skip = x->got < have ? (size_t)(have - x->got) : 0;
    const char *p = buf + skip;
    size_t left = len - skip;
    while (left) {
      size_t c = STAGE - x->staged < left ? STAGE - x->staged : left;
      memcpy(x->stage + x->staged, p, c);
      x->staged += c;
      p += c;
      left -= c;
      if (x->staged == STAGE && flush(x))
        return 0;
    }
  }
  x->got += len;
  int report = (x->job.flags & AISF_JOB_PROGRESS) && x->hw + x->staged >= x->next_report &&
               x->got < x->job.len;
  if ((x->got == x->job.len || report) && flush(x))
    return 0;
  /* reports at 64 KiB, then each time the bytes double: a first buffer
   * early, few messages */
  if (report) {
    aisf_msg_progress m = {.type = AISF_MSG_PROGRESS, .job_id = x->job.job_id, .bytes = x->hw};
    x->next_report = 2 * x->hw;
    send_msg(x->w, &m, sizeof m);
  }
  maybe_near(x, now);
  return len;
}

static void start_try(job *j)
{
  worker *w = j->w;
  CURL *e = j->easy;
  aisf_resp_reset(&j->resp);
  j->checked = 0;
  j->got = 0;
  j->staged = 0; /* a failed try's bytes: fetched again */
  j->fail = AISFETCH_OK;
  j->fail_msg[0] = '\0';
  j->checked_ctrl_at = 0;
  j->body_len = 0;
  j->body[0] = '\0';
  j->t_try = j->last_io_ns = aisf_now_ns();
  j->t_head = j->t_body = 0;
  j->curlerr[0] = '\0';
  j->res.server_message[0] = '\0';
  j->tries++;

  curl_easy_reset(e);
  aisf_http_apply(e, &w->http);
  curl_easy_setopt(e, CURLOPT_URL, j->url);
  curl_easy_setopt(e, CURLOPT_RANGE, j->range);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->curlerr);
  /* larger reads cost less CPU per byte; each transfer holds one such buffer */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
  j->state = J_RUNNING;
  if (curl_multi_add_handle(w->multi, e) != CURLM_OK) {
    j->state = J_PENDING;
    j->res.kind = AISFETCH_E_SYSTEM;
    snprintf(j->res.message, sizeof j->res.message, "libcurl could not start a transfer");
    finish(j);
  }
}

/* A try has ended (rc from libcurl, or a stall): the job's result, a retry
 * now (through the proxy) or later (backoff). */
static void end_try(job *j, CURLcode rc, int stalled)
{
  worker *w = j->w;
  aisf_msg_result *res = &j->res;
  long rcount = 0;
  curl_easy_getinfo(j->easy, CURLINFO_REDIRECT_COUNT, &rcount);
  res->redirects += (uint64_t)rcount;
  char *eff = NULL;
  curl_easy_getinfo(j->easy, CURLINFO_EFFECTIVE_URL, &eff);
  aisf_strlcpy(res->url, eff ? eff : j->url, sizeof res->url);
  curl_multi_remove_handle(w->multi, j->easy);
  j->state = J_BACKOFF;
  if (j->abort_req) {
    finish_cancelled(j);
    return;
  }

  aisfetch_errkind kind = AISFETCH_OK;
  int retry = 0, conn_failed = 0;
  long retry_after = -1;
  long st = j->resp.status;
  char *msg = res->message;
  size_t msgn = sizeof res->message;
  if (stalled) {
    kind = AISFETCH_E_TIMEOUT;
    retry = 1;
    snprintf(msg, msgn, "no data for %ld ms on bytes=%s (%llu of %llu received)",
             w->http.stall_timeout_ms, j->range, (unsigned long long)j->got,
             (unsigned long long)j->job.len);
  } else if (j->fail) {
    kind = j->fail;
    retry = j->fail_retry;
    aisf_strlcpy(msg, j->fail_msg, msgn);
  } else if (st >= 300 || (rc == CURLE_OK && st < 200)) {
    char *smsg = res->server_message;
    if (aisf_parse_error_json(j->body, j->body_len, smsg, sizeof res->server_message) != 0)
      aisf_strlcpy(smsg, j->resp.hdr_error, sizeof res->server_message);
    kind = st >= 300 && st < 400 ? AISFETCH_E_PROTOCOL : aisf_status_kind(st);
    retry = aisf_status_retryable(st);
    retry_after = j->resp.retry_after_s;
    snprintf(msg, msgn, "GET bytes=%s: HTTP %ld%s%.400s", j->range, st, smsg[0] ? ": " : "", smsg);
  } else if (rc != CURLE_OK) {
    kind = aisf_curl_kind(rc);
    retry = aisf_curl_retryable(rc);
    conn_failed = rc == CURLE_COULDNT_CONNECT;
    const char *why = j->curlerr[0] ? j->curlerr : curl_easy_strerror(rc);
    if (rc == CURLE_PARTIAL_FILE || (j->checked && j->got < j->job.len))
      snprintf(msg, msgn, "short body for bytes=%s: %llu of %llu bytes (%s)", j->range,
               (unsigned long long)j->got, (unsigned long long)j->job.len, why);
    else
      snprintf(msg, msgn, "GET bytes=%s: %s", j->range, why);
  } else {
    if (!j->checked)
      check_headers(j);
    if (j->fail) {
      kind = j->fail;
      retry = j->fail_retry;
      aisf_strlcpy(msg, j->fail_msg, msgn);
    } else if (j->got != j->job.len) {
      kind = AISFETCH_E_NETWORK;
      retry = 1;
      snprintf(msg, msgn, "short body for bytes=%s: %llu of %llu bytes", j->range,
               (unsigned long long)j->got, (unsigned long long)j->job.len);
    } else {
      res->kind = AISFETCH_OK;
      res->bytes = j->got;
      res->message[0] = '\0';
      finish(j);
      return;
    }
  }
  res->kind = kind;
  res->http_status = (int)st;
  /* the target may have left the cluster: ask the proxy again, once */
  if (!j->via_proxy && !j->fell_back && (st == 404 || conn_failed)) {
    j->fell_back = j->via_proxy = 1;
    aisf_strlcpy(j->url, j->job.obj.proxy_url, sizeof j->url);
    j->tries--;
    start_try(j);
    return;
  }
  if (!retry || j->tries > w->http.retries) {
    finish(j);
    return;
  }
  j->wake_at = aisf_now_ns() + (uint64_t)aisf_backoff_ms(j->tries, &w->seed, retry_after) * 1000000u;
}

/* A new job: checked, its slot mapped in, its first try started. */
static void begin(job *j)
{
  worker *w = j->w;
  const aisf_msg_job *m = &j->job;
  uint64_t slot = m->slot_off / w->stride, in = m->slot_off % w->stride;
  if (slot >= w->nslots || m->len > w->stride - in || m->len == 0 ||
      m->start >= m->obj.size || m->len > m->obj.size - m->start) {
    j->res.kind = AISFETCH_E_SYSTEM;
    snprintf(j->res.message, sizeof j->res.message, "invalid job from the parent");
    finish(j);
    return;
  }
  if ((m->flags & AISF_JOB_FILE) && j->wfd < 0) {
    j->res.kind = AISFETCH_E_WRITE;
    snprintf(j->res.message, sizeof j->res.message, "a range for a file came without its file%s",
             j->wfd_lost ? ": no file descriptor left (RLIMIT_NOFILE)" : "");
    finish(j);
    return;
  }
  if (m->flags & AISF_JOB_FILE) {
    j->fd = j->wfd;
    j->foff = m->start;
  } else {
    j->fd = w->files[slot % w->nfiles];
    j->foff = slot / w->nfiles * w->stride + in;
  }
  snprintf(j->range, sizeof j->range, "%llu-%llu", (unsigned long long)m->start,
           (unsigned long long)(m->start + m->len - 1));
  j->via_proxy = m->url[0] == '\0';
  aisf_strlcpy(j->url, j->via_proxy ? m->obj.proxy_url : m->url, sizeof j->url);
  start_try(j);
}

/* Acts on what the control socket and the clock say: aborts, new jobs,
 * stalled transfers and the end of backoffs.  Never inside a callback. */
static void service(worker *w)
{
  uint64_t now = aisf_now_ns();
  for (unsigned i = 0; i < MAX_JOBS; i++) {
    job *j = &w->jobs[i];
    if (j->state == J_FREE)
      continue;
    if (j->abort_req) {
      finish_cancelled(j);
      continue;
    }
    if (j->state == J_PENDING)
      begin(j);
    else if (j->state == J_BACKOFF && now >= j->wake_at)
      start_try(j);
    else if (j->state == J_RUNNING &&
             now - j->last_io_ns > (uint64_t)w->http.stall_timeout_ms * 1000000u)
      end_try(j, CURLE_OK, 1);
  }
}

/* NULL, or what is wrong with the CONFIG */
static const char *apply_config(worker *w, const char *buf, size_t n)
{
  aisf_msg_config c;
  if (n < sizeof c)
    return "short message";
  memcpy(&c, buf, sizeof c);
  if (c.type != AISF_MSG_CONFIG)
    return "not a CONFIG";
  const char *s = buf + sizeof c;
  const char *end = buf + n;
  const char *str[16];
  unsigned ns = 0;
  while (s < end && ns < c.nstrings && ns < 16) {
    const char *z = memchr(s, '\0', (size_t)(end - s));
    if (!z)
      return "unterminated string";
    str[ns++] = s;
    s = z + 1;
  }
  if (ns < 2 || ns != c.nstrings)
    return "wrong number of strings";
  w->http.connect_timeout_ms = (long)c.connect_timeout_ms;
  w->http.stall_timeout_ms = (long)c.stall_timeout_ms;
  w->http.retries = c.retries;
  w->http.skip_verify = c.skip_verify;
  aisf_strlcpy(w->http.ca_file, str[0], sizeof w->http.ca_file);
  aisf_strlcpy(w->http.user_agent, str[1], sizeof w->http.user_agent);
  for (unsigned i = 2; i < ns; i++) {
    struct curl_slist *l = curl_slist_append(w->http.headers, str[i]);
    if (!l)
      return "out of memory";
    w->http.headers = l;
  }
  if (c.nfiles != w->nfiles)
    return "ring files missing";
  if (!c.stride || !c.nslots || c.nfiles > c.nslots)
    return "bad ring geometry";
  w->stride = c.stride;
  w->nslots = c.nslots;
  return NULL;
}

/* The CONFIG message, with the ring's memfds attached for a process (a
 * thread has the reader's own): its length, or -1 with the cause in why. */
static ssize_t recv_config(worker *w, char *why, size_t whyn)
{
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(AISF_RING_FILES * sizeof(int))];
  } cm;
  struct iovec iov = {.iov_base = w->buf, .iov_len = AISF_MSG_MAX};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                      .msg_controllen = sizeof cm.buf};
  ssize_t n;
  while ((n = recvmsg(w->ctrl, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
    ;
  if (n < 0) {
    snprintf(why, whyn, "worker could not receive its configuration: %s", strerror(errno));
    return -1;
  }
  /* (a thread uses the reader's files, not copies) */
  if (w->own_files)
    w->nfiles = take_fds(&mh, w->files, AISF_RING_FILES);
  else
    take_fds(&mh, NULL, 0);
  if (mh.msg_flags & MSG_CTRUNC) {
    /* the kernel drops the fds it cannot install without saying why: an
     * fd of our own fails the same way when the table is full */
    int probe = fcntl(w->ctrl, F_DUPFD_CLOEXEC, 0);
    int e = probe < 0 ? errno : 0;
    if (probe >= 0)
      close(probe);
    snprintf(why, whyn, "worker could not receive the ring: %s",
             e ? strerror(e) : "its files were not passed");
    return -1;
  }
  if (mh.msg_flags & MSG_TRUNC) {
    snprintf(why, whyn, "worker could not receive its configuration: message truncated");
    return -1;
  }
  return n; /* 0: the parent is gone */
}

/* Bytes received by the running tries, so far. */
static uint64_t received(const worker *w)
{
  uint64_t n = 0;
  for (unsigned i = 0; i < MAX_JOBS; i++)
    if (w->jobs[i].state == J_RUNNING)
      n += w->jobs[i].got;
  return n;
}

/* Over a long path a range's bytes come a few segments at a time, and each
 * arrival woke the worker to read about 64 KiB: at a 40 ms round trip 16
 * workers switched context five times as often as on loopback, for about
 * 1.5x the CPU per byte.  So a worker that woke for less than COALESCE_MIN
 * sleeps until that much should be in the socket at the rate the bytes came
 * since it last looked (at most COALESCE_MAX_NS); the kernel ACKs them
 * meanwhile, so TCP does not see the sleep.  The rate bounds the sleep: a
 * fixed 4 ms let the socket buffer fill on a fast path and one worker on
 * loopback fell from about 1500 to 560 MB/s.  Not while a range's progress
 * is reported (the first bytes after an open or a seek), near a range's end,
 * or with a retry or a new range waiting.  (SO_RCVLOWAT would wake it less
 * often without a timer, but Linux clamps the receive window to that value
 * when it has to grow the buffer for it: 16 workers fell from 690 to
 * 156 MB/s at 40 ms.) */
#define COALESCE_MIN (256 * 1024)
#define COALESCE_MAX_NS 4000000.0

/* How long to sleep before looking again (ns), 0: not at all.  moved bytes
 * came in the dt ns since the worker last looked. */
static long coalesce_ns(const worker *w, uint64_t moved, uint64_t dt)
{
  if (!moved || moved >= COALESCE_MIN || !dt)
    return 0;
  for (unsigned i = 0; i < MAX_JOBS; i++) {
    const job *j = &w->jobs[i];
    if (j->state == J_FREE)
      continue;
    if (j->state != J_RUNNING || (j->job.flags & AISF_JOB_PROGRESS) || j->abort_req ||
        j->job.len - j->got < 16 * COALESCE_MIN)
      return 0;
  }
  double ns = (double)(COALESCE_MIN - moved) * (double)dt / (double)moved;
  if (ns > COALESCE_MAX_NS)
    ns = COALESCE_MAX_NS;
  return ns < 200000.0 ? 0 : (long)ns;
}

static void run(worker *w)
{
  while (!w->parent_gone) {
    int running = 0;
    uint64_t before = received(w);
    curl_multi_perform(w->multi, &running);
    uint64_t after = received(w), t = aisf_now_ns();
    long nap = coalesce_ns(w, after > before ? after - before : 0, t - w->looked_at);
    w->looked_at = t;
    CURLMsg *cm;
    int left;
    while ((cm = curl_multi_info_read(w->multi, &left))) {
      if (cm->msg != CURLMSG_DONE)
        continue;
      CURL *e = cm->easy_handle;
      CURLcode rc = cm->data.result;
      job *j = NULL;
      for (unsigned i = 0; i < MAX_JOBS && !j; i++)
        if (w->jobs[i].easy == e)
          j = &w->jobs[i];
      if (j && j->state == J_RUNNING)
        end_try(j, rc, 0);
    }
    service(w);
    if (w->parent_gone)
      break;
    uint64_t now = aisf_now_ns();
    long wait_ms = 1000;
    for (unsigned i = 0; i < MAX_JOBS; i++) {
      const job *j = &w->jobs[i];
      long ms = wait_ms;
      if (j->state == J_RUNNING || j->state == J_PENDING)
        ms = j->state == J_PENDING ? 0 : 100;
      else if (j->state == J_BACKOFF)
        ms = j->wake_at > now ? (long)((j->wake_at - now) / 1000000u) + 1 : 0;
      if (ms < wait_ms)
        wait_ms = ms;
    }
    if (nap && wait_ms > 0) {
      struct timespec ts = {0, nap};
      nanosleep(&ts, NULL);
    }
    struct curl_waitfd wfd = {.fd = w->ctrl, .events = CURL_WAIT_POLLIN, .revents = 0};
    curl_multi_poll(w->multi, &wfd, 1, (int)wait_ms, NULL);
    if (wfd.revents) {
      ctrl_read(w);
      /* a new range starts before libcurl reads on */
      service(w);
    }
  }
  /* the parent is gone: nobody to answer */
  for (unsigned i = 0; i < MAX_JOBS; i++)
    if (w->jobs[i].state == J_RUNNING)
      curl_multi_remove_handle(w->multi, w->jobs[i].easy);
}

/* A worker that cannot start tells the parent why before it exits (else
 * the parent sees only a death, and a range fails as "worker died"). */
static void report_fail(int ctrl, const char *why)
{
  aisf_msg_result *m = calloc(1, sizeof *m);
  if (!m)
    return;
  m->type = AISF_MSG_FAIL;
  m->kind = AISFETCH_E_SYSTEM;
  aisf_strlcpy(m->message, why, sizeof m->message);
  while (send(ctrl, m, sizeof *m, MSG_NOSIGNAL) < 0 && errno == EINTR)
    ;
  free(m);
}

int aisf_worker_run(int ctrl_fd, const int *files, unsigned nfiles)
{
  worker *w = calloc(1, sizeof *w);
  if (!w) {
    report_fail(ctrl_fd, "worker could not start: out of memory");
    return 1;
  }
  w->ctrl = ctrl_fd;
  w->ttfb_min = -1;
  for (unsigned i = 0; i < MAX_JOBS; i++)
    w->jobs[i].wfd = -1;
  w->seed = aisf_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)w;
  w->own_files = files == NULL;
  if (files) {
    w->nfiles = nfiles < AISF_RING_FILES ? nfiles : AISF_RING_FILES;
    memcpy(w->files, files, w->nfiles * sizeof *files);
  }
  int rc = 1;
  char why[256] = "worker could not start: out of memory or libcurl failed";
  w->buf = malloc(AISF_MSG_MAX);
  if (!w->buf)
    goto out;
  w->multi = curl_multi_init();
  if (!w->multi)
    goto out;
  for (unsigned i = 0; i < MAX_JOBS; i++) {
    w->jobs[i].w = w;
    if (!(w->jobs[i].easy = curl_easy_init()) || !(w->jobs[i].stage = malloc(STAGE)))
      goto out;
  }
  ssize_t n = recv_config(w, why, sizeof why);
  if (n < 0)
    goto out;
  rc = 0;
  if (n == 0)
    goto out; /* the parent is gone before it said anything */
  const char *bad = apply_config(w, w->buf, (size_t)n);
  if (bad) {
    rc = 1;
    snprintf(why, sizeof why, "worker could not apply its configuration: %s", bad);
    goto out;
  }
  run(w);
out:
  if (rc)
    report_fail(ctrl_fd, why);
  for (unsigned i = 0; i < MAX_JOBS; i++) {
    if (w->jobs[i].easy)
      curl_easy_cleanup(w->jobs[i].easy);
    free(w->jobs[i].stage);
    if (w->jobs[i].wfd >= 0)
      close(w->jobs[i].wfd);
  }
  if (w->multi)
    curl_multi_cleanup(w->multi);
  curl_slist_free_all(w->http.headers);
  for (unsigned i = 0; w->own_files && i < w->nfiles; i++)
    close(w->files[i]);
  free(w->buf);
  free(w);
  return rc;
}
