/* Errors, URIs, endpoints and object URLs. */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static void vseterr(aisfetch_error *err, aisfetch_errkind kind, int http_status, const char *fmt,
                    va_list ap) __attribute__((format(printf, 4, 0)));

static void vseterr(aisfetch_error *err, aisfetch_errkind kind, int http_status, const char *fmt,
                    va_list ap)
{
  if (!err)
    return;
  err->kind = kind;
  err->http_status = http_status;
  err->server_message[0] = '\0';
  vsnprintf(err->message, sizeof err->message, fmt, ap);
}

void aisf_seterr(aisfetch_error *err, aisfetch_errkind kind, int http_status, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vseterr(err, kind, http_status, fmt, ap);
  va_end(ap);
}

aisfetch_errkind aisf_fail(aisfetch_error *err, aisfetch_errkind kind, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vseterr(err, kind, 0, fmt, ap);
  va_end(ap);
  return kind;
}

const char *aisfetch_errkind_name(aisfetch_errkind kind)
{
  switch (kind) {
  case AISFETCH_OK: return "ok";
  case AISFETCH_E_ARG: return "bad argument";
  case AISFETCH_E_NOT_FOUND: return "not found";
  case AISFETCH_E_AUTH: return "not authorized";
  case AISFETCH_E_CHANGED: return "object changed";
  case AISFETCH_E_TIMEOUT: return "timeout";
  case AISFETCH_E_NETWORK: return "network error";
  case AISFETCH_E_PROTOCOL: return "protocol error";
  case AISFETCH_E_SERVER: return "server error";
  case AISFETCH_E_CHECKSUM: return "checksum mismatch";
  case AISFETCH_E_CANCELLED: return "cancelled";
  case AISFETCH_E_SYSTEM: return "system error";
  case AISFETCH_E_WRITE: return "local write error";
  }
  return "unknown error";
}

size_t aisf_strlcpy(char *dst, const char *src, size_t n)
{
  size_t len = strlen(src);
  if (n) {
    size_t c = len < n - 1 ? len : n - 1;
    memcpy(dst, src, c);
    dst[c] = '\0';
  }
  return len;
}

uint64_t aisf_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- URIs ---- */

static const struct {
  const char *scheme;
  const char *canon;
} providers[] = {
  {"ais", "ais"}, {"s3", "aws"},  {"aws", "aws"},     {"gs", "gcp"},  {"gcp", "gcp"},
  {"az", "azure"}, {"azure", "azure"}, {"oc", "oci"}, {"oci", "oci"},
};

static int bucket_char(unsigned char c)
{
  return isalnum(c) || c == '-' || c == '_' || c == '.';
}

