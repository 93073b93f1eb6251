#![cfg(feature = "sim")]
use xdptcp_stack::sim::*;
use xdptcp_stack::time::Duration;

#[test]
fn dbg() {
    let link = LinkConfig {
        delay: Duration::from_millis(5),
        bandwidth_bps: 100_000_000,
        queue_bytes: 128 * 1024,
        loss: 0.18943156842185918,
        reorder: 0.039215403068988686,
        reorder_delay: Duration::from_millis(10),
        duplicate: 0.07639909423362747,
        corrupt: 0.06967040205750248,
    };
    let mut p = Pair::with_link(link, 4146459841283258872);
    let r = bulk_transfer(&mut p, 238921, 21721, 4146459841283258872, Duration::from_secs(100));
    eprintln!("{r:?}");
    let ha = r.a.handle.unwrap();
    let hb = r.b.handle.unwrap();
    eprintln!("A {:?}\nB {:?}", p.a.tcp_info(ha), p.b.tcp_info(hb));
    eprintln!("A {:?}\nB {:?}", p.a.tcp_counters(), p.b.tcp_counters());
    eprintln!("A {:?}\nB {:?}", p.a.counters(), p.b.counters());
    eprintln!("{:?} {:?}", p.a_to_b.stats(), p.b_to_a.stats());
    eprintln!("A poll {:?} B poll {:?} now {:?}", p.a.poll_timeout(), p.b.poll_timeout(), p.now);
    panic!();
}
