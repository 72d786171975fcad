/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "publish/rsync.h"

#include "base/clock.h"

#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

extern char **environ;

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A host name, an IPv4 address or a bracketed IPv6 address, up to end. */
static bool host_ok(const char *s, const char *end)
{
	if (s >= end || end - s > 253)
		return false;
	if (*s == '[') {
		if (end[-1] != ']' || end - s < 4)
			return false;
		for (const char *p = s + 1; p < end - 1; p++)
			if (!(is_alnum(*p) || *p == ':' || *p == '.'))
				return false;
		return true;
	}
	if (*s == '-' || *s == '.')
		return false;
	for (const char *p = s; p < end; p++)
		if (!(is_alnum(*p) || *p == '-' || *p == '.'))
			return false;
	return true;
}

static bool user_ok(const char *s, const char *end)
{
	if (s >= end || end - s > 64 || *s == '-')
		return false;
	for (const char *p = s; p < end; p++)
		if (!(is_alnum(*p) || *p == '-' || *p == '.' || *p == '_'))
			return false;
	return true;
}

/*
 * A path on another machine. A remote shell may split or expand it, so only characters that
 * mean nothing to a shell are allowed.
 */
static bool remote_path_ok(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!(is_alnum(*p) || strchr("/._-+~,=", *p)))
			return false;
	return true;
}

int hfc_rsync_target_check(const char *t, HfcRsyncKind *ret_kind, const char **ret_why)
{
	const char *why = NULL;
	HfcRsyncKind kind = HFC_RSYNC_LOCAL;
	if (!*t) {
		why = "empty";
		goto bad;
	}
	if (*t == '-') {
		why = "starts with '-'";
		goto bad;
	}
	for (const char *p = t; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			why = "contains a control character";
			goto bad;
		}
	if (strncmp(t, "rsync://", 8) == 0) {
		kind = HFC_RSYNC_DAEMON;
		const char *h = t + 8, *slash = strchr(h, '/');
		if (!slash) {
			why = "an rsync:// target needs a module: rsync://host/module[/path]";
			goto bad;
		}
		const char *at = memchr(h, '@', (size_t)(slash - h));
		if (at) {
			if (!user_ok(h, at)) {
				why = "bad user name";
				goto bad;
			}
			h = at + 1;
		}
		/* The port, if any, follows the last ':' outside brackets. */
		const char *hend = slash, *colon = NULL;
		for (const char *p = h; p < slash; p++)
			if (*p == ':' && (*h != '[' || (p > h && p[-1] == ']')))
				colon = p;
		if (colon) {
			if (colon + 1 == slash || slash - colon > 6) {
				why = "bad port";
				goto bad;
			}
			unsigned port = 0;
			for (const char *p = colon + 1; p < slash; p++) {
				if (*p < '0' || *p > '9') {
					why = "bad port";
					goto bad;
				}
				port = port * 10 + (unsigned)(*p - '0');
			}
			if (port == 0 || port > 65535) {
				why = "bad port";
				goto bad;
			}
			hend = colon;
		}
		if (!host_ok(h, hend)) {
			why = "bad host name";
			goto bad;
		}
		const char *module = slash + 1;
		if (!*module || *module == '/' || *module == '.') {
			why = "an rsync:// target needs a module: rsync://host/module[/path]";
			goto bad;
		}
		if (!remote_path_ok(module) || strstr(module, "//")) {
			why = "the module and path may hold only letters, digits and / . _ - + ~ , =";
			goto bad;
		}
	} else if (strstr(t, "://")) {
		why = "not a path, rsync://host/module/path or [user@]host:path";
		goto bad;
	} else {
		const char *colon = strchr(t, ':'), *slash = strchr(t, '/');
		/* A bracketed IPv6 address: the separator is the ':' after the ']'. */
		const char *at0 = strchr(t, '@'), *open = at0 && colon && at0 < colon ? at0 + 1 : t;
		const char *close = *open == '[' ? strchr(open, ']') : NULL;
		if (colon && close && (!slash || close < slash))
			colon = close[1] == ':' ? close + 1 : NULL;
		if (colon && (!slash || colon < slash)) {
			/* rsync reads "host:path" as remote whenever the ':' comes before any '/'. */
			kind = HFC_RSYNC_SSH;
			if (colon[1] == ':') {
				why = "host::module is the daemon syntax; write rsync://host/module";
				goto bad;
			}
			const char *h = t, *at = memchr(t, '@', (size_t)(colon - t));
			if (at) {
				if (!user_ok(t, at)) {
					why = "bad user name";
					goto bad;
				}
				h = at + 1;
			}
			if (!host_ok(h, colon)) {
				why = "bad host name";
				goto bad;
			}
			if (!colon[1]) {
				why = "no path after host:";
				goto bad;
			}
			if (!remote_path_ok(colon + 1)) {
				why = "a remote path may hold only letters, digits and / . _ - + ~ , =";
				goto bad;
			}
		} else {
			if (*t != '/') {
				why = "a local path must be absolute";
				goto bad;
			}
			if (strpbrk(t, "*?[")) {
				why = "contains a glob character";
				goto bad;
			}
		}
	}
	*ret_kind = kind;
	return 0;
bad:
	if (ret_why)
		*ret_why = why;
	return -EINVAL;
}

