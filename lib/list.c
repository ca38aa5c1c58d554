/* Listing a bucket's objects under a prefix: AIStore's list-objects API,
 * page by page (GET /v1/buckets/B with a JSON "list" action; the answer's
 * continuation_token is empty on the last page).
 *
 * Thread safety: a lister is used by one thread at a time.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the page's JSON ---- */

typedef struct {
  const char *p, *end;
  aisf_list_page *page;
  const char *why;
} jp;

static void ws(jp *j)
{
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static int bad(jp *j, const char *why)
{
  if (!j->why)
    j->why = why;
  return -1;
}

static int lit(jp *j, const char *w)
{
  size_t n = strlen(w);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
    return bad(j, "unexpected character");
  j->p += n;
  return 0;
}

static int hex4(const char *p, unsigned *v)
{
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                 : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                 : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                        : 16u;
    if (d > 15)
      return -1;
    *v = *v * 16 + d;
  }
  return 0;
}

/* Appends to the page's arena; the string's offset in *off. */
static int arena_put(jp *j, const char *s, size_t n)
{
  aisf_list_page *pg = j->page;
  if (pg->arena_len + n + 1 > pg->arena_cap) {
    size_t cap = pg->arena_cap ? pg->arena_cap : 4096;
    while (cap < pg->arena_len + n + 1)
      cap *= 2;
    char *a = realloc(pg->arena, cap);
    if (!a)
      return bad(j, "out of memory");
    pg->arena = a;
    pg->arena_cap = cap;
  }
  memcpy(pg->arena + pg->arena_len, s, n);
  pg->arena_len += n;
  pg->arena[pg->arena_len] = '\0';
  return 0;
}

/* A JSON string into the arena (NUL-terminated), its offset in *off.  Bytes
 * of 0x80 and above are kept as they come: AIStore writes a name that is
 * not UTF-8 as its raw bytes.  A NUL (\u0000) cannot be in a C string. */
