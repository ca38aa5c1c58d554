/* gstprobe: run a GStreamer pipeline as gst-launch-1.0 would, and time it.
 *
 *   gstprobe [--seek-after BYTES --seek-to OFFSET] [--timeout SECONDS] 'DESCRIPTION'
 *
 * DESCRIPTION must end in a sink named "sink" (e.g. "... ! fakesink name=sink").
 * A probe on the sink's pad counts buffers and bytes and notes when the first
 * buffer arrives.  With --seek-after, once that many bytes have arrived the
 * main thread sends a flushing byte seek to OFFSET and the probe times the
 * first buffer after the flush (then the program stops).
 *
 * Prints one JSON object on stdout: t_first_ns and t_end_ns (CLOCK_MONOTONIC),
 * bytes, buffers, seek_ms (-1 without a seek), seek_offset (the first buffer's
 * offset after the seek), error ("" if none).
 */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static guint64 now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (guint64)ts.tv_sec * 1000000000u + (guint64)ts.tv_nsec;
}

typedef struct {
  GstElement *pipeline;
  GMainLoop *loop;
  guint64 seek_after, seek_to;
  gboolean want_seek;
  /* written by the streaming thread */
  guint64 t_first, bytes, buffers;
  gint seek_requested;  /* atomic: the streaming thread asked the main thread to seek */
  gint flushed;         /* atomic: FLUSH_STOP seen after the seek */
  guint64 t_seek, t_seek_first, seek_offset;
  gint seek_done;
  char error[512];
} probe_t;

static gboolean do_seek(gpointer data)
{
  probe_t *p = data;
  p->t_seek = now_ns();
  if (!gst_element_seek_simple(p->pipeline, GST_FORMAT_BYTES, GST_SEEK_FLAG_FLUSH,
                               (gint64)p->seek_to)) {
    snprintf(p->error, sizeof p->error, "the seek to %" G_GUINT64_FORMAT " failed", p->seek_to);
    g_main_loop_quit(p->loop);
  }
  return G_SOURCE_REMOVE;
}

static gboolean quit_cb(gpointer data)
{
  g_main_loop_quit(((probe_t *)data)->loop);
  return G_SOURCE_REMOVE;
}

static GstPadProbeReturn on_data(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  probe_t *p = data;
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_FLUSH) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(ev) == GST_EVENT_FLUSH_STOP && g_atomic_int_get(&p->seek_requested))
      g_atomic_int_set(&p->flushed, 1);
    return GST_PAD_PROBE_OK;
  }
  guint64 n = 0, nb = 0, off = GST_BUFFER_OFFSET_NONE;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
    n = gst_buffer_get_size(b);
    nb = 1;
    off = GST_BUFFER_OFFSET(b);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *l = GST_PAD_PROBE_INFO_BUFFER_LIST(info);
    n = gst_buffer_list_calculate_size(l);
    nb = gst_buffer_list_length(l);
    if (nb)
      off = GST_BUFFER_OFFSET(gst_buffer_list_get(l, 0));
  }
  if (!nb)
    return GST_PAD_PROBE_OK;
  guint64 t = now_ns();
  if (!p->t_first)
    p->t_first = t;
  p->bytes += n;
  p->buffers += nb;
  if (p->want_seek && !g_atomic_int_get(&p->seek_requested) && p->bytes >= p->seek_after) {
    g_atomic_int_set(&p->seek_requested, 1);
    g_idle_add(do_seek, p);
  }
  if (g_atomic_int_get(&p->flushed) && !p->seek_done) {
    p->seek_done = 1;
    p->t_seek_first = t;
    p->seek_offset = off;
    g_idle_add(quit_cb, p);
  }
  return GST_PAD_PROBE_OK;
}

