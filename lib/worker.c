/* The worker loop: one range at a time into a ring slot, validated.
 *
 * The same code runs in a helper process (posix_spawn) and on a thread.  It
 * owns one curl multi + easy handle for its whole life, so the connection to
 * the target stays open across ranges.  (pwrite() on the memfd instead of a
 * mapping was measured: workers then contend on the shmem inode's lock.)  The control socket is polled together
 * with the transfer: an ABORT or the parent's end (EOF) stops a range at once.
 *
 * Thread safety: a worker touches only its own state, its slot of the ring
 * (assigned by the parent, written by nobody else meanwhile) and its socket.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  int ctrl;
  uint8_t *ring;
  size_t ring_size;
  aisf_http_cfg http;
  char proxy_url[AISF_URL_MAX];
  uint64_t object_size;
  char version[128], cksum_type[16], cksum_value[160], etag[160];
  int have_version, have_cksum, have_etag;
  CURLM *multi;
  CURL *easy;
  uint64_t seed;
  int parent_gone;
  uint64_t populated[AISFETCH_MAX_SLOTS]; /* slot offsets already mapped in */
  unsigned npopulated;
} worker;

typedef struct {
  worker *w;
  uint64_t start, len, got;
  uint8_t *dst;
  aisf_resp resp;
  int checked;
  aisfetch_errkind fail;     /* set by the callbacks to stop the transfer */
  int fail_retry;
  int fail_status;
  char fail_msg[512];
  uint64_t last_io_ns;
  uint64_t job_id;
  uint64_t checked_ctrl_at;  /* got, when the control socket was last looked at */
  int aborted;               /* an ABORT (or EOF) seen from inside the transfer */
  char body[2048];           /* error body of a non-2xx answer */
  size_t body_len;
} xfer;

static void xfail(xfer *x, aisfetch_errkind kind, int retry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void xfail(xfer *x, aisfetch_errkind kind, int retry, const char *fmt, ...)
{
  if (x->fail)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->fail_msg, sizeof x->fail_msg, fmt, ap);
  va_end(ap);
  x->fail = kind;
  x->fail_retry = retry;
  x->fail_status = (int)x->resp.status;
}

/* Checks a 2xx answer's headers against the range asked and the HEAD. */
static void check_headers(xfer *x)
{
  worker *w = x->w;
  aisf_resp *r = &x->resp;
  uint64_t end = x->start + x->len - 1;
  x->checked = 1;
  if (r->status == 200) {
    xfail(x, AISFETCH_E_PROTOCOL, 1,
          "server answered 200 (whole object) to the range request bytes=%llu-%llu",
          (unsigned long long)x->start, (unsigned long long)end);
    return;
  }
  if (r->status != 206) {
    xfail(x, AISFETCH_E_PROTOCOL, 1, "unexpected HTTP %ld to a range request", r->status);
    return;
  }
  if (r->malformed) {
    xfail(x, AISFETCH_E_PROTOCOL, 1, "malformed %s header in the answer to bytes=%llu-%llu",
          r->malformed_what, (unsigned long long)x->start, (unsigned long long)end);
    return;
  }
  if (!r->have_content_range) {
    xfail(x, AISFETCH_E_PROTOCOL, 1, "206 without Content-Range for bytes=%llu-%llu",
          (unsigned long long)x->start, (unsigned long long)end);
    return;
  }
  if (r->cr_size != w->object_size) {
    xfail(x, AISFETCH_E_CHANGED, 0, "object size changed from %llu to %llu during the read",
          (unsigned long long)w->object_size, (unsigned long long)r->cr_size);
    return;
  }
  if (r->cr_start != x->start || r->cr_end != end) {
    xfail(x, AISFETCH_E_PROTOCOL, 1,
          "Content-Range bytes %llu-%llu does not match the requested bytes %llu-%llu",
          (unsigned long long)r->cr_start, (unsigned long long)r->cr_end,
          (unsigned long long)x->start, (unsigned long long)end);
    return;
  }
  if (r->have_content_length && r->content_length != x->len) {
    xfail(x, AISFETCH_E_PROTOCOL, 1, "Content-Length %llu for a range of %llu bytes",
          (unsigned long long)r->content_length, (unsigned long long)x->len);
    return;
  }
  if (w->have_version && (!r->have_version || strcmp(r->version, w->version) != 0)) {
    xfail(x, AISFETCH_E_CHANGED, 0, "object changed during the read: version '%s' became '%s'",
          w->version, r->have_version ? r->version : "(none)");
    return;
  }
  if (w->have_cksum && (strcmp(r->cksum_type, w->cksum_type) != 0 ||
                        strcmp(r->cksum_value, w->cksum_value) != 0)) {
    xfail(x, AISFETCH_E_CHANGED, 0, "object changed during the read: checksum %s:%s became %s:%s",
          w->cksum_type, w->cksum_value, r->cksum_type[0] ? r->cksum_type : "(none)",
          r->cksum_value);
    return;
  }
  if (w->have_etag && r->have_etag && strcmp(r->etag, w->etag) != 0) {
    xfail(x, AISFETCH_E_CHANGED, 0, "object changed during the read: ETag %s became %s", w->etag,
          r->etag);
    return;
  }
}

