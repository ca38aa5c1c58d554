/* GStreamer AIStore source element: aissrc.
 *
 * Thread safety: the settings are guarded by the object lock and read once,
 * in start().  The object is opened in a thread of its own (basesrc's async
 * start: the HEAD may take the whole retry budget, and a state change must
 * not wait for it); that thread sets up the streaming state, then calls
 * start_complete(), and stop() cancels and joins it.  The streaming state
 * (the current window, the positions, the pull-mode readahead) belongs to
 * whichever thread runs create(): basesrc calls create() and do_seek() with
 * the stream lock held, and stop() only while no create() runs; a create()
 * in pull mode that comes during the open waits for it (unlock() ends the
 * wait).  In sequence mode create() is the streaming loop itself: it pushes
 * every object's events and buffers from the streaming thread, with the
 * stream lock held as basesrc would, and returns only at the end, on a
 * flush or on an error (see gst_ais_src_run_sequence()).  The reader is
 * reference counted
 * (GstAisReader): the element holds one reference from start() to stop(),
 * and every chunk handed downstream without a copy holds one more through
 * its lease, so the reader, its ring of shared memory and its workers live
 * until the last buffer that wraps a slot is freed, in whatever thread that
 * happens.  unlock(), unlock_stop(), the queries and the `stats` property
 * reach the reader from other threads through a reference taken under the
 * object lock; libaisfetch allows aisfetch_cancel(), aisfetch_release() and
 * aisfetch_stats_get() from any thread at any time.  The position of
 * sequence mode that queries report is written under the object lock.
 */

/**
 * SECTION:element-aissrc
 * @title: aissrc
 * @see_also: #GstSoupHTTPSrc, #GstFileSrc, #GstMultiFileSrc, #GstSplitMuxSrc
 *
 * aissrc reads objects from an [AIStore](https://github.com/NVIDIA/aistore)
 * cluster: one object, every object under a prefix, or a list of objects.
 * Several workers (helper processes by default, or threads) fetch byte
 * ranges in parallel into a ring of slots in shared memory; aissrc hands
 * the bytes downstream in order, as read-only buffers that wrap the slots
 * without a copy.  A slot goes back to the ring when the last buffer that
 * shares it is freed.  Every range is checked before it is handed out:
 * status 206, the exact Content-Range and length, and the same version and
 * checksum as the object's HEAD (or, under a prefix, as its listing entry),
 * so an object overwritten while it is read is an error, never a spliced
 * stream.
 *
 * The object is named by `location` (or the URI): `ais://BUCKET/OBJECT` for
 * an AIStore bucket, `s3://`, `gs://`, `az://` or `oc://` for buckets of
 * those cloud providers that the cluster fronts, optionally with a namespace
 * as in `ais://@uuid#namespace/BUCKET/OBJECT`.  The cluster is the one at
 * `endpoint`, by default `$AIS_ENDPOINT`, else `http://127.0.0.1:8080`.  A
 * token for an authenticated cluster comes from `auth-token` or
 * `$AIS_AUTHN_TOKEN`.
 *
 * ## Many objects
 *
 * A location that ends with `/` names a prefix: `ais://BUCKET/clips/` reads
 * every object whose name starts with `clips/`, in name order, and
 * `ais://BUCKET/` the whole bucket; the `prefix` property takes any prefix,
 * `/` or not (`ais://BUCKET/clip-2024`).  The `locations` property is a list
 * of objects, read in its order.  (Setting one of `location`, `prefix` and
 * `locations` clears the other two.)  The objects are listed page by page
 * while the first ones are read, and the whole sequence goes through one
 * pool of workers and one ring: the first ranges of the next object are in
 * flight while the current one ends.  A prefix with no object is an error
 * (not found) when the element starts.  `mode` says what downstream sees:
 *
 * - `concat` (the default): one byte stream, the objects end to end, for
 *   concatenated media or tar shards.  Seeks in bytes (push mode) and
 *   random access (pull mode) work over the whole stream; its size is known
 *   once every object is listed (in pull mode aissrc waits for that when it
 *   starts).
 * - `sequence`: each object is a stream of its own, for a prefix of clips
 *   or images that a demuxer or decoder should take one at a time, like
 *   the files of multifilesrc.  Before each object's bytes aissrc pushes a
 *   new `stream-start` and a new segment, and downstream elements start
 *   afresh (qtdemux expects a new moov, matroskademux a new EBML header),
 *   so `aissrc mode=sequence ! decodebin` decodes every clip in turn.
 *   Buffers carry offsets in their object and the first buffer of each
 *   object is a DISCONT.  When downstream answers a buffer with EOS
 *   (qtdemux does once it has pushed a clip's last sample), aissrc drops
 *   the rest of that object and goes on with the next: only the end of the
 *   last object ends the stream.
 *
 * How sequence mode marks the objects, and why (found by testing decodebin,
 * decodebin3, playbin and playbin3 of GStreamer 1.22 with MP4, WebM, MPEG-TS
 * and JPEG objects): the segment of each object is a TIME segment starting
 * at 0, not a BYTES segment, because qtdemux in push mode parses a new file
 * after a stream-start only when upstream drives in time, as the adaptive
 * streaming demuxers do (after a BYTES segment the second clip fails with
 * "This file contains no playable streams").  All objects share one
 * stream-id and group-id (the stream restarts; it is not a new stream):
 * with a new stream-id qtdemux makes new pads for every clip, decodebin
 * exposes them as a new group that `gst-launch-1.0 ... decodebin ! ...`
 * leaves unlinked, and decodebin3 (playbin3) stops with not-linked too.
 * Limits of sequence mode:
 *
 * - push mode only, not seekable; the whole sequence is one create() call
 *   for basesrc (`num-buffers` still counts buffers); after a flush without
 *   a seek, the object in progress starts again;
 * - a demuxer reads each object as a stream: qtdemux takes an MP4 whose
 *   moov is at the end only when the mdat before it is under 10 MB ("no
 *   'moov' atom within the first 10 MB" otherwise); larger clips must be
 *   "fast start" (moov first), or be read one by one with `location`;
 * - decodebin typefinds the first object only, and keeps the elements it
 *   plugged: the objects must share their container format and codecs;
 * - decodebin3 and parsebin want caps or pull mode: put `typefind` before
 *   them (`aissrc mode=sequence ! typefind ! decodebin3`);
 * - each object's timestamps start at 0 again: elements that take every
 *   buffer (encoders, appsink, sinks with `sync=false`) get every frame of
 *   every object, but a sink that syncs to the clock finds the frames of
 *   the second object on late (video sinks drop them).  To play many
 *   objects in real time, give playbin one URI after the other
 *   (`about-to-finish`).
 *
 * An object of a sequence that cannot be read (deleted between the listing
 * and the read, overwritten, its HEAD failed, its checksum false with
 * `verify-checksum`) is an error that names it.
 * With `skip-errors` (sequence mode only: in `concat` mode a gap would shift
 * every later offset), aissrc posts a warning that names it instead and
 * goes on with the next object.
 *
 * ## Reading
 *
 * aissrc works in push mode, with flushing byte seeks (with or without a stop
 * position: nothing past the chunk that holds the stop is fetched), and in
 * pull mode, so that demuxers such as qtdemux can read an MP4 whose index is
 * at the end.  In pull mode, reads near the current position come from the
 * ring; a read far away restarts the window there with a small readahead
 * that doubles while the reads stay near it.  aissrc also keeps the last few
 * chunks it read from, so a demuxer that reads interleaved streams from two
 * places of the object costs no round trip to the workers.
 *
 * Downstream elements that hold many buffers (queues, demuxer adapters)
 * could otherwise keep every slot of the ring and starve the workers: once
 * half the slots are held (and the ring is smaller than the object), aissrc
 * copies new chunks into ordinary memory and returns their slots at once.
 * The `stats` property counts both kinds of chunks.
 *
 * The default #GstBaseSrc:blocksize of aissrc is 1 MiB (basesrc's is 4 KiB):
 * chunks are cut into buffers of that size that share the slot.  Measured
 * with `aissrc ! fakesink` on a 1 GiB object served by the emulator on
 * loopback (8 workers, 8 MiB chunks, 2 CPUs), the streaming thread spends
 * per GiB about 24 ms of CPU with 64 KiB buffers, 9.5 ms with 256 KiB,
 * 6 ms with 1 MiB, 6.5 ms with 4 MiB and 4.5 ms with whole 8 MiB chunks,
 * while the transfer takes 0.5 s: from 1 MiB on the cost per buffer no longer
 * counts, and buffers smaller than a chunk let a queue or a demuxer that
 * holds a few of them hold fewer slots of the ring.
 *
 * ## Messages
 *
 * aissrc posts an element message named `aissrc-object` for each object:
 * for one object when it is opened; for a sequence (push mode) when the
 * stream reaches the object, before its first buffer (and, in sequence
 * mode, before its stream-start).  Its fields: `location` (the object's
 * location), `provider`, `bucket`, `object` (the name in the bucket),
 * `size`, `version`, `checksum-type`, `checksum-value`, `etag`, `target`
 * (the URL of the target that serves it, "" until known), `chunk-size`,
 * `num-workers`, `slots` (the reader's), `index` (the object's place in the
 * sequence, 0 for one object), `offset` (where the object starts in the byte
 * stream: 0 for one object and in sequence mode).  Errors carry the HTTP
 * status in the `http-status-code` field of their details (0 when no HTTP
 * answer was involved), and AIStore's own message in the debug text.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 aissrc location=ais://videos/clip.mp4 num-workers=16 chunk-size=8388608 ! decodebin ! autovideosink
 * ]| Plays a video stored in the AIStore bucket `videos`, fetched by 16
 * workers in 8 MiB ranges.
 * |[
 * gst-play-1.0 ais://videos/clip.mp4
 * ]| aissrc is the URI handler for `ais://`, `s3://`, `gs://`, `az://` and
 * `oc://`, so playbin, uridecodebin, gst-play-1.0 and gst-discoverer-1.0 take
 * such URIs directly.
 * |[
 * AIS_ENDPOINT=https://aistore.example.com:8080 gst-launch-1.0 -m aissrc location=s3://datasets/shard-0001.tar auth-token=$TOKEN ! filesink location=shard-0001.tar
 * ]| Copies an object of a cloud bucket fronted by the cluster into a local
 * file; `-m` prints the `aissrc-object` message.
 * |[
 * gst-launch-1.0 -m aissrc location=ais://datasets/shards/ ! filesink location=all-shards.tar
 * ]| Every object under `shards/`, end to end, into one file (mode `concat`).
 * |[
 * gst-launch-1.0 aissrc location=ais://videos/clips/ mode=sequence ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=224,height=224 ! jpegenc ! multifilesink location=frame-%06d.jpg
 * ]| Decodes every clip under `clips/`, one after the other, into frames.
 * |[
 * gst-launch-1.0 aissrc location=ais://datasets/images/ mode=sequence skip-errors=true ! decodebin ! videoconvert ! pngenc ! multifilesink location=img-%06d.png
 * ]| Decodes every image under `images/`, each its own stream (of any size);
 * an image that cannot be read (deleted since the listing) is a warning,
 * and the next one comes.
 * |[
 * gst-launch-1.0 aissrc locations=ais://b/one.mp4,ais://b/two.mp4 mode=sequence ! decodebin ! videoconvert ! autovideosink sync=false
 * ]| A list of objects (gst-launch-1.0 sets a string list from GStreamer 1.26
 * on; with older versions set `locations` from code).
 *
 * Since: 0.1
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstaissrc.h"

#include <string.h>

#include "aisfetch.h"

GST_DEBUG_CATEGORY_STATIC (gst_ais_src_debug);
#define GST_CAT_DEFAULT gst_ais_src_debug

#define DEFAULT_LOCATION NULL
#define DEFAULT_PREFIX NULL
#define DEFAULT_MODE GST_AIS_SRC_MODE_CONCAT
#define DEFAULT_SKIP_ERRORS FALSE
#define DEFAULT_LIST_PAGE_SIZE 0
#define MAX_LIST_PAGE_SIZE 1000000
#define DEFAULT_ENDPOINT AISFETCH_DEFAULT_ENDPOINT
#define DEFAULT_NUM_WORKERS 8
#define DEFAULT_CHUNK_SIZE 0
#define DEFAULT_SLOTS 0
#define DEFAULT_WORKER_MODE GST_AIS_SRC_WORKER_MODE_PROCESS
#define DEFAULT_RETRIES 5
#define DEFAULT_TIMEOUT 0
#define DEFAULT_AUTH_TOKEN NULL
#define DEFAULT_SSL_CA_FILE NULL
#define DEFAULT_SSL_STRICT TRUE
#define DEFAULT_USER_AGENT "GStreamer aissrc " VERSION
#define DEFAULT_VERIFY_CHECKSUM FALSE
#define DEFAULT_BLOCKSIZE (1024 * 1024)

#define MAX_TIMEOUT 3600

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_PREFIX,
  PROP_LOCATIONS,
  PROP_MODE,
  PROP_SKIP_ERRORS,
  PROP_LIST_PAGE_SIZE,
  PROP_ENDPOINT,
  PROP_NUM_WORKERS,
  PROP_CHUNK_SIZE,
  PROP_SLOTS,
  PROP_WORKER_MODE,
  PROP_RETRIES,
  PROP_TIMEOUT,
  PROP_AUTH_TOKEN,
  PROP_SSL_CA_FILE,
  PROP_SSL_STRICT,
  PROP_USER_AGENT,
  PROP_EXTRA_HEADERS,
  PROP_VERIFY_CHECKSUM,
  PROP_STATS,
};

/* One open reader, shared by the element and the leases of its chunks. */
typedef struct
{
  gint refcount;
  aisfetch_reader *r;
} GstAisReader;

/* A chunk handed downstream without a copy: freed (and its slot given back
 * to the ring) when the last memory that shares it is freed. */
typedef struct
{
  GstAisReader *reader;
  aisfetch_chunk chunk;
} GstAisLease;

/* A chunk (or, copied, part of one) that buffers are cut from. */
typedef struct
{
  GstMemory *mem;               /* NULL: unused */
  guint64 start;                /* stream offset of the first byte of mem */
  guint64 len;
  guint64 used;                 /* for least-recently-used replacement */
  gboolean wrapped;             /* mem wraps a slot (else it is a copy) */
  guint64 object;               /* index of its object in the sequence */
  guint64 obj_start;            /* stream offset of that object's first byte */
} GstAisWindow;