/* Takes s (malloc'd, or NULL after a failed allocation) as the next argument. */
static int args_take(HfcRsyncArgs *a, char *s)
{
	if (a->error || !s) {
		free(s);
		return a->error = -ENOMEM;
	}
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		char **v = realloc(a->v, cap * sizeof(*v));
		if (!v) {
			free(s);
			return a->error = -ENOMEM;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
	return 0;
}

int hfc_rsync_args_add(HfcRsyncArgs *a, const char *s)
{
	return args_take(a, a->error ? NULL : strdup(s));
}

int hfc_rsync_args_addf(HfcRsyncArgs *a, const char *fmt, ...)
{
	char *s = NULL;
	if (!a->error) {
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(&s, fmt, ap) < 0)
			s = NULL;
		va_end(ap);
	}
	return args_take(a, s);
}

void hfc_rsync_args_done(HfcRsyncArgs *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	*a = (HfcRsyncArgs){ 0 };
}

/* The number after "key: " in a --stats text ("1,234" and "1.234" alike), if the key is there. */
static bool stat_value(const char *text, const char *key, uint64_t *ret)
{
	const char *p = text;
	size_t kl = strlen(key);
	while ((p = strstr(p, key))) {
		if ((p == text || p[-1] == '\n') && p[kl] == ':' && p[kl + 1] == ' ') {
			uint64_t v = 0;
			bool any = false;
			for (p += kl + 2; *p; p++) {
				if (*p >= '0' && *p <= '9') {
					v = v * 10 + (uint64_t)(*p - '0');
					any = true;
				} else if (*p != ',' && *p != '.') {
					break;
				}
			}
			if (any)
				*ret = v;
			return any;
		}
		p += kl;
	}
	return false;
}

void hfc_rsync_parse_stats(const char *text, HfcRsyncStats *s)
{
	stat_value(text, "Number of regular files transferred", &s->files);
	stat_value(text, "Total transferred file size", &s->bytes);
	stat_value(text, "Total bytes sent", &s->sent);
	stat_value(text, "Total bytes received", &s->received);
	stat_value(text, "Number of deleted files", &s->deleted);
}

typedef struct LineBuf {
	char *buf;
	size_t len, cap;
} LineBuf;

static int linebuf_add(LineBuf *b, const char *data, size_t n, size_t limit)
{
	/* Keep the head (the first errors, the stats) and drop what overflows the limit. */
	if (b->len + 1 >= limit)
		return 0;
	n = MIN(n, limit - 1 - b->len);
	if (b->len + n + 1 > b->cap) {
		size_t cap = MIN(MAX(b->cap * 2, b->len + n + 1), limit);
		char *nb = realloc(b->buf, cap);
		if (!nb)
			return -ENOMEM;
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, data, n);
	b->len += n;
	b->buf[b->len] = 0;
	return 0;
}

