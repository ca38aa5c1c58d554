/* Unit tests of the pieces that need no server: URIs, endpoints, object
 * URLs, Content-Range, AIStore's error JSON, checksums, backoff, the copy
 * into slots. */
#include "internal.h"
#include "testutil.h"

#include <stdint.h>
#include <string.h>

static void test_uris(void)
{
  static const struct {
    const char *uri;
    int ok;
    const char *provider, *uuid, *ns, *bucket, *object;
  } t[] = {
    {"ais://videos/clip.mp4", 1, "ais", "", "", "videos", "clip.mp4"},
    {"videos/clip.mp4", 1, "ais", "", "", "videos", "clip.mp4"},
    {"s3://b/o", 1, "aws", "", "", "b", "o"},
    {"aws://b/o", 1, "aws", "", "", "b", "o"},
    {"gs://b/o", 1, "gcp", "", "", "b", "o"},
    {"gcp://b/o", 1, "gcp", "", "", "b", "o"},
    {"az://b/o", 1, "azure", "", "", "b", "o"},
    {"azure://b/o", 1, "azure", "", "", "b", "o"},
    {"oc://b/o", 1, "oci", "", "", "b", "o"},
    {"oci://b/o", 1, "oci", "", "", "b", "o"},
    {"ais://b/dir/sub/file name.mp4", 1, "ais", "", "", "b", "dir/sub/file name.mp4"},
    {"ais://@uuid1#ns1/b/o", 1, "ais", "uuid1", "ns1", "b", "o"},
    {"ais://@#ns1/b/o", 1, "ais", "", "ns1", "b", "o"},
    {"ais://@uuid1/b/o", 1, "ais", "uuid1", "", "b", "o"},
    {"ais://my-bucket_1.x/o", 1, "ais", "", "", "my-bucket_1.x", "o"},
    {"ais://b/o?x=1", 1, "ais", "", "", "b", "o?x=1"},
    {"", 0, 0, 0, 0, 0, 0},
    {"ht://b/o", 0, 0, 0, 0, 0, 0},
    {"http://b/o", 0, 0, 0, 0, 0, 0},
    {"AIS://b/o", 0, 0, 0, 0, 0, 0},
    {"ais://", 0, 0, 0, 0, 0, 0},
    {"ais://b", 0, 0, 0, 0, 0, 0},
    {"ais://b/", 0, 0, 0, 0, 0, 0},
    {"ais:///o", 0, 0, 0, 0, 0, 0},
    {"ais://b a/o", 0, 0, 0, 0, 0, 0},
    {"ais://../o", 0, 0, 0, 0, 0, 0},
    {"ais://@/b/o", 0, 0, 0, 0, 0, 0},
    {"ais://@u#n", 0, 0, 0, 0, 0, 0},
    {"ais://b/o\n", 0, 0, 0, 0, 0, 0},
    {"ais://b\x7f/o", 0, 0, 0, 0, 0, 0},
    {"bucket", 0, 0, 0, 0, 0, 0},
    {"://b/o", 0, 0, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    aisfetch_uri u;
    aisfetch_error e;
    memset(&e, 0, sizeof e);
    aisfetch_errkind k = aisfetch_uri_parse(t[i].uri, &u, &e);
    if (t[i].ok) {
      CHECKF(k == AISFETCH_OK, "'%s': %s", t[i].uri, e.message);
      if (k == AISFETCH_OK) {
        CHECKF(!strcmp(u.provider, t[i].provider), "'%s' provider %s", t[i].uri, u.provider);
        CHECKF(!strcmp(u.ns_uuid, t[i].uuid), "'%s' uuid %s", t[i].uri, u.ns_uuid);
        CHECKF(!strcmp(u.ns_name, t[i].ns), "'%s' ns %s", t[i].uri, u.ns_name);
        CHECKF(!strcmp(u.bucket, t[i].bucket), "'%s' bucket %s", t[i].uri, u.bucket);
        CHECKF(!strcmp(u.object, t[i].object), "'%s' object %s", t[i].uri, u.object);
      }
    } else {
      CHECKF(k == AISFETCH_E_ARG, "'%s' accepted", t[i].uri);
      CHECKF(e.message[0] != '\0', "'%s' without a message", t[i].uri);
    }
  }
  aisfetch_uri u;
  CHECK(aisfetch_uri_parse(NULL, &u, NULL) == AISFETCH_E_ARG);
  char big[3000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  big[10] = '/';
  CHECK(aisfetch_uri_parse(big, &u, NULL) == AISFETCH_E_ARG); /* object too long */
}

static void test_endpoints(void)
{
  static const struct {
    const char *ep;
    const char *want; /* NULL: rejected */
  } t[] = {
    {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
    {"http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
    {"https://ais.example.com", "https://ais.example.com"},
    {"http://[::1]:51080", "http://[::1]:51080"},
    {"http://host/prefix/", "http://host/prefix"},
    {"", NULL},
    {"127.0.0.1:8080", NULL},
    {"ftp://h", NULL},
    {"http://", NULL},
    {"http://:80", NULL},
    {"http://h:0", NULL},
    {"http://h:65536", NULL},
    {"http://h:80x", NULL},
    {"http://h:", NULL},
    {"http://h?x=1", NULL},
    {"http://h#f", NULL},
    {"http://h o", NULL},
    {"http://[::1", NULL},
    {"http://h\r\n", NULL},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char out[256];
    aisfetch_error e;
    aisfetch_errkind k = aisfetch_endpoint_parse(t[i].ep, out, sizeof out, &e);
    if (t[i].want) {
      CHECKF(k == AISFETCH_OK && !strcmp(out, t[i].want), "'%s' -> %d '%s'", t[i].ep, k,
             k ? e.message : out);
    } else {
      CHECKF(k == AISFETCH_E_ARG && e.message[0], "'%s' accepted", t[i].ep);
    }
  }
}

static void test_object_url(void)
{
  aisfetch_uri u;
  char url[1024];
  REQUIRE(aisfetch_uri_parse("s3://@u#n/b/dir/a b%#?.mp4", &u, NULL) == AISFETCH_OK);
  REQUIRE(aisf_object_url("http://h:1", &u, url, sizeof url) == 0);
  CHECKF(!strcmp(url, "http://h:1/v1/objects/b/dir/a%20b%25%23%3F.mp4?provider=aws&namespace=%40u%23n"),
         "%s", url);
  REQUIRE(aisfetch_uri_parse("b/o", &u, NULL) == AISFETCH_OK);
  REQUIRE(aisf_object_url("http://h:1", &u, url, sizeof url) == 0);
  CHECKF(!strcmp(url, "http://h:1/v1/objects/b/o?provider=ais"), "%s", url);
  CHECK(aisf_object_url("http://h:1", &u, url, 20) == -1);

  char t1[] = "http://t/v1/objects/b/o?provider=ais&props=size,version&pid=p1&utm=5";
  aisf_url_drop_param(t1, "props");
  CHECKF(!strcmp(t1, "http://t/v1/objects/b/o?provider=ais&pid=p1&utm=5"), "%s", t1);
  char t2[] = "http://t/o?provider=ais&props=x";
  aisf_url_drop_param(t2, "props");
  CHECKF(!strcmp(t2, "http://t/o?provider=ais"), "%s", t2);
  char t3[] = "http://t/o?props=x&propsy=1";
  aisf_url_drop_param(t3, "props");
  CHECKF(!strcmp(t3, "http://t/o?propsy=1"), "%s", t3);
}

static void test_content_range(void)
{
  static const struct {
    const char *v;
    int ok;
    uint64_t a, b, size;
    int unsat;
  } t[] = {
    {"bytes 0-99/100", 1, 0, 99, 100, 0},
    {"bytes 5-5/6", 1, 5, 5, 6, 0},
    {"bytes 4294967296-4294967300/5000000000", 1, 4294967296ull, 4294967300ull, 5000000000ull, 0},
    {"bytes */100", 1, 0, 0, 100, 1},
    {"bytes 0-100/100", 0, 0, 0, 0, 0},
    {"bytes 10-5/100", 0, 0, 0, 0, 0},
    {"bytes 0-99/*", 0, 0, 0, 0, 0},
    {"bytes 0-99", 0, 0, 0, 0, 0},
    {"items 0-99/100", 0, 0, 0, 0, 0},
    {"bytes -5-9/100", 0, 0, 0, 0, 0},
    {"bytes 0-99/18446744073709551616", 0, 0, 0, 0, 0},
    {"bytes 0- 9/100", 0, 0, 0, 0, 0},
    {"", 0, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    uint64_t a = 0, b = 0, s = 0;
    int un = 0;
    int rc = aisf_parse_content_range(t[i].v, strlen(t[i].v), &a, &b, &s, &un);
    if (t[i].ok)
      CHECKF(rc == 0 && s == t[i].size && un == t[i].unsat && (un || (a == t[i].a && b == t[i].b)),
             "'%s'", t[i].v);
    else
      CHECKF(rc != 0, "'%s' accepted", t[i].v);
  }
  aisf_resp r;
  aisf_resp_reset(&r);
  const char *lines[] = {"HTTP/1.1 206 Partial Content\r\n", "Content-Range: bytes 0-9/10\r\n",
                         "content-length:  10 \r\n", "Ais-Version: 3\r\n",
                         "Ais-Checksum-Type: xxhash2\r\n", "Ais-Checksum-Value: abc\r\n",
                         "Retry-After: 7\r\n", "Ais-Chunks-Max-Chunk-Size: 1048576\r\n",
                         "Ais-Chunks-Count: 3\r\n"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    aisf_resp_header(&r, lines[i], strlen(lines[i]));
  CHECK(r.status == 206 && r.have_content_range && r.cr_end == 9 && r.content_length == 10);
  CHECK(!strcmp(r.version, "3") && !strcmp(r.cksum_type, "xxhash2") && !strcmp(r.cksum_value, "abc"));
  CHECK(r.retry_after_s == 7 && r.chunks_max == 1048576 && r.chunks_count == 3 && !r.malformed);
  const char *bad = "Content-Length: 12x\r\n";
  aisf_resp_header(&r, bad, strlen(bad));
  CHECK(r.malformed && !strcmp(r.malformed_what, "Content-Length"));
  const char *st = "HTTP/1.1 404 Not Found\r\n";
  aisf_resp_header(&r, st, strlen(st));
  CHECK(r.status == 404 && !r.malformed && !r.have_content_range);
  const char *he = "Hdr-Error: {\"message\":\"ais://b/o does not exist\",\"status\":404}\r\n";
  aisf_resp_header(&r, he, strlen(he));
  CHECKF(!strcmp(r.hdr_error, "ais://b/o does not exist"), "%s", r.hdr_error);
}

static void test_error_json(void)
{
  static const struct {
    const char *body;
    const char *want; /* NULL: not found */
  } t[] = {
    {"{\"tcode\":\"ErrNotFound\",\"message\":\"ais://b/o does not exist\",\"status\":404}",
     "ais://b/o does not exist"},
    {" { \"a\" : [1, {\"message\":\"inner\"}], \"message\" : \"x\\\"y\\n\\u0041\" } ", "x\"y A"},
    {"{\"status\":404,\"node\":{\"id\":\"t1\"},\"message\":\"m\"}", "m"},
    {"{\"message\":1}", NULL},
    {"{\"message\":\"unterminated}", NULL},
    {"not json", NULL},
    {"", NULL},
    {"{}", NULL},
    {"{\"a\":}", NULL},
    {"{\"message\":\"bad \\x escape\"}", NULL},
    {"[\"message\",\"x\"]", NULL},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char out[256];
    int rc = aisf_parse_error_json(t[i].body, strlen(t[i].body), out, sizeof out);
    if (t[i].want)
      CHECKF(rc == 0 && !strcmp(out, t[i].want), "'%s' -> '%s'", t[i].body, out);
    else
      CHECKF(rc != 0, "'%s' -> '%s'", t[i].body, out);
  }
  char small[4];
  const char *b = "{\"message\":\"a long message\"}";
  CHECK(aisf_parse_error_json(b, strlen(b), small, sizeof small) == 0 && !strcmp(small, "a l"));
  /* deep nesting must not recurse without bound */
  char deep[4096];
  size_t n = 0;
  n += (size_t)snprintf(deep, sizeof deep, "{\"a\":");
  for (int i = 0; i < 1000; i++)
    deep[n++] = '[';
  deep[n] = '\0';
  CHECK(aisf_parse_error_json(deep, n, small, sizeof small) != 0);
}

static void hash_of(const char *type, const char *data, char *out, size_t n)
{
  int known;
  aisf_hash *h = aisf_hash_new(type, &known);
  REQUIRE(h && known);
  aisf_hash_update(h, data, strlen(data));
  aisf_hash_final(h, out, n);
}

static void test_checksums(void)
{
  char out[160];
  /* published test vectors */
  hash_of("xxhash", "", out, sizeof out);
  CHECKF(!strcmp(out, "ef46db3751d8e999"), "xxh64('') %s", out);
  hash_of("xxhash2", "abc", out, sizeof out);
  CHECKF(!strcmp(out, "44bc2cf5ad770999"), "xxh64(abc) %s", out);
  hash_of("crc32c", "123456789", out, sizeof out);
  CHECKF(!strcmp(out, "e3069283"), "crc32c %s", out);
  hash_of("md5", "abc", out, sizeof out);
  CHECKF(!strcmp(out, "900150983cd24fb0d6963f7d28e17f72"), "md5 %s", out);
  hash_of("sha256", "abc", out, sizeof out);
  CHECKF(!strcmp(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256 %s", out);
  hash_of("sha512", "abc", out, sizeof out);
  CHECKF(!strncmp(out, "ddaf35a193617abacc417349ae204131", 32) && strlen(out) == 128, "sha512 %s", out);
  int known;
  CHECK(aisf_hash_new("none", &known) == NULL && known == 1);
  CHECK(aisf_hash_new("", &known) == NULL && known == 0);
  CHECK(aisf_hash_new("sha1", &known) == NULL && known == 0);
  /* crc32c in pieces equals crc32c at once */
  char buf[1000];
  for (int i = 0; i < 1000; i++)
    buf[i] = (char)(i * 7 + 3);
  uint32_t a = aisf_crc32c(0, buf, 1000);
  uint32_t b = aisf_crc32c(aisf_crc32c(0, buf, 333), buf + 333, 667);
  CHECK(a == b);
}

static void test_backoff(void)
{
  uint64_t seed = 42;
  for (unsigned n = 1; n < 20; n++) {
    long ms = aisf_backoff_ms(n, &seed, -1);
    CHECKF(ms >= 50 && ms <= 5000, "backoff(%u) = %ld", n, ms);
  }
  CHECK(aisf_backoff_ms(1, &seed, 2) == 2000);
  CHECK(aisf_backoff_ms(1, &seed, 3600) == 30000);
}

/* every alignment of both ends, lengths around the 256-byte and 64-byte
 * steps; the bytes around the destination stay untouched */
static void test_copy_stream(void)
{
  static uint8_t src[4096 + 64], dst[4096 + 128], ref[4096 + 128];
  for (size_t i = 0; i < sizeof src; i++)
    src[i] = (uint8_t)(i * 131 + 7);
  const size_t lens[] = {0, 1, 15, 63, 64, 255, 256, 257, 319, 320, 1000, 4095, 4096};
  int bad = 0;
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
    for (size_t so = 0; so < 32; so += 3)
      for (size_t d = 0; d < 48; d++) {
        memset(dst, 0xA5, sizeof dst);
        memset(ref, 0xA5, sizeof ref);
        memcpy(ref + d, src + so, lens[li]);
        aisf_copy_stream(dst + d, src + so, lens[li]);
        bad += memcmp(dst, ref, sizeof dst) != 0;
      }
  CHECKF(bad == 0, "%d copies differ from memcpy", bad);
}

/* the open's prefix GET is used only when its answer is the exact range of
 * the object the HEAD described */
static void test_prefix_usable(void)
{
  static uint8_t buf[64 * 1024];
  aisfetch_object_info info;
  memset(&info, 0, sizeof info);
  info.size = 100000;
  strcpy(info.version, "3");
  strcpy(info.checksum_type, "xxhash2");
  strcpy(info.checksum_value, "0123456789abcdef");
  const char *good[] = {"HTTP/1.1 206 Partial Content", "Content-Range: bytes 0-65535/100000",
                        "Content-Length: 65536", "Ais-Version: 3", "Ais-Checksum-Type: xxhash2",
                        "Ais-Checksum-Value: 0123456789abcdef"};
  struct {
    int drop;            /* index of the good header left out, -1 none */
    const char *extra;   /* a header line added after, or NULL */
    size_t len;
    int complete;
    size_t want;
  } cases[] = {
    {-1, NULL, 65536, 1, 65536},
    {-1, NULL, 65535, 1, 0},                      /* complete yet short */
    {-1, NULL, 10000, 0, 8192},                   /* cut: whole pages */
    {-1, NULL, 4095, 0, 0},
    {2, NULL, 65536, 1, 65536},                   /* no Content-Length is fine */
    {1, NULL, 65536, 1, 0},                       /* no Content-Range */
    {-1, "Content-Range: bytes 1-65536/100000", 65536, 1, 0},
    {-1, "Content-Range: bytes 0-65535/100001", 65536, 1, 0},
    {-1, "Content-Range: bytes 0-65534/100000", 65536, 1, 0},
    {-1, "Content-Length: 65537", 65536, 1, 0},
    {-1, "Content-Range: bytes x-y/z", 65536, 1, 0}, /* malformed */
    {-1, "Ais-Version: 4", 65536, 1, 0},
    {3, NULL, 65536, 1, 0},                       /* no version, the HEAD had one */
    {-1, "Ais-Checksum-Value: 0123456789abcdee", 65536, 1, 0},
    {-1, "ETag: \"x\"", 65536, 1, 65536},          /* the HEAD had no ETag */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    aisf_prefix p;
    memset(&p, 0, sizeof p);
    p.buf = buf;
    p.cap = sizeof buf;
    p.len = cases[i].len;
    p.complete = cases[i].complete;
    aisf_resp_reset(&p.resp);
    for (int h = 0; h < 6; h++)
      if (h != cases[i].drop)
        aisf_resp_header(&p.resp, good[h], strlen(good[h]));
    if (cases[i].extra) {
      /* a second value replaces the first, as a server that says it twice */
      aisf_prefix q = p;
      aisf_resp_reset(&q.resp);
      for (int h = 0; h < 6; h++) {
        const char *line = good[h];
        if (h != cases[i].drop && strncmp(line, cases[i].extra, strcspn(cases[i].extra, ":") + 1))
          aisf_resp_header(&q.resp, line, strlen(line));
      }
      aisf_resp_header(&q.resp, cases[i].extra, strlen(cases[i].extra));
      p = q;
    }
    size_t got = aisf_prefix_usable(&p, &info);
    CHECKF(got == cases[i].want, "case %zu: %zu usable, expected %zu", i, got, cases[i].want);
  }
  /* a 200 (the whole object, Range ignored) is never used */
  aisf_prefix p;
  memset(&p, 0, sizeof p);
  p.buf = buf;
  p.cap = sizeof buf;
  p.len = 65536;
  p.complete = 1;
  aisf_resp_reset(&p.resp);
  aisf_resp_header(&p.resp, "HTTP/1.1 200 OK", 15);
  for (int h = 1; h < 6; h++)
    aisf_resp_header(&p.resp, good[h], strlen(good[h]));
  CHECK(aisf_prefix_usable(&p, &info) == 0);
  /* an object smaller than the prefix: the whole object */
  info.size = 1000;
  aisf_resp_reset(&p.resp);
  const char *small[] = {"HTTP/1.1 206 Partial Content", "Content-Range: bytes 0-999/1000",
                         "Ais-Version: 3", "Ais-Checksum-Type: xxhash2",
                         "Ais-Checksum-Value: 0123456789abcdef"};
  for (int h = 0; h < 5; h++)
    aisf_resp_header(&p.resp, small[h], strlen(small[h]));
  p.len = 1000;
  CHECK(aisf_prefix_usable(&p, &info) == 1000);
  info.size = 0;
  CHECK(aisf_prefix_usable(&p, &info) == 0);
}

static void test_open_arguments(void)
{
  aisfetch_options o;
  aisfetch_reader *r = NULL;
  aisfetch_error e;
  aisfetch_options_init(&o);
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && r == NULL); /* no URI */
  o.uri = "ais://b/o";
  o.endpoint = "ftp://x";
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && strstr(e.message, "http://"));
  o.endpoint = "http://127.0.0.1:1";
  o.num_workers = 257;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && strstr(e.message, "num_workers"));
  o.num_workers = 8;
  o.chunk_size = 4095;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && strstr(e.message, "chunk_size"));
  o.chunk_size = ((size_t)256 << 20) + 1;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && strstr(e.message, "chunk_size"));
  o.chunk_size = 0;
  o.slots = 1025;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && strstr(e.message, "slots"));
  o.slots = 0;
  o.worker_mode = (aisfetch_worker_mode)7;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && strstr(e.message, "worker mode"));
  o.worker_mode = AISFETCH_WORKER_PROCESS;
  o.token = "a\r\nX-Injected: 1";
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && strstr(e.message, "token"));
  o.token = NULL;
  const char *bad_hdr[] = {"NoColon", NULL};
  o.extra_headers = bad_hdr;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && strstr(e.message, "extra header"));
  o.extra_headers = NULL;
  o.connect_timeout_ms = -1;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG);
  o.connect_timeout_ms = 0;
  o.first_bytes = -2;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && strstr(e.message, "first_bytes"));
  o.first_bytes = (256L << 20) + 1;
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_ARG && strstr(e.message, "first_bytes"));
  o.first_bytes = 0;
  o.connect_timeout_ms = 200;
  o.retries = 0;
  /* nothing listens on port 1: a network error, quickly */
  CHECK(aisfetch_open(&o, &r, &e) == AISFETCH_E_NETWORK && r == NULL);
  CHECKF(strstr(e.message, "HEAD") != NULL, "%s", e.message);
  aisfetch_close(NULL);
  for (int k = 0; k <= AISFETCH_E_WRITE; k++)
    CHECK(strcmp(aisfetch_errkind_name((aisfetch_errkind)k), "unknown error") != 0);
}