static int poll_ctrl(worker *w, uint64_t job_id);

static size_t header_cb(char *buf, size_t size, size_t n, void *ud)
{
  xfer *x = ud;
  aisf_resp_header(&x->resp, buf, size * n);
  x->last_io_ns = aisf_now_ns();
  if (size * n >= 5 && memcmp(buf, "HTTP/", 5) == 0)
    x->checked = 0;
  return size * n;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *ud)
{
  xfer *x = ud;
  size_t len = size * n;
  x->last_io_ns = aisf_now_ns();
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
    if (poll(&p, 1, 0) > 0 && poll_ctrl(x->w, x->job_id)) {
      x->aborted = 1;
      return 0;
    }
  }
  if (len > x->len - x->got) {
    xfail(x, AISFETCH_E_PROTOCOL, 1,
          "server sent more bytes than asked for the range bytes=%llu-%llu",
          (unsigned long long)x->start, (unsigned long long)(x->start + x->len - 1));
    return 0;
  }
  memcpy(x->dst + x->got, buf, len);
  x->got += len;
  return len;
}

static void send_result(worker *w, aisf_msg_result *res)
{
  res->type = AISF_MSG_RESULT;
  while (send(w->ctrl, res, sizeof *res, MSG_NOSIGNAL) < 0 && errno == EINTR)
    ;
}

/* Reads one control message without blocking; returns 1 if the current job
 * must stop (its ABORT, or the parent is gone). */
static int poll_ctrl(worker *w, uint64_t job_id)
{
  union {
    aisf_msg_abort abort;
    char raw[AISF_MSG_MAX];
  } m;
  for (;;) {
    ssize_t n = recv(w->ctrl, &m, sizeof m, MSG_DONTWAIT);
    if (n == 0) {
      w->parent_gone = 1;
      return 1;
    }
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      w->parent_gone = 1;
      return 1;
    }
    if ((size_t)n >= sizeof m.abort && m.abort.type == AISF_MSG_ABORT && m.abort.job_id == job_id)
      return 1;
    /* an ABORT of a finished job: nothing to do */
  }
}

enum try_outcome { TRY_OK, TRY_FAIL, TRY_ABORTED };

