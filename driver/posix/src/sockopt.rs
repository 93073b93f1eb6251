//! `getsockopt`/`setsockopt` over option bytes, with Linux's argument checks.
//!
//! Options that size or shape a connection (`SO_RCVBUF`, `SO_SNDBUF`, `TCP_MAXSEG`) apply
//! to connections opened from the socket afterwards (`connect`, or `listen` then accept):
//! the stack allocates buffers once per connection. `SO_RCVBUF`/`SO_SNDBUF` read back
//! doubled, as on Linux (which counts bookkeeping overhead).

use xdptcp_stack::tcp::State;
use xdptcp_stack::time::Duration;

use crate::engine::{split, Engine};
use crate::errno::{Errno, SysResult};
use crate::family::Family;
use crate::socket::{Proto, TcpRole};
use crate::tcp_info;

/// Entries of Linux's `SO_MEMINFO` array (`SK_MEMINFO_VARS`).
const SK_MEMINFO_VARS: usize = libc::SK_MEMINFO_DROPS as usize + 1;

fn int_arg(val: &[u8]) -> SysResult<i32> {
    let b: [u8; 4] = val.get(..4).and_then(|s| s.try_into().ok()).ok_or(Errno::EINVAL)?;
    Ok(i32::from_ne_bytes(b))
}

/// An option Linux takes as 0 or 1 only (`SO_ZEROCOPY`, `TCP_INQ`): anything else `EINVAL`.
fn strict_bool_arg(val: &[u8]) -> SysResult<bool> {
    match int_arg(val)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Errno::EINVAL),
    }
}

fn timeval_arg(val: &[u8]) -> SysResult<Option<Duration>> {
    let sec: [u8; 8] = val.get(0..8).and_then(|s| s.try_into().ok()).ok_or(Errno::EINVAL)?;
    let usec: [u8; 8] = val.get(8..16).and_then(|s| s.try_into().ok()).ok_or(Errno::EINVAL)?;
    let (sec, usec) = (i64::from_ne_bytes(sec), i64::from_ne_bytes(usec));
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::EINVAL);
    }
    let d = Duration::from_micros((sec as u64).saturating_mul(1_000_000) + usec as u64);
    Ok((d != Duration::ZERO).then_some(d))
}

fn put(out: &mut [u8], bytes: &[u8]) -> usize {
    let n = out.len().min(bytes.len());
    out[..n].copy_from_slice(&bytes[..n]);
    n
}

fn put_int(out: &mut [u8], v: i32) -> usize {
    put(out, &v.to_ne_bytes())
}

fn put_timeval(out: &mut [u8], d: Option<Duration>) -> usize {
    let us = d.map_or(0, |d| d.total_micros());
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&((us / 1_000_000) as i64).to_ne_bytes());
    b[8..].copy_from_slice(&((us % 1_000_000) as i64).to_ne_bytes());
    put(out, &b)
}

