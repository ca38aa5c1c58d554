/* HTTP with libcurl: response headers, validation helpers, the HEAD. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void aisf_resp_reset(aisf_resp *r)
{
  memset(r, 0, sizeof *r);
  r->retry_after_s = -1;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
  uint64_t v = 0;
  if (len == 0 || len > 20)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (!isdigit((unsigned char)s[i]))
      return -1;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int aisf_parse_content_range(const char *v, size_t len, uint64_t *a, uint64_t *b, uint64_t *size,
                             int *unsatisfied)
{
  *unsatisfied = 0;
  if (len < 6 || strncmp(v, "bytes ", 6) != 0)
    return -1;
  v += 6;
  len -= 6;
  const char *slash = memchr(v, '/', len);
  if (!slash)
    return -1;
  size_t rlen = (size_t)(slash - v);
  const char *sz = slash + 1;
  size_t szlen = len - rlen - 1;
  if (parse_u64(sz, szlen, size))
    return -1;
  if (rlen == 1 && v[0] == '*') {
    *unsatisfied = 1;
    return 0;
  }
  const char *dash = memchr(v, '-', rlen);
  if (!dash)
    return -1;
  if (parse_u64(v, (size_t)(dash - v), a) || parse_u64(dash + 1, rlen - (size_t)(dash - v) - 1, b))
    return -1;
  if (*a > *b || *b >= *size)
    return -1;
  return 0;
}

/* Minimal JSON string scanner: enough to find the top-level "message" of
 * AIStore's error object without trusting the input. */
static const char *json_string(const char *p, const char *end, char *out, size_t n, size_t *outlen)
{
  /* p at the opening quote; returns the position after the closing quote or NULL */
  size_t o = 0;
  p++;
  while (p < end) {
    unsigned char c = (unsigned char)*p++;
    if (c == '"') {
      if (out && n)
        out[o < n ? o : n - 1] = '\0';
      if (outlen)
        *outlen = o;
      return p;
    }
    if (c < 0x20)
      return NULL;
    if (c == '\\') {
      if (p >= end)
        return NULL;
      char e = *p++;
      switch (e) {
      case '"': c = '"'; break;
      case '\\': c = '\\'; break;
      case '/': c = '/'; break;
      case 'b': c = '\b'; break;
      case 'f': c = '\f'; break;
      case 'n': c = '\n'; break;
      case 'r': c = '\r'; break;
      case 't': c = '\t'; break;
      case 'u': {
        if (end - p < 4)
          return NULL;
        unsigned v = 0;
        for (int i = 0; i < 4; i++) {
          char h = p[i];
          v <<= 4;
          if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
          else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
          else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
          else return NULL;
        }
        p += 4;
        c = v < 0x80 && v >= 0x20 ? (unsigned char)v : '?';
        break;
      }
      default:
        return NULL;
      }
    }
    if (out && o + 1 < n)
      out[o] = (char)(c < 0x20 ? ' ' : c); /* one line, no control characters */
    o++;
  }
  return NULL;
}