static int string(jp *j, size_t *off)
{
  if (j->p >= j->end || *j->p != '"')
    return bad(j, "expected a string");
  j->p++;
  *off = j->page->arena_len;
  if (arena_put(j, "", 0)) /* room for the NUL, and the NUL of an empty string */
    return -1;
  for (;;) {
    const char *s = j->p;
    while (j->p < j->end && *j->p != '"' && *j->p != '\\' && (unsigned char)*j->p >= 0x20)
      j->p++;
    if (j->p > s && arena_put(j, s, (size_t)(j->p - s)))
      return -1;
    if (j->p >= j->end)
      return bad(j, "unterminated string");
    if (*j->p == '"') {
      j->p++;
      j->page->arena_len++; /* keep the NUL (arena_put left room for it) */
      return 0;
    }
    if ((unsigned char)*j->p < 0x20)
      return bad(j, "control character in a string");
    /* an escape */
    if (j->end - j->p < 2)
      return bad(j, "unterminated escape");
    char c = j->p[1], out[4];
    size_t n = 1;
    j->p += 2;
    switch (c) {
    case '"': out[0] = '"'; break;
    case '\\': out[0] = '\\'; break;
    case '/': out[0] = '/'; break;
    case 'b': out[0] = '\b'; break;
    case 'f': out[0] = '\f'; break;
    case 'n': out[0] = '\n'; break;
    case 'r': out[0] = '\r'; break;
    case 't': out[0] = '\t'; break;
    case 'u': {
      unsigned u;
      if (j->end - j->p < 4 || hex4(j->p, &u))
        return bad(j, "bad \\u escape");
      j->p += 4;
      if (u >= 0xD800 && u <= 0xDBFF && j->end - j->p >= 6 && j->p[0] == '\\' &&
          j->p[1] == 'u') {
        unsigned lo;
        if (!hex4(j->p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
          u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
          j->p += 6;
        }
      }
      if (u >= 0xD800 && u <= 0xDFFF)
        u = 0xFFFD; /* a lone surrogate */
      if (u == 0)
        return bad(j, "a name with a NUL character");
      if (u < 0x80) {
        out[0] = (char)u;
      } else if (u < 0x800) {
        out[0] = (char)(0xC0 | (u >> 6));
        out[1] = (char)(0x80 | (u & 0x3F));
        n = 2;
      } else if (u < 0x10000) {
        out[0] = (char)(0xE0 | (u >> 12));
        out[1] = (char)(0x80 | ((u >> 6) & 0x3F));
        out[2] = (char)(0x80 | (u & 0x3F));
        n = 3;
      } else {
        out[0] = (char)(0xF0 | (u >> 18));
        out[1] = (char)(0x80 | ((u >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((u >> 6) & 0x3F));
        out[3] = (char)(0x80 | (u & 0x3F));
        n = 4;
      }
      break;
    }
    default:
      return bad(j, "bad escape");
    }
    if (arena_put(j, out, n))
      return -1;
  }
}

static int skip(jp *j, int depth);

static int number(jp *j, uint64_t *v, int *is_uint)
{
  const char *s = j->p;
  uint64_t x = 0;
  int ok = 1;
  if (j->p < j->end && *j->p == '-') {
    ok = 0;
    j->p++;
  }
  const char *d = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    unsigned dig = (unsigned)(*j->p - '0');
    if (x > (UINT64_MAX - dig) / 10)
      ok = 0;
    else
      x = x * 10 + dig;
    j->p++;
  }
  if (j->p == d)
    return bad(j, "bad number");
  while (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E' || *j->p == '+' ||
                           *j->p == '-' || (*j->p >= '0' && *j->p <= '9'))) {
    ok = 0;
    j->p++;
  }
  (void)s;
  if (v)
    *v = x;
  if (is_uint)
    *is_uint = ok;
  return 0;
}

static int skip(jp *j, int depth)
{
  if (depth > 64)
    return bad(j, "nested too deeply");
  ws(j);
  if (j->p >= j->end)
    return bad(j, "truncated");
  char c = *j->p;
  if (c == '"') {
    size_t off, mark = j->page->arena_len;
    int k = string(j, &off);
    j->page->arena_len = mark; /* not kept */
    return k;
  }
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == close) {
      j->p++;
      return 0;
    }
    for (;;) {
      if (c == '{') {
        ws(j);
        if (skip(j, depth + 1))
          return -1;
        ws(j);
        if (lit(j, ":"))
          return -1;
      }
      if (skip(j, depth + 1))
        return -1;
      ws(j);
      if (j->p < j->end && *j->p == ',') {
        j->p++;
        continue;
      }
      return lit(j, close == '}' ? "}" : "]");
    }
  }
  if (c == 't')
    return lit(j, "true");
  if (c == 'f')
    return lit(j, "false");
  if (c == 'n')
    return lit(j, "null");
  return number(j, NULL, NULL);
}

/* A key of an object, compared with the known ones without keeping it. */
static int key(jp *j, char *out, size_t n)
{
  size_t off, mark = j->page->arena_len;
  if (string(j, &off))
    return -1;
  aisf_strlcpy(out, j->page->arena + off, n);
  j->page->arena_len = mark;
  ws(j);
  return lit(j, ":");
}

/* iterates the members of an object: each() is called with the key, the
 * value up next */
static int members(jp *j, int (*each)(jp *, const char *, void *), void *ud)
{
  ws(j);
  if (lit(j, "{"))
    return -1;
  ws(j);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
    return 0;
  }
  for (;;) {
    char k[32];
    ws(j);
    if (key(j, k, sizeof k))
      return -1;
    ws(j);
    if (each(j, k, ud))
      return -1;
    ws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      continue;
    }
    return lit(j, "}");
  }
}

static int entry_member(jp *j, const char *k, void *ud)
{
  aisf_list_entry *e = ud;
  size_t *dst = strcmp(k, "name") == 0       ? &e->name
                : strcmp(k, "checksum") == 0 ? &e->checksum
                : strcmp(k, "version") == 0  ? &e->version
                : strcmp(k, "atime") == 0    ? &e->atime
                                             : NULL;
  if (dst) {
    if (j->p < j->end && *j->p == 'n')
      return lit(j, "null");
    return string(j, dst);
  }
  if (strcmp(k, "size") == 0) {
    /* "size" is a string ("size,string" in AIStore's Go struct); a number is
     * taken too */
    int quoted = j->p < j->end && *j->p == '"';
    int is_uint;
    j->p += quoted;
    if (number(j, &e->size, &is_uint))
      return -1;
    if (!is_uint)
      return bad(j, "an entry's size is not a whole number of bytes");
    return quoted ? lit(j, "\"") : 0;
  }
  if (strcmp(k, "flags") == 0)
    return number(j, &e->flags, NULL);
  return skip(j, 1);
}

