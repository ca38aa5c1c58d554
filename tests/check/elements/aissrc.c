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

/* ---- sequences: a prefix, a list ---- */

/* objects made at once by the emulator: names PREFIX + zero-padded index,
 * object i of seed seed + i and size sizes[i % nsizes] */
typedef struct
{
  const gchar *bucket;
  const gchar *prefix;
  guint count;
  const guint64 *sizes;
  guint nsizes;
  guint64 seed;
} Bulk;

static void
bulk_make (const Bulk * b)
{
  GString *body = g_string_new (NULL);
  gchar *url = g_strdup_printf ("%s/_emu/objects/bulk", emu.url);
  gchar out[4096];
  guint i;
  glong st;

  g_string_append_printf (body, "{\"bucket\": \"%s\", \"prefix\": \"%s\", "
      "\"count\": %u, \"seed\": %" G_GUINT64_FORMAT ", \"sizes\": [",
      b->bucket, b->prefix, b->count, b->seed);
  for (i = 0; i < b->nsizes; i++)
    g_string_append_printf (body, "%s%" G_GUINT64_FORMAT, i ? ", " : "",
        b->sizes[i]);
  g_string_append (body, "]}");
  st = tu_http ("POST", url, body->str, body->len, out, sizeof out);
  fail_unless (st == 200, "bulk %s: %ld %s", body->str, st, out);
  g_string_free (body, TRUE);
  g_free (url);
}

/* the emulator pads the index to the digits of the largest */
static gchar *
bulk_name (const Bulk * b, guint i)
{
  gchar *last = g_strdup_printf ("%u", b->count - 1);
  gchar *name = g_strdup_printf ("%s%0*u", b->prefix, (gint) strlen (last), i);

  g_free (last);
  return name;
}

static guint64
bulk_size (const Bulk * b, guint i)
{
  return b->sizes[i % b->nsizes];
}

/* the objects end to end, as concat mode reads them */
static guint8 *
bulk_expected (const Bulk * b, guint64 * total)
{
  guint64 n = 0, off = 0;
  guint8 *data;
  guint i;

  for (i = 0; i < b->count; i++)
    n += bulk_size (b, i);
  data = g_malloc (MAX (n, 1));
  for (i = 0; i < b->count; i++) {
    tu_gen (b->seed + i, 0, data + off, bulk_size (b, i));
    off += bulk_size (b, i);
  }
  *total = n;
  return data;
}

/* the offset of the first byte that differs, or -1 */
static gint64
first_difference (const guint8 * a, const guint8 * b, guint64 n)
{
  guint64 i;

  for (i = 0; i < n; i++)
    if (a[i] != b[i])
      return (gint64) i;
  return -1;
}

static void
emu_delete_object (const gchar * bucket, const gchar * object)
{
  gchar *url = g_strdup_printf ("%s/_emu/objects/%s/%s", emu.url, bucket,
      object);

  fail_unless (tu_http ("DELETE", url, NULL, 0, NULL, 0) == 200);
  g_free (url);
}

/* what the bus carried: the aissrc-object messages and the warnings, taken
 * by a sync handler (gst_bus_timed_pop_filtered() drops the others) */
typedef struct
{
  GMutex lock;
  GPtrArray *objects;           /* GstStructure copies */
  GPtrArray *warnings;          /* GstMessage */
} BusLog;

static GstBusSyncReply
bus_log_handler (GstBus * bus, GstMessage * m, gpointer data)
{
  BusLog *log = data;
  const GstStructure *s = gst_message_get_structure (m);

  g_mutex_lock (&log->lock);
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT && s &&
      gst_structure_has_name (s, "aissrc-object"))
    g_ptr_array_add (log->objects, gst_structure_copy (s));
  else if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING)
    g_ptr_array_add (log->warnings, gst_message_ref (m));
  g_mutex_unlock (&log->lock);
  return GST_BUS_PASS;
}

static void
bus_log_attach (BusLog * log, GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);

  g_mutex_init (&log->lock);
  log->objects = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  log->warnings = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_message_unref);
  gst_bus_set_sync_handler (bus, bus_log_handler, log, NULL);
  gst_object_unref (bus);
}

static void
bus_log_clear (BusLog * log)
{
  g_ptr_array_unref (log->objects);
  g_ptr_array_unref (log->warnings);
  g_mutex_clear (&log->lock);
}

static guint64
struct_u64 (const GstStructure * s, const gchar * field)
{
  guint64 v = G_MAXUINT64;

  fail_unless (gst_structure_get_uint64 (s, field, &v), "no %s in %"
      GST_PTR_FORMAT, field, s);
  return v;
}

/* the messages of a whole sequence read in order: one per object, in its
 * order, with the object's name, size and place in the stream */
static void
check_object_messages (BusLog * log, const Bulk * b, gboolean sequence)
{
  guint64 off = 0;
  guint i;

  g_mutex_lock (&log->lock);
  fail_unless_equals_int (log->objects->len, b->count);
  for (i = 0; i < b->count; i++) {
    const GstStructure *s = g_ptr_array_index (log->objects, i);
    gchar *name = bulk_name (b, i);
    gchar *location = g_strdup_printf ("ais://%s/%s", b->bucket, name);

    fail_unless_equals_uint64 (struct_u64 (s, "index"), i);
    fail_unless_equals_uint64 (struct_u64 (s, "size"), bulk_size (b, i));
    fail_unless_equals_uint64 (struct_u64 (s, "offset"), sequence ? 0 : off);
    fail_unless_equals_string (gst_structure_get_string (s, "object"), name);
    fail_unless_equals_string (gst_structure_get_string (s, "bucket"),
        b->bucket);
    fail_unless_equals_string (gst_structure_get_string (s, "location"),
        location);
    fail_unless_equals_string (gst_structure_get_string (s, "version"), "1");
    off += bulk_size (b, i);
    g_free (location);
    g_free (name);
  }
  g_mutex_unlock (&log->lock);
}

static const guint64 concat_sizes[] = { 0, 1, 1000, 70000, 65536, 200003 };

/* concat: every object of a prefix, end to end, byte for byte; objects
 * that only share the start of the name are not under the prefix */