/* One HTTP try of a range. */
static enum try_outcome do_try(worker *w, xfer *x, const char *url, uint64_t job_id,
                               aisfetch_errkind *kind, int *retry, int *status, long *retry_after,
                               int *conn_failed, char *msg, size_t msgn, char *smsg, size_t smsgn,
                               char *eff_url, size_t effn, uint64_t *redirects)
{
  CURL *e = w->easy;
  char range[64];
  char curlerr[CURL_ERROR_SIZE];
  snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)x->start,
           (unsigned long long)(x->start + x->len - 1));
  aisf_resp_reset(&x->resp);
  x->checked = 0;
  x->got = 0;
  x->fail = AISFETCH_OK;
  x->fail_msg[0] = '\0';
  x->job_id = job_id;
  x->checked_ctrl_at = 0;
  x->aborted = 0;
  x->body_len = 0;
  x->body[0] = '\0';
  x->last_io_ns = aisf_now_ns();
  curlerr[0] = '\0';
  *conn_failed = 0;
  *retry_after = -1;
  smsg[0] = '\0';

  curl_easy_reset(e);
  aisf_http_apply(e, &w->http);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_RANGE, range);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curlerr);
  /* larger reads cost less CPU per byte; each worker holds one such buffer */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
  curl_multi_add_handle(w->multi, e);

  int aborted = 0, stalled = 0;
  for (;;) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(w->multi, &running);
    if (x->aborted) {
      aborted = 1;
      break;
    }
    if (mc != CURLM_OK || !running || x->fail)
      break;
    struct curl_waitfd wfd = {.fd = w->ctrl, .events = CURL_WAIT_POLLIN, .revents = 0};
    long wait_ms = 100;
    curl_multi_poll(w->multi, &wfd, 1, (int)wait_ms, NULL);
    if (wfd.revents && poll_ctrl(w, job_id)) {
      aborted = 1;
      break;
    }
    if (aisf_now_ns() - x->last_io_ns > (uint64_t)w->http.stall_timeout_ms * 1000000u) {
      stalled = 1;
      break;
    }
  }
  CURLcode rc = CURLE_OK;
  int msgs;
  CURLMsg *cm;
  while ((cm = curl_multi_info_read(w->multi, &msgs)))
    if (cm->msg == CURLMSG_DONE)
      rc = cm->data.result;
  long rcount = 0;
  curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &rcount);
  *redirects += (uint64_t)rcount;
  char *eff = NULL;
  curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff);
  aisf_strlcpy(eff_url, eff ? eff : url, effn);
  curl_multi_remove_handle(w->multi, e);

  *status = (int)x->resp.status;
  if (aborted)
    return TRY_ABORTED;
  if (stalled) {
    *kind = AISFETCH_E_TIMEOUT;
    *retry = 1;
    snprintf(msg, msgn, "no data for %ld ms on bytes=%s (%llu of %llu received)",
             w->http.stall_timeout_ms, range, (unsigned long long)x->got,
             (unsigned long long)x->len);
    return TRY_FAIL;
  }
  if (x->fail) {
    *kind = x->fail;
    *retry = x->fail_retry;
    aisf_strlcpy(msg, x->fail_msg, msgn);
    return TRY_FAIL;
  }
  long st = x->resp.status;
  if (st >= 300 || (rc == CURLE_OK && st < 200)) {
    if (aisf_parse_error_json(x->body, x->body_len, smsg, smsgn) != 0)
      aisf_strlcpy(smsg, x->resp.hdr_error, smsgn);
    *kind = st >= 300 && st < 400 ? AISFETCH_E_PROTOCOL : aisf_status_kind(st);
    *retry = aisf_status_retryable(st);
    *retry_after = x->resp.retry_after_s;
    snprintf(msg, msgn, "GET bytes=%s: HTTP %ld%s%s", range, st, smsg[0] ? ": " : "", smsg);
    return TRY_FAIL;
  }
  if (rc != CURLE_OK) {
    *kind = aisf_curl_kind(rc);
    *retry = aisf_curl_retryable(rc);
    *conn_failed = rc == CURLE_COULDNT_CONNECT;
    if (rc == CURLE_PARTIAL_FILE || (x->checked && x->got < x->len))
      snprintf(msg, msgn, "short body for bytes=%s: %llu of %llu bytes (%s)", range,
               (unsigned long long)x->got, (unsigned long long)x->len,
               curlerr[0] ? curlerr : curl_easy_strerror(rc));
    else
      snprintf(msg, msgn, "GET bytes=%s: %s", range, curlerr[0] ? curlerr : curl_easy_strerror(rc));
    return TRY_FAIL;
  }
  if (!x->checked)
    check_headers(x);
  if (x->fail) {
    *kind = x->fail;
    *retry = x->fail_retry;
    aisf_strlcpy(msg, x->fail_msg, msgn);
    return TRY_FAIL;
  }
  if (x->got != x->len) {
    *kind = AISFETCH_E_NETWORK;
    *retry = 1;
    snprintf(msg, msgn, "short body for bytes=%s: %llu of %llu bytes", range,
             (unsigned long long)x->got, (unsigned long long)x->len);
    return TRY_FAIL;
  }
  return TRY_OK;
}

