//! `Stack::receive_batch` does exactly what `Stack::receive` on each frame does: the same
//! server driven both ways by the same client traffic sends the same bytes, and so does one
//! whose batches go in stages with a prefetch (`StackConfig::prefetch`), and one that has a
//! prefetch but fewer connections than stages call for (`StackConfig::prefetch_from`), which
//! reads ahead with loads and prefetches nothing. And two connections
//! whose keys share their 32-bit hash, which the look-ahead cannot tell apart, each get their
//! own segments. A connection a listener opened is found ahead by the TSecr its peer echoes
//! (`stack::ts_slot`), one an active open made by its local port (`stack::port_slot`), and
//! two active opens from one port, which the port cannot tell apart, each get their own
//! segments too. A window of one connection's frames has its lines read ahead once.

mod common;

use common::frames_out;
use std::cell::Cell;
use std::net::Ipv4Addr;
use xdptcp_stack::flow::{FlowKey, FlowTable};
use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig};
use xdptcp_stack::stack::{Prefetch, Stack, StackConfig, StackEvent, StackKeys, TcpHandle};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::EthernetAddress;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const CONNECTIONS: usize = 40;

fn stack(ip: Ipv4Addr, mac: u8, seed: u64, prefetch: Option<(Prefetch, usize)>) -> Stack {
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, mac]), ip, 24);
    let mut cfg = StackConfig::new(iface, DeviceCaps::ethernet(1500), StackKeys::from_seed(seed));
    if let Some((prefetch, from)) = prefetch {
        cfg.prefetch = Some(prefetch);
        cfg.prefetch_from = from;
    }
    Stack::new(cfg, Instant::from_millis(1))
}

/// How the server is fed.
#[derive(Clone, Copy, PartialEq)]
enum Feed {
    OneByOne,
    Batched,
    /// Batched, with a prefetch: the staged look-ahead.
    Staged,
    /// Batched, with a prefetch from more connections than there are: read ahead with loads.
    BelowStaging,
}

thread_local! {
    /// Lines prefetched on this test's thread (the addresses are never read, as a prefetch
    /// reads nothing).
    static PREFETCHES: Cell<usize> = const { Cell::new(0) };
}

fn counting_prefetch(_first: *const u8, lines: usize) {
    PREFETCHES.set(PREFETCHES.get() + lines);
}

impl Feed {
    /// The server's prefetch and the connection count it stages from, as the feed asks.
    fn prefetch(self) -> Option<(Prefetch, usize)> {
        match self {
            Feed::Staged => Some((counting_prefetch as Prefetch, 0)),
            Feed::BelowStaging => Some((counting_prefetch as Prefetch, CONNECTIONS + 1)),
            Feed::OneByOne | Feed::Batched => None,
        }
    }
}

/// Gives the server the client's frames as `feed` says, then accepts every connection and
/// echoes everything readable.
fn feed_and_echo(server: &mut Stack, now: Instant, frames: &[Vec<u8>], feed: Feed, buf: &mut [u8]) {
    if feed == Feed::OneByOne {
        frames.iter().for_each(|f| server.receive(now, f));
    } else {
        server.receive_batch(now, frames.iter().map(|f| &f[..]));
    }
    while let Some(ev) = server.poll_event() {
        match ev {
            StackEvent::Acceptable(l) => while server.tcp_accept(l).is_some() {},
            StackEvent::Tcp(h, Event::Readable) => {
                while let Ok(n @ 1..) = server.tcp_recv(h, buf) {
                    server.tcp_send(h, &buf[..n]).unwrap();
                }
            }
            _ => {}
        }
    }
}

/// A message on each of the client's connections, numbered.
fn send_messages(client: &mut Stack, conns: &[TcpHandle]) {
    for (i, &c) in conns.iter().enumerate() {
        client.tcp_send(c, format!("message {i:02}").as_bytes()).unwrap();
    }
}