static void test_list_page(void)
{
  aisf_list_page pg;
  memset(&pg, 0, sizeof pg);
  char why[160];
  const char *a =
      "{\"uuid\":\"kQ3rN8pXa\",\"continuation_token\":\"d/b\",\"entries\":["
      "{\"name\":\"d/a\",\"checksum\":\"a8c1f0e2b3d4c5e6\",\"atime\":\"21 Aug 26 19:17 UTC\","
      "\"version\":\"1\",\"size\":\"1048576\",\"flags\":64},"
      "{\"name\":\"d/\\\"q\\u00e9\\ud83d\\ude00\\n\xff\",\"size\":5,\"custom-md\":\"x\","
      "\"copies\":1,\"location\":{\"a\":[1,2,{\"b\":null}]}},"
      "{\"name\":\"d/empty\"}],\"flags\":0}\n";
  CHECK(aisf_parse_list(a, strlen(a), &pg, why, sizeof why) == 0);
  CHECK(pg.n == 3 && strcmp(pg.uuid, "kQ3rN8pXa") == 0 && strcmp(pg.token, "d/b") == 0);
  if (pg.n == 3) {
    CHECK(strcmp(pg.arena + pg.v[0].name, "d/a") == 0 && pg.v[0].size == 1048576);
    CHECK(strcmp(pg.arena + pg.v[0].checksum, "a8c1f0e2b3d4c5e6") == 0);
    CHECK(strcmp(pg.arena + pg.v[0].version, "1") == 0 && pg.v[0].flags == 64);
    /* escapes, a surrogate pair, and a raw byte that is not UTF-8, kept as it came */
    CHECK(strcmp(pg.arena + pg.v[1].name, "d/\"q\xc3\xa9\xf0\x9f\x98\x80\n\xff") == 0);
    CHECK(pg.v[1].size == 5 && pg.arena[pg.v[1].version] == '\0');
    CHECK(pg.v[2].size == 0 && strcmp(pg.arena + pg.v[2].name, "d/empty") == 0);
  }
  const char *end = "{\"uuid\":\"u\",\"continuation_token\":\"\",\"entries\":null,\"flags\":0}";
  CHECK(aisf_parse_list(end, strlen(end), &pg, why, sizeof why) == 0 && pg.n == 0 &&
        pg.token[0] == '\0');
  static const char *const bad[] = {
      "",
      "{",
      "[]",
      "{\"entries\":[{\"size\":\"1\"}]}",            /* no name */
      "{\"entries\":[{\"name\":\"a\",\"size\":\"-1\"}]}",
      "{\"entries\":[{\"name\":\"a\",\"size\":\"1.5\"}]}",
      "{\"entries\":[{\"name\":\"a\",\"size\":\"99999999999999999999\"}]}",
      "{\"entries\":[{\"name\":\"a\",\"size\":\"9223372036854775808\"}]}", /* > 2^63 - 1 */
      "{\"entries\":[{\"name\":\"\",\"size\":\"1\"}]}",         /* would read as the end */
      "{\"entries\":[{\"name\":\"a\\u0000b\"}]}",      /* a NUL in a name */
      "{\"entries\":[{\"name\":\"a\nb\"}]}",            /* a raw control character */
      "{\"entries\":[{\"name\":\"a\\x\"}]}",
      "{\"entries\":[{\"name\":\"a\"}]} x",
      "{\"entries\":[{\"name\":\"a\"},]}",
      "{\"uuid\":\"u\",\"entries\":[{\"name\":\"a\"}]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why[0] = '\0';
    CHECKF(aisf_parse_list(bad[i], strlen(bad[i]), &pg, why, sizeof why) == -1 && why[0] &&
               pg.n == 0,
           "bad page %zu parsed", i);
  }
  /* nesting is bounded */
  char deep[400];
  size_t k = (size_t)snprintf(deep, sizeof deep, "{\"x\":");
  while (k < 300)
    deep[k++] = '[';
  deep[k] = '\0';
  CHECK(aisf_parse_list(deep, k, &pg, why, sizeof why) == -1);
  aisf_list_page_free(&pg);
}

int main(void)
{
  test_list_page();
  test_uris();
  test_endpoints();
  test_object_url();
  test_content_range();
  test_error_json();
  test_checksums();
  test_backoff();
  test_copy_stream();
  test_prefix_usable();
  test_open_arguments();
  return tu_finish("test_unit");
}