static int page_member(jp *j, const char *k, void *ud)
{
  (void)ud;
  aisf_list_page *pg = j->page;
  if (strcmp(k, "uuid") == 0 || strcmp(k, "continuation_token") == 0) {
    if (j->p < j->end && *j->p == 'n')
      return lit(j, "null");
    size_t off, mark = pg->arena_len;
    if (string(j, &off))
      return -1;
    int tok = k[0] == 'c';
    size_t n = strlen(pg->arena + off);
    if (n >= (tok ? sizeof pg->token : sizeof pg->uuid))
      return bad(j, tok ? "continuation token too long" : "uuid too long");
    memcpy(tok ? pg->token : pg->uuid, pg->arena + off, n + 1);
    pg->arena_len = mark;
    return 0;
  }
  if (strcmp(k, "entries") != 0)
    return skip(j, 1);
  if (j->p < j->end && *j->p == 'n')
    return lit(j, "null"); /* AIStore's empty page */
  if (lit(j, "["))
    return -1;
  ws(j);
  if (j->p < j->end && *j->p == ']') {
    j->p++;
    return 0;
  }
  for (;;) {
    if (pg->n == pg->cap) {
      size_t cap = pg->cap ? 2 * pg->cap : 256;
      aisf_list_entry *v = realloc(pg->v, cap * sizeof *v);
      if (!v)
        return bad(j, "out of memory");
      pg->v = v;
      pg->cap = cap;
    }
    aisf_list_entry *e = &pg->v[pg->n];
    memset(e, 0, sizeof *e);
    e->name = e->checksum = e->version = e->atime = (size_t)-1;
    if (members(j, entry_member, e))
      return -1;
    if (e->name == (size_t)-1)
      return bad(j, "an entry without a name");
    if (pg->arena[e->name] == '\0') /* "" would read as the end of the listing */
      return bad(j, "an entry with an empty name");
    if (e->size > (uint64_t)INT64_MAX)
      return bad(j, "an entry's size is out of range");
    pg->n++;
    ws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      ws(j);
      continue;
    }
    return lit(j, "]");
  }
}

int aisf_parse_list(const char *body, size_t len, aisf_list_page *pg, char *why, size_t whyn)
{
  pg->n = 0;
  pg->arena_len = 0;
  pg->uuid[0] = pg->token[0] = '\0';
  /* offset 0 is the empty string: what a missing field points at */
  jp j = {.p = body, .end = body + len, .page = pg, .why = NULL};
  int k = arena_put(&j, "", 0);
  if (!k) {
    pg->arena_len = 1;
    k = members(&j, page_member, NULL);
  }
  if (!k) {
    ws(&j);
    if (j.p != j.end)
      k = bad(&j, "trailing bytes after the answer");
  }
  for (size_t i = 0; !k && i < pg->n; i++) {
    aisf_list_entry *e = &pg->v[i];
    if (e->checksum == (size_t)-1)
      e->checksum = 0;
    if (e->version == (size_t)-1)
      e->version = 0;
    if (e->atime == (size_t)-1)
      e->atime = 0;
  }
  if (k) {
    snprintf(why, whyn, "%s at byte %zu", j.why ? j.why : "malformed",
             (size_t)(j.p - body));
    pg->n = 0;
    return -1;
  }
  return 0;
}

void aisf_list_page_free(aisf_list_page *pg)
{
  free(pg->v);
  free(pg->arena);
  memset(pg, 0, sizeof *pg);
}

/* ---- the lister ---- */

#define LIST_PROPS "name,size,version,checksum,atime"
#define LIST_BODY_MAX ((size_t)512 << 20)

