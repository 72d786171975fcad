/*
 * netdelay — the latency harness's delay line: a TUN device whose every packet comes back
 * D milliseconds later with its source and destination addresses swapped.
 *
 *   usage: netdelay [-q PACKETS] [-r RATE[/UPRATE] [-b BYTES] [-l MS]] TUN DELAY_MS
 *
 * TUN is an existing (persistent) tun device, made with `ip tuntap add dev TUN mode tun`, or
 * a new one (it then lives as long as this process). DELAY_MS is the one-way delay in
 * milliseconds (a decimal, 0 allowed). -q bounds the queue of each direction (default 65536
 * packets): a packet that finds it full is dropped, like a router's tail drop.
 *
 * The bandwidth limit. -r RATE limits each direction to RATE bits per second (a decimal with
 * an optional k, M or G: 10M is 10 Mbit/s); RATE/UPRATE gives the two directions different
 * rates, like an ADSL line: RATE downstream (server to client), UPRATE upstream. Each
 * direction is a token bucket of -b BYTES (default 3028, two full packets of the usual MTU:
 * a link, not a shaper that lets bursts through) filled at its rate; a packet leaves when the
 * bucket holds its size, in the order packets came, then travels DELAY_MS. The bottleneck's
 * buffer holds -l MS of traffic (default 100): a packet that would wait longer for the link
 * is dropped, as a modem's full buffer drops it, so TCP finds the rate instead of filling
 * an endless queue. The direction of a TCP or UDP packet is told by its ports: the harness's
 * servers listen on low ports (8080, ...) and clients use ephemeral ones, so a packet whose
 * source port is the lower one goes downstream; every other packet (ICMP, ...) upstream.
 *
 * How it makes a network path. In a network namespace with the tun device up, a local
 * address A on it and a route to a peer address B through it, a packet that a client sends
 * to B (A -> B) is read here, held DELAY_MS, and written back as B -> A: the kernel delivers
 * it to the server on A. The server's answer (A -> B) takes the same way back and reaches
 * the client as coming from B. Every packet, handshakes included, crosses the line once
 * each way, so a round trip is 2 * DELAY_MS. Packets leave in the order they came.
 *
 * Swapping the two addresses changes no checksum: the IPv4 header checksum and the TCP/UDP
 * (and ICMPv6) pseudo-header sums are ones' complement sums of 16-bit words, and the two
 * addresses are whole, aligned words that only trade places; the ICMP checksum does not
 * cover the IP header at all. ICMP errors (unreachable, time exceeded, ...) quote the
 * packet that caused them: that quoted header is swapped too (again aligned words inside
 * the ICMP message, so its checksum stays right), so that the error reaches the socket of
 * the original sender.
 *
 * It prints nothing while it works; it stops on SIGTERM or SIGINT with status 0. A fatal
 * error is one line on stderr, `netdelay: where: what`, and status 1 (2 for usage errors).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_PACKET 65536

struct slot {
	int64_t due; /* CLOCK_MONOTONIC, ns */
	uint32_t len, cap;
	unsigned char *buf;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *where, const char *what)
{
	fprintf(stderr, "netdelay: %s: %s\n", where, what);
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: netdelay [-q PACKETS] [-r RATE[/UPRATE] [-b BYTES] [-l MS]] TUN DELAY_MS\n");
	exit(2);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void swap_bytes(unsigned char *a, unsigned char *b, size_t n)
{
	unsigned char t[16];
	memcpy(t, a, n);
	memcpy(a, b, n);
	memcpy(b, t, n);
}

/* Swaps the addresses of an IPv4 or IPv6 packet (and of the packet an ICMP error quotes).
 * Returns 0, or -1 for something that is not a well-formed IP packet (dropped). */
static int swap_addresses(unsigned char *p, size_t len)
{
	if (len < 1)
		return -1;
	if (p[0] >> 4 == 4) {
		size_t ihl = (size_t)(p[0] & 15) * 4;
		if (ihl < 20 || len < ihl)
			return -1;
		swap_bytes(p + 12, p + 16, 4);
		/* ICMP errors, first fragment only: quote = ICMP header (8) + the original header. */
		int first = (p[6] & 0x1f) == 0 && p[7] == 0;
		if (p[9] == 1 && first && len >= ihl + 8 + 20) {
			unsigned char type = p[ihl];
			if (type == 3 || type == 4 || type == 5 || type == 11 || type == 12) {
				unsigned char *q = p + ihl + 8;
				if (q[0] >> 4 == 4)
					swap_bytes(q + 12, q + 16, 4);
			}
		}
		return 0;
	}
	if (p[0] >> 4 == 6) {
		if (len < 40)
			return -1;
		swap_bytes(p + 8, p + 24, 16);
		/* ICMPv6 errors (types 1-4) right after the fixed header. */
		if (p[6] == 58 && len >= 40 + 8 + 40 && p[40] >= 1 && p[40] <= 4) {
			unsigned char *q = p + 48;
			if (q[0] >> 4 == 6)
				swap_bytes(q + 8, q + 24, 16);
		}
		return 0;
	}
	return -1;
}

/* The direction of a packet (after the swap: the ports are not swapped): 0 downstream, a
 * TCP or UDP packet from the lower port to the higher one; 1 upstream, every other. */
static int direction(const unsigned char *p, size_t len)
{
	size_t off;
	unsigned char proto;
	if (p[0] >> 4 == 4) {
		off = (size_t)(p[0] & 15) * 4;
		proto = p[9];
		if ((p[6] & 0x1f) != 0 || p[7] != 0)
			return 1; /* a later fragment: no ports */
	} else {
		off = 40;
		proto = p[6];
	}
	if ((proto != 6 && proto != 17) || len < off + 4)
		return 1;
	unsigned sport = (unsigned)p[off] << 8 | p[off + 1];
	unsigned dport = (unsigned)p[off + 2] << 8 | p[off + 3];
	return sport < dport ? 0 : 1;
}

/* parse_rate: "10M", "1.5M", "640k", "100000" in bits per second; 0 for a bad value. */
static double parse_rate(const char *s, char **end)
{
	errno = 0;
	double v = strtod(s, end);
	if (errno || *end == s || !(v > 0))
		return 0;
	switch (**end) {
	case 'k': case 'K': v *= 1e3; (*end)++; break;
	case 'm': case 'M': v *= 1e6; (*end)++; break;
	case 'g': case 'G': v *= 1e9; (*end)++; break;
	default: break;
	}
	return v >= 1000 && v <= 1e11 ? v : 0;
}

/* A link of one direction: a token bucket (bytes) filled at rate bytes per ns up to depth. */
struct link {
	double rate, depth, tokens;
	int64_t last; /* when tokens was last brought up to date, or the last departure */
};

/* link_depart: when a packet of len bytes arriving at t leaves the link (FIFO: never before
 * the previous one), and takes its tokens. */
static int64_t link_depart(struct link *l, int64_t t, size_t len)
{
	if (l->rate <= 0)
		return t;
	int64_t s = t > l->last ? t : l->last;
	l->tokens += (double)(s - l->last) * l->rate;
	if (l->tokens > l->depth)
		l->tokens = l->depth;
	/* A packet larger than the bucket waits for a full bucket, and leaves a debt. */
	double need = (double)len < l->depth ? (double)len : l->depth;
	int64_t d = s;
	if (l->tokens < need)
		d = s + (int64_t)((need - l->tokens) / l->rate + 0.5);
	l->tokens += (double)(d - s) * l->rate - (double)len;
	l->last = d;
	return d;
}

/* One direction's FIFO ring: departures are in order and the delay is the same for all, so
 * its head is always due first. */
struct ring {
	struct slot *q;
	size_t head, count;
};

int main(int argc, char **argv)
{
	size_t cap = 65536;
	double rate_down = 0, rate_up = 0, depth = 3028, limit_ms = 100;
	int opt;
	while ((opt = getopt(argc, argv, "q:r:b:l:")) != -1) {
		if (opt == 'r') {
			char *end;
			rate_down = parse_rate(optarg, &end);
			rate_up = rate_down;
			if (rate_down > 0 && *end == '/')
				rate_up = parse_rate(end + 1, &end);
			if (!(rate_down > 0) || !(rate_up > 0) || *end)
				die("-r", "must be a rate in bits per second from 1000 to 100G (10M, 640k), or DOWN/UP");
		} else if (opt == 'b') {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1500 || v > (1UL << 30))
				die("-b", "must be a number of bytes from 1500 to 1073741824");
			depth = (double)v;
		} else if (opt == 'l') {
			char *end;
			errno = 0;
			double v = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(v >= 1) || v > 600000)
				die("-l", "must be a number of milliseconds from 1 to 600000");
			limit_ms = v;
		} else if (opt == 'q') {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > (1UL << 24))
				die("-q", "must be a number of packets from 1 to 16777216");
			cap = v;
		} else {
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	const char *name = argv[optind];
	if (strlen(name) == 0 || strlen(name) >= IFNAMSIZ)
		die(name, "not a valid interface name");
	char *end;
	errno = 0;
	double ms = strtod(argv[optind + 1], &end);
	if (errno || *end || end == argv[optind + 1] || !(ms >= 0) || ms > 3600000)
		die(argv[optind + 1], "the delay must be a number of milliseconds from 0 to 3600000");
	int64_t delay = (int64_t)(ms * 1e6 + 0.5);

	sigset_t block, orig;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Waits in ppoll run with SIGTERM/SIGINT unblocked: a signal can only land there. */
	sigset_t waitmask = orig;
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);

	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("/dev/net/tun", strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die(name, strerror(errno));
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die(name, strerror(errno));

	/* A FIFO ring per direction, and the buffers of sent packets kept for reuse: memory
	 * follows the most packets ever held at once, not the rings' size. */
	struct ring rings[2] = {{0}};
	struct link links[2] = {
		{.rate = rate_down / 8e9, .depth = depth, .tokens = depth},
		{.rate = rate_up / 8e9, .depth = depth, .tokens = depth},
	};
	int64_t limit = (int64_t)(limit_ms * 1e6);
	rings[0].q = calloc(cap, sizeof(struct slot));
	rings[1].q = calloc(cap, sizeof(struct slot));
	struct slot *spare = calloc(2 * cap, sizeof *spare);
	unsigned char *scratch = malloc(MAX_PACKET);
	if (!rings[0].q || !rings[1].q || !spare || !scratch)
		die("queue", strerror(ENOMEM));
	size_t nspare = 0;

	while (!stop) {
		/* Send every packet that is due, the earlier head of the two first. */
		int64_t now = now_ns();
		for (;;) {
			struct ring *r = NULL;
			for (int d = 0; d < 2; d++) {
				struct ring *x = &rings[d];
				if (x->count > 0 && x->q[x->head].due <= now &&
				    (!r || x->q[x->head].due < r->q[r->head].due))
					r = x;
			}
			if (!r)
				break;
			struct slot *sl = &r->q[r->head];
			ssize_t w = write(fd, sl->buf, sl->len);
			if (w < 0 && errno != EINVAL && errno != EAGAIN && errno != ENOBUFS &&
			    errno != EINTR)
				die("write", strerror(errno));
			/* A packet the kernel refuses (EINVAL) or has no room for is lost, as on a
			 * real link. */
			spare[nspare++] = *sl;
			sl->buf = NULL;
			r->head = (r->head + 1) % cap;
			r->count--;
		}
		struct timespec ts, *tsp = NULL;
		int64_t next = INT64_MAX;
		for (int d = 0; d < 2; d++)
			if (rings[d].count > 0 && rings[d].q[rings[d].head].due < next)
				next = rings[d].q[rings[d].head].due;
		if (next != INT64_MAX) {
			int64_t wait = next > now ? next - now : 0;
			ts.tv_sec = (time_t)(wait / 1000000000);
			ts.tv_nsec = (long)(wait % 1000000000);
			tsp = &ts;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = ppoll(&pfd, 1, tsp, &waitmask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("ppoll", strerror(errno));
		}
		if (n == 0)
			continue;
		if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
			die(name, "the device went away");
		/* Take in everything that is there (bounded, so that due packets are not kept
		 * waiting behind a flood). */
		for (int k = 0; k < 256; k++) {
			ssize_t r = read(fd, scratch, MAX_PACKET);
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				die("read", strerror(errno));
			}
			int64_t t = now_ns();
			if (r == 0 || swap_addresses(scratch, (size_t)r) < 0)
				continue;
			int d = direction(scratch, (size_t)r);
			struct ring *rg = &rings[d];
			if (rg->count == cap)
				continue; /* tail drop */
			/* The bottleneck's buffer: a packet that would wait more than the limit
			 * for the link is dropped (its tokens are not taken). */
			struct link saved = links[d];
			int64_t dep = link_depart(&links[d], t, (size_t)r);
			if (dep - t > limit) {
				links[d] = saved;
				continue;
			}
			struct slot *sl = &rg->q[(rg->head + rg->count) % cap];
			if (nspare > 0)
				*sl = spare[--nspare];
			else
				*sl = (struct slot){0};
			if (sl->cap < (uint32_t)r) {
				/* 2 KiB fits a packet of the usual MTU of 1500: few reallocations. */
				size_t want = (size_t)r < 2048 ? 2048 : (size_t)r;
				unsigned char *b = realloc(sl->buf, want);
				if (!b) {
					spare[nspare++] = *sl; /* no memory: the packet is lost */
					links[d] = saved;
					continue;
				}
				sl->buf = b;
				sl->cap = (uint32_t)want;
			}
			memcpy(sl->buf, scratch, (size_t)r);
			sl->len = (uint32_t)r;
			sl->due = dep + delay;
			rg->count++;
		}
	}
	for (int d = 0; d < 2; d++) {
		for (size_t i = 0; i < rings[d].count; i++)
			free(rings[d].q[(rings[d].head + i) % cap].buf);
		free(rings[d].q);
	}
	for (size_t i = 0; i < nspare; i++)
		free(spare[i].buf);
	free(spare);
	free(scratch);
	close(fd);
	return 0;
}