/// Runs the exchange (handshakes, a message per connection echoed back, closes) with the
/// server fed in batches or frame by frame; returns every frame the server sent and the bytes
/// the clients got back.
fn run(feed: Feed) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut server = stack(SERVER, 1, 7, feed.prefetch());
    let mut client = stack(CLIENT, 2, 9, None);
    let listener = server.tcp_listen(SERVER, 7, 128).unwrap();
    let mut now = Instant::from_millis(2);
    // One connection first, so the client has the server's address resolved (a neighbour
    // holds only a few packets while it is being resolved) before the rest connect together.
    let mut conns = vec![client.tcp_connect(now, SERVER, 7).unwrap()];
    let (mut sent, mut echoed, mut buf) = (Vec::new(), Vec::new(), [0u8; 256]);
    for round in 0..60 {
        let frames = frames_out(&mut client, now);
        feed_and_echo(&mut server, now, &frames, feed, &mut buf);
        let replies = frames_out(&mut server, now);
        sent.extend(replies.iter().cloned());
        for f in &replies {
            client.receive(now, f);
        }
        while let Some(ev) = client.poll_event() {
            if let StackEvent::Tcp(h, Event::Readable) = ev {
                while let Ok(n @ 1..) = client.tcp_recv(h, &mut buf) {
                    echoed.extend_from_slice(&buf[..n]);
                }
            }
        }
        match round {
            3 => {
                conns.extend((1..CONNECTIONS).map(|_| client.tcp_connect(now, SERVER, 7).unwrap()))
            }
            10 => send_messages(&mut client, &conns),
            30 => conns.iter().for_each(|&c| client.tcp_close(c).unwrap()),
            _ => {}
        }
        now += Duration::from_millis(5);
    }
    assert!(server.tcp_accept(listener).is_none());
    (sent, echoed)
}

#[test]
fn a_batch_is_received_as_its_frames_one_by_one() {
    let (one_by_one, echoed) = run(Feed::OneByOne);
    let (batched, echoed_batched) = run(Feed::Batched);
    assert_eq!(echoed.len(), CONNECTIONS * 10, "every message came back");
    assert!(one_by_one.len() > 3 * CONNECTIONS, "handshakes, echoes and closes were sent");
    assert_eq!(batched, one_by_one, "the server sent the same frames");
    assert_eq!(echoed_batched, echoed);
}

#[test]
fn a_staged_batch_is_received_as_its_frames_one_by_one() {
    let (one_by_one, echoed) = run(Feed::OneByOne);
    let before = PREFETCHES.get();
    let (staged, echoed_staged) = run(Feed::Staged);
    // The record and the connection's seven hot lines per found connection, then its wheel
    // entry and chunk, lines counted: batches of 40 frames fill the three stages.
    let prefetched = PREFETCHES.get() - before;
    assert!(prefetched > 9 * CONNECTIONS, "the staged look-ahead ran: {prefetched} prefetches");
    assert_eq!(staged, one_by_one, "the server sent the same frames");
    assert_eq!(echoed_staged, echoed);
}

#[test]
fn below_its_connection_count_a_batch_with_a_prefetch_is_not_staged() {
    let (one_by_one, echoed) = run(Feed::OneByOne);
    let before = PREFETCHES.get();
    let (batched, echoed_batched) = run(Feed::BelowStaging);
    assert_eq!(PREFETCHES.get(), before, "one connection short of staging, nothing prefetched");
    assert_eq!(batched, one_by_one, "the server sent the same frames");
    assert_eq!(echoed_batched, echoed);
}

/// Reads what the client's connections `conns` received into `echoed`, one buffer each.
fn read_echoes(client: &mut Stack, conns: &[TcpHandle], echoed: &mut [Vec<u8>], buf: &mut [u8]) {
    while let Some(ev) = client.poll_event() {
        if let StackEvent::Tcp(h, Event::Readable) = ev {
            let i = conns.iter().position(|&c| c == h).unwrap();
            while let Ok(n @ 1..) = client.tcp_recv(h, buf) {
                echoed[i].extend_from_slice(&buf[..n]);
            }
        }
    }
}

/// Sends round `round`'s message on each of `conns` ("to {i} in {round};").
fn send_round(client: &mut Stack, conns: &[TcpHandle], round: usize) {
    for (i, &c) in conns.iter().enumerate() {
        client.tcp_send(c, format!("to {i} in {round};").as_bytes()).unwrap();
    }
}

/// Each connection got back exactly its own messages of rounds 6 to 9, in order.
fn assert_rounds_echoed(echoed: &[Vec<u8>], context: &str) {
    for (i, got) in echoed.iter().enumerate() {
        let want: String = (6..=9).map(|r| format!("to {i} in {r};")).collect();
        assert_eq!(String::from_utf8_lossy(got), want, "connection {i}, {context}");
    }
}