/* What the settings name: one object, or a sequence */
typedef enum
{
  GST_AIS_SOURCE_NONE,
  GST_AIS_SOURCE_OBJECT,        /* location without a trailing '/' */
  GST_AIS_SOURCE_PREFIX,        /* location with a trailing '/', or prefix */
  GST_AIS_SOURCE_LIST,          /* locations */
} GstAisSource;

#define NO_OBJECT G_MAXUINT64

/* In pull mode a demuxer reads interleaved streams from a few places at
 * once: keep that many windows, so that its reads cost no round trip to the
 * reader.  Windows that wrap a slot hold it: at most a quarter of the ring
 * (max_wrapped); copies hold none. */
#define MAX_WINDOWS 4

struct _GstAisSrc
{
  GstBaseSrc parent;

  /* settings: object lock; at most one of location, prefix, locations */
  gchar *location;
  gchar *prefix;
  gchar **locations;
  GstAisSrcMode mode;
  gboolean skip_errors;
  guint list_page_size;
  gchar *endpoint;
  guint num_workers;
  guint chunk_size;
  guint slots;
  GstAisSrcWorkerMode worker_mode;
  guint retries;
  guint timeout;
  gchar *auth_token;
  gchar *ssl_ca_file;
  gboolean ssl_strict;
  gboolean ssl_strict_set;
  gchar *user_agent;
  GstStructure *extra_headers;
  gboolean verify_checksum;

  /* object lock: swapped in start() and stop() */
  GstAisReader *reader;
  GstStructure *last_stats;     /* the stats of the reader closed last */
  guint64 chunks_wrapped;
  guint64 chunks_copied;

  /* streaming state: the thread that runs create() */
  gboolean multi;               /* a sequence (prefix or list) */
  gboolean sequence;            /* multi, in sequence mode */
  gboolean skip;                /* skip-errors, as read in start() */
  gchar *obj_base;              /* prefix: "SCHEME://[@NS/]BUCKET/" of names */
  gchar *seq_what;              /* names the sequence, in error texts */
  gchar **obj_locations;        /* list: the locations, as given */
  gboolean size_known;          /* size is final (always for one object) */
  guint64 cur_obj;              /* push mode: the object of the last buffer */
  guint64 next_announce;        /* the first object not announced yet, or
                                 * NO_OBJECT after a seek */
  guint64 cur_obj_start;        /* sequence mode: its start in the stream */
  guint64 cur_obj_end;          /* and its end */
  guint64 seq_pos;              /* sequence mode: next byte to push */
  gboolean seq_discont;         /* sequence mode: the next buffer starts anew */
  guint64 size;
  guint64 cs;                   /* the reader's chunk size */
  guint nslots;
  guint64 nchunks;
  GstAisWindow wins[MAX_WINDOWS];
  guint max_wins;               /* 1 in push mode */
  guint max_wrapped;            /* windows that may wrap a slot at once */
  guint64 use_clock;
  GstAisWindow *win;            /* the window being handed out, or NULL */
  guint64 read_pos;             /* where aisfetch_next() continues */
  guint64 read_stop;            /* the stop the reader was given */
  guint64 seg_stop;             /* push mode: stop of the segment, or G_MAXUINT64 */
  guint64 pull_ra;              /* pull mode: readahead in chunks */
  guint64 pull_lo;              /* pull mode: where the readahead window starts */
  gboolean idle;                /* the window is empty until the first read */

  /* the open runs in a thread of its own (basesrc's async start), so that
   * a state change never waits for a HEAD: open_lock guards these */
  GMutex open_lock;
  GCond open_cond;
  GThread *opener;              /* joined by the next start(), stop() or finalize */
  gint open_cancel;             /* atomic: set by stop(), polled by the open */
  gboolean open_done;           /* the open has ended: open_ret says how */
  GstFlowReturn open_ret;       /* OK, ERROR (posted), or FLUSHING (cancelled) */
  gboolean seek_direct;         /* start_complete() is done: seeks go to basesrc */
  GstEvent *queued_seek;        /* a seek that came during the open */
  gboolean open_flushing;       /* unlock() to unlock_stop(): create() waits no more */
  gboolean open_seen;           /* streaming thread: create() saw the open end well */

  /* object lock: sequence mode's answers to position and duration queries
   * in bytes (the object being pushed) */
  guint64 q_obj_pos;
  guint64 q_obj_size;
};

static GstStaticPadTemplate srctemplate = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

static void gst_ais_src_uri_handler_init (gpointer g_iface,
    gpointer iface_data);

#define gst_ais_src_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstAisSrc, gst_ais_src, GST_TYPE_BASE_SRC,
    G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER, gst_ais_src_uri_handler_init);
    GST_DEBUG_CATEGORY_INIT (gst_ais_src_debug, "aissrc", 0,
        "AIStore source"));
/* secondary: ais:// is ours alone, and for s3://, gs://, az:// a cloud
 * provider's own element of primary rank (awss3src) wins when installed */
GST_ELEMENT_REGISTER_DEFINE (aissrc, "aissrc", GST_RANK_SECONDARY,
    GST_TYPE_AIS_SRC);

static void gst_ais_src_finalize (GObject * object);
static void gst_ais_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_ais_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static gboolean gst_ais_src_start (GstBaseSrc * bsrc);
static gboolean gst_ais_src_stop (GstBaseSrc * bsrc);
static gboolean gst_ais_src_get_size (GstBaseSrc * bsrc, guint64 * size);
static gboolean gst_ais_src_is_seekable (GstBaseSrc * bsrc);
static gboolean gst_ais_src_do_seek (GstBaseSrc * bsrc, GstSegment * segment);
static gboolean gst_ais_src_unlock (GstBaseSrc * bsrc);
static gboolean gst_ais_src_query (GstBaseSrc * bsrc, GstQuery * query);
static gboolean gst_ais_src_send_event (GstElement * element,
    GstEvent * event);
static gboolean gst_ais_src_event (GstBaseSrc * bsrc, GstEvent * event);
static gboolean gst_ais_src_join_opener (GstAisSrc * src);
static const gchar *gst_ais_src_scheme_of (const gchar * provider);
static void gst_ais_src_clear_window (GstAisSrc * src, GstAisWindow * w);
static gboolean gst_ais_src_is_sequence (GstAisSrc * src);
static GstFlowReturn gst_ais_src_announce (GstAisSrc * src, guint64 i,
    gboolean quiet);
static gboolean gst_ais_src_final_size (aisfetch_reader * r, guint64 * size);
static gboolean gst_ais_src_unlock_stop (GstBaseSrc * bsrc);
static GstFlowReturn gst_ais_src_create (GstBaseSrc * bsrc, guint64 offset,
    guint length, GstBuffer ** buffer);

GType
gst_ais_src_worker_mode_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_AIS_SRC_WORKER_MODE_PROCESS,
        "Helper processes (aisfetch-worker)", "process"},
    {GST_AIS_SRC_WORKER_MODE_THREAD, "Threads of this process", "thread"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstAisSrcWorkerMode", values);
    g_once_init_leave (&type, t);
  }
  return (GType) type;
}

GType
gst_ais_src_mode_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_AIS_SRC_MODE_CONCAT,
        "One byte stream: the objects end to end", "concat"},
    {GST_AIS_SRC_MODE_SEQUENCE,
        "Each object a stream of its own (stream-start and segment)",
        "sequence"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstAisSrcMode", values);
    g_once_init_leave (&type, t);
  }
  return (GType) type;
}

/* ---- the shared reader and the leases ---- */

static GstAisReader *
gst_ais_reader_ref (GstAisReader * reader)
{
  g_atomic_int_inc (&reader->refcount);
  return reader;
}

static void
gst_ais_reader_unref (GstAisReader * reader)
{
  if (g_atomic_int_dec_and_test (&reader->refcount)) {
    aisfetch_close (reader->r);
    g_free (reader);
  }
}

static void
gst_ais_lease_free (gpointer data)
{
  GstAisLease *lease = data;

  aisfetch_release (lease->reader->r, &lease->chunk);
  gst_ais_reader_unref (lease->reader);
  g_free (lease);
}

/* with the object lock; NULL when stopped */
static GstAisReader *
gst_ais_src_get_reader_locked (GstAisSrc * src)
{
  return src->reader ? gst_ais_reader_ref (src->reader) : NULL;
}

/* ---- class ---- */

