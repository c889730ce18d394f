//! Usage checks of `cinder train --pipeline SPEC.json`: the stages' parameters live in the
//! spec, so algorithm flags given with `--pipeline` are a usage error (exit 2) naming the
//! flag.

use clap::ArgMatches;

use crate::cli_check::{check_out, given};
use crate::cli_ml::TrainArgs;

/// Flags that apply to a pipeline run (clap ids): input, placement, output.
const PIPELINE_FLAGS: &[&str] = &[
    "pipeline",
    "schema",
    "data",
    "format",
    "partitions",
    "test_data",
    "out",
    "json",
    "workers",
    "cluster",
    "master",
];

/// Checks a `cinder train --pipeline` command line (`m`: its matches).
pub fn check_pipeline_train(args: &TrainArgs, m: &ArgMatches) -> Result<(), String> {
    // Argument ids only: clap's derive also lists each flattened struct as a group id
    // (`DataArgs`, `Placement`), named after the struct.
    let mut ids: Vec<String> = m
        .ids()
        .map(|id| id.as_str().to_string())
        .filter(|id| !id.starts_with(|c: char| c.is_ascii_uppercase()))
        .collect();
    ids.sort();
    if let Some(id) = ids
        .iter()
        .find(|id| given(m, id) && !PIPELINE_FLAGS.contains(&id.as_str()))
    {
        return Err(format!(
            "--{} does not apply with --pipeline (set the stages' parameters in the spec)",
            id.replace('_', "-")
        ));
    }
    if args.input.partitions == Some(0) {
        return Err("--partitions 0: must be at least 1".into());
    }
    if let Some(schema) = &args.schema {
        crate::typed_csv::parse_schema(schema).map_err(|e| e.to_string())?;
    }
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    Ok(())
}
