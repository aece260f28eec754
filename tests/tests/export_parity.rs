//! Issue #11 (4): reading an image in place (overlay2) and from the
//! engine's export stream gives the same layer, byte for byte, for FIFOs,
//! device nodes, hard links, xattrs and sparse files (export used to turn
//! FIFOs and devices into empty regular files). The xattr is a file
//! capability: Docker's layers carry no other kind.
use std::process::Command;

use slim_tests::*;

/// /data with a FIFO, a character device, two hard links and a file.
fn special_tar(path: &std::path::Path) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let entry = |kind: tar::EntryType, mode: u32| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h
    };
    let mut h = entry(tar::EntryType::Directory, 0o755);
    b.append_data(&mut h, "data/", std::io::empty()).unwrap();
    let mut h = entry(tar::EntryType::Fifo, 0o644);
    b.append_data(&mut h, "data/fifo", std::io::empty())
        .unwrap();
    let mut h = entry(tar::EntryType::Char, 0o666);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    b.append_data(&mut h, "data/null", std::io::empty())
        .unwrap();
    let mut h = entry(tar::EntryType::Regular, 0o644);
    h.set_size(6);
    b.append_data(&mut h, "data/hard1", &b"linked"[..]).unwrap();
    let mut h = entry(tar::EntryType::Link, 0o644);
    b.append_link(&mut h, "data/hard2", "data/hard1").unwrap();
    let mut h = entry(tar::EntryType::Regular, 0o644);
    h.set_size(4);
    b.append_data(&mut h, "data/attr", &b"attr"[..]).unwrap();
    b.finish().unwrap();
}

#[test]
fn special_files_give_the_same_layer_both_ways() {
    if !e2e_ready() {
        return;
    }
    let ctx = TempDir::new("special-ctx");
    special_tar(&ctx.0.join("special.tar"));
    let check = "test -p /data/fifo && test -c /data/null && cat /data/hard2 /data/attr /data/sparse >/dev/null";
    std::fs::write(
        ctx.0.join("Dockerfile"),
        format!(
            "FROM {}\nADD special.tar /\nRUN truncate -s 8M /data/sparse && printf end >> /data/sparse\n\
             RUN python3 -c \"import os, struct; os.setxattr('/data/attr', 'security.capability', struct.pack('<5I', 0x02000001, 1 << 13, 0, 0, 0))\"\n\
             ENTRYPOINT [\"sh\", \"-c\", \"{check}\"]\n",
            fixture("py-web")
        ),
    )
    .unwrap();
    let image = Tag::new("special-src");
    let built = Command::new("docker")
        .args(["build", "-q", "-t", &image.0])
        .arg(&ctx.0)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&built.stderr)
    );

    let mut digests = Vec::new();
    for how in ["in-place", "export"] {
        let tag = Tag::new(&format!("special-{how}"));
        let dir = TempDir::new(&format!("special-{how}"));
        let r = build(
            &image.0,
            &tag,
            &dir,
            &[
                "--keep",
                "minimal",
                "--include-path",
                "/data",
                "--read-layers",
                how,
                "--no-http-probe",
                "--continue-after",
                "exit",
            ],
        );
        digests.push(r["layer"]["digest"].as_str().unwrap().to_string());
        let run = Command::new("docker")
            .args(["run", "--rm", &tag.0])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{how}: the slim image lost a special file: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let xattr = Command::new("docker")
            .args(["save", &tag.0])
            .output()
            .unwrap();
        let record = b"SCHILY.xattr.security.capability=";
        assert!(
            xattr.stdout.windows(record.len()).any(|w| w == record),
            "{how}: the xattr is not in the layer"
        );
    }
    assert_eq!(digests[0], digests[1], "in-place and export layers differ");
}
