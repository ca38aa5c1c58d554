/* GStreamer unit tests for aissrc, against the AIStore emulator.
 *
 * The emulator (tools/ais-emulator.py, started through $AISEMU_PYTHON and
 * $AISEMU_SCRIPT) runs for the whole suite, started by an unchecked fixture
 * in the parent process; the tests run in forked children, as gst-check
 * does by default.  Tests that need another emulator (tokens) start their
 * own.  Every wait is bounded.
 *
 * Thread safety: the collectors below are written by streaming threads and
 * read by the test thread; each has its own lock.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/check/gstcheck.h>
#include <gst/pbutils/pbutils.h>

#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "testutil.h"

#define WAIT (60 * GST_SECOND)
#define MiB (1024 * 1024)

static tu_emu emu;

/* the objects every test may use: generated content of the given seed */
typedef struct
{
  const gchar *name;
  guint64 size;
  guint64 seed;
  const gchar *extra;           /* more PUT parameters */
} TestObject;

static const TestObject objects[] = {
  {"empty", 0, 11, NULL},
  {"one", 1, 12, NULL},
  {"small", 1000, 13, NULL},
  {"mid", MiB + 13, 14, NULL},
  {"big", 24 * MiB + 5, 15, NULL},
  {"chunked", 5 * MiB + 3, 16, "chunk=1048576"},
  {"dir/with space+plus.bin", 70000, 17, NULL},
};

static const TestObject *
test_object (const gchar * name)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (objects); i++)
    if (strcmp (objects[i].name, name) == 0)
      return &objects[i];
  g_assert_not_reached ();
  return NULL;
}

static void
emu_setup (void)
{
  guint i;

  tu_emu_start (&emu, NULL);
  for (i = 0; i < G_N_ELEMENTS (objects); i++)
    tu_emu_gen (&emu, "gst", objects[i].name, objects[i].size, objects[i].seed,
        objects[i].extra);
}

static void
emu_teardown (void)
{
  tu_emu_stop (&emu);
}

/* before each test: no fault or shaping left by a test that failed midway
 * (one failure used to fail the tests after it too) */
static void
emu_clean (void)
{
  tu_emu_clear_faults (&emu);
  tu_emu_shape (&emu, 0, 0);
}

static GstElement *
make_src (const gchar * object)
{
  GstElement *src = gst_element_factory_make ("aissrc", NULL);
  gchar *loc = g_strdup_printf ("ais://gst/%s", object);

  fail_unless (src != NULL, "no aissrc: is GST_PLUGIN_PATH set?");
  g_object_set (src, "endpoint", emu.url, "location", loc, NULL);
  g_free (loc);
  return src;
}

static GstMessage *
wait_message (GstElement * pipeline, GstMessageType types, GstClockTime timeout)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, timeout, types);

  gst_object_unref (bus);
  return m;
}

#define ANY_STATUS G_MAXUINT

/* the error's code and http-status-code detail (ANY_STATUS: any) */
static void
check_error (GstMessage * m, gint code, guint http_status)
{
  GError *err = NULL;
  gchar *debug = NULL;
  const GstStructure *details = NULL;
  guint status = G_MAXUINT;

  fail_unless (m != NULL, "no message");
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR,
      "expected an error, got %s", GST_MESSAGE_TYPE_NAME (m));
  gst_message_parse_error (m, &err, &debug);
  GST_INFO ("error: %s (%s)", err->message, debug);
  fail_unless (err->domain == GST_RESOURCE_ERROR, "domain %s",
      g_quark_to_string (err->domain));
  fail_unless_equals_int (err->code, code);
  gst_message_parse_error_details (m, &details);
  fail_unless (details != NULL, "no error details");
  fail_unless (gst_structure_get_uint (details, "http-status-code", &status));
  if (http_status != ANY_STATUS)
    fail_unless_equals_int (status, http_status);
  g_error_free (err);
  g_free (debug);
}

static gchar *
error_debug (GstMessage * m)
{
  GError *err = NULL;
  gchar *debug = NULL, *all;

  gst_message_parse_error (m, &err, &debug);
  all = g_strdup_printf ("%s | %s", err->message, GST_STR_NULL (debug));
  g_error_free (err);
  g_free (debug);
  return all;
}

static GstStructure *
get_stats (GstElement * src)
{
  GstStructure *s = NULL;

  g_object_get (src, "stats", &s, NULL);
  fail_unless (s != NULL);
  return s;
}

static guint64
stat_u64 (GstElement * src, const gchar * field)
{
  GstStructure *s = get_stats (src);
  guint64 v = 0;

  fail_unless (gst_structure_get_uint64 (s, field, &v), "no %s in stats",
      field);
  gst_structure_free (s);
  return v;
}

/* ---- processes ---- */

/* worker processes of this process (children of its helper processes) */
static gint
count_workers (void)
{
  return tu_count_workers_of (getpid ());
}

/* waits up to ms until no helper and no worker is left; returns how many
 * are left */
static gint
wait_no_workers (gint ms)
{
  gint64 deadline = g_get_monotonic_time () + ms * 1000;
  gint n;

  for (;;) {
    n = tu_count_children () + count_workers ();
    if (n == 0 || g_get_monotonic_time () >= deadline)
      return n;
    g_usleep (10 * 1000);
  }
}

/* ---- collecting what a pipeline produced ---- */

typedef struct
{
  GMutex lock;
  guint8 *data;
  guint64 size;                 /* of the object */
  guint64 next;                 /* expected offset of the next buffer */
  guint64 got;
  guint buffers;
  gboolean offsets_ok;
  gboolean all_readonly;
  gboolean overflow;
  GPtrArray *keep;              /* buffers held on purpose, or NULL */
} Collector;

static void
collector_init (Collector * c, guint64 size, guint64 start)
{
  memset (c, 0, sizeof *c);
  g_mutex_init (&c->lock);
  c->size = size;
  c->data = g_malloc0 (MAX (size, 1));
  c->next = start;
  c->offsets_ok = TRUE;
  c->all_readonly = TRUE;
}

static void
collector_clear (Collector * c)
{
  g_free (c->data);
  if (c->keep)
    g_ptr_array_unref (c->keep);
  g_mutex_clear (&c->lock);
}

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, Collector * c)
{
  GstMapInfo map;
  guint i;

  g_mutex_lock (&c->lock);
  if (GST_BUFFER_OFFSET (buf) != c->next)
    c->offsets_ok = FALSE;
  for (i = 0; i < gst_buffer_n_memory (buf); i++)
    if (!GST_MEMORY_IS_READONLY (gst_buffer_peek_memory (buf, i)))
      c->all_readonly = FALSE;
  if (gst_buffer_map (buf, &map, GST_MAP_READ)) {
    guint64 off = GST_BUFFER_OFFSET (buf);

    if (off + map.size <= c->size)
      memcpy (c->data + off, map.data, map.size);
    else
      c->overflow = TRUE;
    c->next = off + map.size;
    c->got += map.size;
    gst_buffer_unmap (buf, &map);
  }
  if (GST_BUFFER_OFFSET_END (buf) != GST_BUFFER_OFFSET (buf) +
      gst_buffer_get_size (buf))
    c->offsets_ok = FALSE;
  c->buffers++;
  if (c->keep)
    g_ptr_array_add (c->keep, gst_buffer_ref (buf));
  g_mutex_unlock (&c->lock);
}

/* aissrc ! fakesink, collecting into c */
static GstElement *
make_pipeline (GstElement * src, Collector * c, GstElement ** sink_out)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);

  /* no last-sample: nothing downstream keeps a buffer unless a test says so */
  g_object_set (sink, "sync", FALSE, "signal-handoffs", TRUE,
      "enable-last-sample", FALSE, NULL);
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), c);
  gst_bin_add_many (GST_BIN (pipeline), src, sink, NULL);
  fail_unless (gst_element_link (src, sink));
  if (sink_out)
    *sink_out = sink;
  return pipeline;
}

/* reads the whole object through a pipeline and checks every byte */
static void
read_and_check (const gchar * object, guint chunk_size, guint workers,
    const gchar * mode, guint blocksize)
{
  const TestObject *o = test_object (object);
  GstElement *src = make_src (object), *pipeline;
  Collector c;
  GstMessage *m;
  gint64 bad;
  GstStructure *stats;
  guint64 wrapped = 0, copied = 0, bytes = 0;
  guint slots = 0;

  GST_INFO ("%s: chunk %u, %u workers, %s, blocksize %u", object, chunk_size,
      workers, mode, blocksize);
  gst_util_set_object_arg (G_OBJECT (src), "worker-mode", mode);
  g_object_set (src, "chunk-size", chunk_size, "num-workers", workers, NULL);
  if (blocksize)
    g_object_set (src, "blocksize", blocksize, NULL);
  collector_init (&c, o->size, 0);
  pipeline = make_pipeline (src, &c, NULL);

  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipeline, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, WAIT);
  fail_unless (m != NULL, "%s: no EOS within 60 s", object);
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%s: %s", object,
      GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR ? error_debug (m) : "?");
  gst_message_unref (m);

  stats = get_stats (src);
  fail_unless (gst_structure_get (stats, "chunks-wrapped", G_TYPE_UINT64,
          &wrapped, "chunks-copied", G_TYPE_UINT64, &copied,
          "bytes-delivered", G_TYPE_UINT64, &bytes, "slots", G_TYPE_UINT,
          &slots, NULL));
  gst_structure_free (stats);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);

  fail_unless_equals_uint64 (c.got, o->size);
  fail_unless (c.offsets_ok, "%s: buffer offsets are not contiguous", object);
  fail_if (c.overflow, "%s: a buffer past the end", object);
  bad = tu_gen_cmp (o->seed, 0, c.data, o->size);
  fail_unless (bad < 0, "%s: byte %" G_GINT64_FORMAT " differs", object, bad);
  fail_unless_equals_uint64 (bytes, o->size);
  /* nothing downstream holds buffers: every chunk is handed out without a
   * copy, as read-only memory (one slot is no ring: copies, unless the
   * object is one chunk) */
  if (slots >= 2 || (o->size > 0 && wrapped + copied == 1)) {
    fail_unless (copied == 0, "%s: %" G_GUINT64_FORMAT " chunks copied",
        object, copied);
    fail_unless (c.all_readonly, "%s: writable memory", object);
  }
  if (o->size > 0 && blocksize && chunk_size && blocksize < chunk_size &&
      o->size > blocksize)
    fail_unless (c.buffers > wrapped + copied,
        "%s: chunks were not cut into blocksize buffers", object);

  collector_clear (&c);
  gst_object_unref (pipeline);
}

/* ---- tests ---- */