GST_START_TEST (test_prefix_concat)
{
  const Bulk b = { "seqc", "p/", 300, concat_sizes, 6, 1000 };
  const Bulk other = { "seqc", "px/", 3, concat_sizes + 3, 1, 5000 };
  GstElement *src, *pipeline;
  Collector c;
  GstMessage *m;
  BusLog log;
  guint64 total;
  guint8 *expect;
  gint64 bad;

  bulk_make (&b);
  bulk_make (&other);
  tu_emu_gen (&emu, "seqc", "p", 777, 7, NULL);
  expect = bulk_expected (&b, &total);

  src = make_src ("x");
  g_object_set (src, "location", "ais://seqc/p/", "chunk-size", 65536,
      "num-workers", 4, "blocksize", 30000, NULL);
  collector_init (&c, total, 0);
  pipeline = make_pipeline (src, &c, NULL);
  bus_log_attach (&log, pipeline);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipeline, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, WAIT);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%s",
      m ? error_debug (m) : "no EOS within 60 s");
  gst_message_unref (m);
  fail_unless_equals_uint64 (stat_u64 (src, "bytes-delivered"), total);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  fail_unless_equals_uint64 (c.got, total);
  fail_unless (c.offsets_ok, "buffer offsets are not contiguous");
  fail_if (c.overflow);
  bad = first_difference (c.data, expect, total);
  fail_unless (bad < 0, "byte %" G_GINT64_FORMAT " of the stream differs",
      bad);
  check_object_messages (&log, &b, FALSE);

  bus_log_clear (&log);
  collector_clear (&c);
  gst_object_unref (pipeline);
  g_free (expect);
}

GST_END_TEST;

/* concat: a list, in its own order, across buckets, an object twice */
GST_START_TEST (test_locations_concat)
{
  const gchar *names[] = { "mid", "small", "empty", "one", "small",
    "dir/with space+plus.bin"
  };
  GstElement *src, *pipeline;
  Collector c;
  GstMessage *m;
  BusLog log;
  guint64 total = 0, off = 0;
  guint i;
  gchar **locations, **got = NULL, *location = NULL;

  tu_emu_gen (&emu, "seql", "other", 5000, 99, NULL);
  /* the names, one of another bucket, NULL */
  locations = g_new0 (gchar *, G_N_ELEMENTS (names) + 2);
  for (i = 0; i < G_N_ELEMENTS (names); i++) {
    locations[i] = g_strdup_printf ("ais://gst/%s", names[i]);
    total += test_object (names[i])->size;
  }
  locations[i++] = g_strdup ("ais://seql/other");
  total += 5000;
  locations[i] = NULL;

  src = make_src ("x");
  g_object_set (src, "locations", locations, "chunk-size", 65536, NULL);
  /* the list replaced the location */
  g_object_get (src, "location", &location, NULL);
  fail_unless (location == NULL);
  g_object_get (src, "locations", &got, NULL);
  fail_unless (got && g_strv_equal ((const gchar * const *) got,
          (const gchar * const *) locations));
  g_strfreev (got);

  collector_init (&c, total, 0);
  pipeline = make_pipeline (src, &c, NULL);
  bus_log_attach (&log, pipeline);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipeline, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, WAIT);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%s",
      m ? error_debug (m) : "no EOS within 60 s");
  gst_message_unref (m);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  fail_unless_equals_uint64 (c.got, total);
  fail_unless (c.offsets_ok);
  g_mutex_lock (&log.lock);
  fail_unless_equals_int (log.objects->len, G_N_ELEMENTS (names) + 1);
  for (i = 0; i < G_N_ELEMENTS (names) + 1; i++) {
    const GstStructure *s = g_ptr_array_index (log.objects, i);
    guint64 size = i < G_N_ELEMENTS (names) ?
        test_object (names[i])->size : 5000;
    guint64 seed = i < G_N_ELEMENTS (names) ?
        test_object (names[i])->seed : 99;

    fail_unless_equals_string (gst_structure_get_string (s, "location"),
        locations[i]);
    fail_unless_equals_uint64 (struct_u64 (s, "index"), i);
    fail_unless_equals_uint64 (struct_u64 (s, "offset"), off);
    fail_unless_equals_uint64 (struct_u64 (s, "size"), size);
    fail_unless (tu_gen_cmp (seed, 0, c.data + off, size) < 0,
        "object %u (%s) differs", i, locations[i]);
    off += size;
  }
  g_mutex_unlock (&log.lock);

  bus_log_clear (&log);
  collector_clear (&c);
  gst_object_unref (pipeline);
  g_strfreev (locations);
}

GST_END_TEST;

static const guint64 pull_sizes[] = { 5000, 0, 70001, 65536, 1 };

/* concat: random access over a prefix in pull mode (the size is known:
 * the open waited for the listing), and a seek in bytes in push mode
 * across objects */
GST_START_TEST (test_prefix_concat_seek_pull)
{
  static GstStaticPadTemplate sinktemplate = GST_STATIC_PAD_TEMPLATE ("sink",
      GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
  const Bulk b = { "seqp", "obj-", 40, pull_sizes, 5, 3000 };
  const guint64 reads[][2] = {
    {0, 100}, {4990, 20}, {5000, 70001}, {100000, 300000}, {0, 1},
    {500000, 4096}, {1, 65536 * 3}
  };
  GstElement *src;
  GstPad *pad, *sinkpad;
  GstQuery *q;
  gint64 dur = 0;
  guint64 total, start, stop;
  guint8 *expect;
  guint i;

  bulk_make (&b);
  expect = bulk_expected (&b, &total);

  /* pull mode */
  src = make_src ("x");
  g_object_set (src, "location", "ais://seqp/obj-", "chunk-size", 65536,
      "num-workers", 3, NULL);
  /* "obj-" is an object name, not a prefix: the prefix property */
  g_object_set (src, "prefix", "ais://seqp/obj-", NULL);
  sinkpad = gst_check_setup_sink_pad (src, &sinktemplate);
  gst_pad_set_active (sinkpad, TRUE);
  fail_unless (gst_element_set_state (src, GST_STATE_READY) ==
      GST_STATE_CHANGE_SUCCESS);
  pad = gst_element_get_static_pad (src, "src");
  fail_unless (gst_pad_activate_mode (pad, GST_PAD_MODE_PULL, TRUE));
  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_SUCCESS);
  q = gst_query_new_duration (GST_FORMAT_BYTES);
  fail_unless (gst_pad_query (pad, q));
  gst_query_parse_duration (q, NULL, &dur);
  gst_query_unref (q);
  fail_unless_equals_uint64 (dur, total);
  for (i = 0; i < G_N_ELEMENTS (reads); i++) {
    GstBuffer *buf = NULL;
    GstMapInfo map;
    guint64 off = reads[i][0], n = MIN (reads[i][1], total - off);

    fail_unless (gst_pad_get_range (pad, off, reads[i][1], &buf) ==
        GST_FLOW_OK, "read %u", i);
    fail_unless_equals_uint64 (gst_buffer_get_size (buf), n);
    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    fail_unless (memcmp (map.data, expect + off, n) == 0, "read %u differs",
        i);
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
  }
  {
    GstBuffer *buf = NULL;

    fail_unless (gst_pad_get_range (pad, total, 10, &buf) == GST_FLOW_EOS);
  }
  teardown_pull (src, pad);

  /* push mode, a seek made in READY, across objects */
  start = 4000;
  stop = total - 70000;
  src = make_src ("x");
  g_object_set (src, "prefix", "ais://seqp/obj-", "chunk-size", 65536,
      "num-workers", 4, "blocksize", 10000, NULL);
  sinkpad = gate_setup (src, total, TRUE);
  fail_unless (gst_element_set_state (src, GST_STATE_READY) ==
      GST_STATE_CHANGE_SUCCESS);
  fail_unless (gst_element_seek (src, 1.0, GST_FORMAT_BYTES,
          GST_SEEK_FLAG_FLUSH, GST_SEEK_TYPE_SET, (gint64) start,
          GST_SEEK_TYPE_SET, (gint64) stop));
  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gate_wait_eos (30), "no EOS");
  g_mutex_lock (&gate.lock);
  fail_unless (gate.offsets_ok);
  fail_unless_equals_uint64 (gate.first, start);
  fail_unless_equals_uint64 (gate.got, stop - start);
  fail_unless (memcmp (gate.data + start, expect + start, stop - start) == 0);
  g_mutex_unlock (&gate.lock);
  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gate_teardown (src, sinkpad);
  g_free (expect);
}

