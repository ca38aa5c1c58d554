/* libaisfetch internals shared by the reader, the worker loop and the helper. */
#ifndef AISFETCH_INTERNAL_H
#define AISFETCH_INTERNAL_H

#include "aisfetch.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define AISF_URL_MAX 4096

/* ---- errors ---- */
void aisf_seterr(aisfetch_error *err, aisfetch_errkind kind, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
aisfetch_errkind aisf_fail(aisfetch_error *err, aisfetch_errkind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- small string helpers ---- */
size_t aisf_strlcpy(char *dst, const char *src, size_t n);
uint64_t aisf_now_ns(void);
void aisf_copy_stream(void *dst, const void *src, size_t n);
/* aisfetch_read_all() copies objects from this size on with aisf_copy_stream() */
#define AISF_STREAM_COPY_MIN ((uint64_t)16 << 20)

/* ---- URLs ---- */
/* proxy URL of an object: ENDPOINT/v1/objects/BUCKET/OBJECT?provider=P[&namespace=...] */
int aisf_object_url(const char *endpoint, const aisfetch_uri *u, char *out, size_t n);
/* the bucket's URL: ENDPOINT/v1/buckets/BUCKET?provider=P[&namespace=...] */
int aisf_bucket_url(const char *endpoint, const aisfetch_uri *u, char *out, size_t n);
/* removes one query parameter (name=...) from url, in place */
void aisf_url_drop_param(char *url, const char *name);

/* ---- response headers and validation ---- */
typedef struct {
  long status;
  int have_content_range;
  int content_range_unsatisfied; /* "bytes STAR/SIZE" */
  uint64_t cr_start, cr_end, cr_size;
  int have_content_length;
  uint64_t content_length;
  char version[128];
  int have_version;
  char cksum_type[16];
  char cksum_value[160];
  int have_cksum;
  char etag[160];
  int have_etag;
  uint64_t chunks_max;
  unsigned chunks_count;
  long retry_after_s; /* -1: none */
  char hdr_error[1024];
  int malformed;      /* a header we rely on could not be parsed */
  char malformed_what[128];
} aisf_resp;

void aisf_resp_reset(aisf_resp *r);
/* Feeds one raw header line (with or without CRLF); a status line resets. */
void aisf_resp_header(aisf_resp *r, const char *line, size_t len);

/* "bytes A-B/SIZE" or "bytes * /SIZE" (no space); 0 on success */
int aisf_parse_content_range(const char *v, size_t len, uint64_t *a, uint64_t *b, uint64_t *size,
                             int *unsatisfied);
/* AIStore's JSON error body: extracts "message" into out; 0 when found */
int aisf_parse_error_json(const char *body, size_t len, char *out, size_t n);

/* An answer from another version of the object than the HEAD's: 'v' (version),
 * 'c' (checksum) or 'e' (ETag) differs, else 0.  version and etag are "" when
 * the HEAD had none; have_cksum says whether it had a checksum; a cksum_type
 * of "" (a listing's entry) compares the value only. */
int aisf_resp_other_object(const aisf_resp *r, const char *version, int have_cksum,
                           const char *cksum_type, const char *cksum_value, const char *etag);

/* ---- HTTP settings shared by the HEAD (reader) and the ranges (workers) ---- */
typedef struct {
  long connect_timeout_ms;
  long stall_timeout_ms;
  unsigned retries;
  int skip_verify;
  char ca_file[1024];
  char user_agent[256];
  struct curl_slist *headers; /* token + extra headers */
} aisf_http_cfg;

void aisf_http_apply(CURL *e, const aisf_http_cfg *cfg);
/* classify an HTTP status of a failed answer */
aisfetch_errkind aisf_status_kind(long status);
int aisf_status_retryable(long status);
int aisf_curl_retryable(CURLcode rc);
aisfetch_errkind aisf_curl_kind(CURLcode rc);
/* backoff before try n (1-based) in ms, with jitter from *seed */
long aisf_backoff_ms(unsigned n, uint64_t *seed, long retry_after_s);

/* endpoint, timeouts, retries, TLS, user agent, token and extra headers of
 * the options (and the environment) */
aisfetch_errkind aisf_setup_http(aisf_http_cfg *http, char *endpoint, size_t endpoint_n,
                                 const aisfetch_options *o, aisfetch_error *err);

/* ---- a listing page ---- */
typedef struct {
  size_t name, checksum, version, atime; /* offsets of NUL-terminated strings in the arena */
  uint64_t size, flags;
} aisf_list_entry;

typedef struct {
  aisf_list_entry *v;
  size_t n, cap;
  char *arena;
  size_t arena_len, arena_cap;
  char uuid[256];
  char token[2048];
} aisf_list_page;

/* AIStore's list-objects answer (JSON): 0, or -1 with what is wrong in why */
int aisf_parse_list(const char *body, size_t len, aisf_list_page *pg, char *why, size_t whyn);
void aisf_list_page_free(aisf_list_page *pg);

/* ---- the HEAD ---- */
/* A ranged GET of the object's first bytes, sent together with the HEAD: the
 * first bytes one round trip sooner, and a small object in one round trip. */
typedef struct {
  uint8_t *buf;
  size_t cap;         /* asks bytes=0-(cap-1) */
  size_t len;         /* bytes received */
  int complete;       /* the answer ended without error */
  uint64_t redirects;
  aisf_resp resp;
} aisf_prefix;

/* With pre non-NULL, its GET runs alongside the HEAD.  Once the HEAD is in,
 * the GET gets as long again as the HEAD took (at least 10 ms), and one
 * second more when it holds the whole object; for a larger object, the
 * wait ends once 64 KiB are in. */
aisfetch_errkind aisf_head(const aisf_http_cfg *cfg, const char *url, aisfetch_object_info *info,
                           char *target_url, size_t target_n, uint64_t *redirects,
                           const atomic_int *cancel, int (*cancel_cb)(void *), void *cancel_ud,
                           aisf_prefix *pre, aisfetch_error *err);
/* The prefix bytes that may be used: an exact 206 for the object the HEAD
 * described; a cut answer is used to a multiple of 4 KiB.  0 if none. */
size_t aisf_prefix_usable(const aisf_prefix *pre, const aisfetch_object_info *info);

/* ---- checksums ---- */
typedef struct aisf_hash aisf_hash;
/* NULL for "none", "" or an unknown type (*known = 0 then) */
aisf_hash *aisf_hash_new(const char *type, int *known);
void aisf_hash_update(aisf_hash *h, const void *p, size_t n);
/* lowercase hex into out; frees h */
void aisf_hash_final(aisf_hash *h, char *out, size_t n);
void aisf_hash_free(aisf_hash *h);
uint32_t aisf_crc32c(uint32_t crc, const void *p, size_t n);

/* ---- parent <-> worker messages (SOCK_SEQPACKET) ---- */
/* NEAR (worker -> parent, an aisf_msg_abort): job_id is about to end, the
 * worker can take the next range now.  FAIL (worker -> parent, an
 * aisf_msg_result with the cause in message): the worker could not start or
 * take its CONFIG, and exits. */
enum { AISF_MSG_CONFIG = 1, AISF_MSG_JOB, AISF_MSG_ABORT, AISF_MSG_RESULT, AISF_MSG_NEAR,
       AISF_MSG_PROGRESS, AISF_MSG_FAIL };

typedef struct {
  uint32_t type;
  uint32_t nstrings;
  int64_t connect_timeout_ms;
  int64_t stall_timeout_ms;
  uint32_t retries;
  int32_t skip_verify;
  uint64_t stride;     /* bytes from one slot to the next */
  uint32_t nslots;
  uint32_t nfiles;     /* the ring's memfds, slot s in file s % nfiles: attached
                          (SCM_RIGHTS) for a process; a thread has the reader's */
  /* then NUL-separated strings: ca_file, user_agent, header lines... */
} aisf_msg_config;

/* What a range is checked against: its object as the HEAD or the listing
 * described it (a job carries it: one pool serves a sequence of objects) */
#define AISF_HAVE_VERSION 1u
#define AISF_HAVE_CKSUM 2u
#define AISF_HAVE_ETAG 4u
typedef struct {
  uint64_t size;
  uint32_t have;
  uint32_t pad;
  char version[128];
  char cksum_type[16]; /* "" with a value: a listing's, compared by value only */
  char cksum_value[160];
  char etag[160];
  char proxy_url[AISF_URL_MAX];
} aisf_objdesc;

/* a JOB's flag: PROGRESS asks for PROGRESS messages (someone waits on the
 * range's first bytes) */
#define AISF_JOB_PROGRESS 1u
/* FILE: the JOB carries a file (SCM_RIGHTS), the object's: the range goes
 * into it at its offset in the object (start), not into the slot */
#define AISF_JOB_FILE 2u

/* The ring is one memfd per slot up to this many; beyond, slot s lives in
 * file s % AISF_RING_FILES at (s / AISF_RING_FILES) x stride. */
#define AISF_RING_FILES 64

typedef struct {
  uint32_t type;
  uint32_t flags;
  uint64_t job_id;
  uint64_t slot_off;    /* slot x stride + where in the slot the range starts */
  uint64_t start;
  uint64_t len;
  char url[AISF_URL_MAX]; /* "" -> the proxy URL */
  aisf_objdesc obj;
} aisf_msg_job;

typedef struct {
  uint32_t type;
  uint32_t pad;
  uint64_t job_id;
} aisf_msg_abort;

/* worker -> parent: the first `bytes` of the job's slot are written and
 * checked, and no later try writes them again */
typedef struct {
  uint32_t type;
  uint32_t pad;
  uint64_t job_id;
  uint64_t bytes;
} aisf_msg_progress;

typedef struct {
  uint32_t type;
  int32_t kind;        /* aisfetch_errkind; AISFETCH_OK when the range is in the slot */
  uint64_t job_id;
  int32_t http_status;
  uint32_t tries;
  uint64_t bytes;
  uint64_t redirects;
  uint64_t busy_ns;
  char url[AISF_URL_MAX]; /* the URL that served the range (target) */
  char message[512];
  char server_message[512];
} aisf_msg_result;

#define AISF_MSG_MAX (64 * 1024)

/* parent <-> zygote: SPAWN carries the new worker's control socket
 * (SCM_RIGHTS); the answer is the worker's pid, or -errno */
/* QUIT: the reader is closing; its workers' sockets are closed, but copies
 * of them may live on in a child the host forked without exec, so the
 * workers are killed after a short grace instead of waiting for EOF */
enum { AISF_ZYG_SPAWN = 100, AISF_ZYG_SPAWNED, AISF_ZYG_QUIT };
typedef struct {
  uint32_t type;
  int32_t pid;
} aisf_msg_zygote;

/* The worker loop: reads CONFIG then JOBs (at most two at a time, the
 * second only after a NEAR) from ctrl_fd, writes RESULTs; returns when
 * ctrl_fd reaches EOF.  The same code for processes and threads.  files:
 * the ring's memfds, for a thread (the reader's own: not closed here, and
 * not duplicated once per worker); NULL for a process, which receives its
 * copies with the CONFIG and closes them.  A worker that cannot start sends
 * FAIL first. */
int aisf_worker_run(int ctrl_fd, const int *files, unsigned nfiles);

#endif