/// A server seed and two (server port, client port) pairs whose connections' keys (from the
/// server's side) share their 32-bit flow hash: a birthday search over random port pairs,
/// seed after seed until one has a collision. (Random pairs, not a progression of client
/// ports: the multilinear hash spreads a progression too evenly for birthday odds.)
fn colliding_ports() -> (u64, [(u16, u16); 2]) {
    let mut rng = xdptcp_stack::rng::SplitMix64::new(5);
    for seed in 100.. {
        let table: FlowTable<()> = FlowTable::new(1, StackKeys::from_seed(seed).flow_hash);
        let mut seen = std::collections::HashMap::new();
        for _ in 0..1 << 18 {
            let r = rng.next_u64();
            let (local_port, remote_port) = (1 + (r as u16 >> 1), 1024 + (r >> 16) as u16 % 60_000);
            let key = FlowKey { local_ip: SERVER, local_port, remote_ip: CLIENT, remote_port };
            let pair = (local_port, remote_port);
            match seen.insert(table.hash(&key).value(), pair) {
                Some(other) if other != pair => return (seed, [other, pair]),
                _ => {}
            }
        }
    }
    unreachable!()
}

/// Two connections whose keys share their 32-bit hash are led by the look-ahead to the same
/// slot, one of them wrongly (the probe trusts the hash): each still gets its own segments,
/// batched, staged or one by one.
#[test]
fn connections_of_one_hash_each_get_their_own_segments() {
    let (seed, [(server_a, port_a), (server_b, port_b)]) = colliding_ports();
    for feed in [Feed::OneByOne, Feed::Batched, Feed::Staged] {
        let mut server = stack(SERVER, 1, seed, feed.prefetch());
        let mut client = stack(CLIENT, 2, 9, None);
        server.tcp_listen(SERVER, server_a, 8).unwrap();
        if server_b != server_a {
            server.tcp_listen(SERVER, server_b, 8).unwrap();
        }
        let mut now = Instant::from_millis(2);
        let config = *client.tcp_config();
        let a = client.tcp_connect_from(now, port_a, SERVER, server_a, config).unwrap();
        let mut conns = vec![a];
        let mut echoed: Vec<Vec<u8>> = vec![Vec::new(); 2];
        let mut buf = [0u8; 256];
        for round in 0..40 {
            let frames = frames_out(&mut client, now);
            feed_and_echo(&mut server, now, &frames, feed, &mut buf);
            for f in frames_out(&mut server, now) {
                client.receive(now, &f);
            }
            read_echoes(&mut client, &conns, &mut echoed, &mut buf);
            match round {
                2 => conns
                    .push(client.tcp_connect_from(now, port_b, SERVER, server_b, config).unwrap()),
                // Both connections' segments in each batch from here on.
                6..=9 => send_round(&mut client, &conns, round),
                _ => {}
            }
            now += Duration::from_millis(5);
        }
        assert_rounds_echoed(&echoed, &format!("fed {}", feed as u8));
    }
}

/// The slots `s`'s look-ahead names for the first window of `frames` (Ethernet, IPv4 without
/// options, TCP), each checked to be that of the connection among `conns` whose client port
/// (the one that is not the server's 7) the frame carries at byte `port_at`.
fn named_slots(
    s: &Stack,
    now: Instant,
    frames: &[Vec<u8>],
    conns: &[TcpHandle],
    port_at: usize,
) -> Vec<Option<usize>> {
    let slots = s.look_ahead_slots(now, frames.iter().take(16).map(|f| &f[..]));
    let by_port: std::collections::HashMap<u16, usize> = conns
        .iter()
        .map(|&h| {
            let (local, remote) = s.tcp_endpoints(h).unwrap();
            let client = if local.port() == 7 { remote.port() } else { local.port() };
            (client, h.index())
        })
        .collect();
    for (f, slot) in frames.iter().zip(&slots) {
        let port = u16::from_be_bytes([f[port_at], f[port_at + 1]]);
        assert_eq!(*slot, Some(by_port[&port]), "the slot of the connection of port {port}");
    }
    slots
}

