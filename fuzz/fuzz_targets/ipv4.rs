#![no_main]
// Placeholder: replaced by the parser's real fuzz target.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
