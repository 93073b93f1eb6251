//! `AF_INET6` sockets through the safe API, without packetdrill: IPv6 packets in through
//! `netdev_send` and out of `netdev_receive`, checked with `etherparse`; dual-stack sockets
//! talking IPv4 through IPv4-mapped addresses, as Linux's (RFC 3493 §3.7); `IPV6_V6ONLY`;
//! and the errors Linux gives for an address of the wrong family.

use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration as StdDuration;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice};
use xdptcp_posix::{Errno, Posix, PosixConfig};

/// The adapter's IPv6 address (its default) and a peer's, as Linux's packetdrill selftests
/// use them.
const LOCAL6: Ipv6Addr = Ipv6Addr::new(0xfd3d, 0x0a0b, 0x17d6, 0, 0, 0, 0, 1);
const REMOTE6: Ipv6Addr = Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0, 1);
const LOCAL4: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const REMOTE4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const NO_WAIT: StdDuration = StdDuration::ZERO;

fn posix() -> Posix {
    Posix::new(PosixConfig::parse("rx_wait_ms=0,seed=1").expect("flags"))
}

fn v6(ip: Ipv6Addr, port: u16) -> SocketAddr {
    SocketAddrV6::new(ip, port, 0, 0).into()
}

fn v4(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddrV4::new(ip, port).into()
}

/// `ip` as an IPv4-mapped IPv6 socket address.
fn mapped(ip: Ipv4Addr, port: u16) -> SocketAddr {
    v6(ip.to_ipv6_mapped(), port)
}

/// One TCP segment the test sends or the stack sent, with the addresses it travelled between.
#[derive(Debug, Clone, Default)]
struct Seg {
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    rst: bool,
    mss: Option<u16>,
    payload: Vec<u8>,
}

