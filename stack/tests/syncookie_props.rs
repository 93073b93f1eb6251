//! Property tests of SYN cookies over random 4-tuples, client ISNs, keys and times.
//!
//! A forged cookie is accepted with probability about 2^-22 per try, so "every mutation is
//! rejected" could in principle fail by chance. The runs use a fixed seed so that the outcome
//! is reproducible: a failure means the code changed, not that the dice did.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use std::net::Ipv4Addr;
use xdptcp_stack::tcp::syncookie::{
    decode_ts_options, encode_ts_options, CookieMss, SynCookies, COUNTER_PERIOD, MSS_TABLE,
    VALID_PERIODS,
};
use xdptcp_stack::tcp::SeqNumber;
use xdptcp_stack::time::{Duration, Instant};

fn endpoint() -> impl Strategy<Value = (Ipv4Addr, u16)> {
    (any::<u32>(), any::<u16>()).prop_map(|(a, p)| (Ipv4Addr::from(a), p))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        rng_seed: RngSeed::Fixed(0x5eed_c00c),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn round_trip_within_validity(
        key in any::<[u8; 16]>(),
        local in endpoint(),
        remote in endpoint(),
        isn in any::<u32>(),
        mss in any::<u16>(),
        made in 0u64..(1 << 50),
        later in 0u64..(VALID_PERIODS * COUNTER_PERIOD.total_nanos()),
    ) {
        let c = SynCookies::new(key);
        let made = Instant::from_nanos(made);
        let isn = SeqNumber(isn);
        let cookie = c.encode(made, local, remote, isn, mss);
        // Accepted until the clock has moved VALID_PERIODS periods past the one it was made in.
        let period = COUNTER_PERIOD.total_nanos();
        let deadline = (made.total_nanos() / period + VALID_PERIODS) * period;
        let checked = made + Duration::from_nanos(later);
        let got = c.decode(checked, local, remote, isn, cookie);
        if checked.total_nanos() < deadline {
            let expected = MSS_TABLE.iter().rev().find(|&&m| m <= mss).copied().unwrap_or(MSS_TABLE[0]);
            prop_assert_eq!(got, Some(CookieMss { mss: expected }));
            prop_assert!(expected <= mss.max(MSS_TABLE[0]));
        } else {
            prop_assert_eq!(got, None);
        }
    }

    #[test]
    fn mutations_are_rejected(
        key in any::<[u8; 16]>(),
        other_key in any::<[u8; 16]>(),
        local in endpoint(),
        remote in endpoint(),
        other in endpoint(),
        isn in any::<u32>(),
        isn_delta in 1u32..,
        flip in 0u32..32,
        mss in any::<u16>(),
        made in 0u64..(1 << 50),
        stale in VALID_PERIODS..1000,
    ) {
        let c = SynCookies::new(key);
        let made = Instant::from_nanos(made);
        let isn = SeqNumber(isn);
        let cookie = c.encode(made, local, remote, isn, mss);
        prop_assert!(c.decode(made, local, remote, isn, cookie).is_some());
        if other != remote {
            prop_assert_eq!(c.decode(made, local, other, isn, cookie), None);
        }
        if other != local {
            prop_assert_eq!(c.decode(made, other, remote, isn, cookie), None);
        }
        prop_assert_eq!(c.decode(made, local, remote, isn + isn_delta, cookie), None);
        prop_assert_eq!(c.decode(made, local, remote, isn, SeqNumber(cookie.0 ^ (1 << flip))), None);
        if other_key != key {
            prop_assert_eq!(SynCookies::new(other_key).decode(made, local, remote, isn, cookie), None);
        }
        let late = made + COUNTER_PERIOD.saturating_mul(stale);
        prop_assert_eq!(c.decode(late, local, remote, isn, cookie), None);
    }

    #[test]
    fn ts_options_round_trip(
        base in any::<u32>(),
        wscale in proptest::option::of(any::<u8>()),
        sack in any::<bool>(),
        ecn in any::<bool>(),
    ) {
        let ts = encode_ts_options(base, wscale, sack, ecn);
        prop_assert!(base.wrapping_sub(ts) < 128, "TSval {:#x} not just behind {:#x}", ts, base);
        let opts = decode_ts_options(ts);
        prop_assert!(opts.is_some());
        let opts = opts.unwrap_or_default();
        prop_assert_eq!(opts.wscale, wscale.map(|w| w.min(14)));
        prop_assert_eq!(opts.sack_permitted, sack);
        prop_assert_eq!(opts.ecn, ecn);
    }
}