GST_END_TEST;

/* ---- sequence mode ---- */

/* A sink pad that records, per stream-start, what sequence mode pushed:
 * the segments, the buffers (offsets, DISCONT) and the bytes.  eos_after:
 * answer EOS to that many buffers of each object (0: never). */
#define SEQ_MAX 64

static struct
{
  GMutex lock;
  GCond cond;
  gint object;                  /* index of the current stream, -1 before */
  guint stream_starts;
  guint segments;
  gboolean segments_ok;         /* TIME, from 0, right after the stream-start */
  gboolean offsets_ok;
  gboolean discont_ok;
  gboolean eos;
  gchar *stream_id;
  gboolean same_id;
  guint eos_after;
  guint buffers[SEQ_MAX];
  GByteArray *data[SEQ_MAX];
  gboolean seen_segment;
} seq;

static GstFlowReturn
seq_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstFlowReturn ret = GST_FLOW_OK;
  GstMapInfo map;
  gint i;

  g_mutex_lock (&seq.lock);
  i = seq.object;
  if (i < 0 || i >= SEQ_MAX || !seq.seen_segment) {
    seq.offsets_ok = FALSE;
  } else {
    if (GST_BUFFER_OFFSET (buf) != seq.data[i]->len)
      seq.offsets_ok = FALSE;
    if (GST_BUFFER_OFFSET_END (buf) != GST_BUFFER_OFFSET (buf) +
        gst_buffer_get_size (buf))
      seq.offsets_ok = FALSE;
    if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT) !=
        (seq.buffers[i] == 0))
      seq.discont_ok = FALSE;
    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_byte_array_append (seq.data[i], map.data, map.size);
    gst_buffer_unmap (buf, &map);
    seq.buffers[i]++;
    if (seq.eos_after && seq.buffers[i] >= seq.eos_after)
      ret = GST_FLOW_EOS;
  }
  g_mutex_unlock (&seq.lock);
  gst_buffer_unref (buf);
  return ret;
}

static gboolean
seq_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  g_mutex_lock (&seq.lock);
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:{
      const gchar *id = NULL;

      gst_event_parse_stream_start (event, &id);
      if (seq.stream_id && g_strcmp0 (seq.stream_id, id) != 0)
        seq.same_id = FALSE;
      g_free (seq.stream_id);
      seq.stream_id = g_strdup (id);
      seq.stream_starts++;
      seq.object++;
      seq.seen_segment = FALSE;
      break;
    }
    case GST_EVENT_SEGMENT:{
      const GstSegment *s;

      gst_event_parse_segment (event, &s);
      seq.segments++;
      if (s->format != GST_FORMAT_TIME || s->start != 0 || seq.seen_segment)
        seq.segments_ok = FALSE;
      seq.seen_segment = TRUE;
      break;
    }
    case GST_EVENT_EOS:
      seq.eos = TRUE;
      g_cond_broadcast (&seq.cond);
      break;
    default:
      break;
  }
  g_mutex_unlock (&seq.lock);
  gst_event_unref (event);
  return TRUE;
}

static GstPad *
seq_setup (GstElement * src, guint eos_after)
{
  static GstStaticPadTemplate sinktemplate = GST_STATIC_PAD_TEMPLATE ("sink",
      GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
  GstPad *sinkpad;
  guint i;

  g_mutex_init (&seq.lock);
  g_cond_init (&seq.cond);
  seq.object = -1;
  seq.stream_starts = seq.segments = 0;
  seq.segments_ok = seq.offsets_ok = seq.discont_ok = seq.same_id = TRUE;
  seq.eos = seq.seen_segment = FALSE;
  seq.stream_id = NULL;
  seq.eos_after = eos_after;
  for (i = 0; i < SEQ_MAX; i++) {
    seq.buffers[i] = 0;
    seq.data[i] = g_byte_array_new ();
  }
  sinkpad = gst_check_setup_sink_pad (src, &sinktemplate);
  gst_pad_set_chain_function (sinkpad, seq_chain);
  gst_pad_set_event_function (sinkpad, seq_event);
  gst_pad_set_active (sinkpad, TRUE);
  return sinkpad;
}

static gboolean
seq_wait_eos (gint64 seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_TIME_SPAN_SECOND;
  gboolean eos;

  g_mutex_lock (&seq.lock);
  while (!seq.eos && g_get_monotonic_time () < deadline)
    g_cond_wait_until (&seq.cond, &seq.lock, deadline);
  eos = seq.eos;
  g_mutex_unlock (&seq.lock);
  return eos;
}

static void
seq_teardown (GstElement * src, GstPad * sinkpad)
{
  guint i;

  gst_pad_set_active (sinkpad, FALSE);
  gst_check_teardown_sink_pad (src);
  gst_check_teardown_element (src);
  for (i = 0; i < SEQ_MAX; i++)
    g_byte_array_unref (seq.data[i]);
  g_free (seq.stream_id);
  g_mutex_clear (&seq.lock);
  g_cond_clear (&seq.cond);
}

/* an element with a bus of its own, for the messages of a bare element */
static GstBus *
own_bus (GstElement * src, BusLog * log)
{
  GstBus *bus = gst_bus_new ();

  g_mutex_init (&log->lock);
  log->objects = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  log->warnings = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_message_unref);
  gst_bus_set_sync_handler (bus, bus_log_handler, log, NULL);
  gst_element_set_bus (src, bus);
  return bus;
}

/* stops a bare element that has a bus of its own (the messages left on the
 * bus hold references to it) and its recording sink */
static void
seq_finish (GstElement * src, GstPad * sinkpad, GstBus * bus, BusLog * log)
{
  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gst_bus_set_flushing (bus, TRUE);
  bus_log_clear (log);
  seq_teardown (src, sinkpad);
  gst_object_unref (bus);
}

static const guint64 seq_sizes[] = { 3000, 0, 150001, 65536, 1 };

/* sequence mode: each object its own stream: a stream-start (one stream-id
 * for all: the stream restarts), a TIME segment from 0, buffers with
 * offsets in the object and a DISCONT first; one message per object, the
 * empty ones too; not seekable, push mode only */
