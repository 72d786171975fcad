/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "programs/progress.h"

#include "base/clock.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

void hfc_format_bytes(uint64_t n, char *out, size_t outlen)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outlen, "%llu B", (unsigned long long)n);
	else
		snprintf(out, outlen, "%.1f %s", v, units[u]);
}

static void draw(HfcProgressBar *p, uint64_t done, double now)
{
	double frac = p->total ? (double)done / (double)p->total : 1.0;
	if (frac > 1)
		frac = 1;
	double el = now - p->start;
	double rate = el > 0 ? (double)done / el : 0;
	char tail[96], sz[32];
	hfc_format_bytes(done, sz, sizeof(sz));
	int eta = rate > 0 ? (int)((double)(p->total - MIN(done, p->total)) / rate) : 0;
	snprintf(tail, sizeof(tail), " %3d%% %s %.1f MB/s ETA %d:%02d", (int)(frac * 100), sz,
		 rate / 1e6, eta / 60, eta % 60);
	int bar = p->width - (int)strlen(p->what) - (int)strlen(tail) - 5;
	if (bar < 10)
		bar = 10;
	int fill = (int)(frac * bar);
	fprintf(stderr, "\r%s [", p->what);
	for (int i = 0; i < bar; i++)
		fputc(i < fill ? '#' : '.', stderr);
	fprintf(stderr, "]%s", tail);
	fflush(stderr);
}

static void bar_update(void *userdata, const char *what, uint64_t done, uint64_t total)
{
	HfcProgressBar *p = userdata;
	double now = hfc_monotonic();
	if (!p->what || strcmp(p->what, what) != 0 || total != p->total) {
		/* A new phase: the rate and the ETA start again. */
		p->what = what;
		p->total = total;
		p->start = now;
		p->last = 0;
	}
	if (now - p->last < 0.1 && done < total)
		return;
	p->last = now;
	draw(p, done, now);
}

HfcProgress hfc_progress_bar(HfcProgressBar *bar, bool want)
{
	*bar = (HfcProgressBar){ .width = 80 };
	bar->enabled = want && isatty(STDERR_FILENO);
	struct winsize ws;
	if (bar->enabled && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		bar->width = ws.ws_col;
	return (HfcProgress){ .fn = bar->enabled ? bar_update : NULL, .userdata = bar };
}

void hfc_progress_bar_end(HfcProgressBar *bar)
{
	if (!bar->enabled)
		return;
	fprintf(stderr, "\r%*s\r", bar->width - 1, "");
	fflush(stderr);
	bar->enabled = false;
}
