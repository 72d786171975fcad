/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/fileio.h"

#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void (*hfc_fileio_before_rename_hook)(const char *tmpname);

/* Writes all of buf, at offset when off >= 0 (pwrite), else at the file position. */
static int write_loop(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = off >= 0 ? pwrite(fd, p, len, off) : write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		if (off >= 0)
			off += n;
	}
	return 0;
}

int hfc_write_all(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, -1);
}

int hfc_pwrite_all(int fd, const void *buf, size_t len, off_t offset)
{
	return offset < 0 ? -EINVAL : write_loop(fd, buf, len, offset);
}

/* One read (at off when off >= 0), retried on EINTR; returns bytes (0 at the end) or -errno. */
static ssize_t read_once(int fd, void *buf, size_t len, off_t off)
{
	for (;;) {
		ssize_t n = off >= 0 ? pread(fd, buf, len, off) : read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return negative_errno();
	}
}

ssize_t hfc_pread_all(int fd, void *buf, size_t len, off_t offset)
{
	char *p = buf;
	size_t done = 0;
	while (done < len) {
		ssize_t n = read_once(fd, p + done, len - done, offset + (off_t)done);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * Reads fd to its end into a new NUL-terminated buffer, starting with room for cap bytes and
 * never holding more than max: a longer input is -EFBIG (found by reading one byte past max).
 */
static int read_to_end(int fd, size_t max, size_t cap, char **ret_buf, size_t *ret_len)
{
	cap = MIN(MAX(cap, (size_t)1), max) + 1;
	_cleanup_free_ char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	size_t len = 0;
	for (;;) {
		if (len == cap - 1) {
			if (len >= max) {
				/* Exactly max bytes so far: fine only if nothing follows. */
				char probe;
				ssize_t k = read_once(fd, &probe, 1, -1);
				if (k < 0)
					return (int)k;
				if (k > 0)
					return -EFBIG;
				break;
			}
			size_t ncap = MIN(cap * 2, max + 1);
			char *nb = realloc(buf, ncap);
			if (!nb)
				return -ENOMEM;
			buf = nb;
			cap = ncap;
		}
		ssize_t n = read_once(fd, buf + len, cap - 1 - len, -1);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int hfc_read_file_at(int dirfd, const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	/* O_NONBLOCK: opening a FIFO planted under an index's name must not hang. */
	_cleanup_close_ int fd =
		openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	struct stat st;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	/* Read to EOF, not st_size: the file may change underneath; never past max. */
	return read_to_end(fd, max, (size_t)st.st_size, ret_buf, ret_len);
}

int hfc_read_input(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	bool is_stdin = strcmp(path, "-") == 0;
	int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	struct stat st;
	int r = fstat(fd, &st) < 0 ? negative_errno() : S_ISDIR(st.st_mode) ? -EISDIR : 0;
	if (r >= 0)
		r = read_to_end(fd, max, 65536, ret_buf, ret_len);
	if (!is_stdin)
		close(fd);
	return r;
}

void hfc_tmp_name(const char *name, char *out, size_t outlen)
{
	static atomic_uint counter;
	unsigned n = atomic_fetch_add(&counter, 1);
	snprintf(out, outlen, ".%s.tmp.%ld.%u", name, (long)getpid(), n);
}

void hfc_tmp_name_pid(const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, ".%s.tmp.%ld", name, (long)getpid());
}

bool hfc_is_tmp_name(const char *name)
{
	return name[0] == '.' && strstr(name, ".tmp.") != NULL;
}

int hfc_fsync_fd(int fd)
{
	if (fsync(fd) < 0)
		return negative_errno();
	return 0;
}

int hfc_install_tmp_at(int dirfd, int fd, const char *tmp, const char *name, unsigned flags)
{
	int r = 0;
	if (!(flags & HFC_INSTALL_NOSYNC) && fd >= 0)
		r = hfc_fsync_fd(fd);
	if (r >= 0 && hfc_fileio_before_rename_hook)
		hfc_fileio_before_rename_hook(tmp);
	if (r >= 0 && renameat2(dirfd, tmp, dirfd, name,
				flags & HFC_INSTALL_NOREPLACE ? RENAME_NOREPLACE : 0) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return flags & HFC_INSTALL_NOSYNC ? 0 : hfc_fsync_fd(dirfd);
}

int hfc_install_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		   unsigned flags)
{
	char tmp[NAME_MAX + 1];
	hfc_tmp_name(name, tmp, sizeof(tmp));
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return negative_errno();
	int r = hfc_write_all(fd, data, len);
	if (r >= 0 && !(flags & HFC_INSTALL_NOSYNC))
		r = hfc_fsync_fd(fd);
	if (close(fd) < 0 && r >= 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return hfc_install_tmp_at(dirfd, -1, tmp, name, flags);
}

int hfc_mkdir_p(const char *path)
{
	return hfc_mkdir_p_mode(path, 0755);
}

int hfc_mkdir_p_mode(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == 0) {
			char c = *p;
			*p = 0;
			if (mkdir(buf, c == 0 ? mode : 0755) < 0 && errno != EEXIST)
				return negative_errno();
			*p = c;
			if (c == 0)
				break;
		}
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return negative_errno();
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int hfc_output_open(const char *path, HfcOutput *o)
{
	*o = (HfcOutput){ .fd = -1, .dirfd = -1 };
	o->display = strdup(strcmp(path, "-") == 0 ? "stdout" : path);
	if (!o->display)
		return -ENOMEM;
	if (strcmp(path, "-") == 0) {
		o->fd = STDOUT_FILENO;
		return 0;
	}
	/*
	 * A device is written in place only when it is named itself: a link to one (left where an
	 * output file is expected, or planted) is refused, a link to anything else is replaced.
	 */
	struct stat st;
	bool exists = lstat(path, &st) == 0;
	if (exists && S_ISLNK(st.st_mode)) {
		struct stat target;
		if (stat(path, &target) == 0 && (S_ISBLK(target.st_mode) || S_ISCHR(target.st_mode)))
			return -ELOOP;
	} else if (exists && (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode))) {
		o->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
		if (o->fd < 0)
			return negative_errno();
		o->seekable = S_ISBLK(st.st_mode);
		return 0;
	}
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	char *slash = strrchr(copy, '/');
	const char *dir = ".", *base = copy;
	if (slash) {
		*slash = 0;
		dir = slash == copy ? "/" : copy;
		base = slash + 1;
	}
	if (!*base)
		return -EISDIR;
	o->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->dirfd < 0)
		return negative_errno();
	o->name = strdup(base);
	char tmp[NAME_MAX + 1];
	hfc_tmp_name(base, tmp, sizeof(tmp));
	o->tmp = strdup(tmp);
	if (!o->name || !o->tmp)
		return -ENOMEM;
	o->fd = openat(o->dirfd, o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (o->fd < 0)
		return negative_errno();
	o->is_tmp = true;
	o->seekable = true;
	return 0;
}

int hfc_output_commit(HfcOutput *o, uint64_t size)
{
	int r = 0;
	if (o->is_tmp) {
		if (ftruncate(o->fd, (off_t)size) < 0)
			return negative_errno();
		r = hfc_fsync_fd(o->fd);
		if (r < 0)
			return r;
		if (close(o->fd) < 0) {
			o->fd = -1;
			return negative_errno();
		}
		o->fd = -1;
		o->is_tmp = false; /* installed, or removed on failure */
		r = hfc_install_tmp_at(o->dirfd, -1, o->tmp, o->name, 0);
	} else if (o->fd == STDOUT_FILENO) {
		o->fd = -1;
	} else if (o->fd >= 0) {
		if (o->seekable)
			r = hfc_fsync_fd(o->fd);
		if (close(o->fd) < 0 && r >= 0)
			r = negative_errno();
		o->fd = -1;
	}
	return r;
}

void hfc_output_discard(HfcOutput *o)
{
	if (o->fd >= 0 && o->fd != STDOUT_FILENO)
		close(o->fd);
	if (o->is_tmp && o->dirfd >= 0)
		(void)unlinkat(o->dirfd, o->tmp, 0);
	if (o->dirfd >= 0)
		close(o->dirfd);
	free(o->name);
	free(o->tmp);
	free(o->display);
	*o = (HfcOutput){ .fd = -1, .dirfd = -1 };
}