GST_START_TEST (test_first_buffer)
{
  GstElement *src = make_src ("big");
  GstPad *sinkpad;
  GstBuffer *buf;
  GstMapInfo map;
  guint8 expect[64];
  gint64 deadline;
  static GstStaticPadTemplate sinktemplate = GST_STATIC_PAD_TEMPLATE ("sink",
      GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

  sinkpad = gst_check_setup_sink_pad (src, &sinktemplate);
  gst_pad_set_active (sinkpad, TRUE);
  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  deadline = g_get_monotonic_time () + 30 * G_TIME_SPAN_SECOND;
  g_mutex_lock (&check_mutex);
  while (g_list_length (buffers) < 12 && g_get_monotonic_time () < deadline)
    g_cond_wait_until (&check_cond, &check_mutex, deadline);
  fail_unless (g_list_length (buffers) >= 12, "not 12 buffers within 30 s");
  /* in order from 0; the first ones may be smaller (the first bytes of the
   * chunk as they arrive), never more than the default blocksize (1 MiB),
   * and 1 MiB once whole chunks are in */
  {
    guint64 at = 0;
    gboolean full = FALSE;
    GList *l;

    for (l = buffers; l; l = l->next) {
      GstBuffer *b = GST_BUFFER (l->data);
      gsize n = gst_buffer_get_size (b);

      fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), at);
      fail_unless (n > 0 && n <= MiB, "buffer of %" G_GSIZE_FORMAT " bytes", n);
      full |= n == MiB;
      at += n;
    }
    fail_unless (full, "no 1 MiB buffer in the first %u", g_list_length (buffers));
  }
  buf = gst_buffer_ref (GST_BUFFER (buffers->data));
  g_mutex_unlock (&check_mutex);
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  tu_gen (test_object ("big")->seed, 0, expect, sizeof expect);
  fail_unless (memcmp (map.data, expect, sizeof expect) == 0);
  gst_buffer_unmap (buf, &map);
  /* read-only: writing needs a copy */
  fail_unless (GST_MEMORY_IS_READONLY (gst_buffer_peek_memory (buf, 0)));
  gst_buffer_unref (buf);

  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gst_check_drop_buffers ();
  gst_pad_set_active (sinkpad, FALSE);
  gst_check_teardown_sink_pad (src);
  gst_check_teardown_element (src);
}

GST_END_TEST;

GST_START_TEST (test_content)
{
  read_and_check ("empty", 0, 8, "process", 0);
  read_and_check ("one", 0, 4, "thread", 0);
  read_and_check ("small", 0, 1, "process", 0);
  read_and_check ("small", 4096, 3, "thread", 100);
  read_and_check ("mid", 65536, 1, "process", 4096);
  read_and_check ("mid", 65536, 3, "thread", 100000);
  read_and_check ("mid", 65536, 8, "process", MiB);
  read_and_check ("mid", 4096, 16, "thread", 3000);
  read_and_check ("big", 0, 4, "thread", 0);
  read_and_check ("big", MiB, 16, "process", 3 * MiB);
  read_and_check ("big", 3 * MiB + 4096, 2, "process", 0);
  read_and_check ("dir/with space+plus.bin", 8192, 4, "process", 5000);
}

GST_END_TEST;

/* chunk-size 0 is the object's own chunk size when it is stored in chunks */
GST_START_TEST (test_chunk_size_from_object)
{
  GstElement *src = make_src ("chunked"), *pipeline;
  Collector c;
  GstMessage *m;
  guint64 cs = 0, ranges = 0;
  GstStructure *stats;

  collector_init (&c, test_object ("chunked")->size, 0);
  pipeline = make_pipeline (src, &c, NULL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipeline, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, WAIT);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);
  stats = get_stats (src);
  fail_unless (gst_structure_get_uint64 (stats, "chunk-size", &cs));
  fail_unless (gst_structure_get_uint64 (stats, "ranges", &ranges));
  gst_structure_free (stats);
  fail_unless_equals_uint64 (cs, MiB);
  fail_unless (ranges >= 6);
  fail_unless (tu_gen_cmp (test_object ("chunked")->seed, 0, c.data,
          c.size) < 0);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  collector_clear (&c);
}

GST_END_TEST;

/* ---- seeks in push mode ---- */

/* A sink pad whose chain function waits at a gate: the test seeks while the
 * first buffer is held, and collects only what comes after the gate opens. */
static struct
{
  GMutex lock;
  GCond cond;
  gboolean open, flushing, eos;
  guint chain_calls;
  guint64 first, next, got;
  gboolean first_set, offsets_ok;
  guint8 *data;
  guint64 size;
  GstSegment segment;
} gate;

static GstFlowReturn
gate_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  gint64 deadline = g_get_monotonic_time () + 30 * G_TIME_SPAN_SECOND;
  GstFlowReturn ret = GST_FLOW_OK;
  GstMapInfo map;

  g_mutex_lock (&gate.lock);
  gate.chain_calls++;
  g_cond_broadcast (&gate.cond);
  while (!gate.open && !gate.flushing && g_get_monotonic_time () < deadline)
    g_cond_wait_until (&gate.cond, &gate.lock, deadline);
  if (gate.flushing) {
    ret = GST_FLOW_FLUSHING;
  } else if (gate.open) {
    guint64 off = GST_BUFFER_OFFSET (buf);

    if (!gate.first_set) {
      gate.first = off;
      gate.first_set = TRUE;
    } else if (off != gate.next) {
      gate.offsets_ok = FALSE;
    }
    gst_buffer_map (buf, &map, GST_MAP_READ);
    if (off + map.size <= gate.size)
      memcpy (gate.data + off, map.data, map.size);
    else
      gate.offsets_ok = FALSE;
    gate.next = off + map.size;
    gate.got += map.size;
    gst_buffer_unmap (buf, &map);
  } else {
    ret = GST_FLOW_ERROR;
  }
  g_mutex_unlock (&gate.lock);
  gst_buffer_unref (buf);
  return ret;
}

static gboolean
gate_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  g_mutex_lock (&gate.lock);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      gate.flushing = TRUE;
      break;
    case GST_EVENT_FLUSH_STOP:
      gate.flushing = FALSE;
      gate.eos = FALSE;
      gate.first_set = FALSE;
      gate.got = 0;
      gate.offsets_ok = TRUE;
      break;
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &gate.segment);
      break;
    case GST_EVENT_EOS:
      gate.eos = TRUE;
      break;
    default:
      break;
  }
  g_cond_broadcast (&gate.cond);
  g_mutex_unlock (&gate.lock);
  gst_event_unref (event);
  return TRUE;
}

static GstPad *
gate_setup (GstElement * src, guint64 size, gboolean open)
{
  static GstStaticPadTemplate sinktemplate = GST_STATIC_PAD_TEMPLATE ("sink",
      GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
  GstPad *sinkpad;

  g_mutex_init (&gate.lock);
  g_cond_init (&gate.cond);
  gate.open = open;
  gate.flushing = gate.eos = FALSE;
  gate.chain_calls = 0;
  gate.first_set = FALSE;
  gate.offsets_ok = TRUE;
  gate.got = 0;
  gate.size = size;
  gate.data = g_malloc0 (MAX (size, 1));
  gst_segment_init (&gate.segment, GST_FORMAT_UNDEFINED);

  sinkpad = gst_check_setup_sink_pad (src, &sinktemplate);
  gst_pad_set_chain_function (sinkpad, gate_chain);
  gst_pad_set_event_function (sinkpad, gate_event);
  gst_pad_set_active (sinkpad, TRUE);
  return sinkpad;
}

static void
gate_teardown (GstElement * src, GstPad * sinkpad)
{
  gst_pad_set_active (sinkpad, FALSE);
  gst_check_teardown_sink_pad (src);
  gst_check_teardown_element (src);
  g_free (gate.data);
  g_mutex_clear (&gate.lock);
  g_cond_clear (&gate.cond);
}

static gboolean
gate_wait_eos (gint64 seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_TIME_SPAN_SECOND;
  gboolean eos;

  g_mutex_lock (&gate.lock);
  while (!gate.eos && g_get_monotonic_time () < deadline)
    g_cond_wait_until (&gate.cond, &gate.lock, deadline);
  eos = gate.eos;
  g_mutex_unlock (&gate.lock);
  return eos;
}

static void
gate_check_range (const TestObject * o, guint64 start, guint64 stop)
{
  gint64 bad;

  g_mutex_lock (&gate.lock);
  fail_unless (gate.offsets_ok, "offsets are not contiguous");
  fail_unless_equals_uint64 (gate.got, stop - start);
  if (stop > start) {
    fail_unless (gate.first_set);
    fail_unless_equals_uint64 (gate.first, start);
  }
  bad = tu_gen_cmp (o->seed, start, gate.data + start, stop - start);
  fail_unless (bad < 0, "byte %" G_GINT64_FORMAT " differs", bad);
  fail_unless_equals_uint64 (gate.segment.start, start);
  g_mutex_unlock (&gate.lock);
}

/* the largest start of a range of key ("bucket/object") that the targets
 * served since the last reset of the emulator's stats */
static guint64
max_range_start (const gchar * key)
{
  static gchar out[1 << 20];
  gchar url[512], *pat, *p;
  guint64 max = 0;

  g_snprintf (url, sizeof url, "%s/_emu/stats", emu.url);
  fail_unless (tu_http ("GET", url, NULL, 0, out, sizeof out) == 200);
  pat = g_strdup_printf ("\"%s\"", key);
  for (p = strstr (out, pat); p; p = strstr (p + 1, pat)) {
    const gchar *r = strstr (p, "bytes=");
    guint64 a;

    if (r && sscanf (r, "bytes=%" G_GUINT64_FORMAT, &a) == 1 && a > max)
      max = a;
  }
  g_free (pat);
  return max;
}

/* a seek in READY applies when the element starts */
static void
seek_in_ready (guint64 start, gint64 stop)
{
  const TestObject *o = test_object ("mid");
  GstElement *src = make_src ("mid");
  GstPad *sinkpad;

  g_object_set (src, "chunk-size", 65536, "num-workers", 4, "blocksize", 10000,
      NULL);
  sinkpad = gate_setup (src, o->size, TRUE);
  tu_emu_post (&emu, "/_emu/stats/reset");
  fail_unless (gst_element_set_state (src, GST_STATE_READY) ==
      GST_STATE_CHANGE_SUCCESS);
  fail_unless (gst_element_seek (src, 1.0, GST_FORMAT_BYTES,
          GST_SEEK_FLAG_FLUSH, GST_SEEK_TYPE_SET, (gint64) start,
          GST_SEEK_TYPE_SET, stop));
  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gate_wait_eos (30), "no EOS");
  gate_check_range (o, start, stop < 0 ? o->size : (guint64) stop);
  /* nothing past the stop was fetched */
  if (stop >= 0) {
    guint64 last = max_range_start ("gst/mid");

    fail_unless (last < (guint64) stop, "a range at %" G_GUINT64_FORMAT
        " was fetched, past the stop %" G_GINT64_FORMAT, last, stop);
    fail_unless (last >= start - start % 65536);
  }
  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gate_teardown (src, sinkpad);
}

GST_START_TEST (test_seek_ready)
{
  seek_in_ready (300000, -1);
  seek_in_ready (65536 * 3 + 17, 65536 * 9 + 5);
  seek_in_ready (0, 1);
  seek_in_ready (MiB + 12, -1);
}

GST_END_TEST;

/* many flushing seeks while the data flows; what follows the last one is
 * exact */
GST_START_TEST (test_seek_storm)
{
  const TestObject *o = test_object ("big");
  GstElement *src = make_src ("big");
  GstPad *sinkpad;
  GRand *rand = g_rand_new_with_seed (7);
  guint64 start = 0;
  gint64 stop = -1;
  guint i;

  g_object_set (src, "chunk-size", 512 * 1024, "num-workers", 6,
      "blocksize", 65536, NULL);
  sinkpad = gate_setup (src, o->size, TRUE);
  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < 60; i++) {
    start = (guint64) g_rand_int_range (rand, 0, (gint32) o->size);
    stop = g_rand_boolean (rand) ? -1 :
        (gint64) MIN (o->size, start + g_rand_int_range (rand, 1, 4 * MiB));
    fail_unless (gst_element_seek (src, 1.0, GST_FORMAT_BYTES,
            GST_SEEK_FLAG_FLUSH, GST_SEEK_TYPE_SET, (gint64) start,
            GST_SEEK_TYPE_SET, stop));
    g_usleep (g_rand_int_range (rand, 0, 20000));
  }
  fail_unless (gate_wait_eos (30), "no EOS after the last seek");
  gate_check_range (o, start, stop < 0 ? o->size : (guint64) stop);
  fail_unless_equals_uint64 (stat_u64 (src, "respawns"), 0);
  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gate_teardown (src, sinkpad);
  g_rand_free (rand);
}