/// The IP layer of a packet from `src` to `dst` (both of one family).
fn ip(src: SocketAddr, dst: SocketAddr) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    match (src.ip(), dst.ip()) {
        (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => {
            PacketBuilder::ipv6(a.octets(), b.octets(), 64)
        }
        (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => {
            PacketBuilder::ipv4(a.octets(), b.octets(), 64)
        }
        _ => panic!("one family per packet"),
    }
}

/// A UDP datagram from `src` to `dst`, as a raw IP packet.
fn udp_packet(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ip(src, dst).udp(src.port(), dst.port()).write(&mut out, payload).expect("write datagram");
    out
}

/// A segment from `src` to `dst` (both of one family), as a raw IP packet.
fn packet(src: SocketAddr, dst: SocketAddr, s: &Seg) -> Vec<u8> {
    let b = ip(src, dst).tcp(src.port(), dst.port(), s.seq, 65535);
    let b = if s.syn { b.syn() } else { b };
    let b = if s.fin { b.fin() } else { b };
    let b = if s.rst { b.rst() } else { b };
    let b = match s.ack {
        Some(a) => b.ack(a),
        None => b,
    };
    let b = if s.syn {
        b.options(&[TcpOptionElement::MaximumSegmentSize(1440)]).expect("options fit")
    } else {
        b
    };
    let mut out = Vec::new();
    b.write(&mut out, &s.payload).expect("write packet");
    out
}

/// The next TCP segment the stack sent (`None` if nothing left), with its IP addresses.
fn next(p: &Posix) -> Option<Seg> {
    let mut buf = [0u8; 2048];
    let (n, _) = p.netdev_receive(&mut buf, NO_WAIT)?;
    let pk = SlicedPacket::from_ip(&buf[..n]).expect("an IP packet from the stack");
    let Some(TransportSlice::Tcp(t)) = pk.transport else { panic!("not TCP: {pk:?}") };
    let (src, dst) = match pk.net {
        Some(NetSlice::Ipv6(ip)) => (
            SocketAddr::new(ip.header().source_addr().into(), t.source_port()),
            SocketAddr::new(ip.header().destination_addr().into(), t.destination_port()),
        ),
        Some(NetSlice::Ipv4(ip)) => (
            SocketAddr::new(ip.header().source_addr().into(), t.source_port()),
            SocketAddr::new(ip.header().destination_addr().into(), t.destination_port()),
        ),
        other => panic!("not IP: {other:?}"),
    };
    let mss = t.options_iterator().find_map(|o| match o {
        Ok(TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
        _ => None,
    });
    Some(Seg {
        src: Some(src),
        dst: Some(dst),
        seq: t.sequence_number(),
        ack: t.ack().then(|| t.acknowledgment_number()),
        syn: t.syn(),
        fin: t.fin(),
        rst: t.rst(),
        mss,
        payload: t.payload().to_vec(),
    })
}

/// A listening `AF_INET6` socket on `addr`.
fn listener6(p: &Posix, addr: SocketAddr) -> i32 {
    let fd = p.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).expect("socket");
    p.bind(fd, addr).expect("bind");
    p.listen(fd, 8).expect("listen");
    fd
}

/// Completes a passive handshake from `peer` to `ours` (one family); returns the stack's
/// SYN-ACK.
fn handshake(p: &Posix, peer: SocketAddr, ours: SocketAddr) -> Seg {
    p.netdev_send(&packet(peer, ours, &Seg { seq: 1000, syn: true, ..Seg::default() }));
    let sa = next(p).expect("SYN-ACK");
    assert!(sa.syn && sa.ack == Some(1001), "{sa:?}");
    assert_eq!((sa.src, sa.dst), (Some(ours), Some(peer)), "the SYN-ACK goes back the way it came");
    p.netdev_send(&packet(peer, ours, &Seg { seq: 1001, ack: Some(sa.seq + 1), ..Seg::default() }));
    sa
}

#[test]
fn passive_open_over_ipv6_carries_data_both_ways() {
    let p = posix();
    let l = listener6(&p, v6(Ipv6Addr::UNSPECIFIED, 80));
    let ours = v6(LOCAL6, 80);
    let peer = v6(REMOTE6, 4000);
    let sa = handshake(&p, peer, ours);
    // MSS from the 1500-byte MTU less 40 bytes of IPv6 and 20 of TCP.
    assert_eq!(sa.mss, Some(1440));
    let (fd, from) = p.accept(l).expect("accept");
    assert_eq!(from, peer);
    assert_eq!(p.getsockname(fd), Ok(ours));
    assert_eq!(p.getpeername(fd), Ok(peer));
    assert_eq!(p.getsockname(l), Ok(v6(Ipv6Addr::UNSPECIFIED, 80)));
    let data =
        Seg { seq: 1001, ack: Some(sa.seq + 1), payload: b"ping".to_vec(), ..Seg::default() };
    p.netdev_send(&packet(peer, ours, &data));
    let mut buf = [0u8; 16];
    assert_eq!(p.read(fd, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"ping");
    assert_eq!(p.write(fd, b"pong"), Ok(4));
    let out = std::iter::from_fn(|| next(&p)).find(|s| !s.payload.is_empty()).expect("data out");
    assert_eq!((out.src, out.dst, &out.payload[..]), (Some(ours), Some(peer), &b"pong"[..]));
    assert_eq!(out.seq, sa.seq + 1);
}

#[test]
fn a_dual_stack_listener_accepts_ipv4_and_names_it_mapped() {
    let p = posix();
    let l = listener6(&p, v6(Ipv6Addr::UNSPECIFIED, 80));
    let sa = handshake(&p, v4(REMOTE4, 5000), v4(LOCAL4, 80));
    // The connection runs over IPv4: its MSS is IPv4's.
    assert_eq!(sa.mss, Some(1460));
    let (fd, from) = p.accept(l).expect("accept");
    assert_eq!(from, mapped(REMOTE4, 5000));
    assert_eq!(p.getsockname(fd), Ok(mapped(LOCAL4, 80)));
    assert_eq!(p.getpeername(fd), Ok(mapped(REMOTE4, 5000)));
}

#[test]
fn an_ipv6_only_socket_refuses_what_would_make_it_dual_stack() {
    let p = posix();
    let fd = p.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).expect("socket");
    let get = |fd| {
        let mut b = [0u8; 4];
        p.getsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &mut b).expect("getsockopt");
        i32::from_ne_bytes(b)
    };
    assert_eq!(get(fd), 0, "off by default (net.ipv6.bindv6only = 0)");
    p.setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &1i32.to_ne_bytes()).expect("set");
    assert_eq!(get(fd), 1);
    // Linux: a mapped peer is unreachable for it, and a mapped address cannot be bound.
    assert_eq!(p.connect(fd, mapped(REMOTE4, 80)), Err(Errno(libc::ENETUNREACH)));
    assert_eq!(p.bind(fd, mapped(LOCAL4, 80)), Err(Errno::EINVAL));
    // Bound, the option is fixed (Linux `do_ipv6_setsockopt`).
    p.bind(fd, v6(LOCAL6, 81)).expect("bind our address");
    assert_eq!(
        p.setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &0i32.to_ne_bytes()),
        Err(Errno::EINVAL)
    );
    // Listening on the wildcard, it takes IPv6 and answers IPv4 as a closed port: a reset.
    let any = p.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).expect("socket");
    p.setsockopt(any, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &1i32.to_ne_bytes()).expect("set");
    p.bind(any, v6(Ipv6Addr::UNSPECIFIED, 82)).expect("bind");
    p.listen(any, 1).expect("listen");
    let (peer4, ours4) = (v4(REMOTE4, 6000), v4(LOCAL4, 82));
    p.netdev_send(&packet(peer4, ours4, &Seg { seq: 1000, syn: true, ..Seg::default() }));
    let rst = next(&p).expect("an answer to the IPv4 SYN");
    assert!(rst.rst && !rst.syn, "{rst:?}");
    assert_eq!(rst.dst, Some(peer4));
    handshake(&p, v6(REMOTE6, 6000), v6(LOCAL6, 82));
    assert_eq!(p.accept(any).map(|(_, from)| from), Ok(v6(REMOTE6, 6000)));
}

