/* GStreamer AIStore source element: aissrc. */
#ifndef __GST_AIS_SRC_H__
#define __GST_AIS_SRC_H__

#include <gst/gst.h>
#include <gst/base/gstbasesrc.h>

G_BEGIN_DECLS

/**
 * GstAisSrcWorkerMode:
 * @GST_AIS_SRC_WORKER_MODE_PROCESS: workers are helper processes
 * @GST_AIS_SRC_WORKER_MODE_THREAD: workers are threads of the application
 *
 * How aissrc runs its download workers.
 */
typedef enum
{
  GST_AIS_SRC_WORKER_MODE_PROCESS = 0,
  GST_AIS_SRC_WORKER_MODE_THREAD = 1,
} GstAisSrcWorkerMode;

#define GST_TYPE_AIS_SRC_WORKER_MODE (gst_ais_src_worker_mode_get_type ())
GType gst_ais_src_worker_mode_get_type (void);

/**
 * GstAisSrcMode:
 * @GST_AIS_SRC_MODE_CONCAT: the objects end to end, as one byte stream
 * @GST_AIS_SRC_MODE_SEQUENCE: each object a stream of its own
 *
 * How aissrc hands downstream the objects of a prefix or a list.
 */
typedef enum
{
  GST_AIS_SRC_MODE_CONCAT = 0,
  GST_AIS_SRC_MODE_SEQUENCE = 1,
} GstAisSrcMode;

#define GST_TYPE_AIS_SRC_MODE (gst_ais_src_mode_get_type ())
GType gst_ais_src_mode_get_type (void);

#define GST_TYPE_AIS_SRC (gst_ais_src_get_type ())
G_DECLARE_FINAL_TYPE (GstAisSrc, gst_ais_src, GST, AIS_SRC, GstBaseSrc)

GST_ELEMENT_REGISTER_DECLARE (aissrc);

G_END_DECLS

#endif /* __GST_AIS_SRC_H__ */
