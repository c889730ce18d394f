//! Quickstart: start an embedded cluster (a master and two worker processes talking mutually
//! authenticated QUIC on 127.0.0.1), look at it, and move a block between workers.
//!
//! Run: `cargo run --release --example quickstart`

use std::time::Instant;

use bytes::Bytes;
use cinder::Context;

fn main() -> anyhow::Result<()> {
    // The embedded cluster re-runs this executable as its daemons: let those processes become
    // daemons before anything else happens.
    cinder::daemon::maybe_run_daemon();

    let started = Instant::now();
    let cx = Context::local(2)?;
    println!("embedded cluster up in {:.2?}", started.elapsed());
    print!("{}", cinder::status::to_table(&cx.status()?));

    let block = cx.block_id("quickstart/numbers");
    let data: Bytes = (0..16u32 << 20)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    cx.put_block("worker-1", &block, data.clone())?;
    let moved = Instant::now();
    let outcome = cx
        .fetch_block("worker-2", &block)?
        .ok_or_else(|| anyhow::anyhow!("block vanished"))?;
    let elapsed = moved.elapsed();
    let copy = cx
        .get_block("worker-2", &block)?
        .ok_or_else(|| anyhow::anyhow!("copy missing"))?;
    anyhow::ensure!(copy == data, "copy differs from the original");
    println!(
        "worker-2 copied {} MiB from {} in {:.2?} ({:.0} MB/s); bytes identical",
        outcome.len >> 20,
        outcome.source,
        elapsed,
        outcome.len as f64 / elapsed.as_secs_f64() / 1e6
    );
    println!(
        "round trip to worker-1: {:.2?}",
        cx.ping_worker("worker-1")?
    );
    print!("{}", cinder::status::to_table(&cx.status()?));
    Ok(())
}
