/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

double hfc_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

void hfc_progress_start(HfcProgress *p, const char *what, uint64_t total, bool want)
{
	*p = (HfcProgress){ .what = what, .total = total };
	p->enabled = want && isatty(STDERR_FILENO);
	p->start = p->last = hfc_monotonic();
	struct winsize ws;
	p->width = 80;
	if (p->enabled && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		p->width = ws.ws_col;
}

void hfc_progress_update(HfcProgress *p, uint64_t done)
{
	if (!p->enabled)
		return;
	double now = hfc_monotonic();
	if (now - p->last < 0.1 && done < p->total)
		return;
	p->last = now;
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
	int bar = p->width - (int)strlen(p->what) - (int)snprintf(NULL, 0, "%s", tail) - 5;
	if (bar < 10)
		bar = 10;
	int fill = (int)(frac * bar);
	fprintf(stderr, "\r%s [", p->what);
	for (int i = 0; i < bar; i++)
		fputc(i < fill ? '#' : '.', stderr);
	fprintf(stderr, "]%s", tail);
	fflush(stderr);
}

void hfc_progress_end(HfcProgress *p)
{
	if (!p->enabled)
		return;
	fprintf(stderr, "\r%*s\r", p->width - 1, "");
	fflush(stderr);
	p->enabled = false;
}