GST_START_TEST (test_sequence_mode)
{
  const Bulk b = { "seqs", "clip-", 25, seq_sizes, 5, 7000 };
  GstElement *src;
  GstPad *sinkpad, *srcpad;
  GstQuery *q;
  GstBus *bus;
  BusLog log;
  gboolean seekable = TRUE;
  guint i;

  bulk_make (&b);
  src = make_src ("x");
  gst_util_set_object_arg (G_OBJECT (src), "mode", "sequence");
  g_object_set (src, "location", "ais://seqs/", "chunk-size", 65536,
      "num-workers", 4, "blocksize", 50000, NULL);
  bus = own_bus (src, &log);
  sinkpad = seq_setup (src, 0);

  /* push mode only, and not seekable */
  srcpad = gst_element_get_static_pad (src, "src");
  q = gst_query_new_scheduling ();
  fail_unless (gst_pad_query (srcpad, q));
  fail_if (gst_query_has_scheduling_mode (q, GST_PAD_MODE_PULL));
  fail_unless (gst_query_has_scheduling_mode (q, GST_PAD_MODE_PUSH));
  gst_query_unref (q);

  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  q = gst_query_new_seeking (GST_FORMAT_BYTES);
  fail_unless (gst_pad_query (srcpad, q));
  gst_query_parse_seeking (q, NULL, &seekable, NULL, NULL);
  gst_query_unref (q);
  fail_if (seekable);
  fail_if (gst_element_seek_simple (src, GST_FORMAT_BYTES,
          GST_SEEK_FLAG_FLUSH, 100));
  fail_unless (seq_wait_eos (60), "no EOS within 60 s");

  g_mutex_lock (&seq.lock);
  fail_unless_equals_int (seq.stream_starts, b.count);
  fail_unless_equals_int (seq.segments, b.count);
  fail_unless (seq.segments_ok, "a segment is not TIME from 0, or two came");
  fail_unless (seq.same_id, "the stream-id changed");
  fail_unless (seq.offsets_ok, "offsets are not those in the object");
  fail_unless (seq.discont_ok, "DISCONT is not on the first buffer only");
  for (i = 0; i < b.count; i++) {
    guint64 size = bulk_size (&b, i);

    fail_unless_equals_uint64 (seq.data[i]->len, size);
    fail_unless (tu_gen_cmp (b.seed + i, 0, seq.data[i]->data, size) < 0,
        "object %u differs", i);
    /* blocksize 50000 */
    fail_unless (seq.buffers[i] >= (size + 49999) / 50000, "object %u", i);
  }
  g_mutex_unlock (&seq.lock);
  check_object_messages (&log, &b, TRUE);

  gst_object_unref (srcpad);
  seq_finish (src, sinkpad, bus, &log);
}

GST_END_TEST;

/* sequence mode: downstream answers EOS (as qtdemux does at a clip's last
 * sample): that object ends, the next one comes; the rest of the object is
 * not fetched */
GST_START_TEST (test_sequence_downstream_eos)
{
  static const guint64 sizes[] = { 2 * MiB, 1000, 2 * MiB + 5 };
  const Bulk b = { "seqe", "o", 6, sizes, 3, 9000 };
  GstElement *src;
  GstPad *sinkpad;
  guint64 total = 0, fetched;
  guint i;

  bulk_make (&b);
  for (i = 0; i < b.count; i++)
    total += bulk_size (&b, i);
  src = make_src ("x");
  gst_util_set_object_arg (G_OBJECT (src), "mode", "sequence");
  g_object_set (src, "prefix", "ais://seqe/o", "chunk-size", 65536,
      "num-workers", 2, "slots", 4, "blocksize", 10000, NULL);
  sinkpad = seq_setup (src, 2);
  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (seq_wait_eos (60), "no EOS within 60 s");
  fetched = stat_u64 (src, "bytes");

  g_mutex_lock (&seq.lock);
  fail_unless_equals_int (seq.stream_starts, b.count);
  for (i = 0; i < b.count; i++) {
    guint64 size = bulk_size (&b, i);
    guint want = MIN (2, (guint) ((size + 9999) / 10000));

    fail_unless_equals_int (seq.buffers[i], want);
    fail_unless (tu_gen_cmp (b.seed + i, 0, seq.data[i]->data,
            seq.data[i]->len) < 0, "object %u differs", i);
  }
  g_mutex_unlock (&seq.lock);
  /* the rest of the big objects was skipped, not fetched */
  fail_unless (fetched < total / 2, "%" G_GUINT64_FORMAT " of %"
      G_GUINT64_FORMAT " bytes fetched", fetched, total);

  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  seq_teardown (src, sinkpad);
}

GST_END_TEST;

/* holds the pushes of a source pad from the n-th buffer on */
static struct
{
  GMutex lock;
  GCond cond;
  guint n;
  gboolean held;
} hold;

static GstPadProbeReturn
hold_from_nth (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  GstPadProbeReturn ret = GST_PAD_PROBE_PASS;

  g_mutex_lock (&hold.lock);
  if (hold.n == 0) {
    hold.held = TRUE;
    g_cond_broadcast (&hold.cond);
    ret = GST_PAD_PROBE_OK;     /* blocks */
  } else {
    hold.n--;
  }
  g_mutex_unlock (&hold.lock);
  return ret;
}

/* sequence mode: a flush in the middle of an object (downstream dropped
 * what it had of it): that object starts again, with its stream-start */