static aisfetch_errkind parse(const char *uri, aisfetch_uri *out, int prefix, aisfetch_error *err)
{
  memset(out, 0, sizeof *out);
  if (!uri || !*uri)
    return aisf_fail(err, AISFETCH_E_ARG, prefix ? "empty URI (expected [provider://]bucket/[prefix])"
                                                 : "empty object URI (expected [provider://]bucket/object)");
  for (const unsigned char *p = (const unsigned char *)uri; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return aisf_fail(err, AISFETCH_E_ARG, "object URI contains a control character at byte %zu",
                       (size_t)((const char *)p - uri));

  const char *p = uri;
  const char *sep = strstr(p, "://");
  if (sep) {
    size_t n = (size_t)(sep - p);
    const char *canon = NULL;
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
      if (strlen(providers[i].scheme) == n && strncmp(p, providers[i].scheme, n) == 0)
        canon = providers[i].canon;
    if (!canon)
      return aisf_fail(err, AISFETCH_E_ARG,
                       "unknown provider '%.*s' in '%s' (expected ais, s3/aws, gs/gcp, az/azure, oc/oci)",
                       (int)(n > 32 ? 32 : n), p, uri);
    aisf_strlcpy(out->provider, canon, sizeof out->provider);
    p = sep + 3;
  } else {
    aisf_strlcpy(out->provider, "ais", sizeof out->provider);
  }

  if (*p == '@') {
    const char *slash = strchr(p, '/');
    if (!slash)
      return aisf_fail(err, AISFETCH_E_ARG, "namespace in '%s' is not followed by /bucket", uri);
    const char *hash = memchr(p, '#', (size_t)(slash - p));
    const char *uuid_end = hash ? hash : slash;
    size_t ulen = (size_t)(uuid_end - p - 1);
    size_t nlen = hash ? (size_t)(slash - hash - 1) : 0;
    if (ulen == 0 && nlen == 0)
      return aisf_fail(err, AISFETCH_E_ARG, "empty namespace '@' in '%s'", uri);
    if (ulen >= sizeof out->ns_uuid || nlen >= sizeof out->ns_name)
      return aisf_fail(err, AISFETCH_E_ARG, "namespace too long in '%s'", uri);
    for (const char *q = p + 1; q < slash; q++)
      if (q != hash && !bucket_char((unsigned char)*q))
        return aisf_fail(err, AISFETCH_E_ARG, "invalid character '%c' in namespace of '%s'", *q, uri);
    memcpy(out->ns_uuid, p + 1, ulen);
    if (hash)
      memcpy(out->ns_name, hash + 1, nlen);
    p = slash + 1;
  }

  const char *slash = strchr(p, '/');
  size_t blen = slash ? (size_t)(slash - p) : strlen(p);
  if (blen == 0)
    return aisf_fail(err, AISFETCH_E_ARG, "missing bucket name in '%s'", uri);
  if (blen >= sizeof out->bucket)
    return aisf_fail(err, AISFETCH_E_ARG, "bucket name too long in '%s'", uri);
  for (size_t i = 0; i < blen; i++)
    if (!bucket_char((unsigned char)p[i]))
      return aisf_fail(err, AISFETCH_E_ARG,
                       "invalid character '%c' in bucket name of '%s' (allowed: letters, digits, '-', '_', '.')",
                       p[i], uri);
  if ((blen == 1 && p[0] == '.') || (blen == 2 && p[0] == '.' && p[1] == '.'))
    return aisf_fail(err, AISFETCH_E_ARG, "invalid bucket name '%.*s' in '%s'", (int)blen, p, uri);
  memcpy(out->bucket, p, blen);
  if (prefix && (!slash || !slash[1]))
    return AISFETCH_OK; /* the whole bucket */
  if (!slash || !slash[1])
    return aisf_fail(err, AISFETCH_E_ARG, "missing object name in '%s' (expected bucket/object)", uri);
  const char *obj = slash + 1;
  if (strlen(obj) >= sizeof out->object)
    return aisf_fail(err, AISFETCH_E_ARG, "object name too long in '%s'", uri);
  aisf_strlcpy(out->object, obj, sizeof out->object);
  return AISFETCH_OK;
}

aisfetch_errkind aisfetch_uri_parse(const char *uri, aisfetch_uri *out, aisfetch_error *err)
{
  return parse(uri, out, 0, err);
}

aisfetch_errkind aisfetch_prefix_parse(const char *uri, aisfetch_uri *out, aisfetch_error *err)
{
  return parse(uri, out, 1, err);
}

aisfetch_errkind aisfetch_endpoint_parse(const char *ep, char *out, size_t out_len,
                                         aisfetch_error *err)
{
  if (!ep || !*ep)
    return aisf_fail(err, AISFETCH_E_ARG, "empty endpoint (expected http[s]://host[:port])");
  const char *host;
  if (strncmp(ep, "http://", 7) == 0)
    host = ep + 7;
  else if (strncmp(ep, "https://", 8) == 0)
    host = ep + 8;
  else
    return aisf_fail(err, AISFETCH_E_ARG, "endpoint '%s' must start with http:// or https://", ep);
  for (const unsigned char *q = (const unsigned char *)ep; *q; q++)
    if (*q <= 0x20 || *q == 0x7f || *q == '?' || *q == '#')
      return aisf_fail(err, AISFETCH_E_ARG,
                       "endpoint '%s' contains a space, control character, query or fragment", ep);
  const char *hend;
  if (*host == '[') {
    hend = strchr(host, ']');
    if (!hend || hend == host + 1)
      return aisf_fail(err, AISFETCH_E_ARG, "endpoint '%s' has a malformed IPv6 host", ep);
    hend++;
  } else {
    hend = host;
    while (*hend && *hend != ':' && *hend != '/') {
      if (!isalnum((unsigned char)*hend) && *hend != '.' && *hend != '-' && *hend != '_')
        return aisf_fail(err, AISFETCH_E_ARG, "endpoint '%s' has an invalid host character '%c'",
                         ep, *hend);
      hend++;
    }
    if (hend == host)
      return aisf_fail(err, AISFETCH_E_ARG, "endpoint '%s' has no host", ep);
  }
  if (*hend == ':') {
    const char *port = hend + 1;
    unsigned long v = 0;
    const char *q = port;
    while (isdigit((unsigned char)*q) && v <= 65535)
      v = v * 10 + (unsigned long)(*q++ - '0');
    if (q == port || v == 0 || v > 65535 || (*q && *q != '/'))
      return aisf_fail(err, AISFETCH_E_ARG, "endpoint '%s' has an invalid port", ep);
  } else if (*hend && *hend != '/') {
    return aisf_fail(err, AISFETCH_E_ARG, "endpoint '%s' is malformed after the host", ep);
  }
  size_t len = strlen(ep);
  while (len > 0 && ep[len - 1] == '/' && ep + len - 1 >= hend)
    len--;
  if (len + 1 > out_len)
    return aisf_fail(err, AISFETCH_E_ARG, "endpoint '%s' is too long", ep);
  memcpy(out, ep, len);
  out[len] = '\0';
  return AISFETCH_OK;
}

/* percent-encodes all but RFC 3986 unreserved characters (and '/' when keep_slash) */
static int pct_append(char *out, size_t n, size_t *pos, const char *s, int keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    int plain = isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
                (keep_slash && *p == '/');
    size_t need = plain ? 1 : 3;
    if (*pos + need >= n)
      return -1;
    if (plain) {
      out[(*pos)++] = (char)*p;
    } else {
      out[(*pos)++] = '%';
      out[(*pos)++] = hex[*p >> 4];
      out[(*pos)++] = hex[*p & 15];
    }
  }
  out[*pos] = '\0';
  return 0;
}

