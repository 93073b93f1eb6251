/*
 * xdptcp.h - C API of xdptcp-posix (libxdptcp_posix.so / .a).
 *
 * A socket-compatible API over one xdptcp TCP/IP stack on a raw-IP device. Every function
 * takes the instance first and otherwise has the libc signature and return convention
 * (-1 with errno set on failure). Descriptors are the instance's own numbers (from 3), not
 * kernel descriptors. All functions are thread-safe; blocking calls wait until another
 * thread's call (a packet injected with xdptcp_netdev_send, the clock advanced with
 * xdptcp_usleep) lets them complete.
 *
 * Supported: AF_INET and AF_INET6 (dual-stack: IPv4 peers as IPv4-mapped addresses unless
 * IPV6_V6ONLY), SOCK_STREAM (TCP) and SOCK_DGRAM (UDP). fcntl: F_GETFL, F_SETFL
 * (O_NONBLOCK), F_GETFD, F_SETFD. ioctl: FIONBIO, FIONREAD. pipe and splice fail with ENOSYS.
 *
 * Flags for xdptcp_new (comma-separated key=value, may be NULL): local_ip=192.168.0.1
 * (an IPv6 address sets the IPv6 one instead, default fd3d:a0b:17d6::1),
 * prefix_len=16, mtu=1500, clock=virtual|real, tick_us=1, seed=1, mss, rcvbuf, sndbuf,
 * nodelay, timestamps, sack, wscale, iw, rto_ms, rto_min_ms, delack_ms, syn_retries,
 * rx_wait_ms=2000, max_fds=4096. See docs/posix.md.
 */
#ifndef XDPTCP_H
#define XDPTCP_H

#include <poll.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An instance: one stack, its descriptor table and its clock. */
typedef struct xdptcp xdptcp_t;

/* Creates an instance; NULL if the flags are invalid (the reason goes to stderr). */
xdptcp_t *xdptcp_new(const char *flags);
/* Frees an instance; no call may use it afterwards. */
void xdptcp_free(xdptcp_t *x);

int xdptcp_socket(xdptcp_t *x, int domain, int type, int protocol);
int xdptcp_bind(xdptcp_t *x, int fd, const struct sockaddr *addr, socklen_t addrlen);
int xdptcp_listen(xdptcp_t *x, int fd, int backlog);
int xdptcp_accept(xdptcp_t *x, int fd, struct sockaddr *addr, socklen_t *addrlen);
int xdptcp_connect(xdptcp_t *x, int fd, const struct sockaddr *addr, socklen_t addrlen);
ssize_t xdptcp_read(xdptcp_t *x, int fd, void *buf, size_t count);
ssize_t xdptcp_readv(xdptcp_t *x, int fd, const struct iovec *iov, int iovcnt);
ssize_t xdptcp_recv(xdptcp_t *x, int fd, void *buf, size_t len, int flags);
ssize_t xdptcp_recvfrom(xdptcp_t *x, int fd, void *buf, size_t len, int flags,
			struct sockaddr *src_addr, socklen_t *addrlen);
ssize_t xdptcp_recvmsg(xdptcp_t *x, int fd, struct msghdr *msg, int flags);
ssize_t xdptcp_write(xdptcp_t *x, int fd, const void *buf, size_t count);
ssize_t xdptcp_writev(xdptcp_t *x, int fd, const struct iovec *iov, int iovcnt);
ssize_t xdptcp_send(xdptcp_t *x, int fd, const void *buf, size_t len, int flags);
ssize_t xdptcp_sendto(xdptcp_t *x, int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *dest_addr, socklen_t addrlen);
ssize_t xdptcp_sendmsg(xdptcp_t *x, int fd, const struct msghdr *msg, int flags);
/* Not variadic: the one int argument is explicit (callers may pass 0 for F_GETFL). */
int xdptcp_fcntl(xdptcp_t *x, int fd, int cmd, int arg);
/* FIONBIO and FIONREAD, each with an int *. */
int xdptcp_ioctl(xdptcp_t *x, int fd, unsigned long request, int *arg);
int xdptcp_close(xdptcp_t *x, int fd);
int xdptcp_shutdown(xdptcp_t *x, int fd, int how);
int xdptcp_getsockopt(xdptcp_t *x, int fd, int level, int optname, void *optval,
		      socklen_t *optlen);
int xdptcp_setsockopt(xdptcp_t *x, int fd, int level, int optname, const void *optval,
		      socklen_t optlen);
int xdptcp_getsockname(xdptcp_t *x, int fd, struct sockaddr *addr, socklen_t *addrlen);
int xdptcp_getpeername(xdptcp_t *x, int fd, struct sockaddr *addr, socklen_t *addrlen);
int xdptcp_poll(xdptcp_t *x, struct pollfd *fds, nfds_t nfds, int timeout);
int xdptcp_epoll_create(xdptcp_t *x, int size);
int xdptcp_epoll_ctl(xdptcp_t *x, int epfd, int op, int fd, struct epoll_event *event);
int xdptcp_epoll_wait(xdptcp_t *x, int epfd, struct epoll_event *events, int maxevents,
		      int timeout);