GST_START_TEST (test_sequence_flush)
{
  static const guint64 sizes[] = { 262144 };
  const Bulk b = { "seqf", "f", 5, sizes, 1, 13000 };
  GstElement *src;
  GstPad *sinkpad, *srcpad;
  gulong probe;
  gint64 deadline;
  guint i;

  bulk_make (&b);
  src = make_src ("x");
  gst_util_set_object_arg (G_OBJECT (src), "mode", "sequence");
  g_object_set (src, "location", "ais://seqf/", "chunk-size", 65536,
      "blocksize", 10000, NULL);
  sinkpad = seq_setup (src, 0);
  srcpad = gst_element_get_static_pad (src, "src");
  g_mutex_init (&hold.lock);
  g_cond_init (&hold.cond);
  hold.n = 27 * 2 + 5;          /* 27 buffers an object: in the third */
  hold.held = FALSE;
  probe = gst_pad_add_probe (srcpad, GST_PAD_PROBE_TYPE_BLOCK |
      GST_PAD_PROBE_TYPE_BUFFER, hold_from_nth, NULL, NULL);
  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  deadline = g_get_monotonic_time () + 30 * G_TIME_SPAN_SECOND;
  g_mutex_lock (&hold.lock);
  while (!hold.held && g_get_monotonic_time () < deadline)
    g_cond_wait_until (&hold.cond, &hold.lock, deadline);
  fail_unless (hold.held, "not held within 30 s");
  g_mutex_unlock (&hold.lock);

  fail_unless (gst_element_send_event (src, gst_event_new_flush_start ()));
  gst_pad_remove_probe (srcpad, probe);
  fail_unless (gst_element_send_event (src,
          gst_event_new_flush_stop (TRUE)));
  fail_unless (seq_wait_eos (60), "no EOS within 60 s");

  g_mutex_lock (&seq.lock);
  /* f0, f1, f2 cut, f2 again, f3, f4 */
  fail_unless_equals_int (seq.stream_starts, 6);
  fail_unless (seq.data[2]->len > 0 && seq.data[2]->len < 262144);
  for (i = 0; i < 6; i++) {
    guint obj = i < 3 ? i : i - 1;

    if (i != 2)
      fail_unless_equals_uint64 (seq.data[i]->len, 262144);
    fail_unless (tu_gen_cmp (b.seed + obj, 0, seq.data[i]->data,
            seq.data[i]->len) < 0, "stream %u differs", i);
  }
  fail_unless (seq.offsets_ok);
  fail_unless (seq.discont_ok);
  g_mutex_unlock (&seq.lock);

  gst_object_unref (srcpad);
  fail_unless (gst_element_set_state (src, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  seq_teardown (src, sinkpad);
  g_mutex_clear (&hold.lock);
  g_cond_clear (&hold.cond);
}

GST_END_TEST;

/* an error message's text (the GError's) */
static gchar *
message_text (GstMessage * m)
{
  GError *err = NULL;
  gchar *debug = NULL, *text;

  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING)
    gst_message_parse_warning (m, &err, &debug);
  else
    gst_message_parse_error (m, &err, &debug);
  text = g_strdup (err->message);
  g_error_free (err);
  g_free (debug);
  return text;
}

/* runs src (sequence mode, a list with a missing object in the middle)
 * into a recording sink: the error or EOS, and the warnings */
static GstMessage *
run_sequence_list (gboolean skip, const gchar * mode, BusLog * log,
    GstBus ** busp, GstElement ** srcp, GstPad ** sinkpadp)
{
  const gchar *list[] = { "ais://gst/small", "ais://gst/no-such-object",
    "ais://gst/one", NULL
  };
  GstElement *src = make_src ("x");
  GstMessage *m = NULL;
  gint64 deadline = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;

  gst_util_set_object_arg (G_OBJECT (src), "mode", mode);
  g_object_set (src, "locations", list, "skip-errors", skip, NULL);
  *busp = own_bus (src, log);
  *sinkpadp = seq_setup (src, 0);
  *srcp = src;
  fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* an error, or EOS at the sink */
  while (g_get_monotonic_time () < deadline) {
    m = gst_bus_pop_filtered (*busp, GST_MESSAGE_ERROR);
    if (m)
      break;
    g_mutex_lock (&seq.lock);
    if (seq.eos) {
      g_mutex_unlock (&seq.lock);
      break;
    }
    g_mutex_unlock (&seq.lock);
    g_usleep (10 * 1000);
  }
  return m;
}

/* an object that cannot be read: an error that names it; with skip-errors
 * (sequence mode) a warning that names it, and the next object */
GST_START_TEST (test_sequence_errors)
{
  static const guint64 sizes[] = { 262144 };
  const Bulk b = { "seqd", "f", 8, sizes, 1, 11000 };
  GstElement *src;
  GstPad *sinkpad;
  GstMessage *m;
  GstBus *bus;
  BusLog log;
  gchar *text;
  guint i;

  /* the default: an error naming the object, after the first object */
  m = run_sequence_list (FALSE, "sequence", &log, &bus, &src, &sinkpad);
  fail_unless (m != NULL, "no error");
  check_error (m, GST_RESOURCE_ERROR_NOT_FOUND, 404);
  text = message_text (m);
  fail_unless (strstr (text, "ais://gst/no-such-object") != NULL, "%s", text);
  g_free (text);
  gst_message_unref (m);
  g_mutex_lock (&seq.lock);
  fail_unless_equals_uint64 (seq.data[0]->len, test_object ("small")->size);
  g_mutex_unlock (&seq.lock);
  seq_finish (src, sinkpad, bus, &log);

  /* skip-errors: a warning naming it, the next object, EOS */
  m = run_sequence_list (TRUE, "sequence", &log, &bus, &src, &sinkpad);
  fail_unless (m == NULL, "%s", m ? error_debug (m) : "");
  g_mutex_lock (&seq.lock);
  fail_unless (seq.eos);
  fail_unless_equals_int (seq.stream_starts, 2);
  fail_unless (tu_gen_cmp (test_object ("small")->seed, 0, seq.data[0]->data,
          seq.data[0]->len) < 0);
  fail_unless_equals_uint64 (seq.data[0]->len, test_object ("small")->size);
  fail_unless_equals_uint64 (seq.data[1]->len, 1);
  g_mutex_unlock (&seq.lock);
  g_mutex_lock (&log.lock);
  fail_unless_equals_int (log.warnings->len, 1);
  m = g_ptr_array_index (log.warnings, 0);
  text = message_text (m);
  fail_unless (strstr (text, "ais://gst/no-such-object") != NULL, "%s", text);
  g_free (text);
  fail_unless_equals_int (log.objects->len, 2);
  g_mutex_unlock (&log.lock);
  seq_finish (src, sinkpad, bus, &log);

  /* concat mode: a gap would shift every later offset: still an error */
  m = run_sequence_list (TRUE, "concat", &log, &bus, &src, &sinkpad);
  fail_unless (m != NULL, "no error in concat mode");
  check_error (m, GST_RESOURCE_ERROR_NOT_FOUND, 404);
  gst_message_unref (m);
  seq_finish (src, sinkpad, bus, &log);

  /* an object deleted after the listing, before the read gets to it: the
   * first buffer is held until it is gone (the ring holds four 64 KiB
   * chunks: one object of eight) */
  bulk_make (&b);
  for (i = 0; i < 2; i++) {
    GstPad *srcpad;
    gulong probe;

    src = make_src ("x");
    gst_util_set_object_arg (G_OBJECT (src), "mode", "sequence");
    g_object_set (src, "location", "ais://seqd/", "chunk-size", 65536,
        "num-workers", 2, "slots", 4, "skip-errors", i == 1, NULL);
    bus = own_bus (src, &log);
    sinkpad = seq_setup (src, 0);
    srcpad = gst_element_get_static_pad (src, "src");
    probe = gst_pad_add_probe (srcpad, GST_PAD_PROBE_TYPE_BLOCK |
        GST_PAD_PROBE_TYPE_BUFFER, NULL, NULL, NULL);
    tu_emu_post (&emu, "/_emu/stats/reset");
    fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    fail_unless (tu_emu_stat_wait (&emu, "targets", "GET", 1, 10000) >= 1);
    g_usleep (100 * 1000);
    emu_delete_object ("seqd", "f5");
    gst_pad_remove_probe (srcpad, probe);
    gst_object_unref (srcpad);
    {
      gint64 deadline = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;

      m = NULL;
      while (!m && g_get_monotonic_time () < deadline) {
        m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
        g_mutex_lock (&seq.lock);
        if (seq.eos && !m) {
          g_mutex_unlock (&seq.lock);
          break;
        }
        g_mutex_unlock (&seq.lock);
        if (!m)
          g_usleep (10 * 1000);
      }
    }
    if (i == 0) {
      fail_unless (m != NULL, "no error for the deleted object");
      check_error (m, GST_RESOURCE_ERROR_NOT_FOUND, 404);
      text = message_text (m);
      fail_unless (strstr (text, "ais://seqd/f5") != NULL, "%s", text);
      g_free (text);
      gst_message_unref (m);
    } else {
      fail_unless (m == NULL, "%s", m ? error_debug (m) : "");
      g_mutex_lock (&log.lock);
      fail_unless_equals_int (log.warnings->len, 1);
      text = message_text (g_ptr_array_index (log.warnings, 0));
      fail_unless (strstr (text, "ais://seqd/f5") != NULL, "%s", text);
      g_free (text);
      g_mutex_unlock (&log.lock);
      g_mutex_lock (&seq.lock);
      /* f0-f4, f6, f7 */
      fail_unless_equals_int (seq.stream_starts, 7);
      fail_unless_equals_uint64 (seq.data[6]->len, 262144);
      fail_unless (tu_gen_cmp (b.seed + 7, 0, seq.data[6]->data,
              seq.data[6]->len) < 0);
      g_mutex_unlock (&seq.lock);
      /* the next run has it again */
      bulk_make (&b);
    }
    seq_finish (src, sinkpad, bus, &log);
    if (i == 0)
      bulk_make (&b);
  }
}

GST_END_TEST;

/* verify-checksum over a sequence: an object whose checksum is false is
 * that object's error, before its last chunk; in sequence mode with
 * skip-errors a warning, and the next objects come */
GST_START_TEST (test_sequence_checksum)
{
  const gchar *list[] = { "ais://seqk/k0", "ais://seqk/liar", "ais://seqk/k2",
    NULL
  };
  guint i;

  tu_emu_gen (&emu, "seqk", "k0", 300000, 21, NULL);
  tu_emu_gen (&emu, "seqk", "liar", 300000, 22,
      "cksum=xxhash2&cksum_value=0123456789abcdef");
  tu_emu_gen (&emu, "seqk", "k2", 300000, 23, NULL);
  for (i = 0; i < 2; i++) {
    GstElement *src = make_src ("x");
    GstPad *sinkpad;
    GstBus *bus;
    BusLog log;
    GstMessage *m = NULL;
    gchar *text;
    gint64 deadline = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;

    /* a prefix in sequence mode, skipping; a list in concat mode */
    gst_util_set_object_arg (G_OBJECT (src), "mode",
        i == 0 ? "sequence" : "concat");
    if (i == 0)
      g_object_set (src, "location", "ais://seqk/", "skip-errors", TRUE, NULL);
    else
      g_object_set (src, "locations", list, NULL);
    g_object_set (src, "verify-checksum", TRUE, "chunk-size", 65536, NULL);
    bus = own_bus (src, &log);
    sinkpad = seq_setup (src, 0);
    fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    while (g_get_monotonic_time () < deadline) {
      gboolean eos;

      m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
      g_mutex_lock (&seq.lock);
      eos = seq.eos;
      g_mutex_unlock (&seq.lock);
      if (m || eos)
        break;
      g_usleep (10 * 1000);
    }
    if (i == 0) {
      /* k0, k2, liar (in name order) */
      fail_unless (m == NULL, "%s", m ? error_debug (m) : "");
      g_mutex_lock (&log.lock);
      fail_unless_equals_int (log.warnings->len, 1);
      text = message_text (g_ptr_array_index (log.warnings, 0));
      fail_unless (strstr (text, "ais://seqk/liar") != NULL, "%s", text);
      g_free (text);
      g_mutex_unlock (&log.lock);
      g_mutex_lock (&seq.lock);
      fail_unless (seq.eos);
      fail_unless_equals_int (seq.stream_starts, 3);
      fail_unless_equals_uint64 (seq.data[0]->len, 300000);
      fail_unless_equals_uint64 (seq.data[1]->len, 300000);
      /* the last chunk of the liar never came */
      fail_unless (seq.data[2]->len < 300000);
      fail_unless (tu_gen_cmp (22, 0, seq.data[2]->data, seq.data[2]->len) < 0);
      g_mutex_unlock (&seq.lock);
    } else {
      fail_unless (m != NULL, "no error in concat mode");
      check_error (m, GST_RESOURCE_ERROR_READ, ANY_STATUS);
      text = message_text (m);
      fail_unless (strstr (text, "ais://seqk/liar") != NULL, "%s", text);
      g_free (text);
      text = error_debug (m);
      fail_unless (strstr (text, "0123456789abcdef") != NULL, "%s", text);
      g_free (text);
      gst_message_unref (m);
      g_mutex_lock (&seq.lock);
      fail_unless (seq.data[0]->len < 600000);
      g_mutex_unlock (&seq.lock);
    }
    seq_finish (src, sinkpad, bus, &log);
  }
}

GST_END_TEST;

/* a listing page that keeps failing (after its retries): the objects
 * listed are read, then the error names the sequence; skip-errors cannot
 * skip past it */
GST_START_TEST (test_sequence_listing_fails)
{
  static const guint64 sizes[] = { 5000 };
  const Bulk b = { "seqx", "x", 30, sizes, 1, 15000 };
  guint i;

  bulk_make (&b);
  for (i = 0; i < 2; i++) {
    GstElement *src = make_src ("x");
    GstPad *sinkpad;
    GstBus *bus;
    BusLog log;
    GstMessage *m = NULL;
    GstPad *srcpad;
    gulong probe;
    gchar *text;
    gint64 deadline = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;

    tu_emu_clear_faults (&emu);
    /* the second page on, for good */
    tu_emu_fault (&emu, "{\"method\": \"LIST\", \"bucket\": \"seqx\", "
        "\"kind\": \"status\", \"code\": 503, \"nth\": 2, \"count\": -1}");
    gst_util_set_object_arg (G_OBJECT (src), "mode",
        i == 0 ? "concat" : "sequence");
    g_object_set (src, "location", "ais://seqx/", "list-page-size", 10,
        "retries", i, "skip-errors", TRUE, NULL);
    bus = own_bus (src, &log);
    sinkpad = seq_setup (src, 0);
    srcpad = gst_element_get_static_pad (src, "src");
    /* concat: the listing has failed before the read gets to the end (the
     * count of objects is final then, but the stream must not end well) */
    probe = gst_pad_add_probe (srcpad, GST_PAD_PROBE_TYPE_BLOCK |
        GST_PAD_PROBE_TYPE_BUFFER, NULL, NULL, NULL);
    tu_emu_post (&emu, "/_emu/stats/reset");
    fail_unless (gst_element_set_state (src, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    fail_unless (tu_emu_stat_wait (&emu, "proxy", "LIST", 2 + i, 10000) >=
        2 + i);
    g_usleep (200 * 1000);
    gst_pad_remove_probe (srcpad, probe);
    gst_object_unref (srcpad);
    /* basesrc posts the error, then pushes EOS */
    while (!m && g_get_monotonic_time () < deadline) {
      gboolean eos;

      g_mutex_lock (&seq.lock);
      eos = seq.eos;
      g_mutex_unlock (&seq.lock);
      m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
      if (eos)
        break;
      if (!m)
        g_usleep (10 * 1000);
    }
    fail_unless (m != NULL, "no error: the stream ended well");
    check_error (m, GST_RESOURCE_ERROR_READ, 503);
    text = message_text (m);
    fail_unless (strstr (text, "the objects under ais://seqx/") != NULL, "%s",
        text);
    g_free (text);
    gst_message_unref (m);
    g_mutex_lock (&seq.lock);
    if (i == 0) {
      /* the first page's objects, end to end */
      fail_unless_equals_uint64 (seq.data[0]->len, 10 * 5000);
    } else {
      fail_unless_equals_int (seq.stream_starts, 10);
      fail_unless_equals_uint64 (seq.data[9]->len, 5000);
    }
    g_mutex_unlock (&seq.lock);
    seq_finish (src, sinkpad, bus, &log);
  }
}

GST_END_TEST;

/* an empty prefix (or a bucket that does not exist) is an error at the
 * start that names the bucket and the prefix, not an empty stream */
GST_START_TEST (test_empty_prefix)
{
  const gchar *modes[] = { "concat", "sequence" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (modes); i++) {
    GstElement *src = make_src ("x");
    GstMessage *m;
    gchar *text;

    gst_util_set_object_arg (G_OBJECT (src), "mode", modes[i]);
    g_object_set (src, "location", "ais://gst/nothing-here/", NULL);
    m = run_until_error (src);
    check_error (m, GST_RESOURCE_ERROR_NOT_FOUND, ANY_STATUS);
    text = message_text (m);
    fail_unless (strstr (text, "ais://gst") && strstr (text, "nothing-here/"),
        "%s", text);
    g_free (text);
    gst_message_unref (m);
  }
  {
    GstElement *src = make_src ("x");
    GstMessage *m;

    g_object_set (src, "prefix", "ais://no-such-bucket/", NULL);
    m = run_until_error (src);
    check_error (m, GST_RESOURCE_ERROR_NOT_FOUND, 404);
    gst_message_unref (m);
  }
}

GST_END_TEST;

/* the URI handler: a trailing '/' is a prefix; location, prefix and
 * locations replace each other */
GST_START_TEST (test_sequence_uri_properties)
{
  GstElement *src = gst_element_factory_make ("aissrc", NULL);
  GObjectClass *klass = G_OBJECT_GET_CLASS (src);
  const gchar *list[] = { "ais://b/one", "ais://b/two", NULL };
  GError *err = NULL;
  GstElement *e;
  GParamSpec *p;
  gchar *s, **strv;
  gint mode;
  gboolean skip;

  /* URIs */
  e = gst_element_make_from_uri (GST_URI_SRC, "ais://b/clips/", NULL, &err);
  fail_unless (e != NULL, "%s", err ? err->message : "");
  g_object_get (e, "location", &s, NULL);
  fail_unless_equals_string (s, "ais://b/clips/");
  g_free (s);
  s = gst_uri_handler_get_uri (GST_URI_HANDLER (e));
  fail_unless_equals_string (s, "ais://b/clips/");
  g_free (s);
  gst_object_unref (e);
  check_uri_location (src, "ais://b/", "ais://b/");
  check_uri_location (src, "s3://b/dir%20x/", "s3://b/dir x/");
  check_location_uri (src, "ais://b/my clips/", "ais://b/my%20clips/");

  /* prefix: a URI when it ends with '/' */
  g_object_set (src, "prefix", "ais://b/clip-", NULL);
  g_object_get (src, "location", &s, NULL);
  fail_unless (s == NULL);
  fail_unless (gst_uri_handler_get_uri (GST_URI_HANDLER (src)) == NULL);
  g_object_set (src, "prefix", "ais://b/clips/", NULL);
  s = gst_uri_handler_get_uri (GST_URI_HANDLER (src));
  fail_unless_equals_string (s, "ais://b/clips/");
  g_free (s);

  /* locations: no URI; each replaces the others */
  g_object_set (src, "locations", list, NULL);
  g_object_get (src, "prefix", &s, "locations", &strv, NULL);
  fail_unless (s == NULL);
  fail_unless (g_strv_equal ((const gchar * const *) strv, list));
  g_strfreev (strv);
  fail_unless (gst_uri_handler_get_uri (GST_URI_HANDLER (src)) == NULL);
  fail_unless (gst_uri_handler_set_uri (GST_URI_HANDLER (src), "ais://b/o",
          NULL));
  g_object_get (src, "locations", &strv, NULL);
  fail_unless (strv == NULL);

  /* the properties */
  p = g_object_class_find_property (klass, "mode");
  fail_unless (G_IS_PARAM_SPEC_ENUM (p) && (p->flags &
          GST_PARAM_MUTABLE_READY));
  g_object_get (src, "mode", &mode, "skip-errors", &skip, NULL);
  fail_unless_equals_int (mode, 0);
  fail_if (skip);
  gst_util_set_object_arg (G_OBJECT (src), "mode", "sequence");
  g_object_get (src, "mode", &mode, NULL);
  fail_unless_equals_int (mode, 1);
  p = g_object_class_find_property (klass, "locations");
  fail_unless (p->value_type == G_TYPE_STRV && (p->flags &
          GST_PARAM_MUTABLE_READY));
  p = g_object_class_find_property (klass, "prefix");
  fail_unless (p && (p->flags & GST_PARAM_MUTABLE_READY));
  p = g_object_class_find_property (klass, "skip-errors");
  fail_unless (p && (p->flags & GST_PARAM_MUTABLE_READY));

  /* one object reads the same in sequence mode: pull mode too */
  {
    GstQuery *q = gst_query_new_scheduling ();

    fail_unless (gst_element_query (src, q));
    fail_unless (gst_query_has_scheduling_mode (q, GST_PAD_MODE_PULL));
    gst_query_unref (q);
  }
  gst_object_unref (src);
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

/* ---- sequence mode through decodebin ---- */

/* what reached the video sink: segments (one per clip) and the frames
 * after each */
#define CLIPS 3

static struct
{
  GMutex lock;
  guint segments;
  guint frames[CLIPS + 1];
} decoded;

static GstPadProbeReturn
count_decoded (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  g_mutex_lock (&decoded.lock);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    decoded.frames[MIN (decoded.segments, CLIPS + 1) - 1]++;
  } else if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) ==
      GST_EVENT_SEGMENT) {
    decoded.segments++;
  }
  g_mutex_unlock (&decoded.lock);
  return GST_PAD_PROBE_OK;
}

static void
count_on (GstElement * sink)
{
  GstPad *pad = gst_element_get_static_pad (sink, "sink");

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, count_decoded, NULL, NULL);
  gst_object_unref (pad);
}

