//! `cinder-chaos`: the chaos harness. Scenarios arrive with the datasets layer (see
//! ARCHITECTURE.md); until then the binary only says so.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("cinder-chaos has no scenarios yet")
}
