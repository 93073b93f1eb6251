/*
 * A packetdrill-like driver without packetdrill: dlopen()s libxdptcp_posix.so, calls
 * packetdrill_interface_init() and drives the stack only through the function table, with
 * hand-built IPv4+TCP packets (192.0.2.1 -> 192.168.0.1, packetdrill's default addresses),
 * and IPv6+TCP ones (fd3d:fa7b:d17d::1 -> fd3d:a0b:17d6::1, Linux's packetdrill selftest
 * addresses) to an AF_INET6 socket that takes IPv4 too (IPv4-mapped addresses).
 *
 * Usage: driver /path/to/libxdptcp_posix.so   (exit status 0 = every check passed)
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "xdptcp.h"

#define CHECK(c)                                                                   \
	do {                                                                       \
		if (!(c)) {                                                        \
			fprintf(stderr, "%s:%d: check failed: %s (errno %d)\n",    \
				__FILE__, __LINE__, #c, errno);                    \
			exit(1);                                                   \
		}                                                                  \
	} while (0)

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

static struct packetdrill_interface ifc;
static const char *LOCAL = "192.168.0.1";
static const char *REMOTE = "192.0.2.1";

struct seg {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opts;
	int optlen;
	const void *data;
	int len;
};

struct parsed {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	int mss, wscale, sackok, ts;
	uint32_t tsval, tsecr;
	int len;
	const uint8_t *data;
	long long time_us;
	uint8_t buf[2048];
};

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* Builds IPv4 + TCP from REMOTE to LOCAL with correct checksums; returns the length. */
static size_t build(uint8_t *b, const struct seg *s)
{
	size_t thl = 20 + s->optlen, tot = 20 + thl + s->len;
	memset(b, 0, tot);
	b[0] = 0x45;
	put16(b + 2, tot);
	put16(b + 4, 1);
	put16(b + 6, 0x4000);
	b[8] = 64;
	b[9] = IPPROTO_TCP;
	inet_pton(AF_INET, REMOTE, b + 12);
	inet_pton(AF_INET, LOCAL, b + 16);
	put16(b + 10, fold(sum16(b, 20, 0)));
	uint8_t *t = b + 20;
	put16(t, s->sport);
	put16(t + 2, s->dport);
	put32(t + 4, s->seq);
	put32(t + 8, s->ack);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = s->flags;
	put16(t + 14, s->win);
	if (s->optlen)
		memcpy(t + 20, s->opts, s->optlen);
	if (s->len)
		memcpy(t + thl, s->data, s->len);
	uint8_t pseudo[12];
	memcpy(pseudo, b + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	put16(pseudo + 10, thl + s->len);
	put16(t + 16, fold(sum16(t, thl + s->len, sum16(pseudo, 12, 0))));
	return tot;
}

static void inject(const struct seg *s)
{
	uint8_t b[2048];
	size_t n = build(b, s);
	CHECK(ifc.netdev_send(ifc.userdata, b, n) == 0);
}

/* The next packet from the stack, checksums verified; 0 if none. */
static int sniff(struct parsed *p)
{
	size_t n = sizeof(p->buf);
	memset(p, 0, sizeof(*p));
	CHECK(ifc.netdev_receive(ifc.userdata, p->buf, &n, &p->time_us) == 0);
	if (n == 0)
		return 0;
	const uint8_t *b = p->buf;
	CHECK(n >= 40 && b[0] == 0x45 && b[9] == IPPROTO_TCP);
	CHECK(get16(b + 2) == n);
	CHECK(fold(sum16(b, 20, 0)) == 0);
	char src[32], dst[32];
	inet_ntop(AF_INET, b + 12, src, sizeof(src));
	inet_ntop(AF_INET, b + 16, dst, sizeof(dst));
	CHECK(strcmp(src, LOCAL) == 0 && strcmp(dst, REMOTE) == 0);
	const uint8_t *t = b + 20;
	size_t tl = n - 20, thl = (t[12] >> 4) * 4;
	uint8_t pseudo[12];
	memcpy(pseudo, b + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	put16(pseudo + 10, tl);
	CHECK(fold(sum16(t, tl, sum16(pseudo, 12, 0))) == 0);
	p->sport = get16(t);
	p->dport = get16(t + 2);
	p->seq = get32(t + 4);
	p->ack = get32(t + 8);
	p->flags = t[13];
	p->win = get16(t + 14);
	p->wscale = -1;
	for (size_t i = 20; i < thl;) {
		uint8_t kind = t[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		CHECK(i + 1 < thl);
		uint8_t len = t[i + 1];
		CHECK(len >= 2 && i + len <= thl);
		if (kind == 2 && len == 4)
			p->mss = get16(t + i + 2);
		if (kind == 3 && len == 3)
			p->wscale = t[i + 2];
		if (kind == 4 && len == 2)
			p->sackok = 1;
		if (kind == 8 && len == 10) {
			p->ts = 1;
			p->tsval = get32(t + i + 2);
			p->tsecr = get32(t + i + 6);
		}
		i += len;
	}
	p->len = (int)(tl - thl);
	p->data = t + thl;
	return 1;
}

static void expect(struct parsed *p, uint8_t flags)
{
	CHECK(sniff(p));
	if (p->flags != flags)
		fprintf(stderr, "expected flags %#x, got %#x\n", flags, p->flags);
	CHECK(p->flags == flags);
}

/* Options: NOP NOP TS(val, ecr). */
static void ts_opts(uint8_t *o, uint32_t val, uint32_t ecr)
{
	o[0] = 1;
	o[1] = 1;
	o[2] = 8;
	o[3] = 10;
	put32(o + 4, val);
	put32(o + 8, ecr);
}

static struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static void *U;

static void *LIB;
static const char *LOCAL6 = "fd3d:a0b:17d6::1";
static const char *REMOTE6 = "fd3d:fa7b:d17d::1";

/* The IPv6 pseudo-header sum (RFC 8200 section 8.1) of a TCP segment of `len` bytes. */
static uint32_t pseudo6(const uint8_t *ip6, size_t len)
{
	uint8_t tail[8] = { 0 };
	put32(tail, (uint32_t)len);
	tail[7] = IPPROTO_TCP;
	return sum16(tail, 8, sum16(ip6 + 8, 32, 0));
}

/* Injects IPv6 + TCP from REMOTE6 to LOCAL6 (no options, no payload). */
static void inject6(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags)
{
	uint8_t b[60] = { 0 };
	b[0] = 0x60;
	put16(b + 4, 20);
	b[6] = IPPROTO_TCP;
	b[7] = 64;
	inet_pton(AF_INET6, REMOTE6, b + 8);
	inet_pton(AF_INET6, LOCAL6, b + 24);
	uint8_t *t = b + 40;
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	put16(t + 16, fold(sum16(t, 20, pseudo6(b, 20))));
	CHECK(ifc.netdev_send(ifc.userdata, b, sizeof(b)) == 0);
}

/* The next packet, which must be IPv6 + TCP from LOCAL6 to REMOTE6 with a valid checksum. */
static void sniff6(struct parsed *p)
{
	size_t n = sizeof(p->buf);
	memset(p, 0, sizeof(*p));
	CHECK(ifc.netdev_receive(ifc.userdata, p->buf, &n, &p->time_us) == 0);
	const uint8_t *b = p->buf;
	CHECK(n >= 60 && b[0] >> 4 == 6 && b[6] == IPPROTO_TCP && get16(b + 4) == n - 40);
	uint8_t local[16], remote[16];
	inet_pton(AF_INET6, LOCAL6, local);
	inet_pton(AF_INET6, REMOTE6, remote);
	CHECK(memcmp(b + 8, local, 16) == 0 && memcmp(b + 24, remote, 16) == 0);
	const uint8_t *t = b + 40;
	CHECK(fold(sum16(t, n - 40, pseudo6(b, n - 40))) == 0);
	p->sport = get16(t);
	p->dport = get16(t + 2);
	p->seq = get32(t + 4);
	p->ack = get32(t + 8);
	p->flags = t[13];
	/* The stack's SYN-ACK starts its options with the MSS. */
	if (t[12] >> 4 > 5 && t[20] == 2)
		p->mss = get16(t + 22);
}

/* AF_INET6 through the C ABI: a listener on [::] accepts an IPv6 peer (sockaddr_in6 out) and
 * an IPv4 one, which it names IPv4-mapped, as Linux's dual-stack sockets do. */
static void dual_stack(void)
{
	int l = ifc.socket(U, AF_INET6, SOCK_STREAM, 0);
	CHECK(l >= 3);
	struct sockaddr_in6 any;
	memset(&any, 0, sizeof(any));
	any.sin6_family = AF_INET6;
	any.sin6_port = htons(8086);
	any.sin6_addr = in6addr_any;
	CHECK(ifc.bind(U, l, (struct sockaddr *)&any, sizeof(any)) == 0);
	CHECK(ifc.listen(U, l, 8) == 0);

	struct parsed p;
	inject6(5006, 8086, 100, 0, F_SYN);
	sniff6(&p);
	CHECK(p.flags == (F_SYN | F_ACK) && p.ack == 101 && p.sport == 8086);
	CHECK(p.mss == 1440); /* MTU 1500 less 40 (IPv6) and 20 (TCP) */
	inject6(5006, 8086, 101, p.seq + 1, F_ACK);
	struct sockaddr_in6 peer;
	socklen_t len = sizeof(peer);
	int fd = ifc.accept(U, l, (struct sockaddr *)&peer, &len);
	CHECK(fd >= 3 && len == sizeof(struct sockaddr_in6) && peer.sin6_family == AF_INET6);
	char text[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, &peer.sin6_addr, text, sizeof(text));
	CHECK(strcmp(text, REMOTE6) == 0 && ntohs(peer.sin6_port) == 5006);
	/* getsockname is not in packetdrill's table: from the library itself. */
	int (*sockname)(void *, int, struct sockaddr *, socklen_t *) =
		(int (*)(void *, int, struct sockaddr *, socklen_t *))dlsym(LIB, "xdptcp_getsockname");
	CHECK(sockname != NULL && sockname(U, fd, (struct sockaddr *)&peer, &len) == 0);
	inet_ntop(AF_INET6, &peer.sin6_addr, text, sizeof(text));
	CHECK(strcmp(text, LOCAL6) == 0 && ntohs(peer.sin6_port) == 8086);

	struct seg syn = { .sport = 5007, .dport = 8086, .seq = 300, .flags = F_SYN, .win = 65535 };
	inject(&syn);
	expect(&p, F_SYN | F_ACK);
	struct seg ack = { .sport = 5007, .dport = 8086, .seq = 301, .ack = p.seq + 1,
			   .flags = F_ACK, .win = 65535 };
	inject(&ack);
	len = sizeof(peer);
	int fd4 = ifc.accept(U, l, (struct sockaddr *)&peer, &len);
	CHECK(fd4 >= 3 && len == sizeof(struct sockaddr_in6) && peer.sin6_family == AF_INET6);
	inet_ntop(AF_INET6, &peer.sin6_addr, text, sizeof(text));
	CHECK(IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr) && strcmp(text, "::ffff:192.0.2.1") == 0);
	CHECK(ifc.close(U, fd) == 0 && ifc.close(U, fd4) == 0 && ifc.close(U, l) == 0);
	/* Drain what the closes sent (FINs of both families). */
	size_t n;
	do {
		n = sizeof(p.buf);
		CHECK(ifc.netdev_receive(ifc.userdata, p.buf, &n, &p.time_us) == 0);
	} while (n > 0);
}

/* Passive open, data both ways, active close, TIME-WAIT. */
static void passive(void)
{
	struct parsed p;
	int one = 1;
	int fd = ifc.socket(U, AF_INET, SOCK_STREAM, IPPROTO_TCP);
	CHECK(fd >= 0);
	CHECK(ifc.setsockopt(U, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
	struct sockaddr_in any = sin_of("0.0.0.0", 8080);
	CHECK(ifc.bind(U, fd, (struct sockaddr *)&any, sizeof(any)) == 0);
	CHECK(ifc.listen(U, fd, 1) == 0);
	CHECK(ifc.fcntl(U, fd, F_SETFL, O_NONBLOCK) == 0);
	CHECK(ifc.fcntl(U, fd, F_GETFL, 0) & O_NONBLOCK);
	errno = 0;
	CHECK(ifc.accept(U, fd, NULL, NULL) == -1 && errno == EAGAIN);

	/* SYN: mss 1000, sackOK, TS val 100, nop, wscale 7. */
	uint8_t syn_opts[20] = {2, 4, 0x03, 0xe8, 4, 2, 8, 10, 0, 0, 0, 100, 0, 0, 0, 0, 1, 3, 3, 7};
	struct seg s = {40000, 8080, 1000, 0, F_SYN, 65535, syn_opts, 20, NULL, 0};
	inject(&s);
	expect(&p, F_SYN | F_ACK);
	CHECK(p.sport == 8080 && p.dport == 40000);
	CHECK(p.ack == 1001);
	CHECK(p.mss == 1460);
	CHECK(p.sackok);
	CHECK(p.ts && p.tsecr == 100);
	CHECK(p.wscale >= 0 && p.wscale <= 14);
	uint32_t isn = p.seq, our_ts = p.tsval;
	long long sent = p.time_us;
	/* Nothing else is queued, so the virtual clock jumps to the next timer: the SYN-ACK
	 * retransmission, exactly one initial RTO (1 s) later. */
	expect(&p, F_SYN | F_ACK);
	CHECK(p.seq == isn && p.ack == 1001);
	CHECK(p.time_us - sent == 1000000);

	uint8_t o[12];
	ts_opts(o, 101, our_ts);
	struct seg ack = {40000, 8080, 1001, isn + 1, F_ACK, 1000, o, 12, NULL, 0};
	inject(&ack);

	struct pollfd pfd = {fd, POLLIN, 0};
	CHECK(ifc.poll(U, &pfd, 1, 0) == 1 && (pfd.revents & POLLIN));
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	int afd = ifc.accept(U, fd, (struct sockaddr *)&peer, &plen);
	CHECK(afd >= 0 && afd != fd);
	CHECK(plen == sizeof(peer) && ntohs(peer.sin_port) == 40000);
	char ip[32];
	inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
	CHECK(strcmp(ip, REMOTE) == 0);

	struct tcp_info ti;
	socklen_t tlen = sizeof(ti);
	memset(&ti, 0xff, sizeof(ti));
	CHECK(ifc.getsockopt(U, afd, IPPROTO_TCP, TCP_INFO, &ti, &tlen) == 0);
	CHECK(ti.tcpi_state == 1 /* TCP_ESTABLISHED */);
	CHECK(ti.tcpi_options & 1 /* TS */ && ti.tcpi_options & 2 /* SACK */);
	CHECK(ti.tcpi_options & 4 /* WSCALE */ && ti.tcpi_snd_wscale == 7);
	CHECK(ti.tcpi_snd_mss == 1000 - 12); /* peer's MSS less the timestamp option */

	CHECK(ifc.fcntl(U, afd, F_SETFL, O_NONBLOCK) == 0);
	char buf[64];
	errno = 0;
	CHECK(ifc.read(U, afd, buf, sizeof(buf)) == -1 && errno == EAGAIN);

	ts_opts(o, 102, our_ts);
	struct seg data = {40000, 8080, 1001, isn + 1, F_ACK | F_PSH, 1000, o, 12, "hello", 5};
	inject(&data);
	/* Acknowledged at once: the first data of a connection is (Linux's quick-ACK mode). */
	expect(&p, F_ACK);
	CHECK(p.ack == 1006 && p.len == 0);
	CHECK(ifc.read(U, afd, buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0);

	/* With TCP_QUICKACK 0 (interactive mode) the next lone segment waits for the 40 ms
	 * delayed-ACK timer; the virtual clock jumps straight to it. */
	int zero = 0;
	CHECK(ifc.setsockopt(U, afd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero)) == 0);
	ts_opts(o, 103, our_ts);
	struct seg more = {40000, 8080, 1006, isn + 1, F_ACK | F_PSH, 1000, o, 12, "!", 1};
	struct timeval tv;
	CHECK(ifc.gettimeofday(U, &tv, NULL) == 0);
	long long injected = tv.tv_sec * 1000000LL + tv.tv_usec;
	inject(&more);
	expect(&p, F_ACK);
	CHECK(p.ack == 1007 && p.len == 0);
	CHECK(p.time_us - injected >= 40000 && p.time_us - injected <= 41000);
	CHECK(ifc.read(U, afd, buf, sizeof(buf)) == 1 && buf[0] == '!');

	CHECK(ifc.write(U, afd, "world!", 6) == 6);
	expect(&p, F_ACK | F_PSH);
	CHECK(p.seq == isn + 1 && p.len == 6 && memcmp(p.data, "world!", 6) == 0);
	ts_opts(o, 103, p.tsval);
	struct seg dack = {40000, 8080, 1007, isn + 7, F_ACK, 1000, o, 12, NULL, 0};
	inject(&dack);

	CHECK(ifc.close(U, afd) == 0);
	errno = 0;
	CHECK(ifc.read(U, afd, buf, 1) == -1 && errno == EBADF);
	expect(&p, F_FIN | F_ACK);
	CHECK(p.seq == isn + 7 && p.ack == 1007);
	ts_opts(o, 104, p.tsval);
	struct seg fin = {40000, 8080, 1007, isn + 8, F_FIN | F_ACK, 1000, o, 12, NULL, 0};
	inject(&fin);
	expect(&p, F_ACK);
	CHECK(p.ack == 1008);

	/* TIME-WAIT: a retransmitted FIN is acknowledged again. */
	ts_opts(o, 105, p.tsval);
	fin.opts = o;
	inject(&fin);
	expect(&p, F_ACK);
	CHECK(p.ack == 1008);

	/* After 2*MSL (60 s) the connection is gone: the listener answers an ACK with RST. */
	CHECK(ifc.usleep(U, 61 * 1000 * 1000) == 0);
	while (sniff(&p)) /* drain anything the timers produced */
		;
	inject(&fin);
	expect(&p, F_RST);
	CHECK(p.seq == isn + 8);
	CHECK(ifc.close(U, fd) == 0);
}

/* Active open: non-blocking connect, SO_ERROR, write, half-close, EPIPE, reset. */
static void active(void)
{
	struct parsed p;
	int fd = ifc.socket(U, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(fd >= 0);
	struct sockaddr_in dst = sin_of(REMOTE, 9090);
	errno = 0;
	CHECK(ifc.connect(U, fd, (struct sockaddr *)&dst, sizeof(dst)) == -1 && errno == EINPROGRESS);
	errno = 0;
	CHECK(ifc.connect(U, fd, (struct sockaddr *)&dst, sizeof(dst)) == -1 && errno == EALREADY);
	struct pollfd pfd = {fd, POLLOUT, 0};
	CHECK(ifc.poll(U, &pfd, 1, 0) == 0);

	expect(&p, F_SYN);
	CHECK(p.dport == 9090 && p.mss == 1460 && p.sackok && p.ts && p.wscale >= 0);
	uint16_t port = p.sport;
	uint32_t isn = p.seq;

	uint8_t sa_opts[20] = {2, 4, 0x05, 0x78, 4, 2, 8, 10, 0, 0, 0, 50, 0, 0, 0, 0, 1, 3, 3, 6};
	put32(sa_opts + 12, p.tsval);
	struct seg synack = {9090, port, 5000, isn + 1, F_SYN | F_ACK, 65535, sa_opts, 20, NULL, 0};
	inject(&synack);
	expect(&p, F_ACK);
	CHECK(p.seq == isn + 1 && p.ack == 5001);

	CHECK(ifc.poll(U, &pfd, 1, 0) == 1 && (pfd.revents & POLLOUT));
	int err = -1;
	socklen_t elen = sizeof(err);
	CHECK(ifc.getsockopt(U, fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0);
	CHECK(ifc.connect(U, fd, (struct sockaddr *)&dst, sizeof(dst)) == 0);
	errno = 0;
	CHECK(ifc.connect(U, fd, (struct sockaddr *)&dst, sizeof(dst)) == -1 && errno == EISCONN);

	int ep = ifc.epoll_create(U, 1);
	CHECK(ep >= 0);
	struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = 0xfeed};
	CHECK(ifc.epoll_ctl(U, ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	struct epoll_event got[4];
	CHECK(ifc.epoll_wait(U, ep, got, 4, 0) == 1);
	CHECK(got[0].data.u64 == 0xfeed && (got[0].events & EPOLLOUT));
	CHECK(ifc.close(U, ep) == 0);

	int one = 1;
	CHECK(ifc.setsockopt(U, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
	struct iovec iov[2] = {{"pi", 2}, {"ng", 2}};
	CHECK(ifc.writev(U, fd, iov, 2) == 4);
	expect(&p, F_ACK | F_PSH);
	CHECK(p.len == 4 && memcmp(p.data, "ping", 4) == 0);
	struct msghdr mh;
	memset(&mh, 0, sizeof(mh));
	struct iovec one_iov = {"!", 1};
	mh.msg_iov = &one_iov;
	mh.msg_iovlen = 1;
	CHECK(ifc.sendmsg(U, fd, &mh, 0) == 1);
	expect(&p, F_ACK | F_PSH);
	CHECK(p.len == 1 && p.seq == isn + 5 && p.data[0] == '!');

	CHECK(ifc.shutdown(U, fd, SHUT_WR) == 0);
	expect(&p, F_FIN | F_ACK);
	CHECK(p.seq == isn + 6);
	errno = 0;
	CHECK(ifc.write(U, fd, "x", 1) == -1 && errno == EPIPE);

	uint8_t o[12];
	ts_opts(o, 60, p.tsval);
	struct seg rst = {9090, port, 5001, 0, F_RST, 0, NULL, 0, NULL, 0};
	(void)o;
	inject(&rst);
	char buf[8];
	errno = 0;
	CHECK(ifc.read(U, fd, buf, sizeof(buf)) == -1 && errno == ECONNRESET);
	CHECK(ifc.read(U, fd, buf, sizeof(buf)) == 0);
	CHECK(ifc.close(U, fd) == 0);
}

/* A RST answering our SYN: ECONNREFUSED through poll and SO_ERROR. */
static void refused(void)
{
	struct parsed p;
	int fd = ifc.socket(U, AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	int nb = 1;
	CHECK(ifc.ioctl(U, fd, FIONBIO, &nb) == 0);
	struct sockaddr_in dst = sin_of(REMOTE, 9091);
	errno = 0;
	CHECK(ifc.connect(U, fd, (struct sockaddr *)&dst, sizeof(dst)) == -1 && errno == EINPROGRESS);
	expect(&p, F_SYN);
	struct seg rst = {9091, p.sport, 0, p.seq + 1, F_RST | F_ACK, 0, NULL, 0, NULL, 0};
	inject(&rst);
	struct pollfd pfd = {fd, POLLOUT, 0};
	CHECK(ifc.poll(U, &pfd, 1, 0) == 1 && (pfd.revents & POLLERR));
	int err = 0;
	socklen_t elen = sizeof(err);
	CHECK(ifc.getsockopt(U, fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == ECONNREFUSED);
	CHECK(ifc.getsockopt(U, fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0);
	CHECK(ifc.close(U, fd) == 0);
	errno = 0;
	CHECK(ifc.close(U, fd) == -1 && errno == EBADF);
	errno = 0;
	CHECK(ifc.pipe(U, NULL) == -1 && errno == ENOSYS);
}

struct accept_job {
	int listen_fd;
	int result;
};

static void *blocking_accept(void *arg)
{
	struct accept_job *job = arg;
	job->result = ifc.accept(U, job->listen_fd, NULL, NULL);
	return NULL;
}

/* packetdrill's threading: a blocking accept() on a second thread returns once the main
 * thread injects the handshake; then a recvmsg() reads the data. */
static void threaded(void)
{
	struct parsed p;
	int fd = ifc.socket(U, AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	struct sockaddr_in any = sin_of("0.0.0.0", 8081);
	CHECK(ifc.bind(U, fd, (struct sockaddr *)&any, sizeof(any)) == 0);
	CHECK(ifc.listen(U, fd, 4) == 0);
	struct accept_job job = {fd, -2};
	pthread_t t;
	CHECK(pthread_create(&t, NULL, blocking_accept, &job) == 0);
	struct seg syn = {41000, 8081, 7, 0, F_SYN, 65535, NULL, 0, NULL, 0};
	inject(&syn);
	expect(&p, F_SYN | F_ACK);
	CHECK(!p.ts); /* the SYN offered no timestamps */
	struct seg ack = {41000, 8081, 8, p.seq + 1, F_ACK | F_PSH, 65535, NULL, 0, "abc", 3};
	inject(&ack);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(job.result >= 0);
	char a[2], b[8];
	struct iovec iov[2] = {{a, 2}, {b, 8}};
	struct msghdr mh;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	CHECK(ifc.recvmsg(U, job.result, &mh, 0) == 3);
	CHECK(memcmp(a, "ab", 2) == 0 && b[0] == 'c');
	CHECK(ifc.close(U, job.result) == 0);
	/* The quick ACK of the data (and a window update after the read) may come first. */
	do
		CHECK(sniff(&p));
	while (p.flags == F_ACK);
	CHECK(p.flags == (F_FIN | F_ACK) && p.ack == 11);
	CHECK(ifc.close(U, fd) == 0);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s libxdptcp_posix.so\n", argv[0]);
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	LIB = h;
	void (*init)(const char *, struct packetdrill_interface *) =
		(void (*)(const char *, struct packetdrill_interface *))dlsym(h, "packetdrill_interface_init");
	CHECK(init != NULL);
	init("local_ip=192.168.0.1,mtu=1500,clock=virtual,rx_wait_ms=0", &ifc);
	U = ifc.userdata;
	CHECK(U != NULL && ifc.splice != NULL && ifc.epoll_wait != NULL);

	struct timeval t0, t1;
	CHECK(ifc.gettimeofday(U, &t0, NULL) == 0);
	CHECK(ifc.usleep(U, 250000) == 0);
	CHECK(ifc.gettimeofday(U, &t1, NULL) == 0);
	long long d = (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_usec - t0.tv_usec);
	CHECK(d >= 250000 && d < 250100); /* virtual time: exact up to the per-read tick */

	passive();
	active();
	refused();
	threaded();
	dual_stack();
	ifc.free(U);
	printf("driver: all checks passed\n");
	return 0;
}