/// The server's connections (opened by its listener) are named ahead by the echo of their
/// TSvals, a frame of an unknown 4-tuple echoing one of them too (the key is compared only
/// when the frame is handled); the client's (active opens, whose TSvals carry no slot) by
/// their local port, every one of them right, a frame from an unknown peer to one of those
/// ports too, and a frame to a port nothing was opened from by nothing.
#[test]
fn a_listener_s_connections_are_named_by_their_echo_and_an_active_open_s_by_its_port() {
    let mut server = stack(SERVER, 1, 7, None);
    let mut client = stack(CLIENT, 2, 9, None);
    let listener = server.tcp_listen(SERVER, 7, 128).unwrap();
    let mut now = Instant::from_millis(2);
    let mut conns = vec![client.tcp_connect(now, SERVER, 7).unwrap()];
    let mut accepted = Vec::new();
    let mut buf = [0u8; 64];
    for round in 0..20 {
        let frames = frames_out(&mut client, now);
        if round == 12 {
            // Data on every connection, each frame with the timestamps' common layout.
            assert_eq!(frames.len(), CONNECTIONS);
            // The client's port is the request's source.
            let slots = named_slots(&server, now, &frames, &accepted, 34);
            // Another client port, the same echo: no hash finds it, the echo names the slot.
            let mut stray = frames[0].clone();
            stray[35] ^= 0x55;
            let named = server.look_ahead_slots(now, [&stray[..], &frames[1][..]]);
            assert_eq!(named[0], slots[0], "the echo, not the key, names the slot");
            // An IPv4 header with options puts the echo further in: not the fixed offsets
            // the common layout is read at, but the general way names the same slot.
            let mut optioned = frames[0][..34].to_vec();
            optioned[14] = 0x46;
            optioned.extend_from_slice(&[1, 1, 1, 1]);
            optioned.extend_from_slice(&frames[0][34..]);
            let named = server.look_ahead_slots(now, [&optioned[..], &frames[1][..]]);
            assert_eq!(named[0], slots[0], "the echo behind IPv4 options");
            // The echo aged past its half of the TSval's low bits names some other slot.
            let late = now + Duration::from_secs(3600);
            let aged = server.look_ahead_slots(late, frames.iter().take(16).map(|f| &f[..]));
            assert_ne!(aged, slots, "an old echo is only a guess");
        }
        for f in &frames {
            server.receive(now, f);
        }
        while let Some(ev) = server.poll_event() {
            match ev {
                StackEvent::Acceptable(l) => {
                    while let Some(h) = server.tcp_accept(l) {
                        accepted.push(h);
                    }
                }
                StackEvent::Tcp(h, Event::Readable) => {
                    while let Ok(n @ 1..) = server.tcp_recv(h, &mut buf) {
                        server.tcp_send(h, &buf[..n]).unwrap();
                    }
                }
                _ => {}
            }
        }
        let replies = frames_out(&mut server, now);
        if round == 12 {
            assert_eq!(replies.len(), CONNECTIONS, "an echo per connection");
            // The client finds its own by their port, the reply's destination.
            let slots = named_slots(&client, now, &replies, &conns, 36);
            // Another server port, the same client port: no hash finds it, the port names
            // the slot.
            let mut stray = replies[0].clone();
            stray[34] ^= 0x55;
            let named = client.look_ahead_slots(now, [&stray[..], &replies[1][..]]);
            assert_eq!(named[0], slots[0], "the port, not the key, names the slot");
            // No connection was opened from port 1 (nor is the 4-tuple held).
            let mut unknown = replies[0].clone();
            unknown[36..38].copy_from_slice(&1u16.to_be_bytes());
            let named = client.look_ahead_slots(now, [&unknown[..], &replies[1][..]]);
            assert_eq!(named[0], None, "a port no connection was opened from");
        }
        for f in &replies {
            client.receive(now, f);
        }
        while client.poll_event().is_some() {}
        match round {
            3 => {
                conns.extend((1..CONNECTIONS).map(|_| client.tcp_connect(now, SERVER, 7).unwrap()))
            }
            11 => send_messages(&mut client, &conns),
            _ => {}
        }
        now += Duration::from_millis(5);
    }
    assert_eq!(accepted.len(), CONNECTIONS);
    assert!(server.tcp_accept(listener).is_none());
}