#[test]
fn an_ipv6_only_listener_on_any_and_an_ipv4_one_share_a_port_as_on_linux() {
    let p = posix();
    let only6 = |p: &Posix| {
        let fd = p.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).expect("socket");
        p.setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &1i32.to_ne_bytes()).expect("set");
        fd
    };
    let sock = |p: &Posix, domain| p.socket(domain, libc::SOCK_STREAM, 0).expect("socket");
    let in_use = Err(Errno::EADDRINUSE);
    // `0.0.0.0:80` and `[::]:80` with IPV6_V6ONLY take disjoint addresses (Linux
    // `inet6_rcv_saddr_equal`): both bind and listen.
    let l4 = sock(&p, libc::AF_INET);
    p.bind(l4, v4(Ipv4Addr::UNSPECIFIED, 80)).expect("bind 0.0.0.0");
    p.listen(l4, 4).expect("listen 0.0.0.0");
    let l6 = only6(&p);
    p.bind(l6, v6(Ipv6Addr::UNSPECIFIED, 80)).expect("bind [::] v6only beside 0.0.0.0");
    p.listen(l6, 4).expect("listen");
    // What overlaps one of them is refused: a dual-stack `::`, a second `::`, our IPv6
    // address, our IPv4 address (also as a mapped one).
    let dual = sock(&p, libc::AF_INET6);
    assert_eq!(p.bind(dual, v6(Ipv6Addr::UNSPECIFIED, 80)), in_use);
    assert_eq!(p.bind(only6(&p), v6(Ipv6Addr::UNSPECIFIED, 80)), in_use);
    assert_eq!(p.bind(only6(&p), v6(LOCAL6, 80)), in_use);
    assert_eq!(p.bind(sock(&p, libc::AF_INET), v4(LOCAL4, 80)), in_use);
    assert_eq!(p.bind(sock(&p, libc::AF_INET6), mapped(LOCAL4, 80)), in_use);
    // Each takes its own family.
    handshake(&p, v4(REMOTE4, 7000), v4(LOCAL4, 80));
    handshake(&p, v6(REMOTE6, 7000), v6(LOCAL6, 80));
    assert_eq!(p.accept(l4).map(|(_, from)| from), Ok(v4(REMOTE4, 7000)));
    assert_eq!(p.accept(l6).map(|(_, from)| from), Ok(v6(REMOTE6, 7000)));
    // Closed, the IPv6-only one frees IPv6 on the port but not IPv4: a dual-stack `::`
    // still clashes with `0.0.0.0`, an IPv6 address alone does not.
    p.close(l6).expect("close");
    assert_eq!(p.bind(dual, v6(Ipv6Addr::UNSPECIFIED, 80)), in_use);
    p.bind(dual, v6(LOCAL6, 80)).expect("bind our IPv6 address beside 0.0.0.0");

    // The other order: a dual-stack `[::]:81` first refuses both kinds beside it.
    let d = sock(&p, libc::AF_INET6);
    p.bind(d, v6(Ipv6Addr::UNSPECIFIED, 81)).expect("bind");
    p.listen(d, 4).expect("listen");
    assert_eq!(p.bind(sock(&p, libc::AF_INET), v4(Ipv4Addr::UNSPECIFIED, 81)), in_use);
    assert_eq!(p.bind(only6(&p), v6(Ipv6Addr::UNSPECIFIED, 81)), in_use);
    p.close(d).expect("close");
    p.bind(only6(&p), v6(Ipv6Addr::UNSPECIFIED, 81)).expect("free again");
}