/* decodebin's pads, as an application links them: each to a fakesink,
 * the video one counted */
static void
on_decoded_pad (GstElement * dbin, GstPad * pad, GstElement * pipeline)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  GstPad *sinkpad;

  fail_unless (caps != NULL);
  g_object_set (sink, "sync", FALSE, NULL);
  if (g_str_has_prefix (gst_structure_get_name (gst_caps_get_structure (caps,
                  0)), "video/"))
    count_on (sink);
  gst_caps_unref (caps);
  gst_bin_add (GST_BIN (pipeline), sink);
  sinkpad = gst_element_get_static_pad (sink, "sink");
  fail_unless (gst_pad_link (pad, sinkpad) == GST_PAD_LINK_OK);
  gst_object_unref (sinkpad);
  gst_element_sync_state_with_parent (sink);
}

static void
check_decoded (const guint * frames, const gchar * what)
{
  guint i;

  g_mutex_lock (&decoded.lock);
  fail_unless_equals_int (decoded.segments, CLIPS);
  for (i = 0; i < CLIPS; i++)
    fail_unless (decoded.frames[i] == frames[i], "%s: clip %u: %u frames, "
        "not %u", what, i, decoded.frames[i], frames[i]);
  g_mutex_unlock (&decoded.lock);
}

static void
reset_decoded (void)
{
  g_mutex_lock (&decoded.lock);
  memset (decoded.frames, 0, sizeof decoded.frames);
  decoded.segments = 0;
  g_mutex_unlock (&decoded.lock);
}

