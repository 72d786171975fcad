/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* hfc-publish's output: the report of a run and the status table, as text or JSON. */

#include "programs/cli.h"
#include "publish/publish.h"

/*
 * Prints the report of a run to stdout: a line per selected mirror and a summary, or one JSON
 * object with out->json; nothing but bad block lines with out->quiet. Returns 0 or -errno.
 */
int publish_print_report(const HfcPublishConfig *c, const HfcPublishOptions *o,
			 const HfcOutArgs *out, const HfcPublishResult *res);

/* Prints the status table (or its JSON) to stdout. Returns 0 or -errno. */
int publish_print_status(const HfcPublishConfig *c, const HfcOutArgs *out,
			 const HfcPublishStatus *st);

/*
 * Logs one error line per selected mirror that failed ("prog: NAME: STEP: what"). Returns 0, or
 * -EIO when one did.
 */
int publish_log_report_failures(const HfcPublishConfig *c, const HfcPublishResult *res);

/* Logs one error line per selected mirror that could not be asked. Returns 0 or -EIO. */
int publish_log_status_failures(const HfcPublishConfig *c, const HfcPublishStatus *st);