/// Two active opens from one local port, to two ports of the server: the port names the
/// later one's slot, so the look-ahead leads the earlier one's segments to the wrong
/// connection. Each still gets its own bytes, the client taking its frames in batches.
#[test]
fn active_opens_from_one_port_each_get_their_own_segments() {
    const PORT: u16 = 40_000;
    let mut server = stack(SERVER, 1, 7, None);
    let mut client = stack(CLIENT, 2, 9, None);
    server.tcp_listen(SERVER, 7, 8).unwrap();
    server.tcp_listen(SERVER, 8, 8).unwrap();
    let config = *client.tcp_config();
    let mut now = Instant::from_millis(2);
    let first = client.tcp_connect_from(now, PORT, SERVER, 7, config).unwrap();
    let second = client.tcp_connect_from(now, PORT, SERVER, 8, config).unwrap();
    let conns = [first, second];
    let mut echoed: Vec<Vec<u8>> = vec![Vec::new(); 2];
    let mut buf = [0u8; 256];
    let mut checked = false;
    for round in 0..30 {
        let frames = frames_out(&mut client, now);
        feed_and_echo(&mut server, now, &frames, Feed::Batched, &mut buf);
        let replies = frames_out(&mut server, now);
        if replies.len() == 2 && (6..=9).contains(&round) {
            // Both replies go to the one port, which names the later open's slot.
            let named = client.look_ahead_slots(now, replies.iter().map(|f| &f[..]));
            assert_eq!(named, vec![Some(second.index()); 2], "round {round}");
            checked = true;
        }
        client.receive_batch(now, replies.iter().map(|f| &f[..]));
        read_echoes(&mut client, &conns, &mut echoed, &mut buf);
        if (6..=9).contains(&round) {
            send_round(&mut client, &conns, round);
        }
        now += Duration::from_millis(5);
    }
    assert!(checked, "both replies of a round came in one batch");
    assert_rounds_echoed(&echoed, "batched");
    // The later connection aborted, its slot freed: an open from the next port names the
    // slot it takes (perhaps the freed one) by that port.
    client.tcp_abort(second).unwrap();
    let third = client.tcp_connect_from(now, PORT + 1, SERVER, 8, config).unwrap();
    let syn = frames_out(&mut client, now);
    feed_and_echo(&mut server, now, &syn, Feed::Batched, &mut buf);
    let replies = frames_out(&mut server, now);
    let named = client.look_ahead_slots(now, replies.iter().map(|f| &f[..]));
    let to_third = replies
        .iter()
        .position(|f| u16::from_be_bytes([f[36], f[37]]) == PORT + 1)
        .expect("the server answered the new open");
    assert_eq!(named[to_third], Some(third.index()));
}

/// A batch of one connection's frames (a bulk transfer's) has that connection's lines read
/// ahead once, not once a frame: staged, the server prefetches one connection's worth of
/// lines for the window (its slot and two more, under 16), where it fetched them for each of
/// the window's ten frames before (over 80). The bytes arrive all the same.
#[test]
fn a_window_of_one_connection_s_frames_reads_its_lines_ahead_once() {
    let mut server = stack(SERVER, 1, 7, Feed::Staged.prefetch());
    let mut client = stack(CLIENT, 2, 9, None);
    server.tcp_listen(SERVER, 7, 8).unwrap();
    let mut now = Instant::from_millis(2);
    let c = client.tcp_connect(now, SERVER, 7).unwrap();
    let mut buf = [0u8; 2048];
    for _ in 0..4 {
        let frames = frames_out(&mut client, now);
        feed_and_echo(&mut server, now, &frames, Feed::Staged, &mut buf);
        for f in frames_out(&mut server, now) {
            client.receive(now, &f);
        }
        now += Duration::from_millis(5);
    }
    // Ten full segments at once (the initial window; 1,448 bytes each with timestamps), one
    // connection's.
    let data: Vec<u8> = (0..10 * 1448).map(|i| i as u8).collect();
    assert_eq!(client.tcp_send(c, &data).unwrap(), data.len());
    let frames = frames_out(&mut client, now);
    assert_eq!(frames.len(), 10, "the initial window in full segments");
    let before = PREFETCHES.get();
    server.receive_batch(now, frames.iter().map(|f| &f[..]));
    let prefetched = PREFETCHES.get() - before;
    assert!((1..16).contains(&prefetched), "one connection's lines, once: {prefetched}");
    let mut got = Vec::new();
    while let Some(ev) = server.poll_event() {
        if let StackEvent::Tcp(h, Event::Readable) = ev {
            while let Ok(n @ 1..) = server.tcp_recv(h, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
    }
    assert_eq!(got.len(), data.len(), "every byte arrived");
    assert!(got == data, "in order");
}