struct aisfetch_lister {
  aisfetch_uri uri;
  char endpoint[1024];
  char url[AISF_URL_MAX];
  aisf_http_cfg http;
  struct curl_slist *headers; /* http's and the JSON content type */
  unsigned pagesize;
  int (*cancelled)(void *);
  void *cancelled_data;
  aisf_list_page page;
  size_t next;                /* the page's next entry */
  int fetched, last;          /* a page is in; it was the last */
  char *body;
  size_t blen, bcap;
  int too_big;
  char *req;                  /* the request's JSON */
  size_t req_len, req_cap;
  uint64_t seed;
};

static int req_put(aisfetch_lister *l, const char *s, size_t n)
{
  if (l->req_len + n + 1 > l->req_cap) {
    size_t cap = l->req_cap ? l->req_cap : 1024;
    while (cap < l->req_len + n + 1)
      cap *= 2;
    char *p = realloc(l->req, cap);
    if (!p)
      return -1;
    l->req = p;
    l->req_cap = cap;
  }
  memcpy(l->req + l->req_len, s, n);
  l->req_len += n;
  l->req[l->req_len] = '\0';
  return 0;
}

/* a JSON string; bytes of 0x80 and above go as they are (names need not be
 * UTF-8, and AIStore reads them back byte for byte) */
static int req_str(aisfetch_lister *l, const char *s)
{
  if (req_put(l, "\"", 1))
    return -1;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      if (req_put(l, esc, 2))
        return -1;
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      if (req_put(l, esc, 6))
        return -1;
    } else if (req_put(l, s, 1)) {
      return -1;
    }
  }
  return req_put(l, "\"", 1);
}

static int build_request(aisfetch_lister *l)
{
  char n[32];
  snprintf(n, sizeof n, "%u", l->pagesize);
  l->req_len = 0;
  return req_put(l, "{\"action\":\"list\",\"name\":\"\",\"value\":{\"prefix\":", 45) ||
         req_str(l, l->uri.object) || req_put(l, ",\"props\":\"" LIST_PROPS "\",\"pagesize\":", 
                                             sizeof(",\"props\":\"" LIST_PROPS "\",\"pagesize\":") - 1) ||
         req_put(l, n, strlen(n)) || req_put(l, ",\"uuid\":", 8) || req_str(l, l->page.uuid) ||
         req_put(l, ",\"continuation_token\":", 22) || req_str(l, l->page.token) ||
         req_put(l, ",\"flags\":\"0\"}}", 14);
}

static size_t body_cb(char *p, size_t sz, size_t n, void *ud)
{
  aisfetch_lister *l = ud;
  size_t k = sz * n;
  if (l->blen + k > LIST_BODY_MAX) {
    l->too_big = 1;
    return 0;
  }
  if (l->blen + k > l->bcap) {
    size_t cap = l->bcap ? l->bcap : 65536;
    while (cap < l->blen + k)
      cap *= 2;
    char *b = realloc(l->body, cap);
    if (!b)
      return 0;
    l->body = b;
    l->bcap = cap;
  }
  memcpy(l->body + l->blen, p, k);
  l->blen += k;
  return k;
}

static int progress_cb(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
  (void)a, (void)b, (void)c, (void)d;
  aisfetch_lister *l = ud;
  return l->cancelled && l->cancelled(l->cancelled_data);
}

typedef struct {
  aisf_resp resp;
} hdr_state;

static size_t hdr_cb(char *p, size_t sz, size_t n, void *ud)
{
  aisf_resp_header(&((hdr_state *)ud)->resp, p, sz * n);
  return sz * n;
}