static const char *json_ws(const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

/* skips one JSON value; returns the position after it or NULL */
static const char *json_skip(const char *p, const char *end, int depth)
{
  p = json_ws(p, end);
  if (p >= end || depth > 32)
    return NULL;
  if (*p == '"')
    return json_string(p, end, NULL, 0, NULL);
  if (*p == '{' || *p == '[') {
    char close = *p == '{' ? '}' : ']';
    int obj = *p == '{';
    p = json_ws(p + 1, end);
    if (p < end && *p == close)
      return p + 1;
    for (;;) {
      if (obj) {
        p = json_ws(p, end);
        if (p >= end || *p != '"' || !(p = json_string(p, end, NULL, 0, NULL)))
          return NULL;
        p = json_ws(p, end);
        if (p >= end || *p != ':')
          return NULL;
        p++;
      }
      if (!(p = json_skip(p, end, depth + 1)))
        return NULL;
      p = json_ws(p, end);
      if (p >= end)
        return NULL;
      if (*p == close)
        return p + 1;
      if (*p != ',')
        return NULL;
      p++;
    }
  }
  const char *s = p;
  while (p < end && (isalnum((unsigned char)*p) || *p == '-' || *p == '+' || *p == '.'))
    p++;
  return p > s ? p : NULL;
}

int aisf_parse_error_json(const char *body, size_t len, char *out, size_t n)
{
  const char *end = body + len;
  const char *p = json_ws(body, end);
  if (n)
    out[0] = '\0';
  if (p >= end || *p != '{')
    return -1;
  p = json_ws(p + 1, end);
  if (p < end && *p == '}')
    return -1;
  for (;;) {
    char key[16];
    size_t klen = 0;
    p = json_ws(p, end);
    if (p >= end || *p != '"' || !(p = json_string(p, end, key, sizeof key, &klen)))
      return -1;
    p = json_ws(p, end);
    if (p >= end || *p != ':')
      return -1;
    p = json_ws(p + 1, end);
    if (klen == 7 && strcmp(key, "message") == 0 && p < end && *p == '"') {
      return json_string(p, end, out, n, NULL) ? 0 : -1;
    }
    if (!(p = json_skip(p, end, 1)))
      return -1;
    p = json_ws(p, end);
    if (p >= end || *p != ',')
      return -1;
    p++;
  }
}

static int hname(const char *line, size_t len, const char *name, const char **val, size_t *vlen)
{
  size_t n = strlen(name);
  if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
    return 0;
  const char *v = line + n + 1;
  const char *e = line + len;
  while (v < e && (*v == ' ' || *v == '\t'))
    v++;
  while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
    e--;
  *val = v;
  *vlen = (size_t)(e - v);
  return 1;
}

static void copyval(char *dst, size_t n, const char *v, size_t len)
{
  size_t c = len < n - 1 ? len : n - 1;
  memcpy(dst, v, c);
  dst[c] = '\0';
}

static void set_malformed(aisf_resp *r, const char *what)
{
  if (!r->malformed) {
    r->malformed = 1;
    aisf_strlcpy(r->malformed_what, what, sizeof r->malformed_what);
  }
}

void aisf_resp_header(aisf_resp *r, const char *line, size_t len)
{
  const char *v;
  size_t vl;
  if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
    aisf_resp_reset(r);
    const char *sp = memchr(line, ' ', len);
    if (sp && (size_t)(line + len - sp) >= 4) {
      long st = 0;
      for (int i = 1; i <= 3; i++) {
        if (!isdigit((unsigned char)sp[i])) {
          st = 0;
          break;
        }
        st = st * 10 + (sp[i] - '0');
      }
      r->status = st;
    }
    return;
  }
  if (hname(line, len, "Content-Range", &v, &vl)) {
    r->have_content_range = 1;
    if (aisf_parse_content_range(v, vl, &r->cr_start, &r->cr_end, &r->cr_size,
                                 &r->content_range_unsatisfied))
      set_malformed(r, "Content-Range");
  } else if (hname(line, len, "Content-Length", &v, &vl)) {
    uint64_t cl = 0;
    if (parse_u64(v, vl, &cl)) {
      set_malformed(r, "Content-Length");
    } else {
      if (r->have_content_length && cl != r->content_length)
        set_malformed(r, "Content-Length (two values)");
      r->have_content_length = 1;
      r->content_length = cl;
    }
  } else if (hname(line, len, "Ais-Version", &v, &vl)) {
    r->have_version = 1;
    copyval(r->version, sizeof r->version, v, vl);
  } else if (hname(line, len, "Ais-Checksum-Type", &v, &vl)) {
    r->have_cksum = 1;
    copyval(r->cksum_type, sizeof r->cksum_type, v, vl);
  } else if (hname(line, len, "Ais-Checksum-Value", &v, &vl)) {
    r->have_cksum = 1;
    copyval(r->cksum_value, sizeof r->cksum_value, v, vl);
  } else if (hname(line, len, "ETag", &v, &vl)) {
    r->have_etag = 1;
    copyval(r->etag, sizeof r->etag, v, vl);
  } else if (hname(line, len, "Ais-Chunks-Max-Chunk-Size", &v, &vl)) {
    if (parse_u64(v, vl, &r->chunks_max))
      set_malformed(r, "Ais-Chunks-Max-Chunk-Size");
  } else if (hname(line, len, "Ais-Chunks-Count", &v, &vl)) {
    uint64_t c;
    if (parse_u64(v, vl, &c) || c > UINT32_MAX)
      set_malformed(r, "Ais-Chunks-Count");
    else
      r->chunks_count = (unsigned)c;
  } else if (hname(line, len, "Retry-After", &v, &vl)) {
    uint64_t s;
    if (!parse_u64(v, vl, &s))
      r->retry_after_s = s > 3600 ? 3600 : (long)s;
  } else if (hname(line, len, "Hdr-Error", &v, &vl)) {
    char tmp[1024];
    if (aisf_parse_error_json(v, vl, tmp, sizeof tmp) == 0)
      aisf_strlcpy(r->hdr_error, tmp, sizeof r->hdr_error);
    else
      copyval(r->hdr_error, sizeof r->hdr_error, v, vl);
  }
}