/* sequence mode: the MP4 clips under a prefix, each decoded in turn by one
 * decodebin: the frames of every clip come out, one segment per clip.  The
 * clips have an audio track too, and the second one its moov at the end. */
GST_START_TEST (test_media_sequence_mp4)
{
  const gchar *need[] = { "x264enc", "mp4mux", "avenc_aac", "qtdemux",
    "avdec_h264", NULL
  };
  const guint frames[CLIPS] = { 15, 30, 45 };
  GstElement *pipeline, *src, *dbin;
  GstMessage *m;
  GError *err = NULL;
  gchar *desc;
  guint i;

  if (!have_elements (need))
    return;
  g_mutex_init (&decoded.lock);
  media_dir = tu_mkdtemp ();
  for (i = 0; i < CLIPS; i++) {
    gchar *path = g_strdup_printf ("%s/%u.mp4", media_dir, i);
    gchar *name = g_strdup_printf ("clips/%u.mp4", i);
    gchar *data = NULL;
    gsize len = 0;

    desc = g_strdup_printf ("videotestsrc num-buffers=%u ! "
        "video/x-raw,width=160,height=120,framerate=30/1 ! x264enc "
        "key-int-max=15 speed-preset=ultrafast ! h264parse ! "
        "mp4mux name=mux faststart=%s ! filesink location=%s "
        "audiotestsrc num-buffers=%u ! audioconvert ! avenc_aac ! aacparse ! "
        "mux.", frames[i], i == 1 ? "false" : "true", path, frames[i] * 3 / 2);
    fail_unless (run_launch (desc), "cannot encode %s", path);
    fail_unless (g_file_get_contents (path, &data, &len, NULL));
    tu_emu_put (&emu, "vseq", name, data, len);
    g_free (data);
    g_free (desc);
    g_free (name);
    g_free (path);
  }
  /* not under the prefix */
  tu_emu_gen (&emu, "vseq", "clips.txt", 1000, 5, NULL);

  /* an application: every pad of decodebin linked */
  pipeline = gst_pipeline_new (NULL);
  src = make_src ("x");
  dbin = gst_element_factory_make ("decodebin", NULL);
  gst_util_set_object_arg (G_OBJECT (src), "mode", "sequence");
  g_object_set (src, "location", "ais://vseq/clips/", "chunk-size", 65536,
      "num-workers", 4, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, dbin, NULL);
  fail_unless (gst_element_link (src, dbin));
  g_signal_connect (dbin, "pad-added", G_CALLBACK (on_decoded_pad), pipeline);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipeline, GST_MESSAGE_EOS | GST_MESSAGE_ERROR,
      120 * GST_SECOND);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%s",
      m ? error_debug (m) : "no EOS within 120 s");
  gst_message_unref (m);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  check_decoded (frames, "decodebin, every pad linked");

  /* as gst-launch-1.0 links it: one pad of decodebin (the video one) */
  reset_decoded ();
  desc = g_strdup_printf ("aissrc endpoint=%s location=ais://vseq/clips/ "
      "mode=sequence ! decodebin ! videoconvert ! fakesink name=sink "
      "sync=false", emu.url);
  pipeline = gst_parse_launch (desc, &err);
  fail_unless (pipeline != NULL, "%s", err ? err->message : "");
  g_free (desc);
  {
    GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");

    count_on (sink);
    gst_object_unref (sink);
  }
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_message (pipeline, GST_MESSAGE_EOS | GST_MESSAGE_ERROR,
      120 * GST_SECOND);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%s",
      m ? error_debug (m) : "no EOS within 120 s");
  gst_message_unref (m);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  check_decoded (frames, "gst-launch-1.0 style, one pad linked");

  tu_rm_rf (media_dir);
  g_mutex_clear (&decoded.lock);
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
  tcase_add_test (tc, test_prefix_concat);
  tcase_add_test (tc, test_locations_concat);
  tcase_add_test (tc, test_prefix_concat_seek_pull);
  tcase_add_test (tc, test_sequence_mode);
  tcase_add_test (tc, test_sequence_downstream_eos);
  tcase_add_test (tc, test_sequence_flush);
  tcase_add_test (tc, test_sequence_errors);
  tcase_add_test (tc, test_sequence_checksum);
  tcase_add_test (tc, test_sequence_listing_fails);
  tcase_add_test (tc, test_empty_prefix);
  tcase_add_test (tc, test_sequence_uri_properties);

  suite_add_tcase (s, tc_media);
  tcase_add_unchecked_fixture (tc_media, emu_setup, emu_teardown);
  tcase_set_timeout (tc_media, 600);
  tcase_add_test (tc_media, test_media_mp4);
  tcase_add_test (tc_media, test_media_webm);
  tcase_add_test (tc_media, test_media_sequence_mp4);
  return s;
}

GST_CHECK_MAIN (aissrc);
