//! Model-based tests of the flow table against `std::collections::HashMap`.

use proptest::prelude::*;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use xdptcp_stack::flow::{FlowError, FlowHandle, FlowKey, FlowTable, ListenKey, ListenerTable};

/// Keys from a small space, so inserts collide with existing keys and removes hit often.
fn key() -> impl Strategy<Value = FlowKey> {
    (0..3u8, 0..4u16, 0..3u8, 0..6u16).prop_map(|(l, lp, r, rp)| FlowKey {
        local_ip: Ipv4Addr::new(10, 0, 0, l),
        local_port: 8000 + lp,
        remote_ip: Ipv4Addr::new(192, 168, 0, r),
        remote_port: 40000 + rp,
    })
}

#[derive(Debug, Clone)]
enum Op {
    Insert(FlowKey, u32),
    Remove(FlowKey),
    Lookup(FlowKey),
    /// Use the n-th handle ever issued, live or not.
    UseOldHandle(usize),
    Mutate(FlowKey, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => key().prop_map(Op::Remove),
        2 => key().prop_map(Op::Lookup),
        1 => any::<usize>().prop_map(Op::UseOldHandle),
        1 => (key(), any::<u32>()).prop_map(|(k, v)| Op::Mutate(k, v)),
    ]
}

proptest! {
    #[test]
    fn behaves_like_a_hash_map(capacity in 1..40usize, seed in any::<[u8; 16]>(),
                               ops in proptest::collection::vec(op(), 0..300)) {
        let mut table: FlowTable<u32> = FlowTable::new(capacity, seed);
        let mut model: HashMap<FlowKey, (FlowHandle, u32)> = HashMap::new();
        let mut issued: Vec<(FlowHandle, FlowKey)> = Vec::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    let got = table.insert(k, v);
                    if model.contains_key(&k) {
                        prop_assert_eq!(got, Err(FlowError::Exists));
                    } else if model.len() == capacity {
                        prop_assert_eq!(got, Err(FlowError::Full));
                    } else {
                        let h = got.unwrap();
                        prop_assert!(h.index() < capacity, "slots are dense");
                        prop_assert!(model.values().all(|(o, _)| o.index() != h.index()));
                        model.insert(k, (h, v));
                        issued.push((h, k));
                    }
                }
                Op::Remove(k) => {
                    prop_assert_eq!(table.remove_key(&k), model.remove(&k).map(|(_, v)| v));
                }
                Op::Lookup(k) => {
                    let h = table.lookup(&k);
                    prop_assert_eq!(h, model.get(&k).map(|(h, _)| *h));
                    prop_assert_eq!(h.and_then(|h| table.get(h)), model.get(&k).map(|(_, v)| v));
                    prop_assert_eq!(table.lookup_hashed(&k, table.hash(&k)), h);
                }
                Op::UseOldHandle(n) => {
                    if issued.is_empty() { continue; }
                    let (h, k) = issued[n % issued.len()];
                    let live = model.get(&k).filter(|(mh, _)| *mh == h).map(|(_, v)| *v);
                    prop_assert_eq!(table.get(h).copied(), live);
                    prop_assert_eq!(table.key(h), live.map(|_| k));
                    if live.is_none() {
                        prop_assert_eq!(table.get_mut(h), None);
                        prop_assert_eq!(table.remove(h), None);
                    }
                }
                Op::Mutate(k, v) => {
                    if let Some(h) = table.lookup(&k) {
                        *table.get_mut(h).unwrap() = v;
                        model.get_mut(&k).unwrap().1 = v;
                    } else {
                        prop_assert!(!model.contains_key(&k));
                    }
                }
            }
            prop_assert_eq!(table.len(), model.len());
        }
        let mut listed: Vec<_> = table.iter().map(|(h, k, v)| (k, (h, *v))).collect();
        let mut expected: Vec<_> = model.into_iter().collect();
        listed.sort_by_key(|(k, _)| k.to_bytes());
        expected.sort_by_key(|(k, _)| k.to_bytes());
        prop_assert_eq!(listed, expected);
    }

    #[test]
    fn fills_to_capacity_and_empties(capacity in 1..300usize, seed in any::<[u8; 16]>()) {
        let mut t: FlowTable<usize> = FlowTable::new(capacity, seed);
        let keys: Vec<FlowKey> = (0..capacity as u32)
            .map(|i| FlowKey {
                local_ip: Ipv4Addr::new(10, 0, 0, 1),
                local_port: 443,
                remote_ip: Ipv4Addr::from(0x0a01_0000 + i / 1000),
                remote_port: (i % 1000) as u16 + 1024,
            })
            .collect();
        let handles: Vec<_> = keys.iter().enumerate().map(|(i, k)| t.insert(*k, i).unwrap()).collect();
        prop_assert!(t.is_full());
        let extra = FlowKey { remote_port: 1, ..keys[0] };
        prop_assert_eq!(t.insert(extra, 0), Err(FlowError::Full));
        for (i, k) in keys.iter().enumerate() {
            prop_assert_eq!(t.lookup(k), Some(handles[i]));
        }
        // Remove every other entry, then check the rest are all still reachable (the
        // backward-shift deletion must not strand anything).
        for (i, h) in handles.iter().enumerate().step_by(2) {
            prop_assert_eq!(t.remove(*h), Some(i));
        }
        for (i, k) in keys.iter().enumerate() {
            prop_assert_eq!(t.lookup(k).is_some(), i % 2 == 1);
        }
        for h in handles.iter().skip(1).step_by(2) {
            prop_assert!(t.remove(*h).is_some());
        }
        prop_assert!(t.is_empty());
        for k in &keys {
            prop_assert_eq!(t.lookup(k), None);
        }
    }

    #[test]
    fn listener_lookup_matches_a_linear_model(
        binds in proptest::collection::vec((0..3u8, 0..4u16), 0..12),
        probes in proptest::collection::vec((1..3u8, 0..4u16), 1..20),
    ) {
        // ip 0 is the wildcard.
        let mut t: ListenerTable<(u8, u16)> = ListenerTable::new(16, [9; 16]);
        let mut bound = Vec::new();
        for (ip, port) in binds {
            let k = ListenKey::new(Ipv4Addr::new(0, 0, 0, ip), port);
            let k = if ip == 0 { ListenKey::new(Ipv4Addr::UNSPECIFIED, port) } else { k };
            if t.insert(k, (ip, port)).is_ok() {
                bound.push((ip, port));
            }
        }
        for (ip, port) in probes {
            let want = if bound.contains(&(ip, port)) {
                Some((ip, port))
            } else if bound.contains(&(0, port)) {
                Some((0, port))
            } else {
                None
            };
            let got = t.lookup_listener(Ipv4Addr::new(0, 0, 0, ip), port).and_then(|h| t.get(h)).copied();
            prop_assert_eq!(got, want);
        }
    }
}

#[test]
fn hash_depends_on_the_secret_and_every_field() {
    let a: FlowTable<()> = FlowTable::new(1, [1; 16]);
    let b: FlowTable<()> = FlowTable::new(1, [2; 16]);
    let k = FlowKey {
        local_ip: Ipv4Addr::new(10, 0, 0, 1),
        local_port: 80,
        remote_ip: Ipv4Addr::new(10, 0, 0, 2),
        remote_port: 5555,
    };
    assert_ne!(a.hash(&k), b.hash(&k));
    let variants = [
        FlowKey { local_ip: Ipv4Addr::new(10, 0, 0, 3), ..k },
        FlowKey { local_port: 81, ..k },
        FlowKey { remote_ip: Ipv4Addr::new(10, 0, 0, 4), ..k },
        FlowKey { remote_port: 5556, ..k },
        // Swapping the two ends is a different flow.
        FlowKey {
            local_ip: k.remote_ip,
            local_port: k.remote_port,
            remote_ip: k.local_ip,
            remote_port: k.local_port,
        },
    ];
    for v in variants {
        assert_ne!(a.hash(&k), a.hash(&v), "{v:?}");
    }
}