#[test]
fn active_open_over_ipv6_from_a_bound_port_and_over_mapped_ipv4() {
    let p = posix();
    // Bound first: the SYN leaves from that port and our IPv6 address.
    let fd = p.socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0).expect("socket");
    p.bind(fd, v6(Ipv6Addr::UNSPECIFIED, 40000)).expect("bind");
    assert_eq!(p.connect(fd, v6(REMOTE6, 8080)), Err(Errno::EINPROGRESS));
    let syn = next(&p).expect("SYN");
    assert!(syn.syn && syn.ack.is_none());
    assert_eq!((syn.src, syn.dst), (Some(v6(LOCAL6, 40000)), Some(v6(REMOTE6, 8080))));
    assert_eq!(syn.mss, Some(1440));
    let peer = v6(REMOTE6, 8080);
    let synack = Seg { seq: 7000, ack: Some(syn.seq + 1), syn: true, ..Seg::default() };
    p.netdev_send(&packet(peer, v6(LOCAL6, 40000), &synack));
    assert_eq!(p.connect(fd, peer), Ok(()), "a finished non-blocking connect reports 0 once");
    assert_eq!(p.getpeername(fd), Ok(peer));
    assert_eq!(p.getsockname(fd), Ok(v6(LOCAL6, 40000)));
    let ack = next(&p).expect("the handshake's ACK");
    assert_eq!(ack.ack, Some(7001));

    // Unbound, to a mapped address: an IPv4 SYN from our IPv4 address.
    let fd = p.socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0).expect("socket");
    assert_eq!(p.connect(fd, mapped(REMOTE4, 8080)), Err(Errno::EINPROGRESS));
    let syn = next(&p).expect("SYN");
    assert_eq!(syn.dst, Some(v4(REMOTE4, 8080)));
    assert_eq!(syn.src.map(|s| s.ip()), Some(LOCAL4.into()));
    assert_eq!(syn.mss, Some(1460));
    let name = p.getsockname(fd).expect("getsockname");
    assert_eq!(name.ip(), std::net::IpAddr::V6(LOCAL4.to_ipv6_mapped()));
}

#[test]
fn addresses_of_the_wrong_family_are_refused_as_linux_does() {
    let p = posix();
    let fd4 = p.socket(libc::AF_INET, libc::SOCK_STREAM, 0).expect("socket");
    let fd6 = p.socket(libc::AF_INET6, libc::SOCK_STREAM, 0).expect("socket");
    assert_eq!(p.bind(fd4, v6(Ipv6Addr::UNSPECIFIED, 80)), Err(Errno::EAFNOSUPPORT));
    assert_eq!(p.connect(fd4, v6(REMOTE6, 80)), Err(Errno::EAFNOSUPPORT));
    assert_eq!(p.bind(fd6, v4(Ipv4Addr::UNSPECIFIED, 80)), Err(Errno::EAFNOSUPPORT));
    assert_eq!(p.connect(fd6, v4(REMOTE4, 80)), Err(Errno::EAFNOSUPPORT));
    // Not one of our addresses.
    assert_eq!(p.bind(fd6, v6(REMOTE6, 80)), Err(Errno::EADDRNOTAVAIL));
    // IPv6 options belong to AF_INET6 sockets.
    assert_eq!(
        p.setsockopt(fd4, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &1i32.to_ne_bytes()),
        Err(Errno::ENOPROTOOPT)
    );
    let domain = |fd| {
        let mut b = [0u8; 4];
        p.getsockopt(fd, libc::SOL_SOCKET, libc::SO_DOMAIN, &mut b).expect("SO_DOMAIN");
        i32::from_ne_bytes(b)
    };
    assert_eq!((domain(fd4), domain(fd6)), (libc::AF_INET, libc::AF_INET6));
    // An unbound socket's name is its family's wildcard.
    assert_eq!(p.getsockname(fd6), Ok(v6(Ipv6Addr::UNSPECIFIED, 0)));
}

