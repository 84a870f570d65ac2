//! `hive import` of a container made with `lxc launch`: it becomes hive's (tagged for its
//! address), is not replaced, follows the configuration in place, and goes with a destroy.
//! A container that is already another address's, or none at all, is refused by name.

use crate::lab::{both, config_key, fingerprint, lxc, lxc_status, says, Lab, IMAGES};

const MADE: &str = r##"
host "local" {}

instance "made" {
  driver = "lxd"
  host   = host.local
  image  = "e2ei-busybox"
  name   = "e2ei-made"
  memory = "MEMORY"
  network {
    bridge = "hivelxd0"
  }
}

instance "other" {
  driver = "lxd"
  host   = host.local
  image  = "e2ei-busybox"
  name   = "e2ei-other"
}
"##;

/// The lab's busybox image under the alias the configuration names, for as long as the test
/// runs.
struct Alias;

impl Alias {
    fn new() -> Alias {
        let file = format!("{IMAGES}/busybox.tar.gz");
        let _ = lxc_status(&["image", "alias", "delete", "e2ei-busybox"]);
        if !lxc_status(&["image", "import", &file, "--alias", "e2ei-busybox"]) {
            // The daemon has it already (from another test): name it.
            let fp = fingerprint(&[&file]);
            assert!(lxc_status(&[
                "image",
                "alias",
                "create",
                "e2ei-busybox",
                &fp
            ]));
        }
        Alias
    }
}

impl Drop for Alias {
    fn drop(&mut self) {
        let _ = lxc_status(&["image", "alias", "delete", "e2ei-busybox"]);
    }
}

#[test]
fn a_container_made_with_lxc_launch_is_imported_then_managed() {
    let lab = Lab::new("e2ei", 10);
    let _alias = Alias::new();
    assert!(lxc_status(&[
        "launch",
        "e2ei-busybox",
        "e2ei-made",
        "-c",
        "limits.memory=128MiB"
    ]));
    let uuid = config_key("e2ei-made", "volatile.uuid");
    lab.write(&MADE.replace("MEMORY", "128MiB"));

    // Its host is not recorded yet, but a host's id and name are known from its block: the
    // import records the instance with it, and nothing is replaced later.
    let missing = lab.hive(&["import", "instance.other", "e2ei-nothing"]);
    assert_ne!(missing.code, 0);
    let said = both(&missing);
    assert!(says(&said, "no instance named e2ei-nothing"), "{said}");

    lab.ok(&["import", "instance.made", "e2ei-made"]);
    assert_eq!(
        config_key("e2ei-made", "user.hive.address"),
        "instance.made"
    );
    // Another address cannot take it.
    let taken = lab.hive(&["import", "instance.other", "e2ei-made"]);
    assert_ne!(taken.code, 0);
    let said = both(&taken);
    assert!(says(&said, "already hive's"), "{said}");

    // Adopted, not replaced: its devices become hive's in place.
    let plan = lab.ok(&["plan"]).stdout;
    assert!(
        !plan.contains("instance.made must be replaced")
            && !plan.contains("instance.made will be created"),
        "{plan}"
    );
    lab.write(&MADE.replace("MEMORY", "192MiB"));
    lab.ok(&["apply", "-auto-approve", "-target", "instance.made"]);
    assert_eq!(config_key("e2ei-made", "limits.memory"), "192MiB");
    assert_eq!(
        config_key("e2ei-made", "volatile.uuid"),
        uuid,
        "it was replaced"
    );
    let again = lab.hive(&["plan", "-detailed-exitcode", "-target", "instance.made"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);

    lab.ok(&["destroy", "-auto-approve"]);
    assert!(
        !lxc(&["list", "--format", "csv", "-c", "n"]).contains("e2ei-made"),
        "the imported container is still there"
    );
    lab.assert_clean();
}
