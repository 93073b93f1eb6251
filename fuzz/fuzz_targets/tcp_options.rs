#![no_main]
//! Runs the TCP option parser over arbitrary bytes: it must end, consume at least one byte per
//! item, and every option it accepts must emit back to the bytes it came from (a window scale
//! above 14 excepted: parsing clamps it).
use libfuzzer_sys::fuzz_target;
use xdptcp_stack::wire::tcp_options::{self, TcpOption, TcpOptions};

fuzz_target!(|data: &[u8]| {
    let mut at = 0usize;
    let mut items = 0usize;
    let mut parsed = Vec::new();
    for item in TcpOptions::new(data) {
        items += 1;
        assert!(items <= data.len(), "option parser made no progress");
        let Ok(option) = item else { break };
        let len = option.buffer_len();
        let source = &data[at..at + len];
        let mut out = vec![0u8; len];
        assert_eq!(option.emit(&mut out), len);
        match option {
            TcpOption::WindowScale(shift) => {
                assert_eq!(&out[..2], &source[..2]);
                assert_eq!(shift, source[2].min(14));
            }
            _ => assert_eq!(&out[..], source),
        }
        at += len;
        parsed.push(option);
    }
    assert!(at <= data.len());
    // The list emitter: padded to 4 bytes, and it parses back to the same options.
    let len = tcp_options::buffer_len(&parsed);
    let mut buf = vec![0u8; len];
    assert_eq!(tcp_options::emit(&parsed, &mut buf), len);
    assert_eq!(len % 4, 0);
    let mut back = TcpOptions::new(&buf).map(|r| r.expect("emitted options parse"));
    for option in parsed.iter().filter(|o| **o != TcpOption::NoOperation) {
        let next = back.find(|o| *o != TcpOption::NoOperation);
        assert_eq!(next.as_ref(), Some(option));
        if *option == TcpOption::EndOfList {
            break;
        }
    }
});