/* The line of rsync's error output that says what went wrong, into out. */
static void pick_error_line(const char *text, char *out, size_t outlen)
{
	static const char *const prefer[] = { "@ERROR", "rsync: ", "rsync error: " };
	out[0] = 0;
	for (size_t k = 0; k < ELEMENTSOF(prefer) && text; k++) {
		for (const char *p = text; p && *p;) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			if (n >= strlen(prefer[k]) && strncmp(p, prefer[k], strlen(prefer[k])) == 0) {
				snprintf(out, outlen, "%.*s", (int)n, p);
				return;
			}
			p = nl ? nl + 1 : NULL;
		}
	}
	/* Otherwise the last non-empty line. */
	const char *last = NULL;
	size_t lastn = 0;
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n) {
			last = p;
			lastn = n;
		}
		p = nl ? nl + 1 : NULL;
	}
	if (last)
		snprintf(out, outlen, "%.*s", (int)lastn, last);
}

static const char *exit_meaning(int code)
{
	switch (code) {
	case 1: return "syntax or usage error";
	case 2: return "protocol incompatibility";
	case 3: return "errors selecting input/output files, dirs";
	case 5: return "error starting client-server protocol";
	case 10: return "error in socket I/O";
	case 11: return "error in file I/O";
	case 12: return "error in rsync protocol data stream";
	case 20: return "received SIGUSR1 or SIGINT";
	case 23: return "partial transfer due to error";
	case 24: return "partial transfer due to vanished source files";
	case 30: return "timeout in data send/receive";
	case 35: return "timeout waiting for daemon connection";
	case 127: return "could not be run";
	}
	return "failed";
}

/* Handles complete stdout lines: "hfc-sent SIZE NAME" goes to the callback. */
static void take_lines(LineBuf *pending, LineBuf *all, HfcRsyncFileFn fn, void *ud,
		       uint64_t *deleted)
{
	size_t start = 0;
	for (size_t i = 0; i < pending->len; i++) {
		if (pending->buf[i] != '\n')
			continue;
		const char *line = pending->buf + start;
		size_t n = i - start;
		size_t pl = strlen(HFC_RSYNC_LOG_PREFIX);
		if (n > 10 && memcmp(line, "*deleting ", 10) == 0) {
			/* A deletion itemized by a prune step's --out-format: counted here, because rsync
			 * 3.2.7 leaves a daemon receiver's deletions out of its --stats. */
			(*deleted)++;
		} else if (n > pl && memcmp(line, HFC_RSYNC_LOG_PREFIX, pl) == 0) {
			uint64_t v = 0;
			for (size_t k = pl; k < n && line[k] >= '0' && line[k] <= '9'; k++)
				v = v * 10 + (uint64_t)(line[k] - '0');
			if (fn)
				fn(ud, v);
		} else {
			/* Everything else (the --stats block) is kept for parsing. */
			(void)linebuf_add(all, line, n + 1, 1u << 20);
		}
		start = i + 1;
	}
	memmove(pending->buf, pending->buf + start, pending->len - start);
	pending->len -= start;
	if (pending->cap)
		pending->buf[pending->len] = 0;
	/* A line that long is not ours: keep it from growing without bound. */
	if (pending->len > 65536)
		pending->len = 0;
}

/*
 * The program's path, searched in PATH before fork (the child may only make async-signal-safe
 * calls); NULL when not found.
 */
static char *find_program(const char *name)
{
	if (strchr(name, '/'))
		return strdup(name);
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		char *full;
		if (asprintf(&full, "%.*s/%s", (int)n, n ? p : ".", name) < 0)
			return NULL;
		if (access(full, X_OK) == 0)
			return full;
		free(full);
		if (!colon)
			break;
		p = colon + 1;
	}
	errno = ENOENT;
	return NULL;
}

