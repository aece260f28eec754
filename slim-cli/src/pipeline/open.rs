//! Step one: connect to the engine (removing what dead runs left there)
//! and open the source image.
use anyhow::Result;

use super::plan::ProfilePlan;
use crate::{
    engine::{self, Engine},
    image::source::{self, Source},
    progress::Steps,
    session::Cleanup,
};

pub async fn open(
    plan: &ProfilePlan,
    cleanup: &Cleanup,
    steps: &mut Steps,
) -> Result<(Engine, Source)> {
    steps.step("inspect", "inspecting the image");
    let engine = engine::connect(plan.engine).await?;
    cleanup.set_engine(engine.kind);
    let reaped = engine::api::reap_leftovers(&engine).await?;
    if !reaped.is_empty() {
        eprintln!(
            "slim: warning: removed {} container(s), network(s) or volume(s) left by slim runs that died: {}",
            reaped.len(),
            reaped.join(", ")
        );
    }
    let source = source::open_platform(
        &plan.source,
        Some(&engine),
        plan.tls_verify,
        plan.platform.as_ref(),
    )
    .await?;
    Ok((engine, source))
}
