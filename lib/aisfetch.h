/* libaisfetch: parallel, ordered range reads of AIStore objects.
 *
 * Worker processes (or threads) fetch byte ranges of one object, or of a
 * sequence of objects (a list of URIs, or every object under a prefix),
 * into a ring of slots in shared memory; the caller takes the bytes in
 * order, seeks, or reads at random offsets.  Every byte handed out has been validated against
 * the object's HEAD (206, exact Content-Range and length, same version and
 * checksum headers).
 *
 * Thread safety: one reader may be used from several threads.  All calls are
 * serialised internally (next, seek, read_range and read_all as whole calls:
 * one waits for another to return); aisfetch_release() and aisfetch_cancel() may be
 * called from any thread at any time, including while another thread is
 * blocked in aisfetch_next() or aisfetch_read_range().
 */
#ifndef AISFETCH_H
#define AISFETCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(AISFETCH_BUILDING)
#define AISFETCH_API __attribute__((visibility("default")))
#else
#define AISFETCH_API
#endif

#define AISFETCH_VERSION_MAJOR 0
#define AISFETCH_VERSION_MINOR 1
#define AISFETCH_VERSION_MICRO 0

/* Limits of the options. */
#define AISFETCH_MIN_CHUNK_SIZE ((size_t)4 << 10)
#define AISFETCH_MAX_CHUNK_SIZE ((size_t)256 << 20)
#define AISFETCH_DEFAULT_CHUNK_SIZE ((size_t)8 << 20)
#define AISFETCH_MAX_WORKERS 256
#define AISFETCH_MAX_SLOTS 1024
#define AISFETCH_DEFAULT_ENDPOINT "http://127.0.0.1:8080"

typedef enum {
  AISFETCH_OK = 0,
  AISFETCH_E_ARG,           /* bad argument: URI, endpoint, option out of range */
  AISFETCH_E_NOT_FOUND,     /* 404: bucket or object does not exist */
  AISFETCH_E_AUTH,          /* 401/403: token missing, invalid, expired, or not permitted */
  AISFETCH_E_CHANGED,       /* the object changed (version/checksum/size) during the read */
  AISFETCH_E_TIMEOUT,       /* connect or stall timeout, after retries */
  AISFETCH_E_NETWORK,       /* connection failed/reset, after retries */
  AISFETCH_E_PROTOCOL,      /* the server broke the protocol: not 206, wrong Content-Range, wrong length */
  AISFETCH_E_SERVER,        /* other HTTP error status (5xx, 429 after retries, 4xx) */
  AISFETCH_E_CHECKSUM,      /* end-to-end checksum mismatch */
  AISFETCH_E_CANCELLED,     /* aisfetch_cancel() was called */
  AISFETCH_E_SYSTEM,        /* out of memory, spawn/mmap/socket failure, a worker that keeps dying */
  AISFETCH_E_WRITE,         /* the caller's file (aisfetch_object_set_fd) could not be written */
} aisfetch_errkind;

typedef struct {
  aisfetch_errkind kind;
  int http_status;          /* 0 when no HTTP answer is involved */
  char message[512];        /* one line, specific: what failed, where */
  char server_message[512]; /* AIStore's own "message" from its JSON error body, or "" */
} aisfetch_error;

typedef enum {
  AISFETCH_WORKER_PROCESS = 0, /* posix_spawn of the worker helper (default) */
  AISFETCH_WORKER_THREAD = 1,  /* the same worker loop on threads */
} aisfetch_worker_mode;

