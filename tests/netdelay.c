/*
 * netdelay — the latency harness's delay line: a TUN device whose every packet comes back
 * D milliseconds later with its source and destination addresses swapped.
 *
 *   usage: netdelay [-q PACKETS] TUN DELAY_MS
 *
 * TUN is an existing (persistent) tun device, made with `ip tuntap add dev TUN mode tun`, or
 * a new one (it then lives as long as this process). DELAY_MS is the one-way delay in
 * milliseconds (a decimal, 0 allowed). -q bounds the queue (default 65536 packets): a packet
 * that finds it full is dropped, like a router's tail drop.
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
	fprintf(stderr, "usage: netdelay [-q PACKETS] TUN DELAY_MS\n");
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

int main(int argc, char **argv)
{
	size_t cap = 65536;
	int opt;
	while ((opt = getopt(argc, argv, "q:")) != -1) {
		if (opt == 'q') {
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

	/* A FIFO ring (every packet waits the same time, so the head is always due first), and
	 * the buffers of sent packets kept for reuse: memory follows the most packets ever held
	 * at once, not the ring's size. */
	struct slot *q = calloc(cap, sizeof *q);
	struct slot *spare = calloc(cap, sizeof *spare);
	unsigned char *scratch = malloc(MAX_PACKET);
	if (!q || !spare || !scratch)
		die("queue", strerror(ENOMEM));
	size_t head = 0, count = 0, nspare = 0;

	while (!stop) {
		/* Send every packet that is due. */
		int64_t now = now_ns();
		while (count > 0 && q[head].due <= now) {
			struct slot *s = &q[head];
			ssize_t w = write(fd, s->buf, s->len);
			if (w < 0 && errno != EINVAL && errno != EAGAIN && errno != ENOBUFS &&
			    errno != EINTR)
				die("write", strerror(errno));
			/* A packet the kernel refuses (EINVAL) or has no room for is lost, as on a
			 * real link. */
			spare[nspare++] = *s;
			s->buf = NULL;
			head = (head + 1) % cap;
			count--;
		}
		struct timespec ts, *tsp = NULL;
		if (count > 0) {
			int64_t wait = q[head].due - now;
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
			if (count == cap)
				continue; /* tail drop */
			struct slot *s = &q[(head + count) % cap];
			if (nspare > 0)
				*s = spare[--nspare];
			else
				*s = (struct slot){0};
			if (s->cap < (uint32_t)r) {
				/* 2 KiB fits a packet of the usual MTU of 1500: few reallocations. */
				size_t want = (size_t)r < 2048 ? 2048 : (size_t)r;
				unsigned char *b = realloc(s->buf, want);
				if (!b) {
					spare[nspare++] = *s; /* no memory: the packet is lost */
					continue;
				}
				s->buf = b;
				s->cap = (uint32_t)want;
			}
			memcpy(s->buf, scratch, (size_t)r);
			s->len = (uint32_t)r;
			s->due = t + delay;
			count++;
		}
	}
	for (size_t i = 0; i < count; i++)
		free(q[(head + i) % cap].buf);
	for (size_t i = 0; i < nspare; i++)
		free(spare[i].buf);
	free(q);
	free(spare);
	free(scratch);
	close(fd);
	return 0;
}
