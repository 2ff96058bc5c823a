//! `proctorctl hosts`: the hosts a host list names, from the inventory the environment points
//! to, with its errors naming the file and line (what `-H` will reach: issue 18's groundwork).
#![allow(clippy::unwrap_used)]
#![forbid(unsafe_code)]

use proctor_tests::*;

fn hosts(inventory: &std::path::Path, list: &str) -> std::process::Output {
    command(&bin("proctorctl"))
        .env("PROCTOR_HOSTS", inventory)
        .args(["hosts", "--", list])
        .output()
        .unwrap()
}

#[test]
fn host_lists_expand_ranges_and_inventory_groups() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("hosts");
    std::fs::write(
        &inv,
        "# the fleet\n[web]\nweb[01-03]  admin@web9:2222\n[db]\ndb1, db2\n[prod]\n@web\n@db\n",
    )
    .unwrap();
    let o = hosts(&inv, "@prod,db1,[::1]:2022");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "web01\nweb02\nweb03\nadmin@web9:2222\ndb1\ndb2\n[::1]:2022\n"
    );
    // What could become an ssh option or a shell word is not a host.
    for bad in ["-oProxyCommand=touch x", "a;id", "@nosuch", "web[3-1]"] {
        let o = hosts(&inv, bad);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stdout(&o));
        assert!(stderr(&o).starts_with("proctorctl: "), "{}", stderr(&o));
    }
    std::fs::write(&inv, "[web]\nweb1\nweb[x-y]\n").unwrap();
    let o = hosts(&inv, "web1");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!(
            "proctorctl: {}:3: web[x-y]: a range is of numbers, as web[1-12]\n",
            inv.display()
        )
    );
}
