/* ais-play: an example GLib application that plays an AIStore object with
 * playbin and aissrc.
 *
 * It sets aissrc's num-workers and chunk-size in playbin's "source-setup",
 * listens on the bus for errors, progress and aissrc's object message, seeks
 * once if asked, writes a PNG of the last decoded frame and prints aissrc's
 * statistics at the end.
 *
 *   ais-play [OPTIONS] ais://BUCKET/OBJECT
 */
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  GMainLoop *loop;
  GstElement *playbin;
  GstElement *source;
  gchar *endpoint;
  guint num_workers;
  guint64 chunk_size;
  gdouble seek_to;
  gboolean seeked;
  gboolean realtime;
  gint exit_code;
} App;

static void
on_source_setup (GstElement * playbin, GstElement * source, App * app)
{
  if (g_strcmp0 (G_OBJECT_TYPE_NAME (source), "GstAisSrc") != 0) {
    g_printerr ("the source is %s, not aissrc\n", G_OBJECT_TYPE_NAME (source));
    return;
  }
  gst_object_replace ((GstObject **) & app->source, GST_OBJECT (source));
  g_object_set (source, "num-workers", app->num_workers,
      "chunk-size", (guint) app->chunk_size, NULL);
  if (app->endpoint)
    g_object_set (source, "endpoint", app->endpoint, NULL);
}

static void
print_stats (App * app)
{
  GstStructure *s = NULL;
  guint64 bytes = 0, ranges = 0, retries = 0, redirects = 0;
  gdouble throughput = 0, elapsed = 0;
  guint workers = 0;

  if (!app->source)
    return;
  g_object_get (app->source, "stats", &s, NULL);
  if (!s)
    return;
  gst_structure_get_uint64 (s, "bytes", &bytes);
  gst_structure_get_uint64 (s, "ranges", &ranges);
  gst_structure_get_uint64 (s, "retries", &retries);
  gst_structure_get_uint64 (s, "redirects", &redirects);
  gst_structure_get_double (s, "throughput", &throughput);
  gst_structure_get_double (s, "elapsed", &elapsed);
  gst_structure_get_uint (s, "num-workers", &workers);
  g_print ("aissrc stats: %" G_GUINT64_FORMAT " bytes in %" G_GUINT64_FORMAT
      " ranges by %u workers, %.1f MB/s, %" G_GUINT64_FORMAT " retries, %"
      G_GUINT64_FORMAT " redirects, %.2f s\n", bytes, ranges, workers,
      throughput / 1e6, retries, redirects, elapsed);
  gst_structure_free (s);
}

static gboolean
write_snapshot (App * app, const gchar * path)
{
  GstSample *last = NULL, *png = NULL;
  GstCaps *caps;
  GstMapInfo map;
  gboolean ok = FALSE;

  g_object_get (app->playbin, "sample", &last, NULL);
  if (!last) {
    g_printerr ("no decoded frame to snapshot\n");
    return FALSE;
  }
  caps = gst_caps_from_string ("image/png");
  g_signal_emit_by_name (app->playbin, "convert-sample", caps, &png);
  gst_caps_unref (caps);
  gst_sample_unref (last);
  if (!png) {
    g_printerr ("could not convert the frame to PNG\n");
    return FALSE;
  }
  if (gst_buffer_map (gst_sample_get_buffer (png), &map, GST_MAP_READ)) {
    GError *err = NULL;

    ok = g_file_set_contents (path, (const gchar *) map.data, map.size, &err);
    if (ok)
      g_print ("wrote a decoded frame to %s (%" G_GSIZE_FORMAT " bytes)\n",
          path, map.size);
    else {
      g_printerr ("%s\n", err->message);
      g_error_free (err);
    }
    gst_buffer_unmap (gst_sample_get_buffer (png), &map);
  }
  gst_sample_unref (png);
  return ok;
}

static gboolean
on_progress (App * app)
{
  gint64 pos = -1, dur = -1;

  if (gst_element_query_position (app->playbin, GST_FORMAT_TIME, &pos)
      && gst_element_query_duration (app->playbin, GST_FORMAT_TIME, &dur)
      && dur > 0)
    g_print ("position %" GST_TIME_FORMAT " / %" GST_TIME_FORMAT "\r",
        GST_TIME_ARGS (pos), GST_TIME_ARGS (dur));
  return G_SOURCE_CONTINUE;
}

