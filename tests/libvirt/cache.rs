//! The host's image cache within its `cache_limit`: images nothing uses are removed least
//! recently used first; an image another state uses is kept, even when it is older.

use crate::lab::{virsh, Lab};
use crate::support::Workdir;
use std::path::{Path, PathBuf};

const POOL: &str = "/var/lib/hive/pool";

fn cached_bytes() -> u64 {
    std::fs::read_dir(POOL)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    ["disk-", "qcow2-", "raw-", "kernel-", "initrd-"]
                        .iter()
                        .any(|k| n.starts_with(k))
                })
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn image(dir: &Path, name: &str, seed: u64) -> (PathBuf, String) {
    let bytes = crate::s3lab::pseudo_random(8 << 20, seed);
    let path = dir.join(format!("{name}.raw"));
    std::fs::write(&path, &bytes).expect("write an image");
    (path, crate::store::sha256_hex(&bytes))
}

fn config(name: &str, source: &Path, limit: &str) -> String {
    format!(
        "host \"local\" {{\n  cache_limit = \"{limit}\"\n}}\nimage \"{name}\" {{\n  host   = host.local\n  source = \"{}\"\n  format = \"raw\"\n}}\n",
        source.display()
    )
}

/// A cache file no state records (left by a lost state), last used `days` after 2000.
fn leftover(seed: u64, days: u64) -> String {
    let bytes = crate::s3lab::pseudo_random(8 << 20, seed);
    let name = format!("raw-{}", crate::store::sha256_hex(&bytes));
    let path = Path::new(POOL).join(&name);
    std::fs::write(&path, &bytes).expect("write a leftover");
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(946_684_800 + days * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(when))
        .expect("age it");
    name
}

#[test]
fn the_cache_limit_removes_unused_images_least_recently_used_first() {
    let lab = Lab::new("e2ek", 12);
    // Another state's image: in use, and older than anything once the leftovers are placed.
    let other = Workdir::new(Vec::new());
    let (kept_source, kept) = image(other.dir.path(), "kept", 101);
    other.write(&config("kept", &kept_source, "100GiB"));
    other.ok(&["apply", "-auto-approve"]);
    let kept = format!("raw-{kept}");
    let old = std::time::UNIX_EPOCH;
    std::fs::File::options()
        .write(true)
        .open(Path::new(POOL).join(&kept))
        .and_then(|f| f.set_modified(old))
        .expect("age the kept image");

    let oldest = leftover(103, 1);
    let newer = leftover(105, 2);
    assert!(virsh(&["pool-refresh", "hive"]).contains("refreshed"));
    let (source, new) = image(lab.dir.path(), "new", 107);
    let new = format!("raw-{new}");
    // Room for everything but 4 MiB: one leftover must go, the least recently used.
    let limit = cached_bytes() + (8 << 20) - (4 << 20);
    lab.write(&config("fresh", &source, &limit.to_string()));
    let applied = lab.ok(&["apply", "-auto-approve"]);
    assert!(
        applied.stdout.contains("removed 1 unused image(s)"),
        "{}",
        applied.stdout
    );
    let pool = virsh(&["vol-list", "hive"]);
    assert!(
        !pool.contains(&oldest),
        "the least recently used leftover is gone"
    );
    assert!(pool.contains(&newer), "the newer leftover is kept: {pool}");
    assert!(
        pool.contains(&kept),
        "another state's image is kept, old as it is"
    );
    assert!(pool.contains(&new));

    lab.ok(&["destroy", "-auto-approve"]);
    other.ok(&["destroy", "-auto-approve"]);
    let pool = virsh(&["vol-list", "hive"]);
    assert!(!pool.contains(&kept) && !pool.contains(&new), "{pool}");
    let _ = std::fs::remove_file(Path::new(POOL).join(&newer));
    let _ = virsh(&["pool-refresh", "hive"]);
}