static void
gst_ais_src_class_init (GstAisSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  const gchar *env_endpoint = g_getenv ("AIS_ENDPOINT");

  gobject_class->finalize = gst_ais_src_finalize;
  gobject_class->set_property = gst_ais_src_set_property;
  gobject_class->get_property = gst_ais_src_get_property;

  /**
   * GstAisSrc:location:
   *
   * The object to read: `[PROVIDER://][@UUID#NAMESPACE/]BUCKET/OBJECT`,
   * with PROVIDER one of ais (the default), s3, gs, az, oc (or aws, gcp,
   * azure, oci).  Unlike the URI, the location is not percent-encoded.
   * A location that ends with `/` is a prefix: every object whose name
   * starts with what follows the bucket (`BUCKET/` alone: the whole
   * bucket), in name order.  Setting it clears #GstAisSrc:prefix and
   * #GstAisSrc:locations.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "The object to read: [PROVIDER://][@UUID#NAMESPACE/]BUCKET/OBJECT, "
          "PROVIDER one of ais (the default), s3, gs, az, oc; ending with "
          "'/': every object under that prefix",
          DEFAULT_LOCATION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstAisSrc:prefix:
   *
   * Every object of a bucket whose name starts with a prefix, in name order:
   * `[PROVIDER://][@UUID#NAMESPACE/]BUCKET/[PREFIX]`.  Unlike a location
   * with a trailing `/`, the prefix need not end with `/`
   * (`ais://b/clip-2024` reads `clip-2024-01.mp4`, `clip-2024-02.mp4`, ...).
   * Setting it clears #GstAisSrc:location and #GstAisSrc:locations.
   */
  g_object_class_install_property (gobject_class, PROP_PREFIX,
      g_param_spec_string ("prefix", "Prefix",
          "Read every object whose name starts with a prefix: "
          "[PROVIDER://][@UUID#NAMESPACE/]BUCKET/[PREFIX] (clears location "
          "and locations)",
          DEFAULT_PREFIX,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstAisSrc:locations:
   *
   * A list of objects to read in this order, each named as
   * #GstAisSrc:location (without a trailing `/`).  Setting a non-empty list
   * clears #GstAisSrc:location and #GstAisSrc:prefix.  gst-launch-1.0 can
   * set a string list from GStreamer 1.26 on
   * (`locations=ais://b/one.mp4,ais://b/two.mp4`); before, set it from
   * code.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATIONS,
      g_param_spec_boxed ("locations", "Locations",
          "A list of objects read in this order, each as location (clears "
          "location and prefix)",
          G_TYPE_STRV,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstAisSrc:mode:
   *
   * How the objects of a prefix or a list go downstream: `concat`, one byte
   * stream (seekable in bytes, pull mode possible); `sequence`, each object
   * a stream of its own with its own stream-start and segment (push mode
   * only, not seekable).  One object reads the same in both modes.
   */
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "How the objects of a prefix or list go downstream: concat (one "
          "byte stream) or sequence (each object its own stream)",
          GST_TYPE_AIS_SRC_MODE, DEFAULT_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstAisSrc:list-page-size:
   *
   * Entries per page of a prefix's listing.  The first page is listed
   * before the first byte is read (the next ones while the objects are
   * read): a smaller page starts a very large prefix sooner, for more
   * requests.  0: the cluster's default (10000 for an AIStore bucket).
   */
  g_object_class_install_property (gobject_class, PROP_LIST_PAGE_SIZE,
      g_param_spec_uint ("list-page-size", "List page size",
          "Entries per page of a prefix's listing (0 = the cluster's "
          "default, 10000 for an AIStore bucket)",
          0, MAX_LIST_PAGE_SIZE, DEFAULT_LIST_PAGE_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstAisSrc:skip-errors:
   *
   * In sequence mode, an object that cannot be read (deleted after the
   * listing, overwritten, its HEAD failed) posts a warning that names it,
   * and the stream goes on with the next object, instead of an error.
   */
  g_object_class_install_property (gobject_class, PROP_SKIP_ERRORS,
      g_param_spec_boolean ("skip-errors", "Skip errors",
          "Sequence mode: an object that cannot be read is a warning and is "
          "skipped, instead of an error",
          DEFAULT_SKIP_ERRORS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstAisSrc:endpoint:
   *
   * The URL of any gateway (proxy) of the cluster.  Reading the property
   * gives the endpoint that will be used.
   */
  g_object_class_install_property (gobject_class, PROP_ENDPOINT,
      g_param_spec_string ("endpoint", "Endpoint",
          "URL of a gateway of the AIStore cluster, http[s]://HOST[:PORT] "
          "(NULL: $AIS_ENDPOINT, else " AISFETCH_DEFAULT_ENDPOINT ")",
          env_endpoint && *env_endpoint ? env_endpoint : DEFAULT_ENDPOINT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_NUM_WORKERS,
      g_param_spec_uint ("num-workers", "Number of workers",
          "Byte ranges fetched in parallel, each by its own worker "
          "(never more than the object has chunks)",
          1, AISFETCH_MAX_WORKERS, DEFAULT_NUM_WORKERS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_CHUNK_SIZE,
      g_param_spec_uint ("chunk-size", "Chunk size",
          "Bytes per range request and per ring slot (0 = the object's own "
          "chunk size when it is stored in chunks, else 8 MiB; otherwise "
          "4096 .. 268435456)",
          0, (guint) AISFETCH_MAX_CHUNK_SIZE, DEFAULT_CHUNK_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_SLOTS,
      g_param_spec_uint ("slots", "Slots",
          "Chunks the ring of shared memory holds; memory used is slots x "
          "chunk-size (0 = twice num-workers)",
          0, AISFETCH_MAX_SLOTS, DEFAULT_SLOTS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_WORKER_MODE,
      g_param_spec_enum ("worker-mode", "Worker mode",
          "How the workers run: helper processes, or threads of this process",
          GST_TYPE_AIS_SRC_WORKER_MODE, DEFAULT_WORKER_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_RETRIES,
      g_param_spec_uint ("retries", "Retries",
          "Tries of a failed byte range after the first, with backoff, "
          "before the read fails (0 = fail at the first error)",
          0, 100, DEFAULT_RETRIES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_TIMEOUT,
      g_param_spec_uint ("timeout", "Timeout",
          "Seconds allowed to connect, and without a received byte, before "
          "a try is aborted and retried (0 = 10 s to connect, 20 s without "
          "data)",
          0, MAX_TIMEOUT, DEFAULT_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_AUTH_TOKEN,
      g_param_spec_string ("auth-token", "Authentication token",
          "AuthN token sent as 'Authorization: Bearer TOKEN' (NULL: "
          "$AIS_AUTHN_TOKEN; \"\" for none)",
          DEFAULT_AUTH_TOKEN,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_SSL_CA_FILE,
      g_param_spec_string ("ssl-ca-file", "SSL CA file",
          "File with the certificates of the authorities to trust for "
          "https endpoints (NULL: $AIS_CLIENT_CA, else the system's)",
          DEFAULT_SSL_CA_FILE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_SSL_STRICT,
      g_param_spec_boolean ("ssl-strict", "SSL strict",
          "Verify the TLS certificate of https endpoints (when never set: "
          "verify unless $AIS_SKIP_VERIFY_CRT is true)",
          DEFAULT_SSL_STRICT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_USER_AGENT,
      g_param_spec_string ("user-agent", "User-Agent",
          "Value of the User-Agent HTTP request header field "
          "(NULL or \"\": libaisfetch/VERSION)",
          DEFAULT_USER_AGENT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstAisSrc:extra-headers:
   *
   * More HTTP request header fields, one per structure field: the field's
   * name is the header's name and its value (a string, or anything that
   * converts to one; an array or list gives the header once per element)
   * is the header's value.
   */
  g_object_class_install_property (gobject_class, PROP_EXTRA_HEADERS,
      g_param_spec_boxed ("extra-headers", "Extra headers",
          "Extra HTTP request header fields: field name = header name, "
          "value = header value (arrays and lists repeat the header)",
          GST_TYPE_STRUCTURE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_VERIFY_CHECKSUM,
      g_param_spec_boolean ("verify-checksum", "Verify checksum",
          "Hash the bytes read and compare with the object's checksum at the "
          "end; a mismatch is an error instead of EOS (only when an object "
          "is read from its start to its end without a seek; in a sequence, "
          "each object)",
          DEFAULT_VERIFY_CHECKSUM,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstAisSrc:stats:
   *
   * What the reader did so far (or, once stopped, until it stopped), in a
   * structure named `aissrc-stats`: `bytes` fetched and validated,
   * `bytes-delivered` downstream, `ranges` completed, `retries`,
   * `redirects`, `respawns` of dead workers, `restarts` of the window
   * (seeks and far reads), `hedges` (second requests for a range that lagged
   * far behind its peers), `evictions` (ranges read ahead that were dropped
   * to make room for a nearer one, and fetched again), `elapsed` seconds
   * since the object was opened, `throughput` in bytes per second (bytes / elapsed), `num-workers`,
   * `worker-busy` (an array of seconds each worker spent on ranges),
   * `chunk-size`, `slots`, and the chunks handed downstream
   * `chunks-wrapped` (without a copy) and `chunks-copied`.
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Transfer statistics: bytes, ranges, retries, redirects, restarts, "
          "throughput (bytes/s), elapsed (s), per-worker busy time (s), "
          "chunks wrapped and copied",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &srctemplate);
  gst_element_class_set_static_metadata (element_class,
      "AIStore source", "Source/Network",
      "Reads an object from an AIStore cluster with parallel range requests",
      "The gst-aistore authors");

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_ais_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_ais_src_stop);
  basesrc_class->get_size = GST_DEBUG_FUNCPTR (gst_ais_src_get_size);
  basesrc_class->is_seekable = GST_DEBUG_FUNCPTR (gst_ais_src_is_seekable);
  basesrc_class->do_seek = GST_DEBUG_FUNCPTR (gst_ais_src_do_seek);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_ais_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_ais_src_unlock_stop);
  basesrc_class->create = GST_DEBUG_FUNCPTR (gst_ais_src_create);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_ais_src_query);
  element_class->send_event = GST_DEBUG_FUNCPTR (gst_ais_src_send_event);
  basesrc_class->event = GST_DEBUG_FUNCPTR (gst_ais_src_event);

  gst_type_mark_as_plugin_api (GST_TYPE_AIS_SRC_WORKER_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_AIS_SRC_MODE, 0);
}

static void
gst_ais_src_init (GstAisSrc * src)
{
  src->location = g_strdup (DEFAULT_LOCATION);
  src->prefix = g_strdup (DEFAULT_PREFIX);
  src->locations = NULL;
  src->mode = DEFAULT_MODE;
  src->skip_errors = DEFAULT_SKIP_ERRORS;
  src->list_page_size = DEFAULT_LIST_PAGE_SIZE;
  src->cur_obj = NO_OBJECT;
  src->q_obj_size = G_MAXUINT64;
  src->endpoint = NULL;
  src->num_workers = DEFAULT_NUM_WORKERS;
  src->chunk_size = DEFAULT_CHUNK_SIZE;
  src->slots = DEFAULT_SLOTS;
  src->worker_mode = DEFAULT_WORKER_MODE;
  src->retries = DEFAULT_RETRIES;
  src->timeout = DEFAULT_TIMEOUT;
  src->auth_token = g_strdup (DEFAULT_AUTH_TOKEN);
  src->ssl_ca_file = g_strdup (DEFAULT_SSL_CA_FILE);
  src->ssl_strict = DEFAULT_SSL_STRICT;
  src->ssl_strict_set = FALSE;
  src->user_agent = g_strdup (DEFAULT_USER_AGENT);
  src->extra_headers = NULL;
  src->verify_checksum = DEFAULT_VERIFY_CHECKSUM;
  src->seg_stop = G_MAXUINT64;
  g_mutex_init (&src->open_lock);
  g_cond_init (&src->open_cond);
  src->open_done = TRUE;          /* no open yet */
  src->open_ret = GST_FLOW_FLUSHING;
  src->seek_direct = TRUE;

  gst_base_src_set_blocksize (GST_BASE_SRC (src), DEFAULT_BLOCKSIZE);
  gst_base_src_set_async (GST_BASE_SRC (src), TRUE);
}

static void
gst_ais_src_finalize (GObject * object)
{
  GstAisSrc *src = GST_AIS_SRC (object);

  g_free (src->location);
  g_free (src->prefix);
  g_strfreev (src->locations);
  g_free (src->obj_base);
  g_free (src->seq_what);
  g_strfreev (src->obj_locations);
  g_free (src->endpoint);
  g_free (src->auth_token);
  g_free (src->ssl_ca_file);
  g_free (src->user_agent);
  if (src->extra_headers)
    gst_structure_free (src->extra_headers);
  if (src->last_stats)
    gst_structure_free (src->last_stats);
  /* the opener holds a reference: it has ended, or this is its last act */
  gst_ais_src_join_opener (src);
  if (src->opener)
    g_thread_unref (src->opener);
  if (src->queued_seek)
    gst_event_unref (src->queued_seek);
  g_mutex_clear (&src->open_lock);
  g_cond_clear (&src->open_cond);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* ---- properties ---- */

/* with the object lock: the settings are read when the reader opens */
static gboolean
gst_ais_src_settings_frozen (GstAisSrc * src)
{
  return GST_STATE (src) > GST_STATE_READY || src->reader != NULL;
}

static gboolean
gst_ais_src_set_location (GstAisSrc * src, const gchar * location,
    GError ** error)
{
  GST_OBJECT_LOCK (src);
  if (gst_ais_src_settings_frozen (src)) {
    GST_OBJECT_UNLOCK (src);
    g_warning ("Changing the 'location' property on aissrc when an object "
        "is open is not supported.");
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE,
        "Changing the 'location' property on aissrc when an object is open "
        "is not supported.");
    return FALSE;
  }
  g_free (src->location);
  src->location = g_strdup (location);
  if (location) {
    g_clear_pointer (&src->prefix, g_free);
    g_clear_pointer (&src->locations, g_strfreev);
  }
  GST_INFO_OBJECT (src, "location: %s", GST_STR_NULL (location));
  GST_OBJECT_UNLOCK (src);
  return TRUE;
}

static void
gst_ais_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstAisSrc *src = GST_AIS_SRC (object);

  if (prop_id == PROP_LOCATION) {
    gst_ais_src_set_location (src, g_value_get_string (value), NULL);
    return;
  }

  GST_OBJECT_LOCK (src);
  if (gst_ais_src_settings_frozen (src)) {
    GST_OBJECT_UNLOCK (src);
    /* only the location gets a g_warning, as in filesrc */
    GST_WARNING_OBJECT (src, "Changing the '%s' property when an object is "
        "open is not supported: ignored.", pspec->name);
    return;
  }
  switch (prop_id) {
    case PROP_PREFIX:
      g_free (src->prefix);
      src->prefix = g_value_dup_string (value);
      if (src->prefix) {
        g_clear_pointer (&src->location, g_free);
        g_clear_pointer (&src->locations, g_strfreev);
      }
      break;
    case PROP_LOCATIONS:{
      const gchar *const *list = g_value_get_boxed (value);

      g_strfreev (src->locations);
      src->locations = list && list[0] ? g_strdupv ((gchar **) list) : NULL;
      if (src->locations) {
        g_clear_pointer (&src->location, g_free);
        g_clear_pointer (&src->prefix, g_free);
      }
      break;
    }
    case PROP_MODE:
      src->mode = g_value_get_enum (value);
      break;
    case PROP_SKIP_ERRORS:
      src->skip_errors = g_value_get_boolean (value);
      break;
    case PROP_LIST_PAGE_SIZE:
      src->list_page_size = g_value_get_uint (value);
      break;
    case PROP_ENDPOINT:
      g_free (src->endpoint);
      src->endpoint = g_value_dup_string (value);
      break;
    case PROP_NUM_WORKERS:
      src->num_workers = g_value_get_uint (value);
      break;
    case PROP_CHUNK_SIZE:
      src->chunk_size = g_value_get_uint (value);
      break;
    case PROP_SLOTS:
      src->slots = g_value_get_uint (value);
      break;
    case PROP_WORKER_MODE:
      src->worker_mode = g_value_get_enum (value);
      break;
    case PROP_RETRIES:
      src->retries = g_value_get_uint (value);
      break;
    case PROP_TIMEOUT:
      src->timeout = g_value_get_uint (value);
      break;
    case PROP_AUTH_TOKEN:
      g_free (src->auth_token);
      src->auth_token = g_value_dup_string (value);
      break;
    case PROP_SSL_CA_FILE:
      g_free (src->ssl_ca_file);
      src->ssl_ca_file = g_value_dup_string (value);
      break;
    case PROP_SSL_STRICT:
      src->ssl_strict = g_value_get_boolean (value);
      src->ssl_strict_set = TRUE;
      break;
    case PROP_USER_AGENT:
      g_free (src->user_agent);
      src->user_agent = g_value_dup_string (value);
      break;
    case PROP_EXTRA_HEADERS:{
      const GstStructure *s = gst_value_get_structure (value);

      if (src->extra_headers)
        gst_structure_free (src->extra_headers);
      src->extra_headers = s ? gst_structure_copy (s) : NULL;
      break;
    }
    case PROP_VERIFY_CHECKSUM:
      src->verify_checksum = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (src);
}

static GstStructure *
gst_ais_src_make_stats (const aisfetch_stats * st, guint64 chunk_size,
    guint slots, guint64 wrapped, guint64 copied)
{
  GstStructure *s;
  GValue arr = G_VALUE_INIT;
  guint i;

  s = gst_structure_new ("aissrc-stats",
      "bytes", G_TYPE_UINT64, (guint64) st->bytes,
      "bytes-delivered", G_TYPE_UINT64, (guint64) st->bytes_delivered,
      "ranges", G_TYPE_UINT64, (guint64) st->ranges,
      "retries", G_TYPE_UINT64, (guint64) st->retries,
      "redirects", G_TYPE_UINT64, (guint64) st->redirects,
      "respawns", G_TYPE_UINT64, (guint64) st->respawns,
      "restarts", G_TYPE_UINT64, (guint64) st->restarts,
      "hedges", G_TYPE_UINT64, (guint64) st->hedges,
      "evictions", G_TYPE_UINT64, (guint64) st->evictions,
      "elapsed", G_TYPE_DOUBLE, st->elapsed_s,
      "throughput", G_TYPE_DOUBLE,
      st->elapsed_s > 0 ? (gdouble) st->bytes / st->elapsed_s : 0.0,
      "num-workers", G_TYPE_UINT, st->num_workers,
      "chunk-size", G_TYPE_UINT64, chunk_size,
      "slots", G_TYPE_UINT, slots,
      "chunks-wrapped", G_TYPE_UINT64, wrapped,
      "chunks-copied", G_TYPE_UINT64, copied, NULL);

  g_value_init (&arr, GST_TYPE_ARRAY);
  for (i = 0; i < st->num_workers && i < AISFETCH_MAX_WORKERS; i++) {
    GValue v = G_VALUE_INIT;

    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, (gdouble) st->worker_busy_ns[i] / 1e9);
    gst_value_array_append_and_take_value (&arr, &v);
  }
  gst_structure_take_value (s, "worker-busy", &arr);
  return s;
}

/* the stats of the open reader, else of the last one, else zeros */
static GstStructure *
gst_ais_src_get_stats (GstAisSrc * src)
{
  GstAisReader *reader;
  GstStructure *s = NULL;
  guint64 wrapped, copied, cs;
  guint slots;
  aisfetch_stats st;

  GST_OBJECT_LOCK (src);
  reader = gst_ais_src_get_reader_locked (src);
  wrapped = src->chunks_wrapped;
  copied = src->chunks_copied;
  if (!reader && src->last_stats)
    s = gst_structure_copy (src->last_stats);
  GST_OBJECT_UNLOCK (src);

  if (s)
    return s;

  memset (&st, 0, sizeof st);
  cs = 0;
  slots = 0;
  if (reader) {
    aisfetch_object_info *info = g_new0 (aisfetch_object_info, 1);

    aisfetch_stats_get (reader->r, &st);
    aisfetch_object_info_get (reader->r, info);
    cs = info->chunk_size;
    slots = info->slots;
    g_free (info);
    gst_ais_reader_unref (reader);
  }
  return gst_ais_src_make_stats (&st, cs, slots, wrapped, copied);
}

static void
gst_ais_src_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstAisSrc *src = GST_AIS_SRC (object);

  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, gst_ais_src_get_stats (src));
    return;
  }

  GST_OBJECT_LOCK (src);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, src->location);
      break;
    case PROP_PREFIX:
      g_value_set_string (value, src->prefix);
      break;
    case PROP_LOCATIONS:
      g_value_set_boxed (value, src->locations);
      break;
    case PROP_MODE:
      g_value_set_enum (value, src->mode);
      break;
    case PROP_SKIP_ERRORS:
      g_value_set_boolean (value, src->skip_errors);
      break;
    case PROP_LIST_PAGE_SIZE:
      g_value_set_uint (value, src->list_page_size);
      break;
    case PROP_ENDPOINT:
      if (src->endpoint) {
        g_value_set_string (value, src->endpoint);
      } else {
        const gchar *env = g_getenv ("AIS_ENDPOINT");

        g_value_set_string (value, env && *env ? env : DEFAULT_ENDPOINT);
      }
      break;
    case PROP_NUM_WORKERS:
      g_value_set_uint (value, src->num_workers);
      break;
    case PROP_CHUNK_SIZE:
      g_value_set_uint (value, src->chunk_size);
      break;
    case PROP_SLOTS:
      g_value_set_uint (value, src->slots);
      break;
    case PROP_WORKER_MODE:
      g_value_set_enum (value, src->worker_mode);
      break;
    case PROP_RETRIES:
      g_value_set_uint (value, src->retries);
      break;
    case PROP_TIMEOUT:
      g_value_set_uint (value, src->timeout);
      break;
    case PROP_AUTH_TOKEN:
      g_value_set_string (value, src->auth_token);
      break;
    case PROP_SSL_CA_FILE:
      g_value_set_string (value, src->ssl_ca_file);
      break;
    case PROP_SSL_STRICT:
      g_value_set_boolean (value, src->ssl_strict);
      break;
    case PROP_USER_AGENT:
      g_value_set_string (value, src->user_agent);
      break;
    case PROP_EXTRA_HEADERS:
      gst_value_set_structure (value, src->extra_headers);
      break;
    case PROP_VERIFY_CHECKSUM:
      g_value_set_boolean (value, src->verify_checksum);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (src);
}

/* ---- errors ---- */

/* with the object lock: what the settings name */
static GstAisSource
gst_ais_src_source_locked (GstAisSrc * src)
{
  if (src->locations)
    return GST_AIS_SOURCE_LIST;
  if (src->prefix)
    return GST_AIS_SOURCE_PREFIX;
  if (src->location && *src->location)
    return g_str_has_suffix (src->location, "/") ? GST_AIS_SOURCE_PREFIX :
        GST_AIS_SOURCE_OBJECT;
  return GST_AIS_SOURCE_NONE;
}

/* with the object lock: each object its own stream */
static gboolean
gst_ais_src_is_sequence_locked (GstAisSrc * src)
{
  GstAisSource source = gst_ais_src_source_locked (src);

  return src->mode == GST_AIS_SRC_MODE_SEQUENCE &&
      (source == GST_AIS_SOURCE_PREFIX || source == GST_AIS_SOURCE_LIST);
}

/* Posts err as a message of type (an error, or a warning for an object
 * that sequence mode skips): the kind picks the GStreamer error, the HTTP
 * status goes into the details, AIStore's message into the debug.  what
 * names what failed ("ais://b/o", "the objects under ais://b/p/"); when
 * not_found is given, it is the text of a NOT_FOUND error.  A network or
 * server failure while opening is OPEN_READ, as in filesrc and souphttpsrc;
 * later it is READ. */
static void
gst_ais_src_post_message (GstAisSrc * src, GstMessageType type,
    const aisfetch_error * err, const gchar * what, const gchar * not_found,
    gboolean at_open)
{
  gint code;
  gchar *text, *debug;
  GstStructure *details;

  if (!what)
    what = "the object";
  switch (err->kind) {
    case AISFETCH_E_NOT_FOUND:
      code = GST_RESOURCE_ERROR_NOT_FOUND;
      text = not_found ? g_strdup (not_found) :
          g_strdup_printf ("Object %s not found.", what);
      break;
    case AISFETCH_E_AUTH:
      code = GST_RESOURCE_ERROR_NOT_AUTHORIZED;
      text = g_strdup_printf ("Not authorized to read %s.", what);
      break;
    case AISFETCH_E_CHANGED:
      code = GST_RESOURCE_ERROR_READ;
      text = g_strdup_printf ("Object %s changed while it was being read.",
          what);
      break;
    case AISFETCH_E_PROTOCOL:
      code = GST_RESOURCE_ERROR_SEEK;
      text = g_strdup_printf ("The server did not honour a byte range of %s.",
          what);
      break;
    case AISFETCH_E_CHECKSUM:
      code = GST_RESOURCE_ERROR_READ;
      text = g_strdup_printf ("The data read from %s does not match its "
          "checksum.", what);
      break;
    case AISFETCH_E_ARG:
      code = GST_RESOURCE_ERROR_SETTINGS;
      text = g_strdup_printf ("Invalid settings for reading %s.", what);
      break;
    case AISFETCH_E_SYSTEM:
      code = GST_RESOURCE_ERROR_FAILED;
      text = g_strdup_printf ("Could not set up the workers that read %s.",
          what);
      break;
    case AISFETCH_E_TIMEOUT:
    case AISFETCH_E_NETWORK:
    case AISFETCH_E_SERVER:
    default:
      code = at_open ? GST_RESOURCE_ERROR_OPEN_READ : GST_RESOURCE_ERROR_READ;
      text = g_strdup_printf (at_open ? "Could not open %s on the AIStore "
          "cluster." : "Could not read %s from the AIStore cluster.", what);
      break;
  }

  if (err->server_message[0])
    debug = g_strdup_printf ("%s: %s (HTTP %d); AIStore: %s",
        aisfetch_errkind_name (err->kind), err->message, err->http_status,
        err->server_message);
  else if (err->http_status)
    debug = g_strdup_printf ("%s: %s (HTTP %d)",
        aisfetch_errkind_name (err->kind), err->message, err->http_status);
  else
    debug = g_strdup_printf ("%s: %s", aisfetch_errkind_name (err->kind),
        err->message);

  details = gst_structure_new ("details",
      "http-status-code", G_TYPE_UINT, (guint) MAX (err->http_status, 0),
      "aisfetch-error", G_TYPE_STRING, aisfetch_errkind_name (err->kind),
      "server-message", G_TYPE_STRING, err->server_message, NULL);

  GST_WARNING_OBJECT (src, "%s (%s)", text, debug);
  gst_element_message_full_with_details (GST_ELEMENT (src), type,
      GST_RESOURCE_ERROR, code, text, debug, __FILE__, GST_FUNCTION, __LINE__,
      details);
}

static void
gst_ais_src_post_error (GstAisSrc * src, const aisfetch_error * err,
    const gchar * what, gboolean at_open)
{
  gst_ais_src_post_message (src, GST_MESSAGE_ERROR, err, what, NULL, at_open);
}

/* the location of object idx of the sequence (the streaming thread) */
static gchar *
gst_ais_src_object_location (GstAisSrc * src, guint64 idx,
    const aisfetch_object_info * info)
{
  if (src->obj_locations && idx < g_strv_length (src->obj_locations))
    return g_strdup (src->obj_locations[idx]);
  if (src->obj_base && info && info->object[0])
    return g_strconcat (src->obj_base, info->object, NULL);
  return g_strdup_printf ("object %" G_GUINT64_FORMAT " of the sequence", idx);
}

/* An error from the streaming thread: for a sequence, it names the object
 * the reader was at (libaisfetch's message names it too). */
static void
gst_ais_src_post_error_now (GstAisSrc * src, const aisfetch_error * err)
{
  gchar *what;

  if (src->multi) {
    aisfetch_reader *r = src->reader->r;
    guint64 idx = aisfetch_object_index (r);

    if (idx >= aisfetch_objects_known (r, NULL)) {
      /* past the last object: the sequence's own error (its listing) */
      what = g_strdup (src->seq_what);
    } else {
      aisfetch_object_info *info = g_new0 (aisfetch_object_info, 1);

      aisfetch_object_at (r, idx, info, NULL, NULL);
      what = gst_ais_src_object_location (src, idx, info);
      g_free (info);
    }
  } else {
    GST_OBJECT_LOCK (src);
    what = g_strdup (src->location);
    GST_OBJECT_UNLOCK (src);
  }
  gst_ais_src_post_error (src, err, what, FALSE);
  g_free (what);
}

/* ---- start / stop ---- */

static void
gst_ais_src_add_header (GPtrArray * lines, const gchar * name,
    const GValue * value)
{
  if (GST_VALUE_HOLDS_ARRAY (value)) {
    guint i, n = gst_value_array_get_size (value);

    for (i = 0; i < n; i++)
      gst_ais_src_add_header (lines, name, gst_value_array_get_value (value,
              i));
  } else if (GST_VALUE_HOLDS_LIST (value)) {
    guint i, n = gst_value_list_get_size (value);

    for (i = 0; i < n; i++)
      gst_ais_src_add_header (lines, name, gst_value_list_get_value (value,
              i));
  } else if (G_VALUE_HOLDS_STRING (value)) {
    g_ptr_array_add (lines, g_strdup_printf ("%s: %s", name,
            GST_STR_NULL (g_value_get_string (value))));
  } else {
    GValue s = G_VALUE_INIT;

    g_value_init (&s, G_TYPE_STRING);
    if (g_value_transform (value, &s)) {
      g_ptr_array_add (lines, g_strdup_printf ("%s: %s", name,
              GST_STR_NULL (g_value_get_string (&s))));
    } else {
      GST_WARNING ("extra header %s: cannot turn a %s into a string", name,
          G_VALUE_TYPE_NAME (value));
    }
    g_value_unset (&s);
  }
}

static gboolean
gst_ais_src_header_field (GQuark field, const GValue * value, gpointer data)
{
  gst_ais_src_add_header (data, g_quark_to_string (field), value);
  return TRUE;
}

/* The element message of object idx: its info, its location, and where it
 * starts in the byte stream. */
static void
gst_ais_src_post_object_message (GstAisSrc * src, const gchar * location,
    const aisfetch_object_info * info, guint64 idx, guint64 offset)
{
  GstStructure *s;

  s = gst_structure_new ("aissrc-object",
      "location", G_TYPE_STRING, location,
      "provider", G_TYPE_STRING, info->provider,
      "bucket", G_TYPE_STRING, info->bucket,
      "object", G_TYPE_STRING, info->object,
      "size", G_TYPE_UINT64, (guint64) info->size,
      "version", G_TYPE_STRING, info->version,
      "checksum-type", G_TYPE_STRING, info->checksum_type,
      "checksum-value", G_TYPE_STRING, info->checksum_value,
      "etag", G_TYPE_STRING, info->etag,
      "target", G_TYPE_STRING, info->target_url,
      "chunk-size", G_TYPE_UINT64, (guint64) info->chunk_size,
      "num-workers", G_TYPE_UINT, info->num_workers,
      "slots", G_TYPE_UINT, info->slots,
      "index", G_TYPE_UINT64, idx, "offset", G_TYPE_UINT64, offset, NULL);
  GST_INFO_OBJECT (src, "object: %" GST_PTR_FORMAT, s);
  gst_element_post_message (GST_ELEMENT (src),
      gst_message_new_element (GST_OBJECT (src), s));
}

/* What the opener needs: a copy of the settings, taken in start(). */
typedef struct
{
  GstAisSrc *src;
  GstPadMode mode;
  GstAisSource source;
  gboolean sequence;            /* mode=sequence, for a sequence */
  gboolean skip;                /* skip-errors */
  aisfetch_options opts;
  GPtrArray *headers;
  gchar *location;              /* the object, or the prefix */
  gchar **locations;            /* the list */
  gchar *what;                  /* names what is read, in error texts */
  gchar *not_found;             /* a prefix: the text of NOT_FOUND */
  gchar *obj_base;              /* a prefix: what precedes the names */
  gchar *endpoint, *token, *ca_file, *user_agent;
} GstAisOpenJob;

static void
gst_ais_open_job_free (GstAisOpenJob * job)
{
  g_free (job->location);
  g_strfreev (job->locations);
  g_free (job->what);
  g_free (job->not_found);
  g_free (job->obj_base);
  g_free (job->endpoint);
  g_free (job->token);
  g_free (job->ca_file);
  g_free (job->user_agent);
  g_ptr_array_unref (job->headers);
  g_free (job);
}

static int
gst_ais_src_open_cancelled (void *data)
{
  GstAisSrc *src = data;

  return g_atomic_int_get (&src->open_cancel);
}

/* The reader is open: the streaming state for it. */
static void
gst_ais_src_opened (GstAisSrc * src, aisfetch_reader * r, GstAisOpenJob * job)
{
  aisfetch_object_info *info = g_new0 (aisfetch_object_info, 1);
  GstAisReader *reader = g_new0 (GstAisReader, 1);
  GstPadMode mode = job->mode;

  reader->refcount = 1;
  reader->r = r;
  aisfetch_object_info_get (r, info);
  src->multi = job->source != GST_AIS_SOURCE_OBJECT;
  src->sequence = src->multi && job->sequence;
  src->skip = job->skip;
  g_free (src->obj_base);
  src->obj_base = g_strdup (job->obj_base);
  g_free (src->seq_what);
  src->seq_what = g_strdup (job->what);
  g_strfreev (src->obj_locations);
  src->obj_locations = g_strdupv (job->locations);
  src->size_known = !src->multi || gst_ais_src_final_size (r, &src->size);
  src->size = aisfetch_size (r);
  src->cs = info->chunk_size ? info->chunk_size : AISFETCH_DEFAULT_CHUNK_SIZE;
  src->nslots = info->slots;
  /* a sequence's chunks never hold two objects: more than size / cs */
  src->nchunks = src->multi ? G_MAXUINT64 : (src->size + src->cs - 1) / src->cs;
  g_free (info);
  src->win = NULL;
  src->max_wins = mode == GST_PAD_MODE_PULL ? MAX_WINDOWS : 1;
  src->max_wrapped = mode == GST_PAD_MODE_PULL ?
      CLAMP (src->nslots / 4, 1, MAX_WINDOWS) : 1;
  src->seg_stop = G_MAXUINT64;
  src->pull_ra = 0;
  src->pull_lo = 0;
  src->cur_obj = NO_OBJECT;
  src->next_announce = 0;
  src->cur_obj_start = 0;
  src->cur_obj_end = 0;
  src->seq_pos = 0;
  src->seq_discont = TRUE;
  /* the reader was opened idle (start_idle): it fetches nothing until the
   * first read or seek says where */
  src->read_pos = 0;
  src->read_stop = 0;
  src->idle = TRUE;

  GST_OBJECT_LOCK (src);
  src->reader = reader;
  src->q_obj_pos = 0;
  src->q_obj_size = G_MAXUINT64;
  GST_OBJECT_UNLOCK (src);
}

/* The stream's size, when final: one object's, or a sequence's once its
 * listing (or its HEADs) ended well.  A listing that failed is final too,
 * but its stream ends in that error, which only aisfetch_next() returns:
 * then the size stays unknown, so that the read goes on to it.  Any
 * thread. */
static gboolean
gst_ais_src_final_size (aisfetch_reader * r, guint64 * size)
{
  int complete = 0;
  guint64 n;

  n = aisfetch_objects_known (r, &complete);
  *size = aisfetch_size (r);
  /* asking for the object past the last one says how the listing ended */
  return complete == 1 && aisfetch_object_at (r, n, NULL, NULL, NULL) ==
      AISFETCH_E_ARG;
}

/* the size of the stream, G_MAXUINT64 while a listing goes on */
static guint64
gst_ais_src_limit (GstAisSrc * src)
{
  if (!src->size_known)
    src->size_known = gst_ais_src_final_size (src->reader->r, &src->size);
  return src->size_known ? src->size : G_MAXUINT64;
}

/* Pull mode reads at random over the whole stream, and needs its size:
 * waits until every object of the sequence is known (asking for an object
 * past the last one returns once the listing has ended). */
static aisfetch_errkind
gst_ais_src_wait_listing (GstAisSrc * src, aisfetch_reader * r,
    aisfetch_error * err)
{
  aisfetch_errkind k;

  GST_DEBUG_OBJECT (src, "pull mode: waiting for the whole listing");
  k = aisfetch_object_at (r, G_MAXUINT64 - 1, NULL, NULL, err);
  if (k == AISFETCH_E_ARG)
    k = AISFETCH_OK;
  if (k == AISFETCH_OK) {
    src->size = aisfetch_size (r);
    src->size_known = TRUE;
    GST_DEBUG_OBJECT (src, "%" G_GUINT64_FORMAT " objects, %" G_GUINT64_FORMAT
        " bytes", aisfetch_objects_known (r, NULL), src->size);
  }
  return k;
}

/* The opener thread: the HEAD (with its retries) and the workers' start,
 * then basesrc's start_complete(), which in push mode does the first seek
 * and starts the streaming thread, then a seek that came meanwhile.  stop()
 * cancels it within 100 ms.  It holds a reference to the element. */
static gpointer
gst_ais_src_open_thread (gpointer data)
{
  GstAisOpenJob *job = data;
  GstAisSrc *src = job->src;
  aisfetch_reader *r = NULL;
  aisfetch_error err;
  aisfetch_errkind k;
  GstFlowReturn ret;
  GstEvent *seek;

  job->opts.open_cancelled = gst_ais_src_open_cancelled;
  job->opts.open_cancelled_data = src;
  GST_DEBUG_OBJECT (src, "opening %s (endpoint %s)", job->what,
      job->endpoint ? job->endpoint : "from the environment");
  memset (&err, 0, sizeof err);
  k = aisfetch_open (&job->opts, &r, &err);
  if (k == AISFETCH_OK) {
    /* even when cancelled meanwhile: stop() closes it */
    gst_ais_src_opened (src, r, job);
    if (src->multi && job->mode == GST_PAD_MODE_PULL)
      k = gst_ais_src_wait_listing (src, r, &err);
  }
  if (k == AISFETCH_OK)
    ret = GST_FLOW_OK;
  else if (k == AISFETCH_E_CANCELLED)
    ret = GST_FLOW_FLUSHING;
  else
    ret = GST_FLOW_ERROR;
  if (ret == GST_FLOW_OK && g_atomic_int_get (&src->open_cancel))
    ret = GST_FLOW_FLUSHING;
  if (ret == GST_FLOW_OK && !src->multi) {
    aisfetch_object_info *info = g_new0 (aisfetch_object_info, 1);

    aisfetch_object_info_get (r, info);
    gst_ais_src_post_object_message (src, job->location, info, 0, 0);
    g_free (info);
  } else if (ret == GST_FLOW_ERROR) {
    gst_ais_src_post_message (src, GST_MESSAGE_ERROR, &err, job->what,
        job->not_found, TRUE);
  } else if (ret != GST_FLOW_OK) {
    GST_DEBUG_OBJECT (src, "open cancelled");
  }
  if (ret == GST_FLOW_ERROR && r) {
    GstAisReader *reader;

    /* opened, then the listing failed: basesrc calls no stop() after a
     * failed start */
    GST_OBJECT_LOCK (src);
    reader = src->reader;
    src->reader = NULL;
    GST_OBJECT_UNLOCK (src);
    if (reader)
      gst_ais_reader_unref (reader);
  }

  g_mutex_lock (&src->open_lock);
  src->open_done = TRUE;
  src->open_ret = ret;
  seek = src->queued_seek;
  src->queued_seek = NULL;
  g_cond_broadcast (&src->open_cond);
  g_mutex_unlock (&src->open_lock);

  /* the seek that came during the open is start_complete()'s first seek, so
   * that no byte before it is pushed (a forward seek in bytes: it cannot
   * fail there, where a failure would go unreported) */
  if (seek && ret == GST_FLOW_OK) {
    GST_DEBUG_OBJECT (src, "the seek that came during the open goes first");
    GST_OBJECT_LOCK (src);
    gst_event_replace (&GST_BASE_SRC (src)->pending_seek, seek);
    GST_OBJECT_UNLOCK (src);
  }
  if (seek)
    gst_event_unref (seek);

  gst_base_src_start_complete (GST_BASE_SRC (src), ret);

  /* one that came during start_complete() itself */
  g_mutex_lock (&src->open_lock);
  src->seek_direct = TRUE;
  seek = src->queued_seek;
  src->queued_seek = NULL;
  g_mutex_unlock (&src->open_lock);
  if (seek && ret == GST_FLOW_OK && !g_atomic_int_get (&src->open_cancel)) {
    GST_DEBUG_OBJECT (src, "performing the seek that came during the open");
    if (!GST_ELEMENT_CLASS (parent_class)->send_event (GST_ELEMENT (src),
            seek) && !g_atomic_int_get (&src->open_cancel))
      GST_ELEMENT_ERROR (src, RESOURCE, SEEK, (NULL),
          ("the seek made while the object was being opened failed"));
  } else if (seek) {
    gst_event_unref (seek);
  }

  gst_ais_open_job_free (job);
  gst_object_unref (src);
  return NULL;
}

/* Waits for the opener's end (it may have ended on its own: after a failed
 * open basesrc calls no stop()), unless this is the opener, which then stays
 * set for the next start(), stop() or finalize.  TRUE when it waited. */
static gboolean
gst_ais_src_join_opener (GstAisSrc * src)
{
  GThread *opener;

  g_mutex_lock (&src->open_lock);
  opener = src->opener;
  if (opener == g_thread_self ())
    opener = NULL;
  else
    src->opener = NULL;
  g_mutex_unlock (&src->open_lock);
  if (opener)
    g_thread_join (opener);
  return opener != NULL;
}

static gboolean
gst_ais_src_start (GstBaseSrc * bsrc)
{
  GstAisSrc *src = GST_AIS_SRC (bsrc);
  aisfetch_error err;
  GstAisOpenJob *job;
  GstPadMode mode;

  /* basesrc starts a source whose pad is not active yet only for its own
   * pull-mode probe, which the scheduling query (above) answers instead */
  GST_OBJECT_LOCK (GST_BASE_SRC_PAD (bsrc));
  mode = GST_PAD_MODE (GST_BASE_SRC_PAD (bsrc));
  GST_OBJECT_UNLOCK (GST_BASE_SRC_PAD (bsrc));

  job = g_new0 (GstAisOpenJob, 1);
  job->mode = mode;
  job->headers = g_ptr_array_new_with_free_func (g_free);
  aisfetch_options_init (&job->opts);

  GST_OBJECT_LOCK (src);
  job->source = gst_ais_src_source_locked (src);
  job->sequence = gst_ais_src_is_sequence_locked (src);
  job->skip = src->skip_errors;
  job->location = g_strdup (src->prefix ? src->prefix : src->location);
  job->locations = g_strdupv (src->locations);
  job->endpoint = g_strdup (src->endpoint);
  job->token = g_strdup (src->auth_token);
  job->ca_file = g_strdup (src->ssl_ca_file);
  job->user_agent = g_strdup (src->user_agent);
  /* a seek made in READY, or a demuxer that pulls the index at the end
   * first, should not find the workers busy with the start of the object */
  job->opts.start_idle = 1;
  job->opts.num_workers = src->num_workers;
  job->opts.chunk_size = src->chunk_size;
  job->opts.slots = src->slots;
  job->opts.worker_mode = src->worker_mode == GST_AIS_SRC_WORKER_MODE_THREAD ?
      AISFETCH_WORKER_THREAD : AISFETCH_WORKER_PROCESS;
  job->opts.retries = src->retries;
  job->opts.list_page_size = src->list_page_size;
  job->opts.connect_timeout_ms = (long) src->timeout * 1000;
  job->opts.stall_timeout_ms = (long) src->timeout * 1000;
  job->opts.skip_verify = src->ssl_strict_set ? !src->ssl_strict : -1;
  /* a sequence: each object read from its start (a mismatch is that
   * object's error, and its last chunk never comes) */
  job->opts.verify_checksum = src->verify_checksum;
  if (src->extra_headers)
    gst_structure_foreach (src->extra_headers, gst_ais_src_header_field,
        job->headers);
  src->chunks_wrapped = 0;
  src->chunks_copied = 0;
  GST_OBJECT_UNLOCK (src);
  g_ptr_array_add (job->headers, NULL);

  if (job->source == GST_AIS_SOURCE_NONE) {
    memset (&err, 0, sizeof err);
    err.kind = AISFETCH_E_ARG;
    g_strlcpy (err.message, "no object location given (set 'location', "
        "e.g. ais://BUCKET/OBJECT, 'prefix' or 'locations')",
        sizeof err.message);
    gst_ais_src_post_error (src, &err, NULL, TRUE);
    gst_ais_open_job_free (job);
    return FALSE;
  }

  switch (job->source) {
    case GST_AIS_SOURCE_PREFIX:{
      aisfetch_uri *u = g_new0 (aisfetch_uri, 1);

      job->opts.prefix = job->location;
      job->what = g_strdup_printf ("the objects under %s", job->location);
      /* a bad prefix fails the open, with libaisfetch's words */
      if (aisfetch_prefix_parse (job->location, u, NULL) == AISFETCH_OK) {
        const gchar *scheme = gst_ais_src_scheme_of (u->provider);

        if (u->ns_uuid[0] || u->ns_name[0])
          job->obj_base = g_strdup_printf ("%s://@%s%s%s/%s/", scheme,
              u->ns_uuid, u->ns_name[0] ? "#" : "", u->ns_name, u->bucket);
        else
          job->obj_base = g_strdup_printf ("%s://%s/", scheme, u->bucket);
        job->not_found = g_strdup_printf ("No object found under %s "
            "(bucket %s://%s, prefix '%s').", job->location, scheme,
            u->bucket, u->object);
      }
      g_free (u);
      break;
    }
    case GST_AIS_SOURCE_LIST:
      job->opts.uris = (const char *const *) job->locations;
      job->what = g_strdup_printf ("the list of %u objects",
          g_strv_length (job->locations));
      break;
    default:
      job->opts.uri = job->location;
      job->what = g_strdup (job->location);
      break;
  }
  job->opts.endpoint = job->endpoint;
  job->opts.token = job->token;
  job->opts.ca_file = job->ca_file;
  job->opts.user_agent = job->user_agent;
  job->opts.extra_headers = (const char *const *) job->headers->pdata;

  gst_ais_src_join_opener (src);
  g_atomic_int_set (&src->open_cancel, 0);
  src->open_seen = FALSE;
  job->src = gst_object_ref (src);
  g_mutex_lock (&src->open_lock);
  src->open_done = FALSE;
  src->open_ret = GST_FLOW_FLUSHING;
  src->seek_direct = FALSE;
  src->opener = g_thread_new ("aissrc-open", gst_ais_src_open_thread, job);
  g_mutex_unlock (&src->open_lock);
  return TRUE;
}

/* An open in progress: a forward seek in bytes waits, and the opener hands
 * it to start_complete() as its first seek (basesrc would perform it at
 * once, without a reader to seek); others are refused as before.  Seeks
 * come to the element (send_event) and through the pad (from the sinks,
 * when sent to the pipeline). */
static gboolean
gst_ais_src_queue_seek (GstAisSrc * src, GstEvent * event)
{
  gboolean queued = FALSE;
  GstFormat fmt;
  gdouble rate;

  if (GST_EVENT_TYPE (event) != GST_EVENT_SEEK)
    return FALSE;
  gst_event_parse_seek (event, &rate, &fmt, NULL, NULL, NULL, NULL, NULL);
  /* sequence mode is not seekable: basesrc refuses */
  if (gst_ais_src_is_sequence (src))
    return FALSE;
  g_mutex_lock (&src->open_lock);
  if (!src->seek_direct && fmt == GST_FORMAT_BYTES && rate > 0
      && GST_PAD_MODE (GST_BASE_SRC_PAD (src)) == GST_PAD_MODE_PUSH) {
    GST_DEBUG_OBJECT (src, "opening: the seek waits for the open");
    gst_event_replace (&src->queued_seek, event);
    queued = TRUE;
  }
  g_mutex_unlock (&src->open_lock);
  return queued;
}

static gboolean
gst_ais_src_send_event (GstElement * element, GstEvent * event)
{
  /* basesrc performs a seek sent to the element without asking
   * is_seekable(): sequence mode is not seekable */
  if (GST_EVENT_TYPE (event) == GST_EVENT_SEEK &&
      gst_ais_src_is_sequence (GST_AIS_SRC (element))) {
    GST_DEBUG_OBJECT (element, "sequence mode is not seekable");
    gst_event_unref (event);
    return FALSE;
  }
  if (gst_ais_src_queue_seek (GST_AIS_SRC (element), event)) {
    gst_event_unref (event);
    return TRUE;
  }
  return GST_ELEMENT_CLASS (parent_class)->send_event (element, event);
}

static gboolean
gst_ais_src_event (GstBaseSrc * bsrc, GstEvent * event)
{
  if (gst_ais_src_queue_seek (GST_AIS_SRC (bsrc), event))
    return TRUE;
  return GST_BASE_SRC_CLASS (parent_class)->event (bsrc, event);
}

/* create() in pull mode may come while the open is still going on */
static GstFlowReturn
gst_ais_src_wait_open (GstAisSrc * src)
{
  GstFlowReturn ret;

  g_mutex_lock (&src->open_lock);
  while (!src->open_done && !src->open_flushing)
    g_cond_wait (&src->open_cond, &src->open_lock);
  ret = src->open_done ? src->open_ret : GST_FLOW_FLUSHING;
  g_mutex_unlock (&src->open_lock);
  return ret;
}

static void
gst_ais_src_drop_windows (GstAisSrc * src)
{
  guint i;

  for (i = 0; i < MAX_WINDOWS; i++) {
    if (src->wins[i].mem)
      gst_memory_unref (src->wins[i].mem);
    memset (&src->wins[i], 0, sizeof src->wins[i]);
  }
  src->win = NULL;
}

static gboolean
gst_ais_src_stop (GstBaseSrc * bsrc)
{
  GstAisSrc *src = GST_AIS_SRC (bsrc);
  GstAisReader *reader;
  GstStructure *stats;

  /* an open still going on ends within 100 ms; in push mode it may have
   * started the streaming thread after basesrc stopped it */
  g_atomic_int_set (&src->open_cancel, 1);
  /* in pull mode the opener may be waiting for a listing */
  g_mutex_lock (&src->open_lock);
  if (!src->open_done) {
    GST_OBJECT_LOCK (src);
    reader = gst_ais_src_get_reader_locked (src);
    GST_OBJECT_UNLOCK (src);
    if (reader) {
      aisfetch_cancel (reader->r);
      gst_ais_reader_unref (reader);
    }
  }
  g_mutex_unlock (&src->open_lock);
  if (gst_ais_src_join_opener (src)) {
    gst_pad_stop_task (GST_BASE_SRC_PAD (bsrc));
    /* a start_complete() that ran after basesrc's stop */
    GST_OBJECT_LOCK (src);
    GST_OBJECT_FLAG_UNSET (src, GST_BASE_SRC_FLAG_STARTED);
    GST_OBJECT_FLAG_UNSET (src, GST_BASE_SRC_FLAG_STARTING);
    GST_OBJECT_UNLOCK (src);
  }
  g_mutex_lock (&src->open_lock);
  if (src->queued_seek)
    gst_event_unref (src->queued_seek);
  src->queued_seek = NULL;
  g_mutex_unlock (&src->open_lock);

  gst_ais_src_drop_windows (src);

  GST_OBJECT_LOCK (src);
  reader = src->reader;
  GST_OBJECT_UNLOCK (src);
  if (!reader)
    return TRUE;

  stats = gst_ais_src_get_stats (src);
  GST_DEBUG_OBJECT (src, "closing: %" GST_PTR_FORMAT, stats);

  GST_OBJECT_LOCK (src);
  src->reader = NULL;
  if (src->last_stats)
    gst_structure_free (src->last_stats);
  src->last_stats = stats;
  GST_OBJECT_UNLOCK (src);

  /* Buffers downstream may still wrap slots and keep the reader open: let
   * the workers fetch nothing more meanwhile (an empty window aborts the
   * ranges in flight), and close when the last reference goes. */
  aisfetch_seek_range (reader->r, 0, 0, NULL);
  gst_ais_reader_unref (reader);
  return TRUE;
}

/* ---- queries and seeking ---- */

/* The stream's size from any thread: an object's, or a sequence's once
 * every object is listed (*known FALSE before). */
static gboolean
gst_ais_src_total (GstAisSrc * src, guint64 * size, gboolean * known)
{
  GstAisReader *reader;

  GST_OBJECT_LOCK (src);
  reader = gst_ais_src_get_reader_locked (src);
  GST_OBJECT_UNLOCK (src);
  if (!reader)
    return FALSE;
  *known = gst_ais_src_final_size (reader->r, size);
  gst_ais_reader_unref (reader);
  return TRUE;
}

static gboolean
gst_ais_src_is_sequence (GstAisSrc * src)
{
  gboolean seq;

  GST_OBJECT_LOCK (src);
  seq = gst_ais_src_is_sequence_locked (src);
  GST_OBJECT_UNLOCK (src);
  return seq;
}

/* Sequence mode has no size for basesrc: an object's end is not the
 * stream's (queries get the current object's from gst_ais_src_query()). */
static gboolean
gst_ais_src_get_size (GstBaseSrc * bsrc, guint64 * size)
{
  GstAisSrc *src = GST_AIS_SRC (bsrc);
  gboolean known;

  if (gst_ais_src_is_sequence (src))
    return FALSE;
  return gst_ais_src_total (src, size, &known) && known;
}

/* Sequence mode: each object is a stream of its own, neither seekable nor
 * random access; positions and sizes in bytes are those of the object
 * being pushed. */
static gboolean
gst_ais_src_sequence_query (GstAisSrc * src, GstQuery * query)
{
  GstFormat fmt;
  guint64 pos, size;

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_SCHEDULING:
      gst_query_set_scheduling (query, GST_SCHEDULING_FLAG_SEQUENTIAL, 1, -1,
          0);
      gst_query_add_scheduling_mode (query, GST_PAD_MODE_PUSH);
      return TRUE;
    case GST_QUERY_SEEKING:
      gst_query_parse_seeking (query, &fmt, NULL, NULL, NULL);
      gst_query_set_seeking (query, fmt, FALSE, 0, -1);
      return TRUE;
    case GST_QUERY_DURATION:
    case GST_QUERY_POSITION:
      if (GST_QUERY_TYPE (query) == GST_QUERY_DURATION)
        gst_query_parse_duration (query, &fmt, NULL);
      else
        gst_query_parse_position (query, &fmt, NULL);
      if (fmt != GST_FORMAT_BYTES)
        return FALSE;
      GST_OBJECT_LOCK (src);
      pos = src->q_obj_pos;
      size = src->q_obj_size;
      GST_OBJECT_UNLOCK (src);
      if (GST_QUERY_TYPE (query) == GST_QUERY_DURATION)
        gst_query_set_duration (query, fmt,
            size == G_MAXUINT64 ? -1 : (gint64) size);
      else
        gst_query_set_position (query, fmt, (gint64) pos);
      return TRUE;
    default:
      return GST_BASE_SRC_CLASS (parent_class)->query (GST_BASE_SRC (src),
          query);
  }
}

/* While the object is being opened, the size and seekability are not known
 * yet: a query waits for the open (a flush ends the wait), as it would have
 * waited for a synchronous start. */
static gboolean
gst_ais_src_query (GstBaseSrc * bsrc, GstQuery * query)
{
  GstAisSrc *src = GST_AIS_SRC (bsrc);
  gboolean starting, known;
  GstFormat fmt;
  guint64 size;

  if (gst_ais_src_is_sequence (src))
    return gst_ais_src_sequence_query (src, query);

  /* always random access: basesrc would learn that by starting (and, with
   * an async start, failing to start) a source whose pad is not active */
  if (GST_QUERY_TYPE (query) == GST_QUERY_SCHEDULING) {
    gst_query_set_scheduling (query, GST_SCHEDULING_FLAG_SEEKABLE, 1, -1, 0);
    gst_query_add_scheduling_mode (query, GST_PAD_MODE_PULL);
    gst_query_add_scheduling_mode (query, GST_PAD_MODE_PUSH);
    return TRUE;
  }
  if (GST_QUERY_TYPE (query) != GST_QUERY_DURATION &&
      GST_QUERY_TYPE (query) != GST_QUERY_SEEKING)
    return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);

  if (GST_QUERY_TYPE (query) == GST_QUERY_DURATION)
    gst_query_parse_duration (query, &fmt, NULL);
  else
    gst_query_parse_seeking (query, &fmt, NULL, NULL, NULL);
  if (fmt != GST_FORMAT_BYTES)
    return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);

  GST_OBJECT_LOCK (src);
  starting = GST_BASE_SRC_IS_STARTING (bsrc);
  GST_OBJECT_UNLOCK (src);
  g_mutex_lock (&src->open_lock);
  starting = starting && src->opener != g_thread_self ();
  g_mutex_unlock (&src->open_lock);
  if (starting) {
    switch (gst_ais_src_wait_open (src)) {
      case GST_FLOW_OK:
        break;
      case GST_FLOW_FLUSHING:
        /* stopped during the open: unknown, so that typefind goes on to
         * pull, gets FLUSHING and stops quietly (FALSE makes it post an
         * error) */
        if (GST_QUERY_TYPE (query) == GST_QUERY_DURATION)
          gst_query_set_duration (query, GST_FORMAT_BYTES, -1);
        else
          gst_query_set_seeking (query, GST_FORMAT_BYTES, FALSE, 0, -1);
        return TRUE;
      default:
        return FALSE;
    }
  }
  /* a sequence's size is known once every object is listed */
  if (!gst_ais_src_total (src, &size, &known))
    return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
  if (GST_QUERY_TYPE (query) == GST_QUERY_DURATION)
    gst_query_set_duration (query, GST_FORMAT_BYTES,
        known ? (gint64) size : -1);
  else
    gst_query_set_seeking (query, GST_FORMAT_BYTES, TRUE, 0,
        known ? (gint64) size : -1);
  return TRUE;
}

static gboolean
gst_ais_src_is_seekable (GstBaseSrc * bsrc)
{
  return !gst_ais_src_is_sequence (GST_AIS_SRC (bsrc));
}

/* the reader of the streaming thread: valid between start() and stop() */
static aisfetch_reader *
gst_ais_src_r (GstAisSrc * src)
{
  return src->reader->r;
}

static gboolean
gst_ais_src_reposition (GstAisSrc * src, guint64 offset, guint64 stop)
{
  aisfetch_error err;

  guint64 limit = gst_ais_src_limit (src);

  memset (&err, 0, sizeof err);
  if (offset > limit)
    offset = limit;
  if (stop < offset)
    stop = offset;
  if (aisfetch_seek_range (gst_ais_src_r (src), offset, stop, &err)) {
    GST_ELEMENT_ERROR (src, RESOURCE, SEEK, (NULL),
        ("cannot seek to %" G_GUINT64_FORMAT ": %s", offset, err.message));
    return FALSE;
  }
  src->read_pos = offset;
  src->read_stop = MIN (stop, limit);
  src->idle = FALSE;
  return TRUE;
}

static gboolean
gst_ais_src_do_seek (GstBaseSrc * bsrc, GstSegment * segment)
{
  GstAisSrc *src = GST_AIS_SRC (bsrc);
  guint64 start, stop;

  if (src->reader == NULL)
    return FALSE;
  if (segment->format != GST_FORMAT_BYTES)
    return FALSE;
  if (src->sequence) {
    /* basesrc's own seek at the start only: not seekable */
    return src->cur_obj == NO_OBJECT && segment->start == 0 &&
        segment->stop == (guint64) - 1;
  }

  start = segment->start;
  stop = segment->stop == (guint64) - 1 ? G_MAXUINT64 : segment->stop;
  GST_DEBUG_OBJECT (src, "seek to %" G_GUINT64_FORMAT " stop %" G_GINT64_FORMAT,
      start, segment->stop);

  gst_ais_src_drop_windows (src);
  src->seg_stop = stop;
  /* the object at the new position is announced again (from the start:
   * all of them, the empty ones before the first bytes too) */
  src->cur_obj = NO_OBJECT;
  src->next_announce = start == 0 ? 0 : NO_OBJECT;
  if (!GST_BASE_SRC_CLASS (parent_class)->do_seek (bsrc, segment))
    return FALSE;
  return gst_ais_src_reposition (src, start, stop);
}

static gboolean
gst_ais_src_unlock (GstBaseSrc * bsrc)
{
  GstAisSrc *src = GST_AIS_SRC (bsrc);
  GstAisReader *reader;

  g_mutex_lock (&src->open_lock);
  src->open_flushing = TRUE;
  g_cond_broadcast (&src->open_cond);
  g_mutex_unlock (&src->open_lock);

  GST_OBJECT_LOCK (src);
  reader = gst_ais_src_get_reader_locked (src);
  GST_OBJECT_UNLOCK (src);
  GST_LOG_OBJECT (src, "unlock");
  if (reader) {
    aisfetch_cancel (reader->r);
    gst_ais_reader_unref (reader);
  }
  return TRUE;
}

static gboolean
gst_ais_src_unlock_stop (GstBaseSrc * bsrc)
{
  GstAisSrc *src = GST_AIS_SRC (bsrc);
  GstAisReader *reader;

  g_mutex_lock (&src->open_lock);
  src->open_flushing = FALSE;
  g_mutex_unlock (&src->open_lock);

  GST_OBJECT_LOCK (src);
  reader = gst_ais_src_get_reader_locked (src);
  GST_OBJECT_UNLOCK (src);
  GST_LOG_OBJECT (src, "unlock_stop");
  if (reader) {
    aisfetch_cancel_clear (reader->r);
    gst_ais_reader_unref (reader);
  }
  return TRUE;
}

/* ---- data ---- */

/* A skipped object: the loop of sequence mode goes on with the next one */
#define GST_AIS_FLOW_SKIPPED GST_FLOW_CUSTOM_SUCCESS

/* The reader failed.  An object of a sequence that cannot be read, in
 * sequence mode with skip-errors: a warning that names it, and the reader
 * goes on at the next object (GST_AIS_FLOW_SKIPPED).  Else an error. */
static GstFlowReturn
gst_ais_src_read_failed (GstAisSrc * src, const aisfetch_error * err)
{
  aisfetch_error skip_err;

  if (src->sequence && src->skip) {
    aisfetch_reader *r = gst_ais_src_r (src);
    /* the object whose error aisfetch_next() returned */
    guint64 idx = aisfetch_object_index (r);

    aisfetch_errkind k;

    memset (&skip_err, 0, sizeof skip_err);
    /* a listing that failed, a worker pool that broke: the skip fails too */
    k = aisfetch_skip_object (r, &skip_err);
    if (k == AISFETCH_E_CANCELLED)
      return GST_FLOW_FLUSHING;
    if (k == AISFETCH_OK) {
      aisfetch_object_info *info = g_new0 (aisfetch_object_info, 1);
      gchar *what;

      aisfetch_object_at (r, idx, info, NULL, NULL);
      what = gst_ais_src_object_location (src, idx, info);
      gst_ais_src_post_message (src, GST_MESSAGE_WARNING, err, what, NULL,
          FALSE);
      g_free (what);
      g_free (info);
      /* the empty objects before it are announced, it is not */
      while (src->next_announce < idx &&
          gst_ais_src_announce (src, src->next_announce, TRUE) ==
          GST_FLOW_OK)
        src->next_announce++;
      if (src->next_announce <= idx)
        src->next_announce = idx + 1;
      return GST_AIS_FLOW_SKIPPED;
    }
    GST_DEBUG_OBJECT (src, "cannot skip the object: %s", skip_err.message);
  }
  gst_ais_src_post_error_now (src, err);
  return GST_FLOW_ERROR;
}

/* Takes the next chunk from the reader into window w: wrapped when at most
 * half the slots are held, else copied and given back at once (a copied
 * window holds no slot, so it can stay for the reads that follow). */
static GstFlowReturn
gst_ais_src_next_chunk (GstAisSrc * src, GstAisWindow * w)
{
  aisfetch_reader *r = gst_ais_src_r (src);
  aisfetch_chunk c;
  aisfetch_error err;
  aisfetch_errkind k;
  GstMemory *mem;
  gboolean copy;
  guint64 offset, object, object_offset;
  gsize len;

  memset (&err, 0, sizeof err);
  k = aisfetch_next (r, &c, &err);
  if (k == AISFETCH_E_CANCELLED) {
    GST_DEBUG_OBJECT (src, "cancelled");
    return GST_FLOW_FLUSHING;
  }
  if (k != AISFETCH_OK)
    return gst_ais_src_read_failed (src, &err);
  if (c.len == 0) {
    GST_DEBUG_OBJECT (src, "end of the window at %" G_GUINT64_FORMAT,
        (guint64) c.offset);
    return GST_FLOW_EOS;
  }

  /* The last bytes of a full read in order: the library compares the
   * checksum when asked past them.  basesrc never asks for the bytes past the
   * size, so ask here, and a mismatch is an error before the last buffer and
   * before EOS.  (A sequence's objects are checked before their last
   * chunk is handed out.) */
  if (!src->multi && src->verify_checksum && c.offset + c.len == src->size) {
    aisfetch_chunk end;

    k = aisfetch_next (r, &end, &err);
    if (k == AISFETCH_E_CHECKSUM) {
      aisfetch_release (r, &c);
      gst_ais_src_post_error_now (src, &err);
      return GST_FLOW_ERROR;
    }
    if (k == AISFETCH_OK && end.len)
      aisfetch_release (r, &end);
  }

  /* aisfetch_release() clears the chunk */
  offset = c.offset;
  len = c.len;
  object = c.object;
  object_offset = c.object_offset;
  /* when the ring holds the whole object, held slots cannot starve it */
  copy = src->nslots < src->nchunks &&
      aisfetch_slots_held (r) * 2 > src->nslots;
  if (copy) {
    GstMapInfo map;

    mem = gst_allocator_alloc (NULL, len, NULL);
    if (!mem || !gst_memory_map (mem, &map, GST_MAP_WRITE)) {
      aisfetch_release (r, &c);
      if (mem)
        gst_memory_unref (mem);
      GST_ELEMENT_ERROR (src, RESOURCE, FAILED, (NULL),
          ("cannot allocate %" G_GSIZE_FORMAT " bytes", len));
      return GST_FLOW_ERROR;
    }
    memcpy (map.data, c.data, len);
    gst_memory_unmap (mem, &map);
    aisfetch_release (r, &c);
  } else {
    GstAisLease *lease = g_new (GstAisLease, 1);

    lease->reader = gst_ais_reader_ref (src->reader);
    lease->chunk = c;
    mem = gst_memory_new_wrapped (GST_MEMORY_FLAG_READONLY,
        (gpointer) c.data, c.len, 0, c.len, lease, gst_ais_lease_free);
  }

  GST_OBJECT_LOCK (src);
  if (copy)
    src->chunks_copied++;
  else
    src->chunks_wrapped++;
  GST_OBJECT_UNLOCK (src);

  GST_LOG_OBJECT (src, "chunk %" G_GUINT64_FORMAT "+%" G_GSIZE_FORMAT " (%s)",
      offset, len, copy ? "copied" : "wrapped");
  w->mem = mem;
  w->start = offset;
  w->len = len;
  w->wrapped = !copy;
  w->object = object;
  w->obj_start = offset - object_offset;
  w->used = ++src->use_clock;
  src->win = w;
  src->read_pos = offset + len;
  return GST_FLOW_OK;
}

/* ---- sequences ---- */

/* Announces object i of the sequence (push mode): its element message;
 * in sequence mode also its stream-start and its segment (see
 * gst_ais_src_run_sequence()).  quiet: an object that failed (already
 * reported) is passed over. */
static GstFlowReturn
gst_ais_src_announce (GstAisSrc * src, guint64 i, gboolean quiet)
{
  GstPad *pad = GST_BASE_SRC_PAD (src);
  aisfetch_object_info *info = g_new0 (aisfetch_object_info, 1);
  aisfetch_error err;
  aisfetch_errkind k;
  guint64 off = 0;
  gchar *location;

  memset (&err, 0, sizeof err);
  k = aisfetch_object_at (gst_ais_src_r (src), i, info, &off, &err);
  if (k == AISFETCH_E_CANCELLED || (k != AISFETCH_OK && quiet)) {
    g_free (info);
    return k == AISFETCH_E_CANCELLED ? GST_FLOW_FLUSHING : GST_FLOW_OK;
  }
  location = gst_ais_src_object_location (src, i, info);
  gst_ais_src_post_object_message (src, location, info, i,
      src->sequence ? 0 : off);
  if (src->sequence) {
    GstEvent *event, *first;
    GstSegment segment;

    /* the first object has the stream-start basesrc pushed; the next ones
     * get one of their own, with the same stream-id and group-id */
    first = gst_pad_get_sticky_event (pad, GST_EVENT_STREAM_START, 0);
    if (i > 0 && first) {
      const gchar *stream_id = NULL;
      guint group_id;

      gst_event_parse_stream_start (first, &stream_id);
      event = gst_event_new_stream_start (stream_id);
      if (gst_event_parse_group_id (first, &group_id))
        gst_event_set_group_id (event, group_id);
      gst_pad_push_event (pad, event);
    }
    if (first)
      gst_event_unref (first);
    gst_segment_init (&segment, GST_FORMAT_TIME);
    gst_pad_push_event (pad, gst_event_new_segment (&segment));
    src->cur_obj_start = off;
    src->cur_obj_end = off + info->size;
    src->seq_discont = TRUE;
    GST_OBJECT_LOCK (src);
    src->q_obj_pos = 0;
    src->q_obj_size = info->size;
    GST_OBJECT_UNLOCK (src);
  }
  GST_DEBUG_OBJECT (src, "object %" G_GUINT64_FORMAT ": %s (%" G_GUINT64_FORMAT
      " bytes)", i, location, (guint64) info->size);
  g_free (location);
  g_free (info);
  return GST_FLOW_OK;
}

/* Push mode: the next bytes are of object idx.  Announces it, and before it
 * the objects that had no bytes to push (empty ones) since the last. */
static GstFlowReturn
gst_ais_src_enter_object (GstAisSrc * src, guint64 idx)
{
  guint64 i = src->next_announce == NO_OBJECT ? idx : src->next_announce;
  GstFlowReturn ret = GST_FLOW_OK;

  for (; i <= idx && ret == GST_FLOW_OK; i++)
    ret = gst_ais_src_announce (src, i, i < idx);
  src->cur_obj = idx;
  src->next_announce = idx + 1;
  return ret;
}

/* Push mode, at the end: the empty objects after the last one with bytes */
static GstFlowReturn
gst_ais_src_enter_rest (GstAisSrc * src)
{
  guint64 i, n = aisfetch_objects_known (gst_ais_src_r (src), NULL);
  GstFlowReturn ret = GST_FLOW_OK;

  if (src->next_announce == NO_OBJECT)
    return GST_FLOW_OK;
  for (i = src->next_announce; i < n && ret == GST_FLOW_OK; i++)
    ret = gst_ais_src_announce (src, i, TRUE);
  src->next_announce = n;
  return ret;
}

/* Sequence mode, downstream answered EOS: it has what it wants of this
 * object (qtdemux once it pushed the last sample): the rest of the object
 * is dropped, and the next object comes. */
static GstFlowReturn
gst_ais_src_object_done (GstAisSrc * src)
{
  aisfetch_error err;
  aisfetch_errkind k;

  gst_ais_src_clear_window (src, &src->wins[0]);
  /* the reader has more of the object to give (else it is at the next
   * object already, and a skip would skip that one) */
  if (src->read_pos >= src->cur_obj_end)
    return GST_FLOW_OK;
  GST_DEBUG_OBJECT (src, "downstream is done with object %" G_GUINT64_FORMAT
      ": skipping its last %" G_GUINT64_FORMAT " bytes", src->cur_obj,
      src->cur_obj_end - src->read_pos);
  memset (&err, 0, sizeof err);
  k = aisfetch_skip_object (gst_ais_src_r (src), &err);
  if (k == AISFETCH_E_CANCELLED)
    return GST_FLOW_FLUSHING;
  if (k != AISFETCH_OK) {
    gst_ais_src_post_error_now (src, &err);
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

/* Sequence mode: create() is the streaming loop.  Each object is a stream
 * of its own, and downstream must start afresh for each: a new stream-start
 * and a segment go before its bytes, and its buffers carry offsets in it.
 *
 * What makes `aissrc mode=sequence ! decodebin` decode every clip was found
 * by pushing MP4, WebM, MPEG-TS and JPEG objects into decodebin (GStreamer
 * 1.22) with each way of marking the boundaries, and in the sources of
 * qtdemux, basesrc, decodebin2/3 and playbin:
 *
 * - qtdemux in push mode takes a stream-start as the start of a new file: it
 *   drains and makes a soft reset that expects a new moov.  That reset puts
 *   its parser back to the initial state only when upstream drives in TIME
 *   format, as the adaptive-streaming demuxers do.  After a stream-start
 *   and a BYTES segment it stays in its "movie" state with the first clip's
 *   tables, and the second clip fails: "This file contains no playable
 *   streams".  After a TIME segment it parses each clip: 30, 45 and 60
 *   frames out of clips of 30, 45 and 60.  matroskademux, tsdemux and the
 *   image decoders take either, and filesink appends on a TIME segment
 *   where a BYTES segment at 0 makes it write each object over the last.
 *   So each object gets a TIME segment that starts at 0.
 * - qtdemux answers the push of a clip's last bytes with GST_FLOW_EOS once
 *   it has pushed its last sample.  basesrc ends the whole stream on any
 *   EOS return (it pushes EOS and stops its task), so the second clip would
 *   never come.  So this loop pushes the buffers itself and takes an EOS
 *   return as the end of that object only; it returns to basesrc only at
 *   the end of the sequence (EOS), on a flush or on an error.  It runs in
 *   basesrc's streaming thread with the stream lock held (create() is
 *   called so, without the live lock), as basesrc's own loop pushes.
 * - qtdemux keeps its source pads across a stream-start whose stream-id is
 *   that of the last one (qtdemux_is_streams_update(): the adaptive
 *   demuxers restart the same stream so), and makes new pads for a new
 *   stream-id.  New pads make decodebin expose a new group and remove the
 *   old pads: gst-launch-1.0 links only the first pad of decodebin, and
 *   decodebin3 (also in playbin3) links none of the new ones, so both
 *   stopped with not-linked after the first clip; playbin links them, but
 *   gives every stream of one URI the same group-id, so its
 *   streamsynchronizer does not carry the running time over either.  With
 *   one stream-id, all of them decode every clip.  So the objects share the
 *   stream-id and group-id of the first stream-start (basesrc's): one
 *   logical stream whose container restarts at each object.
 *
 * So each object's timestamps start at 0 again (a source cannot know an
 * object's duration), which suits elements that take every buffer (sinks
 * with sync=false, encoders, appsink); a sink that syncs to the clock finds
 * the second object's buffers late. */
static GstFlowReturn
gst_ais_src_run_sequence (GstAisSrc * src)
{
  GstBaseSrc *bsrc = GST_BASE_SRC (src);
  GstPad *pad = GST_BASE_SRC_PAD (bsrc);
  GstAisWindow *w = &src->wins[0];
  gboolean counted = TRUE;      /* basesrc counted the first buffer */
  GstFlowReturn ret;

  if (src->cur_obj != NO_OBJECT) {
    /* a flush stopped the loop in the middle of an object, and downstream
     * dropped what it had of it: the object starts again */
    GST_DEBUG_OBJECT (src, "after a flush: object %" G_GUINT64_FORMAT
        " again", src->cur_obj);
    gst_ais_src_clear_window (src, w);
    if (!gst_ais_src_reposition (src, src->cur_obj_start, G_MAXUINT64))
      return GST_FLOW_ERROR;
    src->next_announce = src->cur_obj;
    src->cur_obj = NO_OBJECT;
  } else if (src->idle && !gst_ais_src_reposition (src, 0, G_MAXUINT64)) {
    return GST_FLOW_ERROR;
  }
  for (;;) {
    GstBuffer *buf;
    guint64 n;

    if (!w->mem || src->seq_pos >= w->start + w->len) {
      gst_ais_src_clear_window (src, w);
      ret = gst_ais_src_next_chunk (src, w);
      if (ret == GST_AIS_FLOW_SKIPPED)
        continue;
      if (ret == GST_FLOW_EOS) {
        ret = gst_ais_src_enter_rest (src);
        GST_DEBUG_OBJECT (src, "end of the sequence");
        return ret == GST_FLOW_OK ? GST_FLOW_EOS : ret;
      }
      if (ret != GST_FLOW_OK)
        return ret;
      src->seq_pos = w->start;
    }
    if (w->object != src->cur_obj) {
      ret = gst_ais_src_enter_object (src, w->object);
      if (ret != GST_FLOW_OK)
        return ret;
    }

    /* blocksize 0: whole chunks */
    n = w->start + w->len - src->seq_pos;
    if (gst_base_src_get_blocksize (bsrc) > 0)
      n = MIN (n, gst_base_src_get_blocksize (bsrc));
    buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, gst_memory_share (w->mem,
            (gssize) (src->seq_pos - w->start), (gssize) n));
    GST_BUFFER_OFFSET (buf) = src->seq_pos - w->obj_start;
    GST_BUFFER_OFFSET_END (buf) = GST_BUFFER_OFFSET (buf) + n;
    if (src->seq_discont) {
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
      src->seq_discont = FALSE;
    }
    src->seq_pos += n;

    /* num-buffers, as basesrc counts them */
    if (!counted && bsrc->num_buffers_left >= 0) {
      if (bsrc->num_buffers_left == 0) {
        gst_buffer_unref (buf);
        return GST_FLOW_EOS;
      }
      bsrc->num_buffers_left--;
    }
    counted = FALSE;

    GST_OBJECT_LOCK (src);
    src->q_obj_pos = GST_BUFFER_OFFSET_END (buf);
    GST_OBJECT_UNLOCK (src);
    GST_LOG_OBJECT (src, "object %" G_GUINT64_FORMAT ": buffer %"
        G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT, w->object,
        (guint64) GST_BUFFER_OFFSET (buf), n);
    ret = gst_pad_push (pad, buf);
    if (ret == GST_FLOW_EOS)
      ret = gst_ais_src_object_done (src);
    if (ret != GST_FLOW_OK)
      return ret;
  }
}

/* Pull mode: a read outside the readahead window restarts it there, with a
 * readahead of the chunks asked plus one; reads inside it (sequential, or
 * going back and forth as a demuxer does between interleaved streams) keep
 * it, and it doubles, up to half the ring, as they approach its end. */
static gboolean
gst_ais_src_pull_plan (GstAisSrc * src, guint64 offset, guint64 need_end)
{
  guint64 cs = src->cs;
  guint64 first = offset / cs;
  guint64 last = (MAX (need_end, offset + 1) + cs - 1) / cs;   /* exclusive */
  /* half the ring: the other half keeps chunks behind the position, which
   * a demuxer reading interleaved streams comes back to */
  guint64 max_ra = MAX (src->nslots / 2, 1);
  guint64 stop;
  gboolean far = src->idle || offset < src->pull_lo ||
      offset >= src->read_stop;

  if (far) {
    src->pull_ra = MIN (last - first + 1, max_ra);
    src->pull_lo = first * cs;
  } else if (src->read_stop < MIN (need_end, src->size) ||
      (src->read_stop < src->size &&
          src->read_stop - offset <= (src->pull_ra * cs) / 2)) {
    src->pull_ra = MIN (MAX (src->pull_ra * 2, 1), max_ra);
  } else if (offset == src->read_pos) {
    return TRUE;
  }
  stop = MAX (last, first + src->pull_ra) * cs;
  stop = MIN (stop, src->size);
  if (!far)
    stop = MAX (stop, src->read_stop);
  GST_LOG_OBJECT (src, "%s read at %" G_GUINT64_FORMAT ": window to %"
      G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " chunks)",
      far ? "far" : "near", offset, stop, src->pull_ra);
  return gst_ais_src_reposition (src, offset, stop);
}

static void
gst_ais_src_clear_window (GstAisSrc * src, GstAisWindow * w)
{
  if (w->mem)
    gst_memory_unref (w->mem);
  memset (w, 0, sizeof *w);
  if (src->win == w)
    src->win = NULL;
}

/* Makes the window start at offset (and, in pull mode, lets the reader
 * fetch up to need_end). */
static GstFlowReturn
gst_ais_src_fill_window (GstAisSrc * src, guint64 offset, guint64 need_end,
    gboolean pull)
{
  GstAisWindow *w = NULL, *lru_wrapped = NULL;
  guint i, wrapped = 0;

  /* an unused window, else the least recently used one; and if the new
   * chunk may not wrap its slot, give back the slot of the least recently
   * used window that wraps one, before taking another */
  for (i = 0; i < src->max_wins; i++) {
    GstAisWindow *e = &src->wins[i];

    if (e->mem && e->wrapped) {
      wrapped++;
      if (!lru_wrapped || e->used < lru_wrapped->used)
        lru_wrapped = e;
    }
    if (w && !w->mem)
      continue;
    if (!e->mem || !w || e->used < w->used)
      w = e;
  }
  if (w->mem && wrapped >= src->max_wrapped && !w->wrapped)
    w = lru_wrapped;
  else if (!w->mem && wrapped >= src->max_wrapped)
    gst_ais_src_clear_window (src, lru_wrapped);
  gst_ais_src_clear_window (src, w);

  if (pull) {
    if (!gst_ais_src_pull_plan (src, offset, need_end))
      return GST_FLOW_ERROR;
  } else if (src->idle || offset != src->read_pos) {
    GST_DEBUG_OBJECT (src, "offset %" G_GUINT64_FORMAT " is not the reader's "
        "position %" G_GUINT64_FORMAT ": seeking", offset, src->read_pos);
    if (!gst_ais_src_reposition (src, offset, src->seg_stop))
      return GST_FLOW_ERROR;
  }
  return gst_ais_src_next_chunk (src, w);
}

/* makes the window that holds offset the current one */
static gboolean
gst_ais_src_in_window (GstAisSrc * src, guint64 offset)
{
  guint i;

  if (src->win && offset >= src->win->start &&
      offset < src->win->start + src->win->len)
    return TRUE;
  for (i = 0; i < src->max_wins; i++) {
    GstAisWindow *w = &src->wins[i];

    if (w->mem && offset >= w->start && offset < w->start + w->len) {
      w->used = ++src->use_clock;
      src->win = w;
      return TRUE;
    }
  }
  return FALSE;
}

/* Pull mode, a read across chunks: copies into one buffer. */
static GstFlowReturn
gst_ais_src_gather (GstAisSrc * src, guint64 offset, guint length,
    GstBuffer ** out)
{
  GstBuffer *buf;
  GstMapInfo map;
  GstFlowReturn ret = GST_FLOW_OK;
  guint64 pos = offset;
  gsize done = 0;

  buf = gst_buffer_new_allocate (NULL, length, NULL);
  if (!buf || !gst_buffer_map (buf, &map, GST_MAP_WRITE)) {
    if (buf)
      gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (src, RESOURCE, FAILED, (NULL),
        ("cannot allocate %u bytes", length));
    return GST_FLOW_ERROR;
  }
  while (done < length) {
    GstMapInfo wmap;
    gsize n;

    if (!gst_ais_src_in_window (src, pos)) {
      ret = gst_ais_src_fill_window (src, pos, offset + length, TRUE);
      if (ret != GST_FLOW_OK)
        break;
    }
    n = MIN (length - done, src->win->start + src->win->len - pos);
    if (!gst_memory_map (src->win->mem, &wmap, GST_MAP_READ)) {
      ret = GST_FLOW_ERROR;
      GST_ELEMENT_ERROR (src, RESOURCE, FAILED, (NULL),
          ("cannot map a chunk"));
      break;
    }
    memcpy (map.data + done, wmap.data + (pos - src->win->start), n);
    gst_memory_unmap (src->win->mem, &wmap);
    done += n;
    pos += n;
  }
  gst_buffer_unmap (buf, &map);

  if (ret == GST_FLOW_EOS && done > 0)
    ret = GST_FLOW_OK;
  if (ret != GST_FLOW_OK) {
    gst_buffer_unref (buf);
    return ret;
  }
  gst_buffer_set_size (buf, done);
  *out = buf;
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_ais_src_create (GstBaseSrc * bsrc, guint64 offset, guint length,
    GstBuffer ** buffer)
{
  GstAisSrc *src = GST_AIS_SRC (bsrc);
  gboolean pull = GST_PAD_MODE (GST_BASE_SRC_PAD (bsrc)) == GST_PAD_MODE_PULL;
  GstBuffer *buf;
  GstFlowReturn ret;
  guint64 limit;

  if (G_UNLIKELY (!src->open_seen)) {
    ret = gst_ais_src_wait_open (src);
    if (ret != GST_FLOW_OK)
      return ret;
    src->open_seen = TRUE;
  }
  if (src->sequence) {
    ret = gst_ais_src_run_sequence (src);
    g_assert (ret != GST_FLOW_OK);
    return ret;
  }

  limit = gst_ais_src_limit (src);
  if (offset >= limit)
    goto eos;
  if (length == 0) {
    buf = gst_buffer_new ();
    goto done;
  }
  if (length > limit - offset)
    length = (guint) (limit - offset);

  if (!gst_ais_src_in_window (src, offset)) {
    ret = gst_ais_src_fill_window (src, offset, offset + length, pull);
    if (ret != GST_FLOW_OK) {
      if (ret == GST_FLOW_EOS && pull && offset < gst_ais_src_limit (src)) {
        /* cannot happen: the reader stops only where it was told to */
        GST_ELEMENT_ERROR (src, RESOURCE, READ, (NULL),
            ("the reader ended early at %" G_GUINT64_FORMAT, offset));
        return GST_FLOW_ERROR;
      }
      if (ret == GST_FLOW_EOS)
        goto eos;
      return ret;
    }
  }
  /* concat mode: an element message for each object the stream enters */
  if (src->multi && !pull && src->win->object != src->cur_obj) {
    ret = gst_ais_src_enter_object (src, src->win->object);
    if (ret != GST_FLOW_OK)
      return ret;
  }

  if (!pull || offset + length <= src->win->start + src->win->len) {
    guint64 n = MIN (length, src->win->start + src->win->len - offset);

    buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, gst_memory_share (src->win->mem,
            (gssize) (offset - src->win->start), (gssize) n));
  } else {
    ret = gst_ais_src_gather (src, offset, length, &buf);
    if (ret != GST_FLOW_OK)
      return ret;
  }

done:
  GST_BUFFER_OFFSET (buf) = offset;
  GST_BUFFER_OFFSET_END (buf) = offset + gst_buffer_get_size (buf);
  GST_LOG_OBJECT (src, "%s buffer %" G_GUINT64_FORMAT "+%" G_GSIZE_FORMAT,
      pull ? "pull" : "push", offset, gst_buffer_get_size (buf));
  *buffer = buf;
  return GST_FLOW_OK;

eos:
  /* the empty objects at the end get their messages too */
  if (src->multi && !pull && src->seg_stop == G_MAXUINT64) {
    ret = gst_ais_src_enter_rest (src);
    if (ret != GST_FLOW_OK)
      return ret;
  }
  return GST_FLOW_EOS;
}

/* ---- URI handler ---- */

static GstURIType
gst_ais_src_uri_get_type (GType type)
{
  return GST_URI_SRC;
}

static const gchar *const *
gst_ais_src_uri_get_protocols (GType type)
{
  static const gchar *protocols[] = { "ais", "s3", "gs", "az", "oc", NULL };

  return protocols;
}

static const gchar *
gst_ais_src_scheme_of (const gchar * provider)
{
  static const struct
  {
    const gchar *provider, *scheme;
  } map[] = {
    {"ais", "ais"}, {"aws", "s3"}, {"gcp", "gs"}, {"azure", "az"}, {"oci", "oc"}
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (map); i++)
    if (strcmp (provider, map[i].provider) == 0)
      return map[i].scheme;
  return "ais";
}

/* "ais://BUCKET/OBJECT" (a prefix: "ais://BUCKET/PREFIX/") with the path
 * percent-encoded, or NULL */
static gchar *
gst_ais_src_location_to_uri (const gchar * location)
{
  aisfetch_uri *u;
  gchar *path, *escaped, *uri = NULL;
  aisfetch_errkind k;

  if (!location)
    return NULL;
  u = g_new0 (aisfetch_uri, 1);
  if (g_str_has_suffix (location, "/"))
    k = aisfetch_prefix_parse (location, u, NULL);
  else
    k = aisfetch_uri_parse (location, u, NULL);
  if (k == AISFETCH_OK) {
    if (u->ns_uuid[0] || u->ns_name[0])
      path = g_strdup_printf ("@%s%s%s/%s/%s", u->ns_uuid,
          u->ns_name[0] ? "#" : "", u->ns_name, u->bucket, u->object);
    else
      path = g_strdup_printf ("%s/%s", u->bucket, u->object);
    escaped = g_uri_escape_string (path, G_URI_RESERVED_CHARS_ALLOWED_IN_PATH,
        FALSE);
    uri = g_strdup_printf ("%s://%s", gst_ais_src_scheme_of (u->provider),
        escaped);
    g_free (escaped);
    g_free (path);
  }
  g_free (u);
  return uri;
}

static gchar *
gst_ais_src_uri_get_uri (GstURIHandler * handler)
{
  GstAisSrc *src = GST_AIS_SRC (handler);
  gchar *location, *uri;

  /* a prefix without a trailing '/', and a list, have no URI: as a URI, a
   * prefix ends with '/' */
  GST_OBJECT_LOCK (src);
  if (src->prefix && g_str_has_suffix (src->prefix, "/"))
    location = g_strdup (src->prefix);
  else
    location = g_strdup (src->location);
  GST_OBJECT_UNLOCK (src);
  uri = gst_ais_src_location_to_uri (location);
  g_free (location);
  return uri;
}

static gboolean
gst_ais_src_uri_set_uri (GstURIHandler * handler, const gchar * uri,
    GError ** error)
{
  GstAisSrc *src = GST_AIS_SRC (handler);
  aisfetch_uri *u;
  aisfetch_error err;
  gchar *location, *scheme;
  const gchar *sep, *path, *hash;
  gboolean ok;

  if (uri == NULL || (sep = strstr (uri, "://")) == NULL) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
        "Invalid AIStore URI '%s' (expected ais://BUCKET/OBJECT or "
        "ais://BUCKET/PREFIX/)",
        GST_STR_NULL (uri));
    return FALSE;
  }
  /* a '#' may only end the namespace of "@UUID#NAMESPACE/": anywhere else it
   * (and any '?') would start a fragment (a query) that the object name
   * would silently swallow */
  path = sep + 3;
  hash = strchr (path, '#');
  if (strchr (path, '?') || (hash && (path[0] != '@'
              || hash > strchr (path, '/') || strchr (hash + 1, '#')))) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
        "Invalid AIStore URI '%s': a query or fragment is not part of an "
        "object name (percent-encode '?' as %%3F and '#' as %%23)", uri);
    return FALSE;
  }
  location = g_uri_unescape_string (uri, NULL);
  if (location == NULL || !g_utf8_validate (location, -1, NULL)) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
        location ? "URI '%s' is not UTF-8 once unescaped" :
        "Invalid percent-encoding in URI '%s'", uri);
    g_free (location);
    return FALSE;
  }
  /* schemes are case-insensitive (RFC 3986) */
  sep = strstr (location, "://");
  if (sep) {
    scheme = g_ascii_strdown (location, sep - location);
    memcpy (location, scheme, sep - location);
    g_free (scheme);
  }
  /* a trailing '/': a prefix, every object under it */
  u = g_new0 (aisfetch_uri, 1);
  memset (&err, 0, sizeof err);
  if (g_str_has_suffix (location, "/"))
    ok = aisfetch_prefix_parse (location, u, &err) == AISFETCH_OK;
  else
    ok = aisfetch_uri_parse (location, u, &err) == AISFETCH_OK;
  g_free (u);
  if (!ok) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
        "Invalid AIStore URI '%s': %s", uri, err.message);
    g_free (location);
    return FALSE;
  }
  ok = gst_ais_src_set_location (src, location, error);
  g_free (location);
  return ok;
}

static void
gst_ais_src_uri_handler_init (gpointer g_iface, gpointer iface_data)
{
  GstURIHandlerInterface *iface = (GstURIHandlerInterface *) g_iface;

  iface->get_type = gst_ais_src_uri_get_type;
  iface->get_protocols = gst_ais_src_uri_get_protocols;
  iface->get_uri = gst_ais_src_uri_get_uri;
  iface->set_uri = gst_ais_src_uri_set_uri;
}