GST_END_TEST;

/* reverse playback in bytes, as GStreamer's filesrc test has it: EOS */
GST_START_TEST (test_seek_reverse)
{
  const TestObject *o = test_object ("mid");
  GstElement *src = make_src ("mid");
  GstPad *sinkpad;

  g_object_set (src, "chunk-size", 65536, "blocksize", 100000, NULL);
  sinkpad = gate_setup (src, o->size, TRUE);
  fail_unless (gst_element_set_state (src, GST_STATE_READY) ==
      GST_STATE_CHANGE_SUCCESS);
  gst_element_seek (src, -1.0, GST_FORMAT_BYTES, 0, GST_SEEK_TYPE_SET, 100,
      GST_SEEK_TYPE_SET, -1);
  fail_unless (gst_element_set_state (src, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gate_wait_eos (30), "no EOS");
  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gate_teardown (src, sinkpad);
}

GST_END_TEST;

/* a flushing seek while a buffer is held downstream, in PLAYING */
static void
seek_in_playing (const gchar * mode, guint64 start, gint64 stop)
{
  const TestObject *o = test_object ("big");
  GstElement *src = make_src ("big");
  GstPad *sinkpad;
  gint64 deadline;
  gint children0, i;
  guint64 respawns;

  gst_util_set_object_arg (G_OBJECT (src), "worker-mode", mode);
  g_object_set (src, "chunk-size", MiB, "num-workers", 4, "blocksize", 100000,
      NULL);
  sinkpad = gate_setup (src, o->size, FALSE);
  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  /* the first buffer waits at the gate */
  deadline = g_get_monotonic_time () + 30 * G_TIME_SPAN_SECOND;
  g_mutex_lock (&gate.lock);
  while (gate.chain_calls == 0 && g_get_monotonic_time () < deadline)
    g_cond_wait_until (&gate.cond, &gate.lock, deadline);
  fail_unless (gate.chain_calls > 0, "no buffer within 30 s");
  g_mutex_unlock (&gate.lock);
  /* the workers are forked while the first bytes already flow */
  children0 = count_workers ();
  for (i = 0; i < 500 && strcmp (mode, "process") == 0 && children0 < 4; i++) {
    g_usleep (10000);
    children0 = count_workers ();
  }

  fail_unless (gst_element_seek (src, 1.0, GST_FORMAT_BYTES,
          GST_SEEK_FLAG_FLUSH, GST_SEEK_TYPE_SET, (gint64) start,
          GST_SEEK_TYPE_SET, stop));
  g_mutex_lock (&gate.lock);
  gate.open = TRUE;
  g_cond_broadcast (&gate.cond);
  g_mutex_unlock (&gate.lock);

  fail_unless (gate_wait_eos (30), "no EOS after the seek");
  gate_check_range (o, start, stop < 0 ? o->size : (guint64) stop);

  /* the seek reused the running workers */
  respawns = stat_u64 (src, "respawns");
  fail_unless_equals_uint64 (respawns, 0);
  if (strcmp (mode, "process") == 0) {
    fail_unless_equals_int (children0, 4);
    fail_unless_equals_int (count_workers (), children0);
  }

  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gate_teardown (src, sinkpad);
}

GST_START_TEST (test_seek_playing)
{
  seek_in_playing ("process", 10 * MiB + 3, -1);
  seek_in_playing ("thread", 10 * MiB + 3, -1);
  seek_in_playing ("process", 5 * MiB - 7, 7 * MiB + 1);
  seek_in_playing ("thread", 100, 200);
  seek_in_playing ("process", 0, MiB);
}

GST_END_TEST;

/* ---- pull mode ---- */

static GstElement *
setup_pull (const gchar * object, GstPad ** srcpad, guint chunk_size,
    guint workers)
{
  static GstStaticPadTemplate sinktemplate = GST_STATIC_PAD_TEMPLATE ("sink",
      GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
  GstElement *src = make_src (object);
  GstPad *sinkpad;

  g_object_set (src, "chunk-size", chunk_size, "num-workers", workers, NULL);

  sinkpad = gst_check_setup_sink_pad (src, &sinktemplate);
  gst_pad_set_active (sinkpad, TRUE);
  fail_unless (gst_element_set_state (src, GST_STATE_READY) ==
      GST_STATE_CHANGE_SUCCESS);
  *srcpad = gst_element_get_static_pad (src, "src");
  fail_unless (gst_pad_activate_mode (*srcpad, GST_PAD_MODE_PULL, TRUE));
  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_SUCCESS);
  return src;
}

static void
teardown_pull (GstElement * src, GstPad * srcpad)
{
  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (srcpad);
  gst_check_drop_buffers ();
  gst_check_teardown_sink_pad (src);
  gst_check_teardown_element (src);
}

static void
pull_check (GstPad * pad, const TestObject * o, guint64 off, guint len)
{
  GstBuffer *buf = NULL;
  GstMapInfo map;
  GstFlowReturn ret;
  guint64 expect = MIN ((guint64) len, o->size - off);
  gint64 bad;

  ret = gst_pad_get_range (pad, off, len, &buf);
  fail_unless (ret == GST_FLOW_OK, "get_range %" G_GUINT64_FORMAT "+%u: %s",
      off, len, gst_flow_get_name (ret));
  fail_unless_equals_uint64 (gst_buffer_get_size (buf), expect);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), off);
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  bad = tu_gen_cmp (o->seed, off, map.data, map.size);
  fail_unless (bad < 0, "get_range %" G_GUINT64_FORMAT "+%u: byte %"
      G_GINT64_FORMAT " differs", off, len, bad);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
}

/* the cases of GStreamer's own filesrc test */
GST_START_TEST (test_pull_edges)
{
  const TestObject *o = test_object ("mid");
  GstElement *src;
  GstPad *pad;
  GstQuery *q;
  gboolean seekable;
  gint64 start, stop;
  GstBuffer *b1 = NULL, *b2 = NULL;
  GstMapInfo m1, m2;

  src = setup_pull ("mid", &pad, 65536, 2);
  q = gst_query_new_seeking (GST_FORMAT_BYTES);
  fail_unless (gst_element_query (src, q));
  gst_query_parse_seeking (q, NULL, &seekable, &start, &stop);
  gst_query_unref (q);
  fail_unless (seekable);
  fail_unless_equals_int64 (start, 0);
  fail_unless_equals_int64 (stop, (gint64) o->size);

  fail_unless (gst_pad_get_range (pad, 0, 100, &b1) == GST_FLOW_OK);
  fail_unless_equals_int (gst_buffer_get_size (b1), 100);
  fail_unless (gst_pad_get_range (pad, 0, 50, &b2) == GST_FLOW_OK);
  fail_unless_equals_int (gst_buffer_get_size (b2), 50);
  gst_buffer_map (b1, &m1, GST_MAP_READ);
  gst_buffer_map (b2, &m2, GST_MAP_READ);
  fail_unless (memcmp (m1.data, m2.data, 50) == 0);
  gst_buffer_unmap (b2, &m2);
  gst_buffer_unref (b2);
  b2 = NULL;
  fail_unless (gst_pad_get_range (pad, 50, 50, &b2) == GST_FLOW_OK);
  gst_buffer_map (b2, &m2, GST_MAP_READ);
  fail_unless_equals_int (m2.size, 50);
  fail_unless (memcmp ((guint8 *) m1.data + 50, m2.data, 50) == 0);
  gst_buffer_unmap (b2, &m2);
  gst_buffer_unmap (b1, &m1);
  gst_buffer_unref (b1);
  gst_buffer_unref (b2);

  /* 10 bytes at end-10: exactly 10 */
  pull_check (pad, o, stop - 10, 10);
  /* 20 bytes at end-10: 10 */
  pull_check (pad, o, stop - 10, 20);
  /* 0 bytes at end-1: an empty buffer */
  b1 = NULL;
  fail_unless (gst_pad_get_range (pad, stop - 1, 0, &b1) == GST_FLOW_OK);
  fail_unless_equals_int (gst_buffer_get_size (b1), 0);
  gst_buffer_unref (b1);
  /* 10 bytes at end-1: 1 */
  pull_check (pad, o, stop - 1, 10);
  /* at the end and past it: EOS */
  b1 = NULL;
  fail_unless (gst_pad_get_range (pad, stop, 0, &b1) == GST_FLOW_EOS);
  fail_unless (gst_pad_get_range (pad, stop, 10, &b1) == GST_FLOW_EOS);
  fail_unless (gst_pad_get_range (pad, stop + 10, 0, &b1) == GST_FLOW_EOS);
  fail_unless (gst_pad_get_range (pad, stop + 10, 10, &b1) == GST_FLOW_EOS);
  fail_unless (b1 == NULL);

  teardown_pull (src, pad);
}

GST_END_TEST;

/* random and sequential reads, across chunks, backwards, far */
GST_START_TEST (test_pull_random)
{
  const TestObject *o = test_object ("big");
  GstElement *src;
  GstPad *pad;
  GRand *rand = g_rand_new_with_seed (42);
  guint64 off;
  guint i, len;
  guint64 restarts;

  /* 96 chunks of 256 KiB, a ring of 8 */
  src = setup_pull ("big", &pad, 256 * 1024, 4);

  /* sequential 4 KiB reads over chunk boundaries */
  for (off = 8 * MiB - 409600; off < 8 * MiB + 409600; off += 4096)
    pull_check (pad, o, off, 4096);
  /* one read across many chunks, more than the ring holds */
  pull_check (pad, o, 8 * MiB - 5, 3 * MiB + 10);
  /* the end, then the start (moov at the end, then mdat) */
  pull_check (pad, o, o->size - 1000, 1000);
  pull_check (pad, o, 0, 16);
  pull_check (pad, o, 16, 40000);
  /* random */
  for (i = 0; i < 40; i++) {
    off = (guint64) g_rand_double_range (rand, 0, (gdouble) o->size);
    len = (guint) g_rand_int_range (rand, 1, 3 * MiB);
    pull_check (pad, o, off, len);
  }
  /* backwards */
  for (off = 20 * MiB; off >= 19 * MiB; off -= 65536)
    pull_check (pad, o, off, 65536);

  /* far reads restarted the window; the ring did not fetch the whole
   * object for each of them */
  restarts = stat_u64 (src, "restarts");
  fail_unless (restarts > 10);
  fail_unless (stat_u64 (src, "bytes") < 8 * o->size);
  GST_INFO ("restarts: %" G_GUINT64_FORMAT ", ranges: %" G_GUINT64_FORMAT,
      restarts, stat_u64 (src, "ranges"));
  g_rand_free (rand);
  teardown_pull (src, pad);
}

GST_END_TEST;

/* a demuxer reading two interleaved streams: reads alternate between two
 * places 5 MiB apart; both stay in windows of the element, so each chunk is
 * fetched about once */
GST_START_TEST (test_pull_interleaved)
{
  const TestObject *o = test_object ("big");
  GstElement *src;
  GstPad *pad;
  guint64 a = 1 * MiB + 100, b = 6 * MiB + 300, ranges, again, delivered;
  guint i;

  src = setup_pull ("big", &pad, 256 * 1024, 8);
  for (i = 0; i < 400; i++) {
    pull_check (pad, o, a, 5000);
    pull_check (pad, o, b, 3000);
    a += 5000;
    b += 3000;
  }
  /* 2 MB and 1.2 MB read: 8 + 5 chunks, plus the readahead, plus what a
   * slow moment fetched twice (hedges, and ranges they evicted) */
  ranges = stat_u64 (src, "ranges");
  again = stat_u64 (src, "hedges") + stat_u64 (src, "evictions");
  GST_INFO ("interleaved: %" G_GUINT64_FORMAT " ranges, %" G_GUINT64_FORMAT
      " again", ranges, again);
  fail_unless (ranges <= 13 + 2 * 8 + again, "%" G_GUINT64_FORMAT " ranges",
      ranges);
  /* and the reader handed each chunk out once: the reads came from the
   * element's windows, not from a seek of the reader each time */
  delivered = stat_u64 (src, "bytes-delivered");
  fail_unless (delivered <= 14 * 256 * 1024, "%" G_GUINT64_FORMAT
      " bytes delivered", delivered);
  teardown_pull (src, pad);
}