void aisf_http_apply(CURL *e, const aisf_http_cfg *cfg)
{
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  /* an object named "x/./y" or "a/../b" is that object: without this libcurl
   * would squash the dot segments and ask for another one */
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, cfg->user_agent);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, cfg->headers);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
  if (cfg->ca_file[0])
    curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
  if (cfg->skip_verify) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

aisfetch_errkind aisf_status_kind(long status)
{
  if (status == 404)
    return AISFETCH_E_NOT_FOUND;
  if (status == 401 || status == 403)
    return AISFETCH_E_AUTH;
  if (status == 412)
    return AISFETCH_E_CHANGED;
  return AISFETCH_E_SERVER;
}

int aisf_status_retryable(long status)
{
  return status == 408 || status == 409 || status == 429 || status == 500 || status == 502 ||
         status == 503 || status == 504;
}

int aisf_curl_retryable(CURLcode rc)
{
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSL_CONNECT_ERROR:
    return 1;
  default:
    return 0;
  }
}

aisfetch_errkind aisf_curl_kind(CURLcode rc)
{
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT:
    return AISFETCH_E_TIMEOUT;
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
    return AISFETCH_E_ARG;
  case CURLE_OUT_OF_MEMORY:
    return AISFETCH_E_SYSTEM;
  case CURLE_TOO_MANY_REDIRECTS:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_BAD_CONTENT_ENCODING:
    return AISFETCH_E_PROTOCOL;
  default:
    return AISFETCH_E_NETWORK;
  }
}

long aisf_backoff_ms(unsigned n, uint64_t *seed, long retry_after_s)
{
  if (retry_after_s >= 0)
    return retry_after_s * 1000 > 30000 ? 30000 : retry_after_s * 1000;
  long cap = 100L << (n > 6 ? 6 : n); /* 200 ms, 400 ms ... 6.4 s */
  if (cap > 5000)
    cap = 5000;
  /* xorshift64*: jitter without global state */
  uint64_t x = *seed ? *seed : 0x9E3779B97F4A7C15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *seed = x;
  uint64_t r = x * 0x2545F4914F6CDD1Dull;
  return cap / 2 + (long)(r % (uint64_t)(cap / 2 + 1));
}

/* ---- HEAD ---- */

struct head_ctx {
  aisf_resp resp;
  const atomic_int *cancel;
  int (*cancel_cb)(void *);
  void *cancel_ud;
};

static int head_cancelled(const struct head_ctx *h)
{
  return (h->cancel && atomic_load(h->cancel)) || (h->cancel_cb && h->cancel_cb(h->cancel_ud));
}

/* the HEAD's and the prefix GET's headers: ud is their aisf_resp */
static size_t resp_header_cb(char *buf, size_t size, size_t n, void *ud)
{
  aisf_resp_header(ud, buf, size * n);
  return size * n;
}

static int head_progress_cb(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
  return head_cancelled(ud);
}

/* only a 206 that fits is taken in; anything else ends the GET */
static size_t prefix_write_cb(char *buf, size_t size, size_t n, void *ud)
{
  aisf_prefix *p = ud;
  size_t len = size * n;
  if (p->resp.status != 206 || len > p->cap - p->len)
    return 0;
  memcpy(p->buf + p->len, buf, len);
  p->len += len;
  return len;
}