#[test]
fn udp_over_ipv6_and_mapped_ipv4_on_one_socket() {
    let p = posix();
    let fd = p.socket(libc::AF_INET6, libc::SOCK_DGRAM, 0).expect("socket");
    p.bind(fd, v6(Ipv6Addr::UNSPECIFIED, 5353)).expect("bind");
    p.netdev_send(&udp_packet(v6(REMOTE6, 999), v6(LOCAL6, 5353), b"six"));
    p.netdev_send(&udp_packet(v4(REMOTE4, 998), v4(LOCAL4, 5353), b"four"));
    let mut buf = [0u8; 16];
    let mut recv = || {
        let (n, from) = p
            .recv_from(fd, &mut [IoSliceMut::new(&mut buf)], libc::MSG_DONTWAIT)
            .expect("a datagram");
        (buf[..n].to_vec(), from)
    };
    assert_eq!(recv(), (b"six".to_vec(), Some(v6(REMOTE6, 999))));
    assert_eq!(recv(), (b"four".to_vec(), Some(mapped(REMOTE4, 998))));
    // Replies go out in the family of the address given.
    for (dst, want_v6) in [(v6(REMOTE6, 999), true), (mapped(REMOTE4, 998), false)] {
        assert_eq!(p.send_to(fd, &[IoSlice::new(b"ok")], 0, Some(dst)), Ok(2));
        let mut out = [0u8; 256];
        let (n, _) = p.netdev_receive(&mut out, NO_WAIT).expect("datagram out");
        let pk = SlicedPacket::from_ip(&out[..n]).expect("ip");
        assert_eq!(matches!(pk.net, Some(NetSlice::Ipv6(_))), want_v6, "{dst}");
        let Some(TransportSlice::Udp(u)) = pk.transport else { panic!("not UDP") };
        assert_eq!((u.destination_port(), u.payload()), (dst.port(), &b"ok"[..]));
    }
    // An AF_INET socket on another port never hears IPv6 senders.
    let fd4 = p.socket(libc::AF_INET, libc::SOCK_DGRAM, 0).expect("socket");
    p.bind(fd4, v4(Ipv4Addr::UNSPECIFIED, 5354)).expect("bind");
    p.netdev_send(&udp_packet(v6(REMOTE6, 999), v6(LOCAL6, 5354), b"six"));
    assert_eq!(
        p.recv_from(fd4, &mut [IoSliceMut::new(&mut [0u8; 8])], libc::MSG_DONTWAIT),
        Err(Errno::EAGAIN)
    );
}

#[test]
fn udp_ipv6_only_and_ipv4_sockets_share_a_port_as_on_linux() {
    let p = posix();
    let dgram = |domain| p.socket(domain, libc::SOCK_DGRAM, 0).expect("socket");
    let only6 = || {
        let fd = dgram(libc::AF_INET6);
        p.setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &1i32.to_ne_bytes()).expect("set");
        fd
    };
    let fd4 = dgram(libc::AF_INET);
    p.bind(fd4, v4(Ipv4Addr::UNSPECIFIED, 5355)).expect("bind 0.0.0.0");
    let fd6 = only6();
    p.bind(fd6, v6(Ipv6Addr::UNSPECIFIED, 5355)).expect("bind [::] v6only beside 0.0.0.0");
    let in_use = Err(Errno::EADDRINUSE);
    assert_eq!(p.bind(dgram(libc::AF_INET6), v6(Ipv6Addr::UNSPECIFIED, 5355)), in_use);
    assert_eq!(p.bind(only6(), v6(Ipv6Addr::UNSPECIFIED, 5355)), in_use);
    assert_eq!(p.bind(dgram(libc::AF_INET), v4(Ipv4Addr::UNSPECIFIED, 5355)), in_use);
    // Each hears its own family.
    p.netdev_send(&udp_packet(v6(REMOTE6, 999), v6(LOCAL6, 5355), b"six"));
    p.netdev_send(&udp_packet(v4(REMOTE4, 998), v4(LOCAL4, 5355), b"four"));
    let recv = |fd| {
        let mut buf = [0u8; 16];
        let got = p.recv_from(fd, &mut [IoSliceMut::new(&mut buf)], libc::MSG_DONTWAIT);
        got.map(|(n, from)| (buf[..n].to_vec(), from))
    };
    assert_eq!(recv(fd6), Ok((b"six".to_vec(), Some(v6(REMOTE6, 999)))));
    assert_eq!(recv(fd4), Ok((b"four".to_vec(), Some(v4(REMOTE4, 998)))));
    assert_eq!((recv(fd6), recv(fd4)), (Err(Errno::EAGAIN), Err(Errno::EAGAIN)));
    // A dual-stack `[::]` clashes with either kind.
    let dual = dgram(libc::AF_INET6);
    p.bind(dual, v6(Ipv6Addr::UNSPECIFIED, 5356)).expect("bind");
    assert_eq!(p.bind(dgram(libc::AF_INET), v4(Ipv4Addr::UNSPECIFIED, 5356)), in_use);
    assert_eq!(p.bind(only6(), v6(Ipv6Addr::UNSPECIFIED, 5356)), in_use);
}