GST_END_TEST;

/* the element copies when downstream holds many buffers, so the ring never
 * runs out of slots; buffers stay valid after the element is gone */
GST_START_TEST (test_held_buffers)
{
  const TestObject *o = test_object ("mid");
  GstElement *src = make_src ("mid"), *pipeline;
  Collector c;
  GstMessage *m;
  guint64 wrapped, copied;
  guint i;

  g_object_set (src, "chunk-size", 65536, "num-workers", 2, NULL);
  /* the open's first bytes are the whole first chunk (an incomplete one
   * would come in two buffers) */
  tu_emu_hold_head (&emu, "gst", "mid", 200);
  collector_init (&c, o->size, 0);
  c.keep = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  pipeline = make_pipeline (src, &c, NULL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipeline, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, WAIT);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%s",
      m ? error_debug (m) : "timeout");
  gst_message_unref (m);
  wrapped = stat_u64 (src, "chunks-wrapped");
  copied = stat_u64 (src, "chunks-copied");
  GST_INFO ("wrapped %" G_GUINT64_FORMAT ", copied %" G_GUINT64_FORMAT,
      wrapped, copied);
  fail_unless (wrapped >= 1 && wrapped <= 2);
  fail_unless_equals_uint64 (wrapped + copied, 17);
  fail_unless (tu_gen_cmp (o->seed, 0, c.data, o->size) < 0);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  /* the reader lives on while buffers wrap its slots */
  fail_unless_equals_int (count_workers (), 2);
  for (i = 0; i < c.keep->len; i++) {
    GstBuffer *b = g_ptr_array_index (c.keep, i);
    GstMapInfo map;

    fail_unless (gst_buffer_map (b, &map, GST_MAP_READ));
    fail_unless (tu_gen_cmp (o->seed, GST_BUFFER_OFFSET (b), map.data,
            map.size) < 0);
    gst_buffer_unmap (b, &map);
  }
  collector_clear (&c);
  fail_unless_equals_int (wait_no_workers (2000), 0);
}

GST_END_TEST;

/* ---- queries ---- */

GST_START_TEST (test_queries)
{
  const TestObject *o = test_object ("mid");
  GstElement *src = make_src ("mid");
  GstPad *sinkpad, *srcpad;
  GstQuery *q;
  gint64 v;
  gboolean seekable;
  gint64 start, stop;
  gchar *uri;
  GstSchedulingFlags flags;
  gint min, max, align;

  sinkpad = gate_setup (src, o->size, TRUE);
  fail_unless (gst_element_set_state (src, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gate_wait_eos (30));

  fail_unless (gst_element_query_duration (src, GST_FORMAT_BYTES, &v));
  fail_unless_equals_int64 (v, (gint64) o->size);
  fail_unless (gst_element_query_position (src, GST_FORMAT_BYTES, &v));
  fail_unless_equals_int64 (v, (gint64) o->size);

  q = gst_query_new_seeking (GST_FORMAT_BYTES);
  fail_unless (gst_element_query (src, q));
  gst_query_parse_seeking (q, NULL, &seekable, &start, &stop);
  fail_unless (seekable);
  fail_unless_equals_int64 (start, 0);
  fail_unless_equals_int64 (stop, (gint64) o->size);
  gst_query_unref (q);

  q = gst_query_new_uri ();
  fail_unless (gst_element_query (src, q));
  gst_query_parse_uri (q, &uri);
  fail_unless_equals_string (uri, "ais://gst/mid");
  g_free (uri);
  gst_query_unref (q);

  /* pull mode is offered, with the seekable flag */
  srcpad = gst_element_get_static_pad (src, "src");
  q = gst_query_new_scheduling ();
  fail_unless (gst_pad_query (srcpad, q));
  gst_query_parse_scheduling (q, &flags, &min, &max, &align);
  fail_unless (flags & GST_SCHEDULING_FLAG_SEEKABLE);
  fail_unless (gst_query_has_scheduling_mode (q, GST_PAD_MODE_PULL));
  fail_unless (gst_query_has_scheduling_mode (q, GST_PAD_MODE_PUSH));
  gst_query_unref (q);
  gst_object_unref (srcpad);

  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gate_teardown (src, sinkpad);
}

GST_END_TEST;

/* the element message at start */
GST_START_TEST (test_object_message)
{
  const TestObject *o = test_object ("big");
  GstElement *src = make_src ("big"), *pipeline;
  Collector c;
  GstMessage *m;
  const GstStructure *s;
  guint64 size = 0, cs = 0;
  const gchar *target, *version, *ctype, *cval;
  guint workers = 0, slots = 0;

  g_object_set (src, "num-workers", 3, NULL);
  collector_init (&c, o->size, 0);
  pipeline = make_pipeline (src, &c, NULL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipeline, GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR, WAIT);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT);
  fail_unless (GST_MESSAGE_SRC (m) == GST_OBJECT (src));
  s = gst_message_get_structure (m);
  fail_unless (gst_structure_has_name (s, "aissrc-object"));
  fail_unless (gst_structure_get (s, "size", G_TYPE_UINT64, &size,
          "chunk-size", G_TYPE_UINT64, &cs, "num-workers", G_TYPE_UINT,
          &workers, "slots", G_TYPE_UINT, &slots, NULL));
  fail_unless_equals_uint64 (size, o->size);
  fail_unless_equals_uint64 (cs, 8 * MiB);
  fail_unless_equals_int (workers, 3);
  fail_unless_equals_int (slots, 4);    /* 2 x 3, but 4 chunks only */
  version = gst_structure_get_string (s, "version");
  ctype = gst_structure_get_string (s, "checksum-type");
  cval = gst_structure_get_string (s, "checksum-value");
  target = gst_structure_get_string (s, "target");
  fail_unless_equals_string (version, "1");
  fail_unless_equals_string (ctype, "xxhash2");
  fail_unless (cval && strlen (cval) == 16);
  /* served by a target, reached through the proxy's redirect */
  fail_unless (target && g_str_has_prefix (target, "http://127.0.0.1:"));
  fail_if (g_str_has_prefix (target, emu.url), "target %s is the proxy",
      target);
  fail_unless_equals_string (gst_structure_get_string (s, "bucket"), "gst");
  fail_unless_equals_string (gst_structure_get_string (s, "object"), "big");
  gst_message_unref (m);

  m = wait_message (pipeline, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, WAIT);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  collector_clear (&c);
}

GST_END_TEST;

/* redirects: the HEAD (307) and the first GET (301) go through the proxy;
 * later ranges go straight to the target */
GST_START_TEST (test_redirects)
{
  const TestObject *o = test_object ("big");
  GstElement *src = make_src ("big"), *pipeline;
  Collector c;
  GstMessage *m;
  GstStructure *stats;
  guint64 redirects = 0, ranges = 0, bytes = 0;
  gdouble throughput = 0, elapsed = 0;
  const GValue *busy;

  g_object_set (src, "chunk-size", MiB, "num-workers", 4, NULL);
  collector_init (&c, o->size, 0);
  pipeline = make_pipeline (src, &c, NULL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipeline, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, WAIT);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  /* after stop, stats tells what the reader did */
  stats = get_stats (src);
  GST_INFO ("%" GST_PTR_FORMAT, stats);
  fail_unless (gst_structure_get (stats, "redirects", G_TYPE_UINT64,
          &redirects, "ranges", G_TYPE_UINT64, &ranges, "bytes",
          G_TYPE_UINT64, &bytes, "throughput", G_TYPE_DOUBLE, &throughput,
          "elapsed", G_TYPE_DOUBLE, &elapsed, NULL));
  /* the HEAD's redirect names the target; the ranges go straight there */
  fail_unless (redirects >= 1);
  fail_unless (redirects < ranges, "every range went through the proxy");
  /* 25 chunks; a slow range may be fetched twice (hedged) */
  fail_unless (ranges >= 25, "%" G_GUINT64_FORMAT " ranges", ranges);
  fail_unless (bytes >= o->size);
  fail_unless (throughput > 0 && elapsed > 0);
  busy = gst_structure_get_value (stats, "worker-busy");
  fail_unless (busy && GST_VALUE_HOLDS_ARRAY (busy));
  fail_unless_equals_int (gst_value_array_get_size (busy), 4);
  gst_structure_free (stats);
  fail_unless (tu_gen_cmp (o->seed, 0, c.data, o->size) < 0);
  gst_object_unref (pipeline);
  collector_clear (&c);
}

GST_END_TEST;

/* ---- errors ---- */

static GstMessage *
run_until_error (GstElement * src)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  GstMessage *m;

  gst_bin_add_many (GST_BIN (pipeline), src, sink, NULL);
  fail_unless (gst_element_link (src, sink));
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  m = wait_message (pipeline, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, WAIT);
  fail_unless (m != NULL, "neither EOS nor an error within 60 s");
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return m;
}

GST_START_TEST (test_error_not_found)
{
  GstMessage *m;
  GstElement *src;
  gchar *text;

  m = run_until_error (make_src ("no-such-object"));
  check_error (m, GST_RESOURCE_ERROR_NOT_FOUND, 404);
  text = error_debug (m);
  fail_unless (strstr (text, "does not exist") != NULL, "%s", text);
  g_free (text);
  gst_message_unref (m);

  src = make_src ("x");
  g_object_set (src, "location", "ais://no-such-bucket/x", NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_NOT_FOUND, 404);
  gst_message_unref (m);
}

GST_END_TEST;

static GstBusSyncReply
count_errors (GstBus * bus, GstMessage * m, gpointer data)
{
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
    g_atomic_int_inc ((gint *) data);
  return GST_BUS_PASS;
}

/* A HEAD that never answers: the open runs in its own thread, so the state
 * change returns, and going to NULL ends the open at once (it used to wait
 * for every retry of the HEAD), in push and in pull mode, without an error
 * message (typefind posts one when its duration query fails). */
GST_START_TEST (test_stop_during_stalled_open)
{
  const gchar *tails[] = { "fakesink", "typefind ! fakesink" };
  guint i;

  tu_emu_fault (&emu, "{\"node\":\"proxy\",\"method\":\"HEAD\",\"kind\":\"stall\","
      "\"seconds\":30,\"after_bytes\":-1,\"count\":-1}");
  for (i = 0; i < G_N_ELEMENTS (tails); i++) {
    gchar *desc = g_strdup_printf ("aissrc location=ais://gst/small "
        "endpoint=%s ! %s", emu.url, tails[i]);
    GstElement *pipeline = gst_parse_launch (desc, NULL);
    GstStateChangeReturn r;
    gint64 t0;
    GstBus *bus;
    gint errors = 0;

    fail_unless (pipeline != NULL, "%s", desc);
    bus = gst_element_get_bus (pipeline);
    gst_bus_set_sync_handler (bus, count_errors, &errors, NULL);
    r = gst_element_set_state (pipeline, GST_STATE_PLAYING);
    fail_unless (r == GST_STATE_CHANGE_ASYNC, "%s: PLAYING gave %s", desc,
        gst_element_state_change_return_get_name (r));
    g_usleep (300 * 1000);
    t0 = g_get_monotonic_time ();
    fail_unless (gst_element_set_state (pipeline, GST_STATE_NULL) ==
        GST_STATE_CHANGE_SUCCESS);
    fail_unless (g_get_monotonic_time () - t0 < 2 * G_USEC_PER_SEC,
        "%s: NULL took %.1f s", desc,
        (g_get_monotonic_time () - t0) / 1e6);
    g_usleep (200 * 1000);
    fail_unless_equals_int (g_atomic_int_get (&errors), 0);
    gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
    gst_object_unref (bus);
    gst_object_unref (pipeline);
    g_free (desc);
  }
  tu_emu_clear_faults (&emu);
}