/* A copy of the environment with LC_ALL=C, so that rsync's numbers and messages parse. */
static char **child_env(void)
{
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = calloc(n + 2, sizeof(char *));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LC_", 3) != 0 && strncmp(environ[i], "LANG=", 5) != 0 &&
		    strncmp(environ[i], "LANGUAGE=", 9) != 0)
			env[k++] = environ[i];
	env[k++] = (char *)"LC_ALL=C";
	env[k] = NULL;
	return env;
}

int hfc_rsync_run(const char *const *argv, HfcRsyncFileFn file_fn, void *ud,
		  HfcRsyncStats *ret_stats, HfcErr *err)
{
	HfcRsyncStats st = { 0 };
	uint64_t itemized_deleted = 0;
	double t0 = hfc_monotonic();
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	_cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0)
		return hfc_err_set(err, negative_errno(), "/dev/null: %s", strerror(errno));
	_cleanup_free_ char **env = child_env();
	if (!env)
		return hfc_err_set(err, -ENOMEM, "out of memory");
	_cleanup_free_ char *prog = find_program(argv[0]);
	if (!prog)
		return hfc_err_set(err, negative_errno(), "%s: cannot find the program in PATH",
				   argv[0]);
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		int r = negative_errno();
		closep(&out[0]);
		closep(&out[1]);
		return hfc_err_set(err, r, "pipe: %s", strerror(-r));
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int r = negative_errno();
		closep(&out[0]);
		closep(&out[1]);
		closep(&errp[0]);
		closep(&errp[1]);
		return hfc_err_set(err, r, "fork: %s", strerror(-r));
	}
	if (pid == 0) {
		/*
		 * Only async-signal-safe calls from here to exec. An rsync whose publisher died
		 * must not go on and install an index.idx of a run nobody supervises.
		 */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		if (dup2(devnull, STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 ||
		    dup2(errp[1], STDERR_FILENO) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execve(prog, (char *const *)argv, env);
		static const char msg[] = "rsync: cannot run the rsync program\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)w;
		_exit(127);
	}
	close(out[1]);
	close(errp[1]);
	LineBuf pending = { 0 }, text = { 0 }, errtext = { 0 };
	struct pollfd pfd[2] = { { out[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
	int open_fds = 2, r = 0;
	char buf[16384];
	while (open_fds > 0) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = negative_errno();
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(pfd[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
				continue;
			}
			int k = i == 0 ? linebuf_add(&pending, buf, (size_t)n, 1u << 20)
				       : linebuf_add(&errtext, buf, (size_t)n, 64u << 10);
			if (k < 0 && r == 0)
				r = k;
			if (i == 0)
				take_lines(&pending, &text, file_fn, ud, &itemized_deleted);
		}
	}
	for (int i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	st.seconds = hfc_monotonic() - t0;
	if (text.buf)
		hfc_rsync_parse_stats(text.buf, &st);
	st.deleted = MAX(st.deleted, itemized_deleted);
	char line[384];
	pick_error_line(errtext.buf, line, sizeof(line));
	free(pending.buf);
	free(text.buf);
	free(errtext.buf);
	if (ret_stats)
		*ret_stats = st;
	if (r < 0)
		return hfc_err_set(err, r, "reading rsync's output: %s", strerror(-r));
	if (status == -1)
		return hfc_err_set(err, -ECHILD, "rsync: lost its exit status");
	if (WIFSIGNALED(status))
		return hfc_err_set(err, -EIO, "rsync killed by signal %d%s%s", WTERMSIG(status),
				   line[0] ? ": " : "", line);
	int code = WEXITSTATUS(status);
	if (code == 0)
		return 0;
	r = code == 30 || code == 35 ? -ETIMEDOUT : -EIO;
	return hfc_err_set(err, r, "rsync exited %d (%s)%s%s", code, exit_meaning(code),
			   line[0] ? ": " : "", line);
}