/* waits ms for an ABORT or EOF; returns 1 if the job must stop */
static int backoff_wait(worker *w, uint64_t job_id, long ms)
{
  uint64_t until = aisf_now_ns() + (uint64_t)ms * 1000000u;
  for (;;) {
    uint64_t now = aisf_now_ns();
    if (now >= until)
      return 0;
    struct pollfd p = {.fd = w->ctrl, .events = POLLIN};
    int r = poll(&p, 1, (int)((until - now) / 1000000u) + 1);
    if (r > 0 && poll_ctrl(w, job_id))
      return 1;
  }
}

static void do_job(worker *w, const aisf_msg_job *job)
{
  aisf_msg_result res;
  memset(&res, 0, sizeof res);
  res.job_id = job->job_id;
  uint64_t t0 = aisf_now_ns();
  if (job->slot_off > w->ring_size || job->len > w->ring_size - job->slot_off || job->len == 0 ||
      job->start >= w->object_size || job->len > w->object_size - job->start) {
    res.kind = AISFETCH_E_SYSTEM;
    snprintf(res.message, sizeof res.message, "invalid job from the parent");
    send_result(w, &res);
    return;
  }
  xfer x;
  memset(&x, 0, sizeof x);
  x.w = w;
  x.start = job->start;
  x.len = job->len;
  x.dst = w->ring + job->slot_off;
#ifdef MADV_POPULATE_WRITE
  /* one call maps a slot's pages instead of a page fault for each, the first
   * time this worker writes it (slot offsets are page aligned); kernels
   * before 5.14 just say EINVAL */
  unsigned p = 0;
  while (p < w->npopulated && w->populated[p] != job->slot_off)
    p++;
  if (p == w->npopulated && p < AISFETCH_MAX_SLOTS) {
    size_t full = w->ring_size - job->slot_off;
    madvise(x.dst, full < (size_t)job->len ? full : (size_t)job->len, MADV_POPULATE_WRITE);
    w->populated[w->npopulated++] = job->slot_off;
  }
#endif

  char url[AISF_URL_MAX];
  int via_proxy = job->url[0] == '\0';
  aisf_strlcpy(url, via_proxy ? w->proxy_url : job->url, sizeof url);
  int fell_back = 0;
  unsigned tries = 0;
  for (;;) {
    aisfetch_errkind kind = AISFETCH_OK;
    int retry = 0, status = 0, conn_failed = 0;
    long retry_after = -1;
    tries++;
    enum try_outcome o =
        do_try(w, &x, url, job->job_id, &kind, &retry, &status, &retry_after, &conn_failed,
               res.message, sizeof res.message, res.server_message, sizeof res.server_message,
               res.url, sizeof res.url, &res.redirects);
    if (o == TRY_OK) {
      res.kind = AISFETCH_OK;
      res.bytes = x.got;
      break;
    }
    if (o == TRY_ABORTED) {
      res.kind = AISFETCH_E_CANCELLED;
      snprintf(res.message, sizeof res.message, "range aborted");
      break;
    }
    res.kind = kind;
    res.http_status = status;
    /* the target may have left the cluster: ask the proxy again, once */
    if (!via_proxy && !fell_back && (status == 404 || conn_failed)) {
      fell_back = 1;
      via_proxy = 1;
      aisf_strlcpy(url, w->proxy_url, sizeof url);
      tries--;
      continue;
    }
    if (!retry || tries > w->http.retries)
      break;
    if (backoff_wait(w, job->job_id, aisf_backoff_ms(tries, &w->seed, retry_after))) {
      res.kind = AISFETCH_E_CANCELLED;
      snprintf(res.message, sizeof res.message, "range aborted");
      break;
    }
  }
  res.tries = tries;
  res.busy_ns = aisf_now_ns() - t0;
  if (!w->parent_gone)
    send_result(w, &res);
}

