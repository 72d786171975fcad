/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the profile parser and the trace parsers: any input is rejected with
 * file:line or parses; a parsed profile formats back to the same bytes.
 */
#include "formats/profile.h"
#include "formats/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	HfcProfile *p = NULL;
	HfcErr err = { "" };
	int r = hfc_profile_parse((const char *)data, size, "fuzz", &p, &err);
	if (r == 0) {
		char *buf;
		size_t len;
		if (hfc_profile_format(p, &buf, &len) < 0 || len != size || memcmp(buf, data, size))
			abort();
		free(buf);
		hfc_profile_free(p);
	} else if (r != -ENOMEM && (r != -EBADMSG || strncmp(err.msg, "fuzz:", 5) != 0)) {
		abort();
	}
	for (int f = HFC_TRACE_AUTO; f <= HFC_TRACE_SECTORS; f++) {
		HfcTraceRun run;
		uint32_t v;
		r = hfc_trace_parse((const char *)data, size, "fuzz", (HfcTraceFormat)f, 1 << 20, 4096,
				    &run, &v, &err);
		if (r == 0) {
			for (size_t i = 0; i < run.n; i++)
				if (run.blocks[i] >= 256 || (i && run.blocks[i] <= run.blocks[i - 1]))
					abort();
			hfc_trace_run_done(&run);
		} else if (r != -ENOMEM && r != -EBADMSG) {
			abort();
		}
	}
	return 0;
}
