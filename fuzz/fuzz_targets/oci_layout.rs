//! slim's oci layout reader on arbitrary bytes (slim_image::fuzzing).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    slim_image::fuzzing::oci_layout(data);
});