static gboolean
on_bus (GstBus * bus, GstMessage * msg, App * app)
{
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:{
      GError *err = NULL;
      gchar *dbg = NULL;

      gst_message_parse_error (msg, &err, &dbg);
      g_printerr ("error from %s: %s\n%s\n", GST_OBJECT_NAME (msg->src),
          err->message, dbg ? dbg : "");
      g_clear_error (&err);
      g_free (dbg);
      app->exit_code = 1;
      g_main_loop_quit (app->loop);
      break;
    }
    case GST_MESSAGE_EOS:
      g_print ("\nend of stream\n");
      g_main_loop_quit (app->loop);
      break;
    case GST_MESSAGE_ELEMENT:{
      const GstStructure *s = gst_message_get_structure (msg);

      if (gst_structure_has_name (s, "aissrc-object")) {
        guint64 size = 0;

        gst_structure_get_uint64 (s, "size", &size);
        g_print ("object %s: %" G_GUINT64_FORMAT " bytes, version %s, %s %s\n"
            "  served by %s\n", gst_structure_get_string (s, "location"), size,
            gst_structure_get_string (s, "version"),
            gst_structure_get_string (s, "checksum-type"),
            gst_structure_get_string (s, "checksum-value"),
            gst_structure_get_string (s, "target"));
      }
      break;
    }
    case GST_MESSAGE_ASYNC_DONE:
      if (app->seek_to > 0 && !app->seeked) {
        app->seeked = TRUE;
        g_print ("seeking to %.1f s\n", app->seek_to);
        gst_element_seek_simple (app->playbin, GST_FORMAT_TIME,
            GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_KEY_UNIT,
            (gint64) (app->seek_to * GST_SECOND));
      }
      break;
    default:
      break;
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  App app = { 0 };
  gchar *snapshot = NULL;
  gint num_workers = 8;
  gint64 chunk_size = 0;
  GError *err = NULL;
  GOptionContext *ctx;
  GstElement *vsink, *asink;
  GstBus *bus;
  guint progress_id;
  GOptionEntry entries[] = {
    {"endpoint", 'e', 0, G_OPTION_ARG_STRING, &app.endpoint,
        "AIStore endpoint (default: $AIS_ENDPOINT, else http://127.0.0.1:8080)",
        "URL"},
    {"num-workers", 'n', 0, G_OPTION_ARG_INT, &num_workers,
        "Parallel range readers (default 8)", "N"},
    {"chunk-size", 'c', 0, G_OPTION_ARG_INT64, &chunk_size,
        "Bytes per range; 0 = the object's own chunk size, else 8 MiB", "BYTES"},
    {"seek-to", 's', 0, G_OPTION_ARG_DOUBLE, &app.seek_to,
        "Seek to this position (seconds) once playback has started", "SECONDS"},
    {"snapshot", 'o', 0, G_OPTION_ARG_FILENAME, &snapshot,
        "Write the last decoded frame as PNG", "FILE"},
    {"realtime", 'r', 0, G_OPTION_ARG_NONE, &app.realtime,
        "Play at normal speed (default: as fast as possible)", NULL},
    {NULL}
  };

  ctx = g_option_context_new ("ais://BUCKET/OBJECT - play an AIStore object");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err) || argc != 2) {
    g_printerr ("%s\n", err ? err->message : "expected one ais:// URI");
    g_printerr ("%s", g_option_context_get_help (ctx, TRUE, NULL));
    g_clear_error (&err);
    g_option_context_free (ctx);
    return 2;
  }
  g_option_context_free (ctx);
  if (num_workers < 1 || num_workers > 256 || chunk_size < 0
      || chunk_size > 256 * 1024 * 1024) {
    g_printerr ("num-workers must be 1..256 and chunk-size 0..268435456\n");
    return 2;
  }
  app.num_workers = (guint) num_workers;
  app.chunk_size = (guint64) chunk_size;

  app.playbin = gst_element_factory_make ("playbin", NULL);
  vsink = gst_element_factory_make ("fakesink", "video-sink");
  asink = gst_element_factory_make ("fakesink", "audio-sink");
  if (!app.playbin || !vsink || !asink) {
    g_printerr ("playbin or fakesink is missing (gstreamer1.0-plugins-base)\n");
    return 1;
  }
  g_object_set (vsink, "sync", app.realtime, NULL);
  g_object_set (asink, "sync", app.realtime, NULL);
  g_object_set (app.playbin, "uri", argv[1], "video-sink", vsink,
      "audio-sink", asink, NULL);
  g_signal_connect (app.playbin, "source-setup", G_CALLBACK (on_source_setup),
      &app);

  app.loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (app.playbin);
  gst_bus_add_watch (bus, (GstBusFunc) on_bus, &app);
  progress_id = g_timeout_add (500, (GSourceFunc) on_progress, &app);

  if (gst_element_set_state (app.playbin,
          GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    app.exit_code = 1;
  g_main_loop_run (app.loop);

  print_stats (&app);
  if (snapshot && app.exit_code == 0 && !write_snapshot (&app, snapshot))
    app.exit_code = 1;

  g_source_remove (progress_id);
  gst_element_set_state (app.playbin, GST_STATE_NULL);
  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_replace ((GstObject **) & app.source, NULL);
  gst_object_unref (app.playbin);
  g_main_loop_unref (app.loop);
  g_free (app.endpoint);
  g_free (snapshot);
  gst_deinit ();
  return app.exit_code;
}