/* One try at the next page: 0; or an error, *retry when trying again may help */
static aisfetch_errkind try_page(aisfetch_lister *l, CURL *e, int *retry, long *retry_after,
                                 aisfetch_error *err)
{
  *retry = 0;
  *retry_after = -1;
  if (build_request(l))
    return aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
  hdr_state hs;
  aisf_resp_reset(&hs.resp);
  char curlerr[CURL_ERROR_SIZE] = "";
  l->blen = 0;
  l->too_big = 0;
  curl_easy_reset(e);
  aisf_http_apply(e, &l->http);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, l->headers);
  curl_easy_setopt(e, CURLOPT_URL, l->url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "GET");
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, l->req);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)l->req_len);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, l);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, hdr_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &hs);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curlerr);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress_cb);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, l);
  /* a stall: less than one byte a second for the stall timeout */
  long stall_s = (l->http.stall_timeout_ms + 999) / 1000;
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall_s ? stall_s : 1L);
  CURLcode rc = curl_easy_perform(e);
  long st = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
  const char *where = l->uri.object[0] ? "prefix" : "bucket";
  if (rc == CURLE_ABORTED_BY_CALLBACK)
    return aisf_fail(err, AISFETCH_E_CANCELLED, "cancelled");
  if (l->too_big)
    return aisf_fail(err, AISFETCH_E_PROTOCOL, "a listing page of more than %zu MiB",
                     LIST_BODY_MAX >> 20);
  if (rc != CURLE_OK) {
    *retry = aisf_curl_retryable(rc);
    aisf_seterr(err, aisf_curl_kind(rc), 0, "listing %s://%s/%s: %s", l->uri.provider,
                l->uri.bucket, l->uri.object, curlerr[0] ? curlerr : curl_easy_strerror(rc));
    return err->kind;
  }
  if (st != 200) {
    char smsg[512] = "";
    if (aisf_parse_error_json(l->body, l->blen, smsg, sizeof smsg) != 0)
      aisf_strlcpy(smsg, hs.resp.hdr_error, sizeof smsg);
    *retry = aisf_status_retryable(st);
    *retry_after = hs.resp.retry_after_s;
    aisfetch_errkind kind = aisf_status_kind(st);
    if (st == 404) /* AIStore's own message says the same: it is in server_message */
      aisf_seterr(err, kind, (int)st, "bucket %s://%s does not exist", l->uri.provider,
                  l->uri.bucket);
    else
      aisf_seterr(err, kind, (int)st, "listing %s %s://%s/%s: HTTP %ld%s%s", where,
                  l->uri.provider, l->uri.bucket, l->uri.object, st, smsg[0] ? ": " : "", smsg);
    aisf_strlcpy(err->server_message, smsg, sizeof err->server_message);
    return kind;
  }
  char why[160];
  char prev_token[sizeof l->page.token], prev_uuid[sizeof l->page.uuid];
  aisf_strlcpy(prev_token, l->page.token, sizeof prev_token);
  aisf_strlcpy(prev_uuid, l->page.uuid, sizeof prev_uuid);
  if (aisf_parse_list(l->body, l->blen, &l->page, why, sizeof why)) {
    *retry = 1; /* a cut answer may come whole next time: asked again as before */
    aisf_strlcpy(l->page.token, prev_token, sizeof l->page.token);
    aisf_strlcpy(l->page.uuid, prev_uuid, sizeof l->page.uuid);
    return aisf_fail(err, AISFETCH_E_PROTOCOL, "listing %s://%s/%s: malformed answer: %s",
                     l->uri.provider, l->uri.bucket, l->uri.object, why);
  }
  /* a server that keeps answering the same token would never end */
  if (l->page.token[0] && strcmp(l->page.token, prev_token) == 0 && prev_token[0])
    return aisf_fail(err, AISFETCH_E_PROTOCOL,
                     "listing %s://%s/%s: the server sent the same continuation token twice",
                     l->uri.provider, l->uri.bucket, l->uri.object);
  return AISFETCH_OK;
}