static int apply_config(worker *w, const char *buf, size_t n)
{
  aisf_msg_config c;
  if (n < sizeof c)
    return -1;
  memcpy(&c, buf, sizeof c);
  const char *s = buf + sizeof c;
  const char *end = buf + n;
  const char *str[16];
  unsigned ns = 0;
  while (s < end && ns < c.nstrings && ns < 16) {
    const char *z = memchr(s, '\0', (size_t)(end - s));
    if (!z)
      return -1;
    str[ns++] = s;
    s = z + 1;
  }
  if (ns < 8 || ns != c.nstrings)
    return -1;
  w->http.connect_timeout_ms = (long)c.connect_timeout_ms;
  w->http.stall_timeout_ms = (long)c.stall_timeout_ms;
  w->http.retries = c.retries;
  w->http.skip_verify = c.skip_verify;
  w->object_size = c.object_size;
  aisf_strlcpy(w->proxy_url, str[0], sizeof w->proxy_url);
  aisf_strlcpy(w->http.ca_file, str[1], sizeof w->http.ca_file);
  aisf_strlcpy(w->http.user_agent, str[2], sizeof w->http.user_agent);
  aisf_strlcpy(w->version, str[3], sizeof w->version);
  aisf_strlcpy(w->cksum_type, str[4], sizeof w->cksum_type);
  aisf_strlcpy(w->cksum_value, str[5], sizeof w->cksum_value);
  aisf_strlcpy(w->etag, str[6], sizeof w->etag);
  w->have_version = strchr(str[7], 'v') != NULL;
  w->have_cksum = strchr(str[7], 'c') != NULL;
  w->have_etag = strchr(str[7], 'e') != NULL;
  for (unsigned i = 8; i < ns; i++) {
    struct curl_slist *l = curl_slist_append(w->http.headers, str[i]);
    if (!l)
      return -1;
    w->http.headers = l;
  }
  if (c.ring_size != w->ring_size)
    return -1;
  return 0;
}

int aisf_worker_run(int ctrl_fd, int ring_fd)
{
  worker w;
  memset(&w, 0, sizeof w);
  w.ctrl = ctrl_fd;
  w.seed = aisf_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&w;
  int rc = 1;
  char *buf = malloc(AISF_MSG_MAX);
  off_t sz = lseek(ring_fd, 0, SEEK_END);
  if (!buf || sz <= 0)
    goto out;
  w.ring_size = (size_t)sz;
  w.ring = mmap(NULL, w.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, ring_fd, 0);
  if (w.ring == MAP_FAILED) {
    w.ring = NULL;
    goto out;
  }
  w.multi = curl_multi_init();
  w.easy = curl_easy_init();
  if (!w.multi || !w.easy)
    goto out;
  int configured = 0;
  for (;;) {
    ssize_t n = recv(ctrl_fd, buf, AISF_MSG_MAX, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    uint32_t type;
    if ((size_t)n < sizeof type)
      break;
    memcpy(&type, buf, sizeof type);
    if (type == AISF_MSG_CONFIG) {
      if (configured || apply_config(&w, buf, (size_t)n))
        break;
      configured = 1;
    } else if (type == AISF_MSG_JOB && configured && (size_t)n == sizeof(aisf_msg_job)) {
      aisf_msg_job job;
      memcpy(&job, buf, sizeof job);
      job.url[sizeof job.url - 1] = '\0';
      do_job(&w, &job);
      if (w.parent_gone)
        break;
    } else if (type != AISF_MSG_ABORT) {
      break;
    }
  }
  rc = 0;
out:
  if (w.easy)
    curl_easy_cleanup(w.easy);
  if (w.multi)
    curl_multi_cleanup(w.multi);
  curl_slist_free_all(w.http.headers);
  if (w.ring)
    munmap(w.ring, w.ring_size);
  free(buf);
  return rc;
}