typedef struct {
  /* What to read: exactly one of uri, uris and prefix.
   * uri: one object, "[provider://][@uuid#namespace/]bucket/object".
   * uris: a NULL-terminated list of object URIs, read in this order.
   * prefix: "[provider://][@uuid#namespace/]bucket/[prefix]": every object of
   *   the bucket whose name starts with prefix (none: all), in the order the
   *   cluster lists them (by name), listed page by page while reading.
   * A sequence is read as one stream, the objects end to end, through one
   * pool of workers and one ring: the first ranges of the next object are
   * fetched while the current one ends.  aisfetch_next() never returns bytes
   * of two objects in one chunk; the chunk says which object it is from. */
  const char *uri;
  const char *const *uris;
  const char *prefix;
  unsigned list_page_size;       /* prefix: entries per listing page; 0: the cluster's default */
  const char *endpoint;          /* NULL: $AIS_ENDPOINT, else AISFETCH_DEFAULT_ENDPOINT */

  unsigned num_workers;          /* 1..256; default 8; never more than the chunks (an
                                    object of one chunk is read by one thread, no process) */
  size_t chunk_size;             /* 0: the object's max chunk size, else 8 MiB; 4 KiB..256 MiB */
  unsigned slots;                /* 0: 2 x num_workers; 1..1024 */
  aisfetch_worker_mode worker_mode;
  /* bytes of the object's start that aisfetch_open() asks for itself, in a
     ranged GET sent together with the HEAD: the first bytes one round trip
     sooner, a small object in one round trip.  0: 1 MiB (never more than
     chunk_size when that is set); -1: none; else 1 .. 256 MiB */
  long first_bytes;
  /* 1: fetch nothing past the first bytes until the first aisfetch_next(),
     seek or read says where (a caller that may seek first, or read the end
     first, keeps the workers free for it); 0: read ahead from byte 0 at once */
  int start_idle;

  unsigned retries;              /* tries per range after the first; default 5 */
  long connect_timeout_ms;       /* 0: 10000 */
  long stall_timeout_ms;         /* no byte for this long aborts the try; 0: 20000 */

  const char *token;             /* NULL: $AIS_AUTHN_TOKEN; "" for none */
  const char *ca_file;           /* NULL: $AIS_CLIENT_CA */
  int skip_verify;               /* -1: $AIS_SKIP_VERIFY_CRT; 0 verify; 1 skip */
  const char *user_agent;        /* NULL: "libaisfetch/VERSION" */
  const char *const *extra_headers; /* NULL-terminated "Name: value" lines, or NULL */

  int verify_checksum;           /* 1: check the whole object's checksum when it is read in full
                                    order; a sequence: each object's read in order from its start
                                    (a listed object's type is told by its value's length) */
  const char *worker_path;       /* NULL: $AISFETCH_WORKER, else the installed helper */
  /* non-NULL: asked from aisfetch_open()'s thread at least every 100 ms while
     it waits on the HEAD, its retries or its backoff; non-zero gives up with
     AISFETCH_E_CANCELLED (e.g. a GStreamer element's unlock) */
  int (*open_cancelled)(void *user_data);
  void *open_cancelled_data;
} aisfetch_options;

typedef struct {
  uint64_t size;
  char version[128];
  char checksum_type[16];        /* "none", "xxhash", "xxhash2", "md5", "crc32c", "sha256", "sha512", or "" */
  char checksum_value[160];
  char etag[160];
  uint64_t max_chunk_size;       /* Ais-Chunks-Max-Chunk-Size, 0 when not chunked */
  unsigned chunk_count;          /* Ais-Chunks-Count, 0 when not chunked */
  size_t chunk_size;             /* the chunk size the reader uses */
  unsigned num_workers;          /* workers actually started */
  unsigned slots;                /* slots actually allocated */
  char target_url[1024];         /* the URL of the target that serves the object ("" before known) */
  char provider[8];              /* "ais", "aws", "gcp", "azure", "oci" */
  char bucket[256];
  char object[1024];
} aisfetch_object_info;

typedef struct {
  const uint8_t *data;  /* read-only slot memory, valid until aisfetch_release();
                         * NULL: already in the object's file (aisfetch_object_set_fd) */
  size_t len;
  uint64_t offset;      /* byte offset of data[0] in the stream (one object: in the object) */
  uint64_t object;      /* index of data's object in the sequence (0 for one object) */
  uint64_t object_offset; /* byte offset of data[0] in that object */
  /* private */
  unsigned slot_;
  uint64_t lease_;
} aisfetch_chunk;

typedef struct {
  uint64_t bytes;          /* bytes fetched and validated */
  uint64_t bytes_delivered;/* bytes handed to the caller */
  uint64_t ranges;         /* distinct ranges completed (a hedge's second copy not counted) */
  uint64_t retries;        /* range tries beyond the first */
  uint64_t redirects;      /* redirects followed */
  uint64_t respawns;       /* workers restarted after dying */
  uint64_t restarts;       /* window restarts (seeks, far random reads) */
  uint64_t hedges;         /* second requests for a range that lagged behind its peers */
  uint64_t evictions;      /* ranges read ahead, dropped for a nearer one (fetched again) */
  double elapsed_s;        /* since open */
  unsigned num_workers;
  uint64_t worker_busy_ns[AISFETCH_MAX_WORKERS]; /* per-worker time spent on ranges */
} aisfetch_stats;

typedef struct aisfetch_reader aisfetch_reader;

