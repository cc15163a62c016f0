// FFmpeg's log callback for audex: formats with a bound (go-astiav's own
// callback uses vsprintf into a fixed buffer, which a long line built from
// input-controlled strings would overflow) and hands the line to Go.
#include <stdarg.h>
#include <stdio.h>
#include <libavutil/log.h>
#include "_cgo_export.h"

static void audex_log_callback(void *ptr, int level, const char *fmt, va_list vl)
{
	if (level > av_log_get_level() || ptr == NULL)
		return;
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, vl);
	// The item name says which demuxer, decoder or encoder it was ("mov",
	// "aac"), where the class name would only say "AVFormatContext".
	AVClass *avc = *(AVClass **)ptr;
	const char *name = "";
	if (avc)
		name = avc->item_name ? avc->item_name(ptr) : avc->class_name;
	audexLogLine(ptr, level, (char *)name, msg);
}

void audex_set_log_callback(void)
{
	av_log_set_callback(audex_log_callback);
}