#[test]
fn a_reset_to_an_ipv6_syn_refuses_the_connect() {
    let p = posix();
    let fd = p.socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0).expect("socket");
    let peer = v6(REMOTE6, 9);
    assert_eq!(p.connect(fd, peer), Err(Errno::EINPROGRESS));
    let syn = next(&p).expect("SYN");
    let rst = Seg { seq: 0, ack: Some(syn.seq + 1), rst: true, ..Seg::default() };
    let pkt = packet(peer, syn.src.expect("source"), &rst);
    p.netdev_send(&pkt);
    assert_eq!(p.connect(fd, peer), Err(Errno::ECONNREFUSED));
    assert!(next(&p).is_none_or(|s| !s.rst), "no reply to a reset");
}

/// The C ABI reads and writes `sockaddr_in6` as libc lays it out, and checks lengths as Linux
/// does (`SIN6_LEN_RFC2133`: 24 bytes without the scope id are enough).
#[test]
fn the_c_abi_takes_and_gives_sockaddr_in6() {
    use xdptcp_posix::ffi;
    let flags = std::ffi::CString::new("rx_wait_ms=0").expect("no NUL");
    let ud = ffi::xdptcp_new(flags.as_ptr());
    assert!(!ud.is_null());
    let errno = || std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    // SAFETY: `ud` is live until xdptcp_free below; every pointer passed points to a local of
    // the length passed with it.
    unsafe {
        let fd = ffi::xdptcp_socket(ud, libc::AF_INET6, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut sin6: libc::sockaddr_in6 = std::mem::zeroed();
        sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sin6.sin6_port = 8080u16.to_be();
        sin6.sin6_addr.s6_addr = LOCAL6.octets();
        let at = (&sin6 as *const libc::sockaddr_in6).cast::<libc::sockaddr>();
        assert_eq!(ffi::xdptcp_bind(ud, fd, at, 20), -1, "shorter than RFC 2133's layout");
        assert_eq!(errno(), libc::EINVAL);
        assert_eq!(ffi::xdptcp_bind(ud, fd, at, 24), 0, "RFC 2133's layout is enough");

        let mut out: libc::sockaddr_in6 = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        let name = (&mut out as *mut libc::sockaddr_in6).cast::<libc::sockaddr>();
        assert_eq!(ffi::xdptcp_getsockname(ud, fd, name, &mut len), 0);
        assert_eq!(len, 28);
        assert_eq!(i32::from(out.sin6_family), libc::AF_INET6);
        assert_eq!((u16::from_be(out.sin6_port), out.sin6_addr.s6_addr), (8080, LOCAL6.octets()));

        // A short buffer gets the first bytes and the full length, as from the kernel.
        let mut small = [0u8; 8];
        let mut len: libc::socklen_t = 8;
        let name = small.as_mut_ptr().cast::<libc::sockaddr>();
        assert_eq!(ffi::xdptcp_getsockname(ud, fd, name, &mut len), 0);
        assert_eq!(len, 28);
        assert_eq!(&small[2..4], &8080u16.to_be_bytes());

        let mut unix: libc::sockaddr_in6 = std::mem::zeroed();
        unix.sin6_family = libc::AF_UNIX as libc::sa_family_t;
        let fd2 = ffi::xdptcp_socket(ud, libc::AF_INET6, libc::SOCK_STREAM, 0);
        let at = (&unix as *const libc::sockaddr_in6).cast::<libc::sockaddr>();
        assert_eq!(ffi::xdptcp_bind(ud, fd2, at, 28), -1);
        assert_eq!(errno(), libc::EAFNOSUPPORT);
        ffi::xdptcp_free(ud);
    }
}
