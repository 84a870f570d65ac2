//! Every configuration under examples/ validates.

use crate::support::{hive, run};
use std::path::Path;

#[test]
fn every_example_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut count = 0;
    for entry in std::fs::read_dir(&root)
        .expect("examples folder")
        .filter_map(Result::ok)
    {
        if !entry.path().is_dir() {
            continue;
        }
        count += 1;
        let r = run(hive().args(["validate"]).current_dir(entry.path()));
        assert_eq!(r.code, 0, "{}: {}", entry.path().display(), r.stderr);
        let fmt = run(hive().args(["fmt", "-check"]).current_dir(entry.path()));
        assert_eq!(
            fmt.code,
            0,
            "{} is not formatted: {}",
            entry.path().display(),
            fmt.stdout
        );
    }
    assert!(count >= 1, "no examples");
}