int xdptcp_pipe(xdptcp_t *x, int pipefd[2]);
int xdptcp_splice(xdptcp_t *x, int fd_in, loff_t *off_in, int fd_out, loff_t *off_out,
		      size_t len, unsigned int flags);

/* The device: inject one raw IP packet (IPv4 or IPv6) as if from the wire (0, or -1). */
int xdptcp_netdev_send(xdptcp_t *x, const void *buf, size_t count);
/* The next IP packet (IPv4 or IPv6) the stack sent: *count in = buffer size, out = packet length (0 if
 * none came); *time_usecs = when it left (gettimeofday microseconds). With the virtual
 * clock, time first jumps through the stack's timers until a packet leaves. */
int xdptcp_netdev_receive(xdptcp_t *x, void *buf, size_t *count, long long *time_usecs);
/* The clock the stack runs on: usleep advances the virtual clock and runs due timers. */
int xdptcp_usleep(xdptcp_t *x, useconds_t usec);
int xdptcp_gettimeofday(xdptcp_t *x, struct timeval *tv, struct timezone *tz);

#ifndef __PACKETDRILL_H__
/* packetdrill's struct packetdrill_interface (gtests/net/packetdrill/packetdrill.h),
 * repeated here so C tests need no packetdrill checkout. */
struct packetdrill_interface {
	void *userdata;
	void (*free)(void *userdata);
	int (*socket)(void *userdata, int domain, int type, int protocol);
	int (*bind)(void *userdata, int sockfd, const struct sockaddr *addr, socklen_t addrlen);
	int (*listen)(void *userdata, int sockfd, int backlog);
	int (*accept)(void *userdata, int sockfd, struct sockaddr *addr, socklen_t *addrlen);
	int (*connect)(void *userdata, int sockfd, const struct sockaddr *addr,
		       socklen_t addrlen);
	ssize_t (*read)(void *userdata, int fd, void *buf, size_t count);
	ssize_t (*readv)(void *userdata, int fd, const struct iovec *iov, int iovcnt);
	ssize_t (*recv)(void *userdata, int sockfd, void *buf, size_t len, int flags);
	ssize_t (*recvfrom)(void *userdata, int sockfd, void *buf, size_t len, int flags,
			    struct sockaddr *src_addr, socklen_t *addrlen);
	ssize_t (*recvmsg)(void *userdata, int sockfd, struct msghdr *msg, int flags);
	ssize_t (*write)(void *userdata, int fd, const void *buf, size_t count);
	ssize_t (*writev)(void *userdata, int fd, const struct iovec *iov, int iovcnt);
	ssize_t (*send)(void *userdata, int sockfd, const void *buf, size_t len, int flags);
	ssize_t (*sendto)(void *userdata, int sockfd, const void *buf, size_t len, int flags,
			  const struct sockaddr *dest_addr, socklen_t addrlen);
	ssize_t (*sendmsg)(void *userdata, int sockfd, const struct msghdr *msg, int flags);
	int (*fcntl)(void *userdata, int fd, int cmd, ...);
	int (*ioctl)(void *userdata, int fd, unsigned long request, ...);
	int (*close)(void *userdata, int fd);
	int (*shutdown)(void *userdata, int sockfd, int how);
	int (*getsockopt)(void *userdata, int sockfd, int level, int optname, void *optval,
			  socklen_t *optlen);
	int (*setsockopt)(void *userdata, int sockfd, int level, int optname,
			  const void *optval, socklen_t optlen);
	int (*poll)(void *userdata, struct pollfd *fds, nfds_t nfds, int timeout);
	int (*netdev_send)(void *userdata, const void *buf, size_t count);
	int (*netdev_receive)(void *userdata, void *buf, size_t *count, long long *time_usecs);
	int (*usleep)(void *userdata, useconds_t usec);
	int (*gettimeofday)(void *userdata, struct timeval *tv, struct timezone *tz);
	int (*epoll_create)(void *userdata, int size);
	int (*epoll_ctl)(void *userdata, int epfd, int op, int fd, struct epoll_event *event);
	int (*epoll_wait)(void *userdata, int epfd, struct epoll_event *events, int maxevents,
			  int timeout);
	int (*pipe)(void *userdata, int pipefd[2]);
	int (*splice)(void *userdata, int fd_in, loff_t *off_in, int fd_out, loff_t *off_out,
		      size_t len, unsigned int flags);
};
#endif

/* packetdrill's entry point (--so_filename): creates an instance from flags (--so_flags)
 * and fills *ifc with the functions above. */
void packetdrill_interface_init(const char *flags, struct packetdrill_interface *ifc);

#ifdef __cplusplus
}
#endif

#endif /* XDPTCP_H */