static int sleep_cancellable(aisfetch_lister *l, long ms)
{
  while (ms > 0) {
    if (l->cancelled && l->cancelled(l->cancelled_data))
      return -1;
    long step = ms < 100 ? ms : 100;
    struct timespec ts = {0, step * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
      ;
    ms -= step;
  }
  return l->cancelled && l->cancelled(l->cancelled_data) ? -1 : 0;
}

static aisfetch_errkind fetch_page(aisfetch_lister *l, aisfetch_error *err)
{
  CURL *e = curl_easy_init();
  if (!e)
    return aisf_fail(err, AISFETCH_E_SYSTEM, "curl_easy_init failed");
  aisfetch_errkind k = AISFETCH_OK;
  for (unsigned t = 0;; t++) {
    int retry;
    long ra;
    k = try_page(l, e, &retry, &ra, err);
    if (!k || !retry || t >= l->http.retries)
      break;
    if (sleep_cancellable(l, aisf_backoff_ms(t + 1, &l->seed, ra))) {
      k = aisf_fail(err, AISFETCH_E_CANCELLED, "cancelled");
      break;
    }
  }
  curl_easy_cleanup(e);
  if (!k) {
    l->next = 0;
    l->fetched = 1;
    l->last = l->page.token[0] == '\0';
  }
  return k;
}

aisfetch_errkind aisfetch_list_open(const aisfetch_options *opts, const char *prefix,
                                    aisfetch_lister **out, aisfetch_error *err)
{
  aisfetch_error scratch;
  if (!err)
    err = &scratch;
  memset(err, 0, sizeof *err);
  if (!opts || !out)
    return aisf_fail(err, AISFETCH_E_ARG, "options and output must not be NULL");
  *out = NULL;
  if (opts->list_page_size > 1000000)
    return aisf_fail(err, AISFETCH_E_ARG, "list_page_size %u is out of range (0..1000000)",
                     opts->list_page_size);
  aisfetch_lister *l = calloc(1, sizeof *l);
  if (!l)
    return aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  aisfetch_errkind k = aisfetch_prefix_parse(prefix, &l->uri, err);
  if (!k)
    k = aisf_setup_http(&l->http, l->endpoint, sizeof l->endpoint, opts, err);
  if (!k && aisf_bucket_url(l->endpoint, &l->uri, l->url, sizeof l->url))
    k = aisf_fail(err, AISFETCH_E_ARG, "bucket URL too long");
  if (!k) {
    struct curl_slist *h = NULL;
    for (struct curl_slist *s = l->http.headers; s && !k; s = s->next) {
      struct curl_slist *n = curl_slist_append(h, s->data);
      if (!n)
        k = aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
      else
        h = n;
    }
    struct curl_slist *n = k ? NULL : curl_slist_append(h, "Content-Type: application/json");
    if (!k && !n)
      k = aisf_fail(err, AISFETCH_E_SYSTEM, "out of memory");
    l->headers = n ? n : h;
  }
  if (k) {
    aisfetch_list_close(l);
    return k;
  }
  l->pagesize = opts->list_page_size;
  l->cancelled = opts->open_cancelled;
  l->cancelled_data = opts->open_cancelled_data;
  l->seed = aisf_now_ns() ^ (uint64_t)(uintptr_t)l;
  *out = l;
  return AISFETCH_OK;
}

aisfetch_errkind aisfetch_list_next(aisfetch_lister *l, aisfetch_entry *entry, aisfetch_error *err)
{
  aisfetch_error scratch;
  if (!err)
    err = &scratch;
  memset(entry, 0, sizeof *entry);
  /* bounded: a page may be empty (AIStore sends one after a full last page) */
  for (int pages = 0; l->next >= l->page.n; pages++) {
    if (l->fetched && l->last)
      return AISFETCH_OK;
    if (pages > 1000)
      return aisf_fail(err, AISFETCH_E_PROTOCOL, "listing: 1000 empty pages in a row");
    aisfetch_errkind k = fetch_page(l, err);
    if (k)
      return k;
  }
  const aisf_list_entry *e = &l->page.v[l->next++];
  const char *a = l->page.arena;
  if (strlen(a + e->name) >= sizeof entry->name)
    return aisf_fail(err, AISFETCH_E_PROTOCOL, "listing: an object name of more than %zu bytes",
                     sizeof entry->name - 1);
  aisf_strlcpy(entry->name, a + e->name, sizeof entry->name);
  aisf_strlcpy(entry->version, a + e->version, sizeof entry->version);
  aisf_strlcpy(entry->checksum, a + e->checksum, sizeof entry->checksum);
  aisf_strlcpy(entry->atime, a + e->atime, sizeof entry->atime);
  entry->size = e->size;
  return AISFETCH_OK;
}

void aisfetch_list_close(aisfetch_lister *l)
{
  if (!l)
    return;
  aisf_list_page_free(&l->page);
  curl_slist_free_all(l->http.headers);
  curl_slist_free_all(l->headers);
  free(l->body);
  free(l->req);
  free(l);
  curl_global_cleanup();
}