GST_END_TEST;

/* the first buffer: whether it holds the object's bytes from 1000 on */
static GstPadProbeReturn
first_at_1000 (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  gint *state = data;
  GstMapInfo map;

  if (*state == 0 && gst_buffer_map (GST_PAD_PROBE_INFO_BUFFER (info), &map,
          GST_MAP_READ)) {
    *state = tu_gen_cmp (test_object ("mid")->seed, 1000, map.data,
        map.size) < 0 ? 1 : 2;
    gst_buffer_unmap (GST_PAD_PROBE_INFO_BUFFER (info), &map);
  }
  return GST_PAD_PROBE_OK;
}

/* Seeks made while the object is being opened (its HEAD held 500 ms): one
 * in bytes, to the element or to the pipeline (it then comes through the
 * pad), is performed once it is open, the first buffer is at its offset;
 * one in time is refused at once, as before, and the pipeline prerolls. */
GST_START_TEST (test_seek_during_open)
{
  guint i;

  tu_emu_fault (&emu, "{\"node\":\"proxy\",\"method\":\"HEAD\",\"kind\":"
      "\"delay\",\"ms\":500,\"count\":-1}");
  for (i = 0; i < 3; i++) {
    gchar *desc = g_strdup_printf ("aissrc name=s location=ais://gst/mid "
        "endpoint=%s ! fakesink", emu.url);
    GstElement *pipeline = gst_parse_launch (desc, NULL);
    GstElement *src = gst_bin_get_by_name (GST_BIN (pipeline), "s");
    GstPad *pad = gst_element_get_static_pad (src, "src");
    gint seen = 0;
    GstMessage *m;
    gboolean ok;

    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, first_at_1000, &seen,
        NULL);
    fail_unless (gst_element_set_state (pipeline, GST_STATE_PAUSED) ==
        GST_STATE_CHANGE_ASYNC);
    g_usleep (100 * 1000);
    ok = gst_element_seek (i == 2 ? pipeline : src, 1.0,
        i == 1 ? GST_FORMAT_TIME : GST_FORMAT_BYTES, GST_SEEK_FLAG_FLUSH,
        GST_SEEK_TYPE_SET, 1000, GST_SEEK_TYPE_NONE, -1);
    fail_unless (ok == (i != 1), "seek %u gave %d", i, ok);
    m = wait_message (pipeline, GST_MESSAGE_ASYNC_DONE | GST_MESSAGE_ERROR,
        WAIT);
    fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_ASYNC_DONE, "%s",
        m ? error_debug (m) : "no preroll");
    gst_message_unref (m);
    if (i != 1)
      fail_unless_equals_int (seen, 1);
    gst_element_set_state (pipeline, GST_STATE_NULL);
    gst_object_unref (pad);
    gst_object_unref (src);
    gst_object_unref (pipeline);
    g_free (desc);
  }
  tu_emu_clear_faults (&emu);
}

GST_END_TEST;

static glong
vm_size_kb (void)
{
  gchar *status = NULL, *p;
  glong kb = -1;

  if (g_file_get_contents ("/proc/self/status", &status, NULL, NULL) &&
      (p = strstr (status, "VmSize:")))
    kb = strtol (p + 7, NULL, 10);
  g_free (status);
  return kb;
}

/* Failed opens, again and again: the opener thread of each is joined (basesrc
 * calls no stop() after a failed start, and each unjoined thread kept its
 * 8 MiB stack: +8 MB of address space per try). */
GST_START_TEST (test_failed_opens_repeated)
{
  GstElement *src = make_src ("no-such-object");
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  GstElement *pipeline = gst_pipeline_new (NULL);
  glong vm0 = -1;
  guint i;

  gst_bin_add_many (GST_BIN (pipeline), src, sink, NULL);
  fail_unless (gst_element_link (src, sink));
  for (i = 0; i < 25; i++) {
    GstMessage *m;

    gst_element_set_state (pipeline, GST_STATE_PAUSED);
    m = wait_message (pipeline, GST_MESSAGE_ERROR, WAIT);
    fail_unless (m != NULL, "no error at try %u", i);
    gst_message_unref (m);
    gst_element_set_state (pipeline, GST_STATE_NULL);
    if (i == 4)
      vm0 = vm_size_kb ();
  }
#if TU_ASAN
  (void) vm0;                   /* AddressSanitizer's own mappings come and go */
#else
  /* 20 leaked stacks would be 160 MB */
  fail_unless (vm_size_kb () - vm0 < 64 * 1024, "VmSize %ld -> %ld kB", vm0,
      vm_size_kb ());
#endif
  gst_object_unref (pipeline);
}

GST_END_TEST;

/* A failed open is one HEAD and one error message of aissrc, also where
 * typefind pulls (the pull activation once failed, and the push activation
 * opened the object again); typefind adds its own "internal data stream
 * error" after it, as downstream elements do. */
GST_START_TEST (test_open_error_once)
{
  gchar *desc = g_strdup_printf ("aissrc location=ais://gst/no-such-object "
      "endpoint=%s ! typefind ! fakesink", emu.url);
  GstElement *pipeline = gst_parse_launch (desc, NULL);
  GstMessage *m;
  gint errors = 0, ours = 0, heads;

  fail_unless (pipeline != NULL);
  tu_emu_post (&emu, "/_emu/stats/reset");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while ((m = wait_message (pipeline, GST_MESSAGE_ERROR,
              errors ? GST_SECOND / 2 : WAIT))) {
    if (!errors)
      check_error (m, GST_RESOURCE_ERROR_NOT_FOUND, 404);
    ours += GST_IS_BASE_SRC (GST_MESSAGE_SRC (m));
    errors++;
    gst_message_unref (m);
    if (errors > 3)
      break;
  }
  fail_unless (errors >= 1);
  fail_unless_equals_int (ours, 1);
  heads = (gint) tu_emu_stat (&emu, "proxy", "HEAD");
  fail_unless_equals_int (heads, 1);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  g_free (desc);
}

GST_END_TEST;

GST_START_TEST (test_error_auth)
{
  tu_emu secure;
  const char *args[] = { "--token", "secret", "--forbidden-token", "nope",
    NULL
  };
  GstElement *src;
  GstMessage *m;
  gchar *text;

  tu_emu_start (&secure, args);
  tu_emu_gen (&secure, "sec", "obj", 100000, 5, NULL);

  /* no token: 401 */
  src = gst_element_factory_make ("aissrc", NULL);
  g_object_set (src, "endpoint", secure.url, "location", "ais://sec/obj", NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_NOT_AUTHORIZED, 401);
  text = error_debug (m);
  fail_unless (strstr (text, "token required") != NULL, "%s", text);
  g_free (text);
  gst_message_unref (m);

  /* a token without permission: 403 */
  src = gst_element_factory_make ("aissrc", NULL);
  g_object_set (src, "endpoint", secure.url, "location", "ais://sec/obj",
      "auth-token", "nope", NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_NOT_AUTHORIZED, 403);
  gst_message_unref (m);

  /* the right token, from the property, then from the environment */
  src = gst_element_factory_make ("aissrc", NULL);
  g_object_set (src, "endpoint", secure.url, "location", "ais://sec/obj",
      "auth-token", "secret", NULL);
  m = run_until_error (src);
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);

  g_setenv ("AIS_AUTHN_TOKEN", "secret", TRUE);
  src = gst_element_factory_make ("aissrc", NULL);
  g_object_set (src, "endpoint", secure.url, "location", "ais://sec/obj", NULL);
  m = run_until_error (src);
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);
  g_unsetenv ("AIS_AUTHN_TOKEN");

  tu_emu_stop (&secure);
}

GST_END_TEST;

GST_START_TEST (test_error_settings)
{
  GstElement *src;
  GstMessage *m;

  /* no location */
  src = gst_element_factory_make ("aissrc", NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_SETTINGS, 0);
  gst_message_unref (m);

  /* not an AIStore URI */
  src = make_src ("x");
  g_object_set (src, "location", "http://example.com/x", NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_SETTINGS, 0);
  gst_message_unref (m);

  /* a bad endpoint */
  src = make_src ("small");
  g_object_set (src, "endpoint", "ftp://127.0.0.1:1", NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_SETTINGS, 0);
  gst_message_unref (m);

  /* a chunk size in the hole between 0 and 4 KiB */
  src = make_src ("small");
  g_object_set (src, "chunk-size", 100, NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_SETTINGS, 0);
  gst_message_unref (m);

  /* a header that is not one line */
  src = make_src ("small");
  {
    GstStructure *h = gst_structure_new ("headers", "X-Bad", G_TYPE_STRING,
        "a\r\nInjected: 1", NULL);

    g_object_set (src, "extra-headers", h, NULL);
    gst_structure_free (h);
  }
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_SETTINGS, 0);
  gst_message_unref (m);
}

GST_END_TEST;

/* a port nobody listens on */
static guint
dead_port (void)
{
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  memset (&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fail_unless (bind (fd, (struct sockaddr *) &a, sizeof a) == 0);
  fail_unless (getsockname (fd, (struct sockaddr *) &a, &len) == 0);
  close (fd);
  return ntohs (a.sin_port);
}

GST_START_TEST (test_error_network)
{
  GstElement *src = make_src ("small");
  GstMessage *m;
  gchar *ep = g_strdup_printf ("http://127.0.0.1:%u", dead_port ());

  g_object_set (src, "endpoint", ep, "retries", 1, NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_OPEN_READ, 0);
  gst_message_unref (m);
  g_free (ep);
}

GST_END_TEST;

static void
fault (const gchar * json)
{
  tu_emu_fault (&emu, json);
}

/* errors while streaming: the status in the details, AIStore's message in
 * the debug text */
GST_START_TEST (test_error_streaming)
{
  GstElement *src;
  GstMessage *m;
  gchar *text;

  tu_emu_gen (&emu, "gst", "fail500", 4 * MiB, 21, NULL);
  fault ("{\"bucket\":\"gst\",\"object\":\"fail500\",\"kind\":\"status\","
      "\"code\":500,\"message\":\"disk on fire\",\"offset\":2097152,"
      "\"count\":-1}");
  src = make_src ("fail500");
  g_object_set (src, "chunk-size", MiB, "retries", 1, NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_READ, 500);
  text = error_debug (m);
  fail_unless (strstr (text, "disk on fire") != NULL, "%s", text);
  g_free (text);
  gst_message_unref (m);

  /* a range answered with the whole object: the range is not honoured */
  tu_emu_gen (&emu, "gst", "full200", 4 * MiB, 22, NULL);
  fault ("{\"bucket\":\"gst\",\"object\":\"full200\",\"kind\":\"full200\","
      "\"count\":-1}");
  src = make_src ("full200");
  g_object_set (src, "chunk-size", MiB, "retries", 0, NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_SEEK, 200);
  gst_message_unref (m);

  /* the object changes in the middle of the read */
  tu_emu_gen (&emu, "gst", "changing", 4 * MiB, 23, NULL);
  fault ("{\"bucket\":\"gst\",\"object\":\"changing\",\"kind\":\"overwrite\","
      "\"offset\":2097152}");
  src = make_src ("changing");
  g_object_set (src, "chunk-size", MiB, "num-workers", 1, NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_READ, ANY_STATUS);
  text = error_debug (m);
  fail_unless (strstr (text, "changed") != NULL, "%s", text);
  g_free (text);
  gst_message_unref (m);

  tu_emu_clear_faults (&emu);
}

GST_END_TEST;

GST_START_TEST (test_verify_checksum)
{
  GstElement *src = make_src ("big");
  GstMessage *m;

  g_object_set (src, "verify-checksum", TRUE, "chunk-size", 2 * MiB, NULL);
  m = run_until_error (src);
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%s",
      GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR ? error_debug (m) : "");
  gst_message_unref (m);
}