static gboolean on_bus(GstBus *bus, GstMessage *m, gpointer data)
{
  probe_t *p = data;
  switch (GST_MESSAGE_TYPE(m)) {
  case GST_MESSAGE_EOS:
    g_main_loop_quit(p->loop);
    break;
  case GST_MESSAGE_ERROR: {
    GError *e = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error(m, &e, &dbg);
    snprintf(p->error, sizeof p->error, "%s", e ? e->message : "error");
    g_clear_error(&e);
    g_free(dbg);
    g_main_loop_quit(p->loop);
    break;
  }
  default:
    break;
  }
  return TRUE;
}

static gboolean on_timeout(gpointer data)
{
  probe_t *p = data;
  snprintf(p->error, sizeof p->error, "timeout");
  g_main_loop_quit(p->loop);
  return G_SOURCE_REMOVE;
}

static void json_str(const char *s)
{
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", *s);
    else
      putchar(*s);
  }
  putchar('"');
}

int main(int argc, char **argv)
{
  probe_t p;
  memset(&p, 0, sizeof p);
  double timeout = 600;
  const char *desc = NULL;
  gst_init(&argc, &argv);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--seek-after") && i + 1 < argc) {
      p.seek_after = g_ascii_strtoull(argv[++i], NULL, 10);
      p.want_seek = TRUE;
    } else if (!strcmp(argv[i], "--seek-to") && i + 1 < argc) {
      p.seek_to = g_ascii_strtoull(argv[++i], NULL, 10);
    } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
      timeout = g_ascii_strtod(argv[++i], NULL);
    } else {
      desc = argv[i];
    }
  }
  if (!desc) {
    fprintf(stderr, "usage: gstprobe [--seek-after B --seek-to OFF] [--timeout S] 'PIPELINE ! fakesink name=sink'\n");
    return 2;
  }
  GError *e = NULL;
  p.pipeline = gst_parse_launch(desc, &e);
  if (!p.pipeline || e) {
    fprintf(stderr, "gstprobe: %s\n", e ? e->message : "cannot build the pipeline");
    return 2;
  }
  GstElement *sink = gst_bin_get_by_name(GST_BIN(p.pipeline), "sink");
  if (!sink) {
    fprintf(stderr, "gstprobe: no element named sink\n");
    return 2;
  }
  GstPad *pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(pad,
                    GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                        GST_PAD_PROBE_TYPE_EVENT_FLUSH,
                    on_data, &p, NULL);
  gst_object_unref(pad);
  gst_object_unref(sink);
  p.loop = g_main_loop_new(NULL, FALSE);
  GstBus *bus = gst_element_get_bus(p.pipeline);
  gst_bus_add_watch(bus, on_bus, &p);
  gst_object_unref(bus);
  g_timeout_add((guint)(timeout * 1000), on_timeout, &p);
  if (gst_element_set_state(p.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    snprintf(p.error, sizeof p.error, "the pipeline cannot go to PLAYING");
  else
    g_main_loop_run(p.loop);
  guint64 t_end = now_ns();
  gst_element_set_state(p.pipeline, GST_STATE_NULL);
  if (p.want_seek && !p.seek_done && !p.error[0])
    snprintf(p.error, sizeof p.error, "no buffer after the seek");
  printf("{\"t_first_ns\":%" G_GUINT64_FORMAT ",\"t_end_ns\":%" G_GUINT64_FORMAT
         ",\"bytes\":%" G_GUINT64_FORMAT ",\"buffers\":%" G_GUINT64_FORMAT ",\"seek_ms\":%.3f"
         ",\"seek_offset\":%" G_GINT64_FORMAT ",\"error\":",
         p.t_first, t_end, p.bytes, p.buffers,
         p.seek_done ? (double)(p.t_seek_first - p.t_seek) / 1e6 : -1.0,
         p.seek_done && p.seek_offset != GST_BUFFER_OFFSET_NONE ? (gint64)p.seek_offset : (gint64)-1);
  json_str(p.error);
  printf("}\n");
  gst_object_unref(p.pipeline);
  g_main_loop_unref(p.loop);
  return p.error[0] ? 1 : 0;
}