/* Defaults: num_workers 8, retries 5, skip_verify -1, the rest zero/NULL. */
AISFETCH_API void aisfetch_options_init(aisfetch_options *opts);

/* HEAD the object (and GET its first bytes alongside), plan the chunks, start
 * the workers (processes are forked in the background).  A 0-byte object
 * opens fine and reads as empty.  On failure returns the kind and fills *err.
 * A sequence: the first page of a prefix is listed before this returns (a
 * prefix with no object is AISFETCH_E_NOT_FOUND); the first object of uris is
 * HEADed, and if that fails, the open still succeeds and aisfetch_next()
 * returns the object's error when the read gets there. */
AISFETCH_API aisfetch_errkind aisfetch_open(const aisfetch_options *opts,
                                            aisfetch_reader **out,
                                            aisfetch_error *err);

/* The stream's size: one object's; a sequence's total once every object is
 * known (aisfetch_objects_known() says *complete), else the total so far. */
AISFETCH_API uint64_t aisfetch_size(const aisfetch_reader *r);
/* The object at the read position (a sequence: the one the next bytes come from). */
AISFETCH_API void aisfetch_object_info_get(aisfetch_reader *r, aisfetch_object_info *info);

/* ---- sequences (one object is a sequence of one) ---- */
/* How many objects are known so far; *complete (may be NULL) is 1 once the
 * listing or the HEADs are done and the count is final, -1 when the listing
 * failed for good (the count is final but not the whole prefix: the stream
 * ends in the listing's error), 0 while it goes on. */
AISFETCH_API uint64_t aisfetch_objects_known(aisfetch_reader *r, int *complete);
/* Object idx: its info, and where it starts in the stream (may be NULL).
 * Waits until it is known.  AISFETCH_E_ARG when the sequence turns out to have
 * no object idx; an object whose HEAD failed returns that error (its info
 * still names it).  info.object is the object's name without the prefix's
 * bucket; info.size is 0 until known. */
AISFETCH_API aisfetch_errkind aisfetch_object_at(aisfetch_reader *r, uint64_t idx,
                                                 aisfetch_object_info *info,
                                                 uint64_t *stream_offset, aisfetch_error *err);
/* Index of the object the next bytes come from (the count when at the end). */
AISFETCH_API uint64_t aisfetch_object_index(aisfetch_reader *r);
/* Go on at the start of the next object: skips the rest of the current one,
 * or an object that failed (a per-object error leaves the others readable).
 * An error of the whole reader (the listing failed after its retries, the
 * reader is closing) is returned instead: nothing can be skipped past it. */
AISFETCH_API aisfetch_errkind aisfetch_skip_object(aisfetch_reader *r, aisfetch_error *err);

/* Next bytes in order from the current position.  Blocks until they are
 * fetched: to the end of their slot, or, while the range at the position is
 * still arriving, the part of it already in (a range may come in pieces).
 * Returns AISFETCH_OK with chunk->len > 0, or AISFETCH_OK with
 * chunk->len == 0 at the end (or at the stop set by aisfetch_seek_range()). */
AISFETCH_API aisfetch_errkind aisfetch_next(aisfetch_reader *r, aisfetch_chunk *chunk,
                                            aisfetch_error *err);

/* Give a chunk's slot back to the ring.  Any thread; once per chunk. */
AISFETCH_API void aisfetch_release(aisfetch_reader *r, aisfetch_chunk *chunk);

/* Have the workers write object index's bytes straight into fd (at their
 * offsets in the object, with pwrite), instead of into the ring: for a
 * download into files, the bytes skip the ring and the caller's copy.  The
 * object must be known (index < aisfetch_objects_known()) and not yet read
 * past; fd open for writing, without O_APPEND.  The reader keeps a copy of fd
 * until the object's last byte is handed out (or the object is skipped, or
 * the reader closes).
 *
 * The chunks of such an object come from aisfetch_next() as usual, in order,
 * but with data == NULL: their bytes are in the file by then.  Ranges that
 * were already under way when fd was set still come through the ring (data
 * != NULL): the caller writes those itself, at object_offset.  Once a file is
 * set, the reader reads forward only (seek, read_range and read_all fail with
 * AISFETCH_E_ARG), and verify_checksum cannot be used with it (the checksum
 * is taken from the ring). */
AISFETCH_API aisfetch_errkind aisfetch_object_set_fd(aisfetch_reader *r, uint64_t index, int fd,
                                                     aisfetch_error *err);

/* Continue reading at offset (0..size).  Chunks already fetched that are
 * still in the new window are kept; the rest are dropped. */