static int raw_append(char *out, size_t n, size_t *pos, const char *s)
{
  size_t len = strlen(s);
  if (*pos + len >= n)
    return -1;
  memcpy(out + *pos, s, len + 1);
  *pos += len;
  return 0;
}

int aisf_object_url(const char *endpoint, const aisfetch_uri *u, char *out, size_t n)
{
  size_t pos = 0;
  if (n == 0)
    return -1;
  out[0] = '\0';
  if (raw_append(out, n, &pos, endpoint) || raw_append(out, n, &pos, "/v1/objects/") ||
      pct_append(out, n, &pos, u->bucket, 0) || raw_append(out, n, &pos, "/") ||
      pct_append(out, n, &pos, u->object, 1) || raw_append(out, n, &pos, "?provider=") ||
      raw_append(out, n, &pos, u->provider))
    return -1;
  if (u->ns_uuid[0] || u->ns_name[0]) {
    char ns[300];
    snprintf(ns, sizeof ns, "@%s#%s", u->ns_uuid, u->ns_name);
    if (raw_append(out, n, &pos, "&namespace=") || pct_append(out, n, &pos, ns, 0))
      return -1;
  }
  return 0;
}

int aisf_bucket_url(const char *endpoint, const aisfetch_uri *u, char *out, size_t n)
{
  size_t pos = 0;
  if (n == 0)
    return -1;
  out[0] = '\0';
  if (raw_append(out, n, &pos, endpoint) || raw_append(out, n, &pos, "/v1/buckets/") ||
      pct_append(out, n, &pos, u->bucket, 0) || raw_append(out, n, &pos, "?provider=") ||
      raw_append(out, n, &pos, u->provider))
    return -1;
  if (u->ns_uuid[0] || u->ns_name[0]) {
    char ns[300];
    snprintf(ns, sizeof ns, "@%s#%s", u->ns_uuid, u->ns_name);
    if (raw_append(out, n, &pos, "&namespace=") || pct_append(out, n, &pos, ns, 0))
      return -1;
  }
  return 0;
}

void aisf_url_drop_param(char *url, const char *name)
{
  char *q = strchr(url, '?');
  if (!q)
    return;
  size_t nlen = strlen(name);
  char *p = q + 1;
  while (*p) {
    char *end = strchr(p, '&');
    size_t seg = end ? (size_t)(end - p) : strlen(p);
    if (seg >= nlen && strncmp(p, name, nlen) == 0 && (p[nlen] == '=' || seg == nlen)) {
      if (end)
        memmove(p, end + 1, strlen(end + 1) + 1);
      else {
        /* last parameter: drop the separator before it too */
        p[-1] = '\0';
        break;
      }
      continue;
    }
    if (!end)
      break;
    p = end + 1;
  }
}

/* Copies into memory nobody reads soon (a ring slot) with non-temporal
 * stores where the CPU has them: the destination's cache lines are not read
 * before they are written, and libcurl's buffer stays in the cache.  Half
 * the time of memcpy here for 64-256 KiB pieces into a 128 MiB ring. */
void aisf_copy_stream(void *dst, const void *src, size_t n)
{
#if defined(__SSE2__)
  uint8_t *d = dst;
  const uint8_t *s = src;
  size_t head = (16 - ((uintptr_t)d & 15)) & 15;
  if (n < 256) {
    memcpy(d, s, n);
    return;
  }
  memcpy(d, s, head);
  d += head;
  s += head;
  n -= head;
  for (; n >= 64; n -= 64, d += 64, s += 64) {
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + 32));
    __m128i e = _mm_loadu_si128((const __m128i *)(const void *)(s + 48));
    _mm_stream_si128((__m128i *)(void *)d, a);
    _mm_stream_si128((__m128i *)(void *)(d + 16), b);
    _mm_stream_si128((__m128i *)(void *)(d + 32), c);
    _mm_stream_si128((__m128i *)(void *)(d + 48), e);
  }
  _mm_sfence();
  memcpy(d, s, n);
#else
  memcpy(dst, src, n);
#endif
}
