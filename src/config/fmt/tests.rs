#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn scratch() {
    let src = std::fs::read_to_string("/tmp/in.hcl").unwrap();
    print!("{}", format_source(&src).unwrap());
}