GST_END_TEST;

/* ---- the URI handler ---- */

static void
check_location_uri (GstElement * src, const gchar * location,
    const gchar * uri)
{
  gchar *got;

  g_object_set (src, "location", location, NULL);
  got = gst_uri_handler_get_uri (GST_URI_HANDLER (src));
  fail_unless_equals_string (got, uri);
  g_free (got);
}

/* a URI accepted, maybe in a form other than the one get_uri gives back */
static void
check_uri_accepted (GstElement * src, const gchar * uri,
    const gchar * location)
{
  gchar *got = NULL;
  GError *err = NULL;

  fail_unless (gst_uri_handler_set_uri (GST_URI_HANDLER (src), uri, &err),
      "%s: %s", uri, err ? err->message : "");
  g_object_get (src, "location", &got, NULL);
  fail_unless_equals_string (got, location);
  g_free (got);
}

static void
check_uri_location (GstElement * src, const gchar * uri,
    const gchar * location)
{
  gchar *got;

  check_uri_accepted (src, uri, location);
  /* and back */
  got = gst_uri_handler_get_uri (GST_URI_HANDLER (src));
  fail_unless_equals_string (got, uri);
  g_free (got);
}

GST_START_TEST (test_uri_interface)
{
  GstElement *src = gst_element_factory_make ("aissrc", NULL);
  const gchar *const *protocols;
  GError *err = NULL;
  gchar *location = NULL;
  GstElement *e;
  const gchar *schemes[] = { "ais", "s3", "gs", "az", "oc" };
  guint i, n;

  protocols = gst_uri_handler_get_protocols (GST_URI_HANDLER (src));
  fail_unless_equals_int (g_strv_length ((gchar **) protocols), 5);
  fail_unless (gst_uri_handler_get_uri_type (GST_URI_HANDLER (src)) ==
      GST_URI_SRC);
  for (i = 0; i < G_N_ELEMENTS (schemes); i++) {
    gchar *uri = g_strdup_printf ("%s://bucket/obj", schemes[i]);

    fail_unless (gst_uri_protocol_is_supported (GST_URI_SRC, schemes[i]));
    e = gst_element_make_from_uri (GST_URI_SRC, uri, NULL, &err);
    fail_unless (e != NULL, "%s: %s", uri, err ? err->message : "");
    fail_unless (GST_IS_BASE_SRC (e));
    fail_unless_equals_string (G_OBJECT_TYPE_NAME (e), "GstAisSrc");
    g_object_get (e, "location", &location, NULL);
    fail_unless_equals_string (location, uri);
    g_free (location);
    gst_object_unref (e);
    g_free (uri);
  }

  g_object_get (src, "location", &location, NULL);
  fail_unless (location == NULL);
  fail_unless (gst_uri_handler_get_uri (GST_URI_HANDLER (src)) == NULL);

  check_location_uri (src, "ais://bucket/obj", "ais://bucket/obj");
  check_location_uri (src, "bucket/dir/obj.mp4", "ais://bucket/dir/obj.mp4");
  check_location_uri (src, "aws://b/o", "s3://b/o");
  check_location_uri (src, "gcp://b/o", "gs://b/o");
  check_location_uri (src, "azure://b/o", "az://b/o");
  check_location_uri (src, "oci://b/o", "oc://b/o");
  check_location_uri (src, "ais://b/clip 1 #2?.mp4",
      "ais://b/clip%201%20%232%3F.mp4");
  check_location_uri (src, "ais://@uuid#ns/b/o", "ais://@uuid%23ns/b/o");

  check_uri_location (src, "ais://b/o", "ais://b/o");
  check_uri_location (src, "s3://b/dir/o", "s3://b/dir/o");
  check_uri_location (src, "ais://b/clip%201.mp4", "ais://b/clip 1.mp4");
  check_uri_accepted (src, "ais://@uuid#ns/b/o", "ais://@uuid#ns/b/o");
  /* schemes are case-insensitive */
  check_uri_accepted (src, "AIS://b/o", "ais://b/o");
  check_uri_accepted (src, "S3://b/o", "s3://b/o");
  check_uri_location (src, "ais://@uuid%23ns/b/o", "ais://@uuid#ns/b/o");

  /* refused */
  fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src), "http://b/o",
          &err));
  fail_unless (err && err->code == GST_URI_ERROR_UNSUPPORTED_PROTOCOL);
  g_clear_error (&err);
  fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src), "ais://bucket",
          &err));
  fail_unless (err && err->code == GST_URI_ERROR_BAD_URI);
  g_clear_error (&err);
  fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src), "ais://b/o%zz",
          &err));
  g_clear_error (&err);
  fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src), "ais://b/o%00x",
          &err));
  g_clear_error (&err);
  fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src), "ais:///o",
          &err));
  g_clear_error (&err);
  {
    /* a query or fragment the object name would swallow; bytes that are
     * not UTF-8 once unescaped */
    const gchar *bad[] = { "ais://b/o?x=1", "ais://b/o#frag",
      "ais://@u#n/b/o#frag", "ais://b/@u#n/o", "ais://b/%FF"
    };

    for (i = 0; i < G_N_ELEMENTS (bad); i++) {
      fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src), bad[i], &err),
          "%s accepted", bad[i]);
      fail_unless (err && err->code == GST_URI_ERROR_BAD_URI, "%s", bad[i]);
      g_clear_error (&err);
    }
  }
  /* the refused URIs left the location alone */
  g_object_get (src, "location", &location, NULL);
  fail_unless_equals_string (location, "ais://@uuid#ns/b/o");
  g_free (location);
  gst_object_unref (src);

  /* not while an object is open */
  src = make_src ("small");
  fail_unless (gst_element_set_state (src, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  ASSERT_WARNING (g_object_set (src, "location", "ais://gst/mid", NULL));
  ASSERT_WARNING (fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src),
              "ais://gst/mid", &err)));
  fail_unless (err && err->code == GST_URI_ERROR_BAD_STATE);
  g_clear_error (&err);
  /* other properties: ignored with a debug warning, not a g_warning */
  g_object_set (src, "num-workers", 3, NULL);
  g_object_get (src, "num-workers", &n, NULL);
  fail_unless_equals_int (n, 8);
  g_object_get (src, "location", &location, NULL);
  fail_unless_equals_string (location, "ais://gst/small");
  g_free (location);
  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  g_object_set (src, "location", "ais://gst/mid", NULL);
  gst_object_unref (src);
}

GST_END_TEST;

/* ---- properties ---- */

static void
check_uint_pspec (GObjectClass * klass, const gchar * name, guint min,
    guint max, guint def)
{
  GParamSpec *p = g_object_class_find_property (klass, name);
  GParamSpecUInt *u;

  fail_unless (p != NULL, "no %s", name);
  fail_unless (G_IS_PARAM_SPEC_UINT (p), "%s is not a uint", name);
  u = G_PARAM_SPEC_UINT (p);
  fail_unless_equals_int (u->minimum, min);
  fail_unless_equals_int (u->maximum, max);
  fail_unless_equals_int (u->default_value, def);
  fail_unless (p->flags & GST_PARAM_MUTABLE_READY, "%s", name);
}

GST_START_TEST (test_properties)
{
  GstElement *src = gst_element_factory_make ("aissrc", NULL);
  GObjectClass *klass = G_OBJECT_GET_CLASS (src);
  const gchar *ready_only[] = { "location", "endpoint", "num-workers",
    "chunk-size", "slots", "worker-mode", "retries", "timeout", "auth-token",
    "ssl-ca-file", "ssl-strict", "user-agent", "extra-headers",
    "verify-checksum"
  };
  GParamSpec *p;
  guint i, v;
  gchar *s;
  GstStructure *h, *st;

  check_uint_pspec (klass, "num-workers", 1, 256, 8);
  check_uint_pspec (klass, "chunk-size", 0, 256 * MiB, 0);
  check_uint_pspec (klass, "slots", 0, 1024, 0);
  check_uint_pspec (klass, "retries", 0, 100, 5);
  check_uint_pspec (klass, "timeout", 0, 3600, 0);
  for (i = 0; i < G_N_ELEMENTS (ready_only); i++) {
    p = g_object_class_find_property (klass, ready_only[i]);
    fail_unless (p != NULL, "no %s", ready_only[i]);
    fail_unless (p->flags & GST_PARAM_MUTABLE_READY, "%s", ready_only[i]);
    fail_unless (p->flags & G_PARAM_WRITABLE, "%s", ready_only[i]);
    fail_unless (strlen (g_param_spec_get_blurb (p)) > 20, "%s",
        ready_only[i]);
  }
  p = g_object_class_find_property (klass, "stats");
  fail_unless (p && (p->flags & G_PARAM_READABLE) &&
      !(p->flags & G_PARAM_WRITABLE));
  p = g_object_class_find_property (klass, "worker-mode");
  fail_unless (G_IS_PARAM_SPEC_ENUM (p));

  /* the param specs enforce the ranges */
  ASSERT_WARNING (g_object_set (src, "num-workers", 0, NULL));
  ASSERT_WARNING (g_object_set (src, "num-workers", 257, NULL));
  ASSERT_WARNING (g_object_set (src, "chunk-size", 256 * MiB + 1, NULL));
  ASSERT_WARNING (g_object_set (src, "slots", 1025, NULL));
  ASSERT_WARNING (g_object_set (src, "retries", 101, NULL));
  ASSERT_WARNING (g_object_set (src, "timeout", 3601, NULL));
  g_object_get (src, "num-workers", &v, NULL);
  fail_unless_equals_int (v, 8);

  g_object_set (src, "num-workers", 256, "chunk-size", 4096, "slots", 1024,
      "retries", 0, "timeout", 3600, NULL);
  g_object_get (src, "num-workers", &v, NULL);
  fail_unless_equals_int (v, 256);
  gst_util_set_object_arg (G_OBJECT (src), "worker-mode", "thread");
  g_object_get (src, "worker-mode", &v, NULL);
  fail_unless_equals_int (v, 1);

  /* the endpoint: the property, else $AIS_ENDPOINT, else the default */
  g_unsetenv ("AIS_ENDPOINT");
  g_object_get (src, "endpoint", &s, NULL);
  fail_unless_equals_string (s, "http://127.0.0.1:8080");
  g_free (s);
  g_setenv ("AIS_ENDPOINT", "http://10.0.0.1:51080", TRUE);
  g_object_get (src, "endpoint", &s, NULL);
  fail_unless_equals_string (s, "http://10.0.0.1:51080");
  g_free (s);
  g_object_set (src, "endpoint", "https://gw:8080", NULL);
  g_object_get (src, "endpoint", &s, NULL);
  fail_unless_equals_string (s, "https://gw:8080");
  g_free (s);
  g_unsetenv ("AIS_ENDPOINT");

  g_object_get (src, "user-agent", &s, NULL);
  fail_unless (g_str_has_prefix (s, "GStreamer aissrc "));
  g_free (s);

  h = gst_structure_new ("headers", "X-One", G_TYPE_STRING, "1", NULL);
  g_object_set (src, "extra-headers", h, NULL);
  gst_structure_free (h);
  g_object_get (src, "extra-headers", &h, NULL);
  fail_unless (h && gst_structure_has_field (h, "X-One"));
  gst_structure_free (h);

  /* stats before any read: zeros, all fields there */
  g_object_get (src, "stats", &st, NULL);
  fail_unless (st && gst_structure_has_name (st, "aissrc-stats"));
  fail_unless (gst_structure_has_field (st, "bytes"));
  fail_unless (gst_structure_has_field (st, "ranges"));
  fail_unless (gst_structure_has_field (st, "retries"));
  fail_unless (gst_structure_has_field (st, "redirects"));
  fail_unless (gst_structure_has_field (st, "throughput"));
  fail_unless (gst_structure_has_field (st, "worker-busy"));
  gst_structure_free (st);
  gst_object_unref (src);
}