static CURL *prefix_start(CURLM *m, const aisf_http_cfg *cfg, const char *url, aisf_prefix *p)
{
  CURL *e = curl_easy_init();
  if (!e)
    return NULL;
  char range[48];
  snprintf(range, sizeof range, "0-%zu", p->cap - 1);
  aisf_http_apply(e, cfg);
  aisf_resp_reset(&p->resp);
  p->len = 0;
  p->complete = 0;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_RANGE, range);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, resp_header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &p->resp);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, prefix_write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg->connect_timeout_ms + cfg->stall_timeout_ms);
  if (curl_multi_add_handle(m, e) != CURLM_OK) {
    curl_easy_cleanup(e);
    return NULL;
  }
  return e;
}

/* the results of finished transfers: the HEAD's into *head_rc, the prefix's
 * into *pre_rc */
static void drain(CURLM *m, CURL *head, int *head_done, CURLcode *head_rc, CURL *pre,
                  int *pre_running, CURLcode *pre_rc)
{
  int nmsg;
  CURLMsg *cm;
  while ((cm = curl_multi_info_read(m, &nmsg))) {
    if (cm->msg != CURLMSG_DONE)
      continue;
    if (head && cm->easy_handle == head) {
      *head_done = 1;
      *head_rc = cm->data.result;
    } else if (pre && cm->easy_handle == pre) {
      *pre_running = 0;
      *pre_rc = cm->data.result;
    }
  }
}

int aisf_resp_other_object(const aisf_resp *r, const char *version, int have_cksum,
                           const char *cksum_type, const char *cksum_value, const char *etag)
{
  if (version[0] && (!r->have_version || strcmp(r->version, version) != 0))
    return 'v';
  if (have_cksum && ((cksum_type[0] && strcmp(r->cksum_type, cksum_type) != 0) ||
                     strcmp(r->cksum_value, cksum_value) != 0))
    return 'c';
  if (etag[0] && r->have_etag && strcmp(r->etag, etag) != 0)
    return 'e';
  return 0;
}

size_t aisf_prefix_usable(const aisf_prefix *pre, const aisfetch_object_info *info)
{
  const aisf_resp *r = &pre->resp;
  if (!pre->cap || !info->size || r->status != 206 || r->malformed || !r->have_content_range ||
      r->content_range_unsatisfied)
    return 0;
  uint64_t want = info->size < pre->cap ? info->size : pre->cap;
  if (r->cr_start != 0 || r->cr_end != want - 1 || r->cr_size != info->size ||
      (r->have_content_length && r->content_length != want))
    return 0;
  if (aisf_resp_other_object(r, info->version, info->checksum_type[0] || info->checksum_value[0],
                             info->checksum_type, info->checksum_value, info->etag))
    return 0;
  if (pre->complete)
    return pre->len == want ? pre->len : 0;
  return pre->len & ~(size_t)4095;
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR)
    ;
}

