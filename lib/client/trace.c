/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The --trace of a remote image: one line per block read (docs/FORMAT.md §9), the raw material
 * of DLAHEAD profiles. Lines are written as reads end, under a lock of their own.
 */
#include "client/remote-private.h"

#include "base/clock.h"

#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int remote_trace_open(HfcRemote *r, HfcErr *err)
{
	/*
	 * Never through a symbolic link (it would truncate whatever it points to); a regular file
	 * is truncated, and a device or FIFO named itself is written as it is.
	 */
	const char *path = r->o.trace_path;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0644);
	int k = fd < 0 ? negative_errno() : 0;
	struct stat st;
	if (k == 0 && fstat(fd, &st) < 0)
		k = negative_errno();
	if (k == 0 && S_ISREG(st.st_mode) && ftruncate(fd, 0) < 0)
		k = negative_errno();
	if (k == 0 && !(r->trace = fdopen(fd, "w")))
		k = negative_errno();
	if (k < 0) {
		if (fd >= 0)
			close(fd);
		if (k == -ELOOP)
			return hfc_err_set(err, k, "%s: a symbolic link: refused (the trace is written "
						   "only to a file named itself)",
					   path);
		return hfc_err_set(err, k, "%s: %s", path, strerror(-k));
	}
	fprintf(r->trace, "# hfc-trace 1 version %u image-size %" PRIu64 " block-size %u\n",
		r->idx->version, r->idx->image_size, r->idx->block_size);
	return 0;
}

void remote_trace_line(HfcRemote *r, uint64_t block, bool hit, uint64_t bytes, double t_start)
{
	if (!r->trace)
		return;
	double now = hfc_monotonic();
	pthread_mutex_lock(&r->trace_lock);
	fprintf(r->trace, "%" PRIu64 " %" PRIu64 " %s %" PRIu64 " %" PRIu64 "\n",
		(uint64_t)((t_start - r->t0) * 1e6), block, hit ? "hit" : "miss", bytes,
		(uint64_t)((now - t_start) * 1e6));
	pthread_mutex_unlock(&r->trace_lock);
}

void remote_trace_flush(HfcRemote *r)
{
	if (!r->trace)
		return;
	pthread_mutex_lock(&r->trace_lock);
	fflush(r->trace);
	pthread_mutex_unlock(&r->trace_lock);
}

void remote_trace_close(HfcRemote *r)
{
	if (r->trace)
		fclose(r->trace);
	r->trace = NULL;
}