GST_END_TEST;

/* extra headers reach the cluster: a wrong Authorization among them is
 * refused like a wrong token */
GST_START_TEST (test_extra_headers)
{
  tu_emu secure;
  const char *args[] = { "--token", "secret", NULL };
  GstElement *src;
  GstStructure *h;
  GstMessage *m;

  tu_emu_start (&secure, args);
  tu_emu_gen (&secure, "sec", "obj", 5000, 5, NULL);
  src = gst_element_factory_make ("aissrc", NULL);
  h = gst_structure_new ("headers", "Authorization", G_TYPE_STRING,
      "Bearer secret", "X-Number", G_TYPE_INT, 42, NULL);
  g_object_set (src, "endpoint", secure.url, "location", "ais://sec/obj",
      "extra-headers", h, "user-agent", "aissrc-test/1", NULL);
  gst_structure_free (h);
  m = run_until_error (src);
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);
  tu_emu_stop (&secure);
}

GST_END_TEST;

/* ---- life cycle ---- */

typedef struct
{
  GstElement *pipeline;
  Collector c;
  const TestObject *o;
} Parallel;

GST_START_TEST (test_parallel_pipelines)
{
  Parallel p[2];
  const gchar *names[2] = { "big", "mid" };
  guint i;

  for (i = 0; i < 2; i++) {
    GstElement *src = make_src (names[i]);

    g_object_set (src, "chunk-size", 65536 * (i + 1), "num-workers", 4 + i,
        NULL);
    gst_util_set_object_arg (G_OBJECT (src), "worker-mode",
        i ? "thread" : "process");
    p[i].o = test_object (names[i]);
    collector_init (&p[i].c, p[i].o->size, 0);
    p[i].pipeline = make_pipeline (src, &p[i].c, NULL);
  }
  for (i = 0; i < 2; i++)
    fail_unless (gst_element_set_state (p[i].pipeline, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < 2; i++) {
    GstMessage *m = wait_message (p[i].pipeline,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR, WAIT);

    fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
    gst_message_unref (m);
    fail_unless (tu_gen_cmp (p[i].o->seed, 0, p[i].c.data, p[i].o->size) < 0);
    fail_unless (p[i].c.offsets_ok);
  }
  for (i = 0; i < 2; i++) {
    gst_element_set_state (p[i].pipeline, GST_STATE_NULL);
    gst_object_unref (p[i].pipeline);
    collector_clear (&p[i].c);
  }
  fail_unless_equals_int (wait_no_workers (2000), 0);
}

GST_END_TEST;

static void
cycle (GstElement * pipeline, const GstState * states, guint n)
{
  guint i;

  for (i = 0; i < n; i++) {
    GstStateChangeReturn r = gst_element_set_state (pipeline, states[i]);

    fail_if (r == GST_STATE_CHANGE_FAILURE, "to %s",
        gst_element_state_get_name (states[i]));
    if (r == GST_STATE_CHANGE_ASYNC)
      fail_if (gst_element_get_state (pipeline, NULL, NULL, 30 * GST_SECOND)
          == GST_STATE_CHANGE_FAILURE);
  }
}

/* 20 pipelines in one process at once, each its own object, both worker
 * modes: every one byte-exact, nothing left behind */
#define N_PIPELINES 20
GST_START_TEST (test_twenty_pipelines)
{
  Parallel p[N_PIPELINES];
  TestObject o[N_PIPELINES];
  gchar *names[N_PIPELINES];
  guint i;

  for (i = 0; i < N_PIPELINES; i++) {
    GstElement *src;

    names[i] = g_strdup_printf ("many-%u", i);
    o[i].name = names[i];
    o[i].size = 512 * 1024 + i * 7777;
    o[i].seed = 100 + i;
    o[i].extra = NULL;
    tu_emu_gen (&emu, "gst", o[i].name, o[i].size, o[i].seed, NULL);
    src = make_src (o[i].name);
    g_object_set (src, "chunk-size", 65536, "num-workers", 3, NULL);
    gst_util_set_object_arg (G_OBJECT (src), "worker-mode",
        i % 2 ? "thread" : "process");
    p[i].o = &o[i];
    collector_init (&p[i].c, o[i].size, 0);
    p[i].pipeline = make_pipeline (src, &p[i].c, NULL);
  }
  for (i = 0; i < N_PIPELINES; i++)
    fail_unless (gst_element_set_state (p[i].pipeline, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < N_PIPELINES; i++) {
    GstMessage *m = wait_message (p[i].pipeline,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR, WAIT);

    fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS,
        "pipeline %u: %s", i, m ? error_debug (m) : "timeout");
    gst_message_unref (m);
    fail_unless (tu_gen_cmp (o[i].seed, 0, p[i].c.data, o[i].size) < 0,
        "pipeline %u: wrong bytes", i);
    fail_unless (p[i].c.offsets_ok);
  }
  for (i = 0; i < N_PIPELINES; i++) {
    gst_element_set_state (p[i].pipeline, GST_STATE_NULL);
    gst_object_unref (p[i].pipeline);
    collector_clear (&p[i].c);
    g_free (names[i]);
  }
  fail_unless_equals_int (wait_no_workers (2000), 0);
}

GST_END_TEST;

/* a server whose object does not have the checksum it claims: with
 * verify-checksum the read ends in an error, never in EOS */
GST_START_TEST (test_checksum_mismatch)
{
  GstElement *src;
  GstMessage *m;
  gchar *text;

  tu_emu_gen (&emu, "gst", "liar", 3 * MiB + 7, 41,
      "cksum=xxhash2&cksum_value=0123456789abcdef");
  src = make_src ("liar");
  g_object_set (src, "verify-checksum", TRUE, "chunk-size", 256 * 1024, NULL);
  m = run_until_error (src);
  check_error (m, GST_RESOURCE_ERROR_READ, ANY_STATUS);
  text = error_debug (m);
  fail_unless (strstr (text, "0123456789abcdef") != NULL, "%s", text);
  g_free (text);
  gst_message_unref (m);

  /* without verification the same bytes end in EOS */
  src = make_src ("liar");
  g_object_set (src, "chunk-size", 256 * 1024, NULL);
  m = run_until_error (src);
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);
}

GST_END_TEST;

GST_START_TEST (test_state_cycling)
{
  static const GstState s1[] = { GST_STATE_READY, GST_STATE_NULL };
  static const GstState s2[] = { GST_STATE_PAUSED, GST_STATE_NULL };
  static const GstState s3[] = { GST_STATE_PLAYING, GST_STATE_PAUSED,
    GST_STATE_READY, GST_STATE_PLAYING, GST_STATE_NULL
  };
  static const GstState s4[] = { GST_STATE_PLAYING, GST_STATE_READY,
    GST_STATE_PAUSED, GST_STATE_READY, GST_STATE_PLAYING, GST_STATE_NULL,
    GST_STATE_PLAYING, GST_STATE_NULL
  };
  static const GstState s5[] = { GST_STATE_PAUSED, GST_STATE_PLAYING,
    GST_STATE_PAUSED, GST_STATE_PLAYING, GST_STATE_READY, GST_STATE_NULL
  };
  const struct
  {
    const GstState *s;
    guint n;
  } seqs[] = { {s1, 2}, {s2, 2}, {s3, 5}, {s4, 8}, {s5, 6} };
  const gchar *modes[] = { "process", "thread" };
  gint fds0 = -1;
  guint round, i, m;

  /* ranges crawl, so that every change happens mid-stream */
  tu_emu_gen (&emu, "gst", "cycling", 16 * MiB, 32, NULL);
  fault ("{\"bucket\":\"gst\",\"object\":\"cycling\",\"kind\":\"slow\","
      "\"rate\":4000000,\"count\":-1}");
  for (round = 0; round < 2; round++) {
    for (m = 0; m < 2; m++) {
      for (i = 0; i < G_N_ELEMENTS (seqs); i++) {
        GstElement *src = make_src ("cycling"), *pipeline;
        Collector c;

        g_object_set (src, "chunk-size", MiB, "num-workers", 6, NULL);
        gst_util_set_object_arg (G_OBJECT (src), "worker-mode", modes[m]);
        collector_init (&c, 16 * MiB, 0);
        pipeline = make_pipeline (src, &c, NULL);
        cycle (pipeline, seqs[i].s, seqs[i].n);
        gst_object_unref (pipeline);
        collector_clear (&c);
        fail_unless_equals_int (wait_no_workers (2000), 0);
      }
    }
    /* the first round warmed up whatever GLib and GStreamer open once */
    if (round == 0)
      fds0 = tu_count_fds ();
  }
  fail_unless_equals_int (tu_count_fds (), fds0);
  tu_emu_clear_faults (&emu);
}

GST_END_TEST;

/* PLAYING -> NULL while ranges crawl: within 200 ms (a range takes 10 s, a
 * stall 30 s) */