aisfetch_errkind aisf_head(const aisf_http_cfg *cfg, const char *url, aisfetch_object_info *info,
                           char *target_url, size_t target_n, uint64_t *redirects,
                           const atomic_int *cancel, int (*cancel_cb)(void *), void *cancel_ud,
                           aisf_prefix *pre, aisfetch_error *err)
{
  CURL *e = curl_easy_init();
  CURLM *m = curl_multi_init();
  if (!e || !m) {
    curl_easy_cleanup(e);
    curl_multi_cleanup(m);
    return aisf_fail(err, AISFETCH_E_SYSTEM, "curl_easy_init failed");
  }
  char hurl[AISF_URL_MAX + 64];
  int v2 = 1;
  uint64_t seed = aisf_now_ns() ^ (uint64_t)(uintptr_t)info;
  aisfetch_errkind kind = AISFETCH_E_SYSTEM;
  char curlerr[CURL_ERROR_SIZE];
  struct head_ctx h;
  h.cancel = cancel;
  h.cancel_cb = cancel_cb;
  h.cancel_ud = cancel_ud;
  uint64_t t0 = aisf_now_ns();
  CURL *pe = pre && pre->cap ? prefix_start(m, cfg, url, pre) : NULL;
  int pre_running = pe != NULL;
  CURLcode pre_rc = CURLE_OK;

  for (unsigned attempt = 0;; attempt++) {
    snprintf(hurl, sizeof hurl, "%s%s", url,
             v2 ? "&props=size,version,checksum,chunked" : "");
    curl_easy_reset(e);
    aisf_http_apply(e, cfg);
    aisf_resp_reset(&h.resp);
    curlerr[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, hurl);
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, resp_header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &h.resp);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, head_progress_cb);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, &h);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curlerr);
    /* a HEAD has no body to stall in: bound the whole exchange */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg->connect_timeout_ms + cfg->stall_timeout_ms);
    /* the multi interface, to look at the cancel flag every 100 ms */
    CURLcode rc = CURLE_OK;
    int cancelled = 0;
    curl_multi_add_handle(m, e);
    int head_done = 0;
    for (;;) {
      int running = 0;
      CURLMcode mc = curl_multi_perform(m, &running);
      drain(m, e, &head_done, &rc, pe, &pre_running, &pre_rc);
      if (mc != CURLM_OK || head_done || !running)
        break;
      if (head_cancelled(&h)) {
        cancelled = 1;
        break;
      }
      curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    curl_multi_remove_handle(m, e);
    if (cancelled)
      rc = CURLE_ABORTED_BY_CALLBACK;
    long rcount = 0;
    curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &rcount);
    if (redirects)
      *redirects += (uint64_t)rcount;

    int retry = 0;
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
      kind = aisf_fail(err, AISFETCH_E_CANCELLED, "HEAD %s cancelled", url);
      break;
    }
    if (rc != CURLE_OK) {
      kind = aisf_curl_kind(rc);
      aisf_seterr(err, kind, 0, "HEAD %s: %s", url, curlerr[0] ? curlerr : curl_easy_strerror(rc));
      retry = aisf_curl_retryable(rc);
    } else if (h.resp.status == 400 && v2) {
      /* a cluster without HEAD v2 rejects props=: ask the v1 way */
      v2 = 0;
      attempt--;
      continue;
    } else if (h.resp.status < 200 || h.resp.status > 299) {
      long st = h.resp.status;
      kind = aisf_status_kind(st);
      aisf_seterr(err, kind, (int)st, "HEAD %s: HTTP %ld%s%s", url, st,
                  h.resp.hdr_error[0] ? ": " : "", h.resp.hdr_error);
      if (err)
        aisf_strlcpy(err->server_message, h.resp.hdr_error, sizeof err->server_message);
      retry = aisf_status_retryable(st);
    } else if (h.resp.malformed) {
      kind = aisf_fail(err, AISFETCH_E_PROTOCOL, "HEAD %s: malformed %s header", url,
                       h.resp.malformed_what);
    } else if (!h.resp.have_content_length) {
      kind = aisf_fail(err, AISFETCH_E_PROTOCOL, "HEAD %s: no Content-Length (object size)", url);
    } else {
      memset(info, 0, sizeof *info);
      info->size = h.resp.content_length;
      aisf_strlcpy(info->version, h.resp.version, sizeof info->version);
      aisf_strlcpy(info->checksum_type, h.resp.cksum_type, sizeof info->checksum_type);
      aisf_strlcpy(info->checksum_value, h.resp.cksum_value, sizeof info->checksum_value);
      aisf_strlcpy(info->etag, h.resp.etag, sizeof info->etag);
      info->max_chunk_size = h.resp.chunks_max;
      info->chunk_count = h.resp.chunks_count;
      char *eff = NULL;
      curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &eff);
      aisf_strlcpy(target_url, eff ? eff : url, target_n);
      aisf_url_drop_param(target_url, "props");
      kind = AISFETCH_OK;
      break;
    }
    if (!retry || attempt >= cfg->retries)
      break;
    if (head_cancelled(&h)) {
      kind = aisf_fail(err, AISFETCH_E_CANCELLED, "HEAD %s cancelled", url);
      break;
    }
    long ms = aisf_backoff_ms(attempt + 1, &seed, h.resp.retry_after_s);
    for (long waited = 0; waited < ms && !head_cancelled(&h); waited += 20)
      sleep_ms(20);
    if (head_cancelled(&h)) {
      kind = aisf_fail(err, AISFETCH_E_CANCELLED, "HEAD %s cancelled", url);
      break;
    }
  }
  if (pe) {
    if (kind == AISFETCH_OK && pre_running) {
      /* a stalled GET must not hold the open for the stall timeout: the
       * workers fetch what it did not bring */
      uint64_t now = aisf_now_ns(), head_ns = now - t0;
      uint64_t until = now + (head_ns > 10000000u ? head_ns : 10000000u);
      if (info->size <= pre->cap)
        until += 1000000000u;
      /* a larger object: its first 64 KiB are enough, the workers start
       * sooner (a round trip sooner than the first bytes of their own) */
      size_t enough = info->size <= pre->cap ? pre->cap : 64 * 1024;
      while (pre_running && now < until && pre->len < enough) {
        int running = 0, unused = 0;
        CURLcode unused_rc;
        CURLMcode mc = curl_multi_perform(m, &running);
        drain(m, NULL, &unused, &unused_rc, pe, &pre_running, &pre_rc);
        if (mc != CURLM_OK || !running || !pre_running)
          break;
        if (head_cancelled(&h)) {
          kind = aisf_fail(err, AISFETCH_E_CANCELLED, "HEAD %s cancelled", url);
          break;
        }
        now = aisf_now_ns();
        uint64_t left_ms = now < until ? (until - now) / 1000000u + 1 : 1;
        curl_multi_poll(m, NULL, 0, left_ms < 100 ? (int)left_ms : 100, NULL);
        now = aisf_now_ns();
      }
    }
    long rcount = 0;
    curl_easy_getinfo(pe, CURLINFO_REDIRECT_COUNT, &rcount);
    pre->redirects = (uint64_t)rcount;
    pre->complete = !pre_running && pre_rc == CURLE_OK;
    curl_multi_remove_handle(m, pe);
    curl_easy_cleanup(pe);
  }
  curl_easy_cleanup(e);
  curl_multi_cleanup(m);
  return kind;
}

