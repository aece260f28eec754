//! Issue #9: a PostgreSQL server (non-root USER, data directory baked into
//! the image at $PGDATA) slimmed with one `select 1` accepts connections and
//! runs queries it was never probed with: tables created, a collation of
//! its en_US.UTF-8 locale, a named time zone; with and without its profile.
use std::process::Command;

use slim_tests::*;

fn psql(port: u16, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
        .args([
            "-d",
            "postgres",
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("run psql (scripts/setup.sh installs it)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn wait_for(port: u16, c: &Container) {
    for _ in 0..150 {
        if psql(port, "select 1").is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("postgres did not accept connections; logs:\n{}", c.logs());
}

#[test]
fn postgres_accepts_connections_and_queries_beyond_the_probe() {
    if !e2e_ready() {
        return;
    }
    let image = fixture("postgres");
    let tag = Tag::new("postgres");
    let dir = TempDir::new("keep-postgres");
    let probe = r#"psql -h $SLIM_HOST -p $SLIM_PORT_5432 -U postgres -X -c 'select 1'"#;
    let r = build(
        &image,
        &tag,
        &dir,
        &["--no-http-probe", "--host-exec", probe],
    );
    eprintln!(
        "postgres: {} -> {} bytes",
        r["source"]["size_bytes"], r["result"]["size_bytes"]
    );
    assert_eq!(inspect(&tag.0, "{{.Config.User}}"), "postgres");
    for (mode, extra) in run_modes(&dir) {
        let (c, port) = serve(&tag.0, 5432, &extra);
        wait_for(port, &c);
        let q = |sql: &str| {
            psql(port, sql).unwrap_or_else(|e| panic!("{mode}: {sql}: {e}\n{}", c.logs()))
        };
        assert_eq!(q("select current_user"), "postgres");
        // The seeded table, sorted by the database's en_US.UTF-8 collation.
        assert_eq!(
            q("select string_agg(name, ',' order by name) from seeded"),
            "apple,Ärger,Zoë"
        );
        q("create table t (id serial primary key, note text)");
        q("insert into t (note) select 'n' || g from generate_series(1, 500) g");
        q("create index on t (note)");
        assert_eq!(q("select count(*) from t where note like 'n4%'"), "111");
        assert_eq!(q("select upper('zoë')"), "ZOË");
        assert_eq!(
            q("select to_char(timestamptz '2026-07-01 12:00+00' at time zone 'Asia/Tokyo', 'HH24:MI')"),
            "21:00"
        );
        assert_eq!(q("select 'b' < 'B' collate \"en_US.utf8\""), "t");
    }
    // The whole data directory, not only the files the probe's run read.
    let pgdata = "/var/lib/postgresql/data/";
    let out = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--user",
            "root",
            "--entrypoint",
            "find",
            &image,
            pgdata,
            "-type",
            "f",
        ])
        .output()
        .unwrap();
    let files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(files.len() > 500, "{} files in {pgdata}", files.len());
    let missing: Vec<&String> = files.iter().filter(|f| kept(&r, f).is_none()).collect();
    assert!(missing.is_empty(), "not kept from {pgdata}: {missing:?}");
    let by_rule = files
        .iter()
        .filter(|f| kept(&r, f).is_some_and(|k| k["rule"] == "env-dirs"))
        .count();
    assert!(by_rule > 0, "no file of {pgdata} kept by env-dirs");
}
