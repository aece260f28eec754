//! Development aid: attach the probe, `docker run` an image, print the trace.
//!   cargo run -p slim-probe --example trace_run -- IMAGE [ARGS...]
use std::process::Command;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let probe = slim_probe::Probe::attach()?;
    let out = Command::new("docker")
        .args(["create"])
        .args(&args)
        .output()?;
    let id = String::from_utf8(out.stdout)?.trim().to_string();
    probe.watch_container(&id);
    let status = Command::new("docker").args(["start", "-a", &id]).status()?;
    Command::new("docker").args(["rm", "-f", &id]).output()?;
    let trace = probe.finish().await?;
    eprintln!("container exit: {status}");
    println!("{}", serde_json::to_string_pretty(&trace)?);
    Ok(())
}