/* ---- settings from the options ---- */

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

aisfetch_errkind aisf_setup_http(aisf_http_cfg *http, char *endpoint, size_t endpoint_n,
                                 const aisfetch_options *o, aisfetch_error *err)
{
  const char *ep = o->endpoint ? o->endpoint : getenv("AIS_ENDPOINT");
  if (!ep || !*ep)
    ep = AISFETCH_DEFAULT_ENDPOINT;
  aisfetch_errkind k = aisfetch_endpoint_parse(ep, endpoint, endpoint_n, err);
  if (k)
    return k;
  http->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
  http->stall_timeout_ms = o->stall_timeout_ms ? o->stall_timeout_ms : 20000;
  http->retries = o->retries;
  const char *cafile = o->ca_file ? o->ca_file : getenv("AIS_CLIENT_CA");
  aisf_strlcpy(http->ca_file, cafile ? cafile : "", sizeof http->ca_file);
  http->skip_verify = o->skip_verify >= 0 ? o->skip_verify : env_true(getenv("AIS_SKIP_VERIFY_CRT"));
  if (o->user_agent && *o->user_agent)
    aisf_strlcpy(http->user_agent, o->user_agent, sizeof http->user_agent);
  else
    snprintf(http->user_agent, sizeof http->user_agent, "libaisfetch/%d.%d.%d",
             AISFETCH_VERSION_MAJOR, AISFETCH_VERSION_MINOR, AISFETCH_VERSION_MICRO);
  const char *tok = o->token ? o->token : getenv("AIS_AUTHN_TOKEN");
  if (tok && *tok) {
    char h[8192];
    if ((size_t)snprintf(h, sizeof h, "Authorization: Bearer %s", tok) >= sizeof h ||
        !header_ok(h))
      return aisf_fail(err, AISFETCH_E_ARG, "the token is too long or contains a line break");
    if (add_header(http, h))
      return aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
  }
  for (const char *const *h = o->extra_headers; h && *h; h++) {
    if (!header_ok(*h))
      return aisf_fail(err, AISFETCH_E_ARG,
                       "extra header '%.100s' is not 'Name: value' on one line", *h);
    if (add_header(http, *h))
      return aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
  }
  return AISFETCH_OK;
}