AISFETCH_API aisfetch_errkind aisfetch_seek(aisfetch_reader *r, uint64_t offset,
                                            aisfetch_error *err);
/* Same, and stop before byte `stop` (UINT64_MAX: the end): nothing past the
 * chunk that holds it is fetched, nothing past it returned. */
AISFETCH_API aisfetch_errkind aisfetch_seek_range(aisfetch_reader *r, uint64_t offset,
                                                  uint64_t stop, aisfetch_error *err);

AISFETCH_API uint64_t aisfetch_tell(const aisfetch_reader *r);

/* Copy [offset, offset+len) into buf.  Reads near the stream position use the
 * ring; far ones restart the window there.  Short only at the end of the
 * object: *got tells how many bytes were copied. */
AISFETCH_API aisfetch_errkind aisfetch_read_range(aisfetch_reader *r, uint64_t offset, size_t len,
                                                  void *buf, size_t *got, aisfetch_error *err);

/* The whole object into dst (at least aisfetch_size() bytes). */
AISFETCH_API aisfetch_errkind aisfetch_read_all(aisfetch_reader *r, void *dst, size_t dst_len,
                                                aisfetch_error *err);

/* Wake every blocked call of r with AISFETCH_E_CANCELLED, and keep failing
 * blocking calls that way until aisfetch_cancel_clear().  Any thread. */
AISFETCH_API void aisfetch_cancel(aisfetch_reader *r);
AISFETCH_API void aisfetch_cancel_clear(aisfetch_reader *r);

/* Slots now held by the caller (chunks not yet released).  A caller that
 * keeps chunks for long (a GStreamer pipeline) copies instead of holding when
 * this nears info.slots, so the workers never run out of slots. */
AISFETCH_API unsigned aisfetch_slots_held(aisfetch_reader *r);

AISFETCH_API void aisfetch_stats_get(aisfetch_reader *r, aisfetch_stats *stats);

/* Stop the workers, wait for them, free everything.  Chunks not yet released
 * become invalid.  NULL is fine. */
AISFETCH_API void aisfetch_close(aisfetch_reader *r);

AISFETCH_API const char *aisfetch_errkind_name(aisfetch_errkind kind);

/* ---- URI parsing (exposed for tools, the element and tests) ---- */
typedef struct {
  char provider[8];     /* canonical: "ais", "aws", "gcp", "azure", "oci" */
  char ns_uuid[128];    /* "" for the global namespace */
  char ns_name[128];
  char bucket[256];
  char object[1024];
} aisfetch_uri;

/* Parses "[provider://][@uuid#namespace/]bucket/object". */
AISFETCH_API aisfetch_errkind aisfetch_uri_parse(const char *uri, aisfetch_uri *out,
                                                 aisfetch_error *err);
/* Parses "[provider://][@uuid#namespace/]bucket[/prefix]": out->object is the
 * prefix, "" for the whole bucket. */
AISFETCH_API aisfetch_errkind aisfetch_prefix_parse(const char *uri, aisfetch_uri *out,
                                                    aisfetch_error *err);

/* ---- listing ---- */
typedef struct {
  char name[1024];       /* the object's name in its bucket */
  uint64_t size;
  char version[128];
  char checksum[160];    /* value only: a listing does not carry the type */
  char atime[64];
} aisfetch_entry;

typedef struct aisfetch_lister aisfetch_lister;
/* Lists prefix ("[provider://]bucket/[prefix]") page by page.  opts gives
 * the endpoint, token, TLS, timeouts, retries and list_page_size; its uri,
 * uris and prefix are ignored. */
AISFETCH_API aisfetch_errkind aisfetch_list_open(const aisfetch_options *opts, const char *prefix,
                                                 aisfetch_lister **out, aisfetch_error *err);
/* The next entry: AISFETCH_OK with *entry filled, or AISFETCH_OK with
 * entry->name[0] == 0 at the end.  A failed page is retried (retries, with
 * backoff) before an error is returned. */
AISFETCH_API aisfetch_errkind aisfetch_list_next(aisfetch_lister *l, aisfetch_entry *entry,
                                                 aisfetch_error *err);
AISFETCH_API void aisfetch_list_close(aisfetch_lister *l);
/* Checks an endpoint "http[s]://host[:port][/path]"; writes it without a trailing '/'. */
AISFETCH_API aisfetch_errkind aisfetch_endpoint_parse(const char *endpoint, char *out,
                                                      size_t out_len, aisfetch_error *err);

#ifdef __cplusplus
}
#endif
#endif
