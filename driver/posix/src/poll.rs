//! Readiness, `poll` and epoll.
//!
//! Readiness is computed from the stack on demand, following Linux's `tcp_poll`: a socket
//! whose peer closed (or that was reset) reads as readable with `POLLRDHUP`; one that is shut
//! down both ways or closed reads as `POLLHUP`; a pending `SO_ERROR` adds `POLLERR`. epoll is
//! level-triggered unless `EPOLLET` asks otherwise; the edge is approximated by the socket's
//! activity counter (any stack event for it re-arms the edge). `epoll_wait` walks the
//! instance's interest list, which is fine for the adapter's few descriptors.

use xdptcp_stack::tcp::State;

use crate::engine::Engine;
use crate::errno::{Errno, SysResult};
use crate::socket::{Entry, EpollSet, Fd, Interest, Proto, Socket, TcpRole};

const IN: u32 = (libc::POLLIN | libc::POLLRDNORM) as u32;
const OUT: u32 = (libc::POLLOUT | libc::POLLWRNORM) as u32;
const RDHUP: u32 = libc::POLLRDHUP as u32;
const HUP: u32 = libc::POLLHUP as u32;
const ERR: u32 = libc::POLLERR as u32;

impl Engine {
    /// The `POLL*` (equally `EPOLL*`: Linux gives them the same values) bits of a socket.
    pub(crate) fn readiness(&self, s: &Socket) -> u32 {
        let mut m = 0;
        match &s.proto {
            Proto::Udp(u) => {
                m |= OUT;
                if self.udp_queued(u) > 0 {
                    m |= IN;
                }
            }
            Proto::Tcp(t) => match t.role {
                // Linux: an unconnected socket is "hung up" yet writable (a write fails fast).
                TcpRole::Fresh => m |= OUT | HUP,
                TcpRole::Listening(l) => {
                    if self.stack.tcp_accept_queue_len(l) > 0 {
                        m |= IN;
                    }
                }
                TcpRole::Conn(h) => {
                    let state = self.stack.tcp_state(h);
                    let dead = state == State::Closed;
                    let read_done = dead || t.read_shut || self.stack.tcp_recv_finished(h);
                    if dead || (t.read_shut && t.write_shut) {
                        m |= HUP;
                    }
                    if read_done {
                        m |= IN | RDHUP;
                    }
                    if !matches!(state, State::SynSent | State::SynReceived) {
                        // SO_RCVLOWAT: readable once that many bytes are queued.
                        if self.stack.tcp_recv_queue_len(h) >= s.opts.rcvlowat() {
                            m |= IN;
                        }
                        // Linux: a shut-down send side polls writable (the write fails fast).
                        // TCP_NOTSENT_LOWAT: unsent bytes under half the limit (`tcp_writable`).
                        let can_queue = matches!(state, State::Established | State::CloseWait)
                            && self.stack.tcp_writable(h);
                        if dead || t.write_shut || can_queue {
                            m |= OUT;
                        }
                    }
                }
            },
        }
        if s.error.is_some() {
            m |= ERR;
        }
        m
    }

    /// One pass of `poll`: fills `revents`, returns how many are non-zero.
    pub fn op_poll(&self, fds: &mut [libc::pollfd]) -> usize {
        let mut ready = 0;
        for p in fds.iter_mut() {
            p.revents = 0;
            if p.fd < 0 {
                continue;
            }
            let bits = match self.entry(p.fd) {
                Err(_) => libc::POLLNVAL as u32,
                Ok(Entry::Epoll(_)) => 0,
                Ok(Entry::Socket(s)) => {
                    // POLLERR and POLLHUP are always reported; the rest only when asked for.
                    self.readiness(s) & (u32::from(p.events as u16) | ERR | HUP)
                }
            };
            p.revents = bits as i16;
            if bits != 0 {
                ready += 1;
            }
        }
        ready
    }

    /// `epoll_create`.
    pub fn op_epoll_create(&mut self) -> SysResult<Fd> {
        self.install(Entry::Epoll(EpollSet::default()))
    }

    /// `epoll_ctl`.
    pub fn op_epoll_ctl(
        &mut self,
        epfd: Fd,
        op: i32,
        fd: Fd,
        ev: Option<(u32, u64)>,
    ) -> SysResult<()> {
        if epfd == fd {
            return Err(Errno::EINVAL);
        }
        let activity = match self.entry(fd)? {
            Entry::Socket(s) => s.activity,
            Entry::Epoll(_) => return Err(Errno::EINVAL),
        };
        let Entry::Epoll(set) = self.entry_mut(epfd)? else { return Err(Errno::EINVAL) };
        let fresh = |(events, data): (u32, u64)| Interest {
            events,
            data,
            // An edge-triggered registration reports current readiness once.
            seen: activity.wrapping_sub(1),
            disarmed: false,
        };
        match op {
            libc::EPOLL_CTL_ADD => {
                let ev = ev.ok_or(Errno::EFAULT)?;
                if set.interest.contains_key(&fd) {
                    return Err(Errno::EEXIST);
                }
                set.interest.insert(fd, fresh(ev));
                Ok(())
            }
            libc::EPOLL_CTL_MOD => {
                let ev = ev.ok_or(Errno::EFAULT)?;
                let slot = set.interest.get_mut(&fd).ok_or(Errno::ENOENT)?;
                *slot = fresh(ev);
                Ok(())
            }
            libc::EPOLL_CTL_DEL => set.interest.remove(&fd).map(|_| ()).ok_or(Errno::ENOENT),
            _ => Err(Errno::EINVAL),
        }
    }

    /// One pass of `epoll_wait`: fills `out`, returns the count.
    pub fn op_epoll_wait(&mut self, epfd: Fd, out: &mut [libc::epoll_event]) -> SysResult<usize> {
        if out.is_empty() {
            return Err(Errno::EINVAL);
        }
        let Entry::Epoll(set) = self.entry(epfd)? else { return Err(Errno::EINVAL) };
        let mut found: Vec<(Fd, u32, u64, u64)> = Vec::new();
        for (&fd, i) in &set.interest {
            if found.len() >= out.len() {
                break;
            }
            if i.disarmed {
                continue;
            }
            let Ok(Entry::Socket(s)) = self.entry(fd) else { continue };
            let always = ERR | HUP;
            let bits = self.readiness(s) & (i.events | always);
            if bits == 0 {
                continue;
            }
            if i.events & libc::EPOLLET as u32 != 0 && i.seen == s.activity {
                continue;
            }
            found.push((fd, bits, i.data, s.activity));
        }
        let Entry::Epoll(set) = self.entry_mut(epfd)? else { return Err(Errno::EINVAL) };
        for (k, &(fd, bits, data, activity)) in found.iter().enumerate() {
            if let Some(i) = set.interest.get_mut(&fd) {
                i.seen = activity;
                if i.events & libc::EPOLLONESHOT as u32 != 0 {
                    i.disarmed = true;
                }
            }
            out[k] = libc::epoll_event { events: bits, u64: data };
        }
        Ok(found.len())
    }
}
