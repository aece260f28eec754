//! A crafted registry for issue #19: it answers the distribution API's
//! GETs for one image with whatever a test gives it (blobs that are longer
//! than their descriptors, altered, endless, a Content-Length that lies),
//! over plain HTTP on 127.0.0.1, one request per connection, and counts the
//! bytes of blobs the client took. A real registry checks what it stores,
//! so it cannot play a hostile one.
use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

use crate::hostile::sha256;

/// What the registry sends for a blob.
#[derive(Clone)]
pub enum Body {
    /// These bytes, with their Content-Length.
    Bytes(Vec<u8>),
    /// These bytes, then zeros without end (no Content-Length; stops at
    /// 1 GiB or when the client goes).
    Endless(Vec<u8>),
    /// These bytes under a Content-Length header of this many.
    Claiming(Vec<u8>, u64),
}

pub struct FakeRegistry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

impl FakeRegistry {
    /// Serves `manifest` for every tag and `blobs` by digest.
    pub fn serve(manifest: Vec<u8>, blobs: Vec<(String, Body)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (sent.clone(), stop.clone());
        let blobs = Arc::new(blobs);
        let manifest = Arc::new(manifest);
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, blobs, manifest) = (s.clone(), blobs.clone(), manifest.clone());
                std::thread::spawn(move || answer(conn, &manifest, &blobs, &s));
            }
        });
        Self {
            host,
            sent,
            stop,
            thread: Some(thread),
        }
    }

    /// Bytes of blob bodies written to clients so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(&self.host);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(mut conn: TcpStream, manifest: &[u8], blobs: &[(String, Body)], sent: &AtomicU64) {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req);
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let head = method == "HEAD";
    let reply = |conn: &mut TcpStream, status: &str, ctype: &str, extra: &str, len: Option<u64>| {
        let len = len.map_or(String::new(), |n| format!("Content-Length: {n}\r\n"));
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{len}{extra}Connection: close\r\n\r\n"
        );
    };
    if path == "/v2/" || path == "/v2" {
        reply(&mut conn, "200 OK", "application/json", "", Some(2));
        let _ = conn.write_all(b"{}");
    } else if path.contains("/manifests/") {
        let extra = format!("Docker-Content-Digest: {}\r\n", sha256(manifest));
        reply(
            &mut conn,
            "200 OK",
            OCI_MANIFEST,
            &extra,
            Some(manifest.len() as u64),
        );
        if !head {
            let _ = conn.write_all(manifest);
        }
    } else if let Some((_, body)) = path
        .rsplit_once("/blobs/")
        .and_then(|(_, d)| blobs.iter().find(|(digest, _)| digest == d))
    {
        let ctype = "application/octet-stream";
        let (bytes, len, endless) = match body {
            Body::Bytes(b) => (b, Some(b.len() as u64), false),
            Body::Endless(b) => (b, None, true),
            Body::Claiming(b, n) => (b, Some(*n), false),
        };
        reply(&mut conn, "200 OK", ctype, "", len);
        if head {
            return;
        }
        if conn.write_all(bytes).is_err() {
            return;
        }
        sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if endless {
            let zeros = vec![0u8; 64 << 10];
            for _ in 0..(1u64 << 30) / zeros.len() as u64 {
                if conn.write_all(&zeros).is_err() {
                    return;
                }
                sent.fetch_add(zeros.len() as u64, Ordering::Relaxed);
            }
        }
    } else {
        reply(&mut conn, "404 Not Found", "application/json", "", Some(2));
        let _ = conn.write_all(b"{}");
    }
}

/// The manifest of an image whose config and layers have these digests
/// and sizes (a test may lie about either).
pub fn manifest(config: (&str, i64), layers: &[(&str, i64)]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|(d, s)| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                               "digest": d, "size": s})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config.0, "size": config.1},
        "layers": layers,
    }))
    .unwrap()
}
