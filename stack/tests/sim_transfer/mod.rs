//! A one-way bulk transfer in the simulator, for the tests that watch or disturb the sender
//! while it runs (`sim_frto`, `sim_rtt_samples`).

use xdptcp_stack::sim::*;
use xdptcp_stack::stack::TcpHandle;
use xdptcp_stack::time::Duration;

/// A sends `total` bytes to B over `link` (both ways, seed `seed`); B reads and checks them.
/// `each_step` runs at every step first, with A's connection (to change the links, or to
/// read A's state). Returns the pair and A's connection once B has it all, within `limit`
/// of virtual time.
pub fn transfer(
    link: LinkConfig,
    seed: u64,
    total: usize,
    limit: Duration,
    each_step: impl FnMut(&mut Pair, TcpHandle),
) -> (Pair, TcpHandle) {
    transfer_over(Pair::with_link(link, seed), total, limit, each_step)
}

/// [`transfer`] over a pair built by the caller (to give A or B a configuration of its own).
pub fn transfer_over(
    mut p: Pair,
    total: usize,
    limit: Duration,
    mut each_step: impl FnMut(&mut Pair, TcpHandle),
) -> (Pair, TcpHandle) {
    let (a, b, _) = establish(&mut p, 5001, Duration::from_secs(30)).expect("established");
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got) = (0usize, 0usize);
    let mut buf = vec![0u8; 65536];
    let limit = p.now + limit;
    let done = p.drive(limit, |p| {
        each_step(p, a);
        while sent < total {
            match p.a.tcp_send(a, &data[sent..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => sent += n,
            }
        }
        while let Ok(n) = p.b.tcp_recv(b, &mut buf) {
            if n == 0 {
                break;
            }
            assert_eq!(buf[..n], data[got..got + n], "bytes arrive in order");
            got += n;
        }
        got == total
    });
    assert!(done, "transfer finished: {got} of {total}");
    (p, a)
}