impl Engine {
    /// `setsockopt`.
    pub fn op_setsockopt(&mut self, fd: Fd, level: i32, name: i32, val: &[u8]) -> SysResult<()> {
        let base = *self.stack.tcp_config();
        let (stack, s) = split(self, fd)?;
        let conn = match &s.proto {
            Proto::Tcp(t) => match t.role {
                TcpRole::Conn(h) => Some(h),
                _ => None,
            },
            Proto::Udp(_) => None,
        };
        let is_tcp = matches!(s.proto, Proto::Tcp(_));
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => s.opts.reuseaddr = int_arg(val)? != 0,
            (libc::SOL_SOCKET, libc::SO_REUSEPORT) => {
                int_arg(val)?;
            }
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => {
                let on = int_arg(val)? != 0;
                s.opts.keepalive = on;
                if let Some(h) = conn {
                    let _ = stack.tcp_set_keepalive(h, on);
                }
            }
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let on = int_arg(val)?;
                let secs = int_arg(val.get(4..).unwrap_or(&[]))?;
                s.opts.linger = (on != 0).then_some(secs.max(0) as u32);
            }
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
                s.opts.rcvbuf = Some((int_arg(val)?.max(0) as usize).max(2048));
            }
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
                s.opts.sndbuf = Some((int_arg(val)?.max(0) as usize).max(2048));
            }
            (libc::SOL_SOCKET, libc::SO_ZEROCOPY) => {
                // Linux accepts it on TCP sockets (0 or 1). Sends with MSG_ZEROCOPY are
                // refused all the same: their completions could never be reported.
                if !is_tcp {
                    return Err(Errno::EOPNOTSUPP);
                }
                s.opts.zerocopy = strict_bool_arg(val)?;
            }
            (libc::SOL_SOCKET, libc::SO_RCVLOWAT) => {
                // Linux `sock_setsockopt` and `tcp_set_rcvlowat`: negative means INT_MAX, and
                // the value is capped at half the largest receive buffer (0 becomes 1).
                let v = int_arg(val)?;
                let v = if v < 0 { i32::MAX as u32 } else { v as u32 };
                let cap = s.opts.rcvbuf.unwrap_or(base.rmem.max) / 2;
                s.opts.rcvlowat = v.min(u32::try_from(cap).unwrap_or(u32::MAX)).max(1);
            }
            (libc::IPPROTO_IPV6, _) if s.family != Family::V6 => return Err(Errno::ENOPROTOOPT),
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => {
                // Linux `do_ipv6_setsockopt`: only before the socket is bound (EINVAL after).
                let bound = match &s.proto {
                    Proto::Tcp(t) => t.bound.is_some() || t.role != TcpRole::Fresh,
                    Proto::Udp(u) => u.handle.is_some(),
                };
                if bound {
                    return Err(Errno::EINVAL);
                }
                s.opts.v6only = int_arg(val)? != 0;
            }
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => s.opts.rcvtimeo = timeval_arg(val)?,
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => s.opts.sndtimeo = timeval_arg(val)?,
            (libc::IPPROTO_TCP, _) if !is_tcp => return Err(Errno::EOPNOTSUPP),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => {
                let on = int_arg(val)? != 0;
                s.opts.nodelay = on;
                // Linux pushes what is queued, cork or not (`TCP_NAGLE_PUSH`).
                s.opts.cork &= !on;
                if let Some(h) = conn {
                    let _ = stack.tcp_set_nodelay(h, on);
                }
            }
            (libc::IPPROTO_TCP, libc::TCP_INQ) => {
                s.opts.inq = strict_bool_arg(val)?;
            }
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => {
                // Milliseconds; negative is EINVAL, 0 gives the retry count back (Linux).
                let ms = u64::try_from(int_arg(val)?).map_err(|_| Errno::EINVAL)?;
                let t = (ms > 0).then(|| Duration::from_millis(ms));
                s.opts.user_timeout = t;
                if let Some(h) = conn {
                    let _ = stack.tcp_set_user_timeout(h, t);
                }
            }
            (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT) => {
                // Any int, taken as unsigned; 0 falls back to the system-wide value, which is
                // unlimited in the profile (Linux `tcp_notsent_lowat()`).
                let v = int_arg(val)? as u32;
                s.opts.notsent_lowat = v;
                if let Some(h) = conn {
                    let _ = stack.tcp_set_notsent_lowat(h, if v == 0 { u32::MAX } else { v });
                }
            }
            (libc::IPPROTO_TCP, libc::TCP_CORK) => {
                let on = int_arg(val)? != 0;
                s.opts.cork = on;
                if let Some(h) = conn {
                    let _ = stack.tcp_set_cork(h, on);
                }
            }
            (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => {
                let on = int_arg(val)? != 0;
                if let Some(h) = conn {
                    let _ = stack.tcp_set_quickack(h, on);
                }
            }
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
                // Linux: TCP_MIN_MSS (88) ..= MAX_TCP_WINDOW (32767).
                let v = int_arg(val)?;
                if !(88..=32767).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                s.opts.maxseg = Some(v as u16);
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE | libc::TCP_KEEPINTVL | libc::TCP_KEEPCNT) => {
                let v = int_arg(val)?;
                // Linux: MAX_TCP_KEEPIDLE/INTVL 32767 s, MAX_TCP_KEEPCNT 127.
                let max = if name == libc::TCP_KEEPCNT { 127 } else { 32767 };
                if !(1..=max).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                let secs = Duration::from_secs(v as u64);
                match name {
                    libc::TCP_KEEPIDLE => s.opts.keepidle = Some(secs),
                    libc::TCP_KEEPINTVL => s.opts.keepintvl = Some(secs),
                    _ => s.opts.keepcnt = Some(v as u8),
                }
                if let Some(h) = conn {
                    let c = s.opts.tcp_config(&base);
                    let _ = stack.tcp_set_keepalive_params(
                        h,
                        c.keepalive_idle,
                        c.keepalive_interval,
                        c.keepalive_count,
                    );
                }
            }
            _ => return Err(Errno::ENOPROTOOPT),
        }
        if let Proto::Tcp(t) = &s.proto {
            if let TcpRole::Listening(l) = t.role {
                // Connections accepted from now on follow the options (Linux copies the
                // listener's settings into each SYN-ACK and child).
                stack.tcp_set_listen_config(l, s.opts.tcp_config(&base));
            }
        }
        Ok(())
    }

    /// `getsockopt`: writes the value into `out` (truncated to its length, as Linux does)
    /// and returns the length written.
    pub fn op_getsockopt(
        &mut self,
        fd: Fd,
        level: i32,
        name: i32,
        out: &mut [u8],
    ) -> SysResult<usize> {
        let base = *self.stack.tcp_config();
        let mtu = self.config.mtu as u32;
        let now = self.now();
        let (stack, s) = split(self, fd)?;
        let cfg = s.opts.tcp_config(&base);
        let (is_tcp, role) = match &s.proto {
            Proto::Tcp(t) => (true, Some(t.role)),
            Proto::Udp(_) => (false, None),
        };
        let conn = match role {
            Some(TcpRole::Conn(h)) => Some(h),
            _ => None,
        };
        let n = match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => {
                put_int(out, if is_tcp { libc::SOCK_STREAM } else { libc::SOCK_DGRAM })
            }
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => put_int(out, s.family.domain()),
            (libc::IPPROTO_IPV6, _) if s.family != Family::V6 => return Err(Errno::ENOPROTOOPT),
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => put_int(out, s.opts.v6only as i32),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => {
                put_int(out, if is_tcp { libc::IPPROTO_TCP } else { libc::IPPROTO_UDP })
            }
            (libc::SOL_SOCKET, libc::SO_ERROR) => {
                let e = s.error.take().map_or(0, Errno::raw);
                put_int(out, e)
            }
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => {
                put_int(out, matches!(role, Some(TcpRole::Listening(_))) as i32)
            }
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => put_int(out, s.opts.reuseaddr as i32),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => put_int(out, s.opts.keepalive as i32),
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&(s.opts.linger.is_some() as i32).to_ne_bytes());
                b[4..].copy_from_slice(&(s.opts.linger.unwrap_or(0) as i32).to_ne_bytes());
                put(out, &b)
            }
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
                // Linux reports twice the size (bookkeeping overhead): the size in force on a
                // connection (auto-tuned), else the configured starting size.
                let b =
                    conn.and_then(|h| stack.tcp_buffers(h).ok()).map_or(cfg.rmem.default, |b| b.1);
                put_int(out, i32::try_from(b.saturating_mul(2)).unwrap_or(i32::MAX))
            }
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
                let b =
                    conn.and_then(|h| stack.tcp_buffers(h).ok()).map_or(cfg.wmem.default, |b| b.0);
                put_int(out, i32::try_from(b.saturating_mul(2)).unwrap_or(i32::MAX))
            }
            (libc::SOL_SOCKET, libc::SO_ZEROCOPY) => put_int(out, s.opts.zerocopy as i32),
            (libc::SOL_SOCKET, libc::SO_MEMINFO) => {
                // Linux's `sk_get_meminfo` array (SK_MEMINFO_VARS u32s): the receive and send
                // buffers as SO_RCVBUF/SO_SNDBUF read them, and the bytes queued each way.
                let (snd, rcv) = conn.and_then(|h| stack.tcp_buffers(h).ok()).unwrap_or((
                    s.opts.sndbuf.unwrap_or(cfg.wmem.default),
                    s.opts.rcvbuf.unwrap_or(cfg.rmem.default),
                ));
                let sat = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
                let mut m = [0u32; SK_MEMINFO_VARS];
                m[libc::SK_MEMINFO_RMEM_ALLOC as usize] =
                    conn.map_or(0, |h| sat(stack.tcp_recv_queue_len(h)));
                m[libc::SK_MEMINFO_RCVBUF as usize] = sat(rcv.saturating_mul(2));
                m[libc::SK_MEMINFO_WMEM_QUEUED as usize] =
                    conn.map_or(0, |h| sat(snd.saturating_sub(stack.tcp_send_space(h))));
                m[libc::SK_MEMINFO_SNDBUF as usize] = sat(snd.saturating_mul(2));
                let mut b = [0u8; 4 * SK_MEMINFO_VARS];
                for (d, v) in b.chunks_exact_mut(4).zip(m) {
                    d.copy_from_slice(&v.to_ne_bytes());
                }
                put(out, &b)
            }
            (libc::SOL_SOCKET, libc::SO_RCVLOWAT) => put_int(out, s.opts.rcvlowat() as i32),
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => put_timeval(out, s.opts.rcvtimeo),
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => put_timeval(out, s.opts.sndtimeo),
            (libc::IPPROTO_TCP, _) if !is_tcp => return Err(Errno::EOPNOTSUPP),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => put_int(out, s.opts.nodelay as i32),
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
                // Linux: the current send MSS once connected, else the user's value or the
                // RFC 1122 default of 536.
                let v = match conn.and_then(|h| stack.tcp_info(h).ok()) {
                    Some(i) if i.state.is_synchronized() => i.snd_mss as i32,
                    _ => s.opts.maxseg.map_or(536, i32::from),
                };
                put_int(out, v)
            }
            (libc::IPPROTO_TCP, libc::TCP_CORK) => put_int(out, s.opts.cork as i32),
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => put_int(
                out,
                s.opts
                    .user_timeout
                    .map_or(0, |d| i32::try_from(d.total_millis()).unwrap_or(i32::MAX)),
            ),
            (libc::IPPROTO_TCP, libc::TCP_INQ) => put_int(out, s.opts.inq as i32),
            (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT) => {
                put_int(out, s.opts.notsent_lowat as i32)
            }
            // Linux answers with what the congestion control's `get_info` gives: CUBIC and
            // Reno have none, so the answer is empty (length 0), as here.
            (libc::IPPROTO_TCP, libc::TCP_CC_INFO) => 0,
            (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => {
                put_int(out, conn.and_then(|h| stack.tcp_quickack(h).ok()).unwrap_or(false) as i32)
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => {
                put_int(out, cfg.keepalive_idle.total_millis() as i32 / 1000)
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => {
                put_int(out, cfg.keepalive_interval.total_millis() as i32 / 1000)
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => put_int(out, i32::from(cfg.keepalive_count)),
            (libc::IPPROTO_TCP, libc::TCP_INFO) => {
                let ato = cfg.delayed_ack_timeout.total_micros() as u32;
                // The MSS we advertise comes from the MTU less this connection's headers: 20
                // more over IPv6 (RFC 9293 §3.7.1; Linux `tcpi_advmss`).
                let over_ipv6 =
                    conn.and_then(|h| stack.tcp_addrs(h)).is_some_and(|e| e.0.is_ipv6());
                let advmss = if over_ipv6 {
                    u32::from(cfg.mss).min(mtu.saturating_sub(60))
                } else {
                    u32::from(cfg.mss)
                };
                let bytes = match (role, conn.and_then(|h| stack.tcp_info(h).ok())) {
                    (_, Some(i)) => tcp_info::encode(&i, now, advmss, mtu, ato),
                    (Some(TcpRole::Listening(_)), None) => {
                        tcp_info::encode_state_only(State::Listen)
                    }
                    _ => tcp_info::encode_state_only(State::Closed),
                };
                put(out, &bytes)
            }
            _ => return Err(Errno::ENOPROTOOPT),
        };
        Ok(n)
    }
}

use crate::socket::Fd;