static void
stop_during_slow_transfer (const gchar * mode)
{
  GstElement *src = make_src ("slow"), *pipeline, *sink;
  Collector c;
  gint64 t0, dt;

  g_object_set (src, "chunk-size", MiB, "num-workers", 4, NULL);
  gst_util_set_object_arg (G_OBJECT (src), "worker-mode", mode);
  collector_init (&c, 16 * MiB, 0);
  pipeline = make_pipeline (src, &c, &sink);
  g_object_set (sink, "async", FALSE, NULL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (500 * 1000);
  t0 = g_get_monotonic_time ();
  fail_unless (gst_element_set_state (pipeline, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  dt = g_get_monotonic_time () - t0;
  GST_INFO ("%s: PLAYING -> NULL took %" G_GINT64_FORMAT " us", mode, dt);
  fail_unless (dt < 200 * 1000 * TU_SLOWDOWN,
      "%s: PLAYING -> NULL took %" G_GINT64_FORMAT
      " ms", mode, dt / 1000);
  fail_unless (c.got < 16 * MiB);
  gst_object_unref (pipeline);
  collector_clear (&c);
  fail_unless_equals_int (wait_no_workers (1000), 0);
}

GST_START_TEST (test_stop_during_slow_transfer)
{
  tu_emu_gen (&emu, "gst", "slow", 16 * MiB, 31, NULL);
  fault ("{\"bucket\":\"gst\",\"object\":\"slow\",\"kind\":\"slow\","
      "\"rate\":100000,\"count\":-1}");
  stop_during_slow_transfer ("process");
  stop_during_slow_transfer ("thread");
  tu_emu_clear_faults (&emu);
  /* and with a stalled server */
  fault ("{\"bucket\":\"gst\",\"object\":\"slow\",\"kind\":\"stall\","
      "\"seconds\":30,\"after_bytes\":1000,\"count\":-1}");
  stop_during_slow_transfer ("process");
  stop_during_slow_transfer ("thread");
  tu_emu_clear_faults (&emu);
}

GST_END_TEST;

/* ---- real media ---- */

static gchar *media_dir;

static gboolean
run_launch (const gchar * desc)
{
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err);
  GstMessage *m;
  gboolean ok;

  fail_unless (p != NULL, "%s: %s", desc, err ? err->message : "");
  gst_element_set_state (p, GST_STATE_PLAYING);
  m = wait_message (p, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, 120 * GST_SECOND);
  ok = m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS;
  if (m)
    gst_message_unref (m);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  return ok;
}

/* encodes a clip with GStreamer's own encoders and puts it into the
 * emulator; returns the local path */
static gchar *
make_media (const gchar * name)
{
  gchar *path, *desc, *data = NULL;
  gsize len = 0;

  if (!media_dir)
    media_dir = tu_mkdtemp ();
  path = g_build_filename (media_dir, name, NULL);
  if (g_str_has_suffix (name, ".mp4")) {
    /* faststart=false: the moov atom goes to the end */
    desc = g_strdup_printf ("videotestsrc num-buffers=90 ! "
        "video/x-raw,width=320,height=240,framerate=30/1 ! x264enc "
        "key-int-max=15 speed-preset=ultrafast ! h264parse ! "
        "mp4mux name=mux faststart=false ! filesink location=%s "
        "audiotestsrc num-buffers=130 ! audioconvert ! avenc_aac ! aacparse ! "
        "mux.", path);
  } else {
    desc = g_strdup_printf ("videotestsrc num-buffers=90 ! "
        "video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc "
        "keyframe-max-dist=15 deadline=1 ! webmmux name=mux ! "
        "filesink location=%s audiotestsrc num-buffers=130 ! audioconvert ! "
        "vorbisenc ! mux.", path);
  }
  fail_unless (run_launch (desc), "cannot encode %s", name);
  g_free (desc);
  fail_unless (g_file_get_contents (path, &data, &len, NULL));
  if (g_str_has_suffix (name, ".mp4")) {
    /* check that the index really is at the end */
    guint8 *moov = memmem (data, len, "moov", 4);
    guint8 *mdat = memmem (data, len, "mdat", 4);

    fail_unless (moov && mdat && moov > mdat, "moov is not after mdat");
  }
  tu_emu_put (&emu, "videos", name, data, len);
  g_free (data);
  return path;
}

typedef struct
{
  gint frames;
  GstElement *source;
  GstPadMode mode;
} Playback;

static void
on_frame (GstElement * sink, GstBuffer * buf, GstPad * pad, Playback * pb)
{
  g_atomic_int_inc (&pb->frames);
}

static void
on_source_setup (GstElement * playbin, GstElement * source, Playback * pb)
{
  if (g_str_equal (G_OBJECT_TYPE_NAME (source), "GstAisSrc")) {
    g_object_set (source, "endpoint", emu.url, "num-workers", 4,
        "chunk-size", 65536, NULL);
    pb->source = gst_object_ref (source);
  }
}

/* playbin with fakesinks: frames decoded to EOS; with seek, from the
 * middle */
static gint
play (const gchar * uri, gboolean seek, gboolean * used_aissrc,
    GstPadMode * mode)
{
  GstElement *playbin = gst_element_factory_make ("playbin", NULL);
  GstElement *vsink = gst_element_factory_make ("fakesink", NULL);
  GstElement *asink = gst_element_factory_make ("fakesink", NULL);
  Playback pb = { 0, NULL, GST_PAD_MODE_NONE };
  GstMessage *m;
  gint frames;

  fail_unless (playbin != NULL);
  g_object_set (vsink, "sync", FALSE, "signal-handoffs", TRUE, NULL);
  g_object_set (asink, "sync", FALSE, NULL);
  g_signal_connect (vsink, "handoff", G_CALLBACK (on_frame), &pb);
  g_signal_connect (playbin, "source-setup", G_CALLBACK (on_source_setup),
      &pb);
  g_object_set (playbin, "uri", uri, "video-sink", vsink, "audio-sink",
      asink, NULL);

  if (seek) {
    gint64 dur = -1;

    fail_unless (gst_element_set_state (playbin, GST_STATE_PAUSED) !=
        GST_STATE_CHANGE_FAILURE);
    m = wait_message (playbin, GST_MESSAGE_ASYNC_DONE | GST_MESSAGE_ERROR,
        WAIT);
    fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_ASYNC_DONE, "%s",
        m ? error_debug (m) : "no preroll");
    gst_message_unref (m);
    fail_unless (gst_element_query_duration (playbin, GST_FORMAT_TIME, &dur));
    fail_unless (dur > 0);
    fail_unless (gst_element_seek_simple (playbin, GST_FORMAT_TIME,
            GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT, dur / 2));
    m = wait_message (playbin, GST_MESSAGE_ASYNC_DONE | GST_MESSAGE_ERROR,
        WAIT);
    fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_ASYNC_DONE, "%s",
        m ? error_debug (m) : "no preroll after the seek");
    gst_message_unref (m);
    g_atomic_int_set (&pb.frames, 0);
  }
  fail_unless (gst_element_set_state (playbin, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_message (playbin, GST_MESSAGE_EOS | GST_MESSAGE_ERROR,
      120 * GST_SECOND);
  fail_unless (m != NULL, "%s: no EOS within 120 s", uri);
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%s: %s", uri,
      error_debug (m));
  gst_message_unref (m);

  *used_aissrc = pb.source != NULL;
  if (pb.source) {
    GstPad *pad = gst_element_get_static_pad (pb.source, "src");

    *mode = GST_PAD_MODE (pad);
    gst_object_unref (pad);
  }
  gst_element_set_state (playbin, GST_STATE_NULL);
  if (pb.source)
    gst_object_unref (pb.source);
  gst_object_unref (playbin);
  frames = g_atomic_int_get (&pb.frames);
  GST_INFO ("%s%s: %d frames", uri, seek ? " from the middle" : "", frames);
  return frames;
}

static GstClockTime
discover (const gchar * uri)
{
  GError *err = NULL;
  GstDiscoverer *d = gst_discoverer_new (60 * GST_SECOND, &err);
  GstDiscovererInfo *info;
  GstClockTime dur;

  fail_unless (d != NULL);
  info = gst_discoverer_discover_uri (d, uri, &err);
  fail_unless (info != NULL, "%s: %s", uri, err ? err->message : "");
  fail_unless (gst_discoverer_info_get_result (info) == GST_DISCOVERER_OK,
      "%s: result %d %s", uri, gst_discoverer_info_get_result (info),
      err ? err->message : "");
  dur = gst_discoverer_info_get_duration (info);
  fail_unless (gst_discoverer_info_get_video_streams (info) != NULL);
  gst_discoverer_info_unref (info);
  g_clear_error (&err);
  g_object_unref (d);
  return dur;
}

static void
check_media (const gchar * name)
{
  gchar *path = make_media (name);
  gchar *local = gst_filename_to_uri (path, NULL);
  gchar *remote = g_strdup_printf ("ais://videos/%s", name);
  gboolean used = FALSE;
  GstPadMode mode = GST_PAD_MODE_NONE;
  gint n_local, n_remote, n_local_mid, n_remote_mid;
  GstClockTime d_local, d_remote;

  n_local = play (local, FALSE, &used, &mode);
  fail_if (used);
  n_remote = play (remote, FALSE, &used, &mode);
  fail_unless (used, "playbin did not use aissrc for %s", remote);
  /* the demuxers pull: qtdemux reads the moov at the end first */
  fail_unless (mode == GST_PAD_MODE_PULL, "%s: aissrc in mode %d", remote,
      mode);
  fail_unless (n_local == 90, "%s: %d frames locally", name, n_local);
  fail_unless_equals_int (n_remote, n_local);

  n_local_mid = play (local, TRUE, &used, &mode);
  n_remote_mid = play (remote, TRUE, &used, &mode);
  fail_unless (n_remote_mid > 0 && n_remote_mid < n_remote,
      "%s: %d frames after the seek", name, n_remote_mid);
  fail_unless_equals_int (n_remote_mid, n_local_mid);

  /* discoverer finds the cluster through $AIS_ENDPOINT */
  g_setenv ("AIS_ENDPOINT", emu.url, TRUE);
  d_local = discover (local);
  d_remote = discover (remote);
  g_unsetenv ("AIS_ENDPOINT");
  fail_unless (GST_CLOCK_TIME_IS_VALID (d_local) && d_local > 0);
  fail_unless (d_remote == d_local, "duration %" GST_TIME_FORMAT " vs %"
      GST_TIME_FORMAT, GST_TIME_ARGS (d_remote), GST_TIME_ARGS (d_local));

  g_free (local);
  g_free (remote);
  g_free (path);
}

static gboolean
have_elements (const gchar * const *names)
{
  for (; *names; names++) {
    GstElementFactory *f = gst_element_factory_find (*names);

    if (!f) {
      GST_WARNING ("no %s: skipping", *names);
      return FALSE;
    }
    gst_object_unref (f);
  }
  return TRUE;
}

GST_START_TEST (test_media_mp4)
{
  const gchar *need[] = { "x264enc", "mp4mux", "avenc_aac", "qtdemux",
    "avdec_h264", NULL
  };

  if (!have_elements (need))
    return;
  check_media ("clip.mp4");
  tu_rm_rf (media_dir);
}

GST_END_TEST;

GST_START_TEST (test_media_webm)
{
  const gchar *need[] = { "vp8enc", "webmmux", "vorbisenc", "matroskademux",
    "vp8dec", NULL
  };

  if (!have_elements (need))
    return;
  check_media ("clip.webm");
  tu_rm_rf (media_dir);
}

GST_END_TEST;

static Suite *
aissrc_suite (void)
{
  Suite *s = suite_create ("aissrc");
  TCase *tc = tcase_create ("general");
  TCase *tc_media = tcase_create ("media");

  suite_add_tcase (s, tc);
  tcase_add_unchecked_fixture (tc, emu_setup, emu_teardown);
  tcase_add_checked_fixture (tc, emu_clean, NULL);
  tcase_set_timeout (tc, 180);
  tcase_add_test (tc, test_first_buffer);
  tcase_add_test (tc, test_content);
  tcase_add_test (tc, test_chunk_size_from_object);
  tcase_add_test (tc, test_seek_ready);
  tcase_add_test (tc, test_seek_reverse);
  tcase_add_test (tc, test_seek_storm);
  tcase_add_test (tc, test_seek_playing);
  tcase_add_test (tc, test_pull_edges);
  tcase_add_test (tc, test_pull_random);
  tcase_add_test (tc, test_pull_interleaved);
  tcase_add_test (tc, test_held_buffers);
  tcase_add_test (tc, test_queries);
  tcase_add_test (tc, test_object_message);
  tcase_add_test (tc, test_redirects);
  tcase_add_test (tc, test_error_not_found);
  tcase_add_test (tc, test_stop_during_stalled_open);
  tcase_add_test (tc, test_open_error_once);
  tcase_add_test (tc, test_seek_during_open);
  tcase_add_test (tc, test_failed_opens_repeated);
  tcase_add_test (tc, test_error_auth);
  tcase_add_test (tc, test_error_settings);
  tcase_add_test (tc, test_error_network);
  tcase_add_test (tc, test_error_streaming);
  tcase_add_test (tc, test_verify_checksum);
  tcase_add_test (tc, test_uri_interface);
  tcase_add_test (tc, test_properties);
  tcase_add_test (tc, test_extra_headers);
  tcase_add_test (tc, test_parallel_pipelines);
  tcase_add_test (tc, test_twenty_pipelines);
  tcase_add_test (tc, test_checksum_mismatch);
  tcase_add_test (tc, test_state_cycling);
  tcase_add_test (tc, test_stop_during_slow_transfer);

  suite_add_tcase (s, tc_media);
  tcase_add_unchecked_fixture (tc_media, emu_setup, emu_teardown);
  tcase_set_timeout (tc_media, 600);
  tcase_add_test (tc_media, test_media_mp4);
  tcase_add_test (tc_media, test_media_webm);
  return s;
}

GST_CHECK_MAIN (aissrc);
