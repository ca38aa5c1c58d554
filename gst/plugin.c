/* The GStreamer plugin "aistore": the element aissrc. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstaissrc.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  return GST_ELEMENT_REGISTER (aissrc, plugin);
}

/* The project is Apache-2.0, which is not in GStreamer's list of plugin
 * licenses; GST_LICENSE_UNKNOWN is its marker for "some other license". */
GST_PLUGIN_DEFINE (GST_VERSION_MAJOR,
    GST_VERSION_MINOR,
    aistore,
    "Reads objects from AIStore clusters with parallel range requests",
    plugin_init, VERSION, GST_LICENSE_UNKNOWN, PACKAGE_NAME,
    GST_PACKAGE_ORIGIN)
