//! ALS on the MovieLens sample (Spark's `user::item::rating::time` format), explicit feedback.
//!
//! Run: `cargo run --release --example als`

use cinder::{Context, CsvOptions, CsvType};
use cinder_algorithms::recommendation::als_kernel::RatingColumns;
use cinder_algorithms::recommendation::Als;

fn main() -> anyhow::Result<()> {
    cinder::daemon::maybe_run_daemon();
    let cx = Context::local(2)?;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/als/sample_movielens_ratings.txt"
    );
    // `u::i::r::t` read as ':'-separated fields, with empty fields between.
    let skip = |n: &str| (n.to_string(), CsvType::Utf8);
    let schema = vec![
        ("user".to_string(), CsvType::Int64),
        skip("a"),
        ("item".to_string(), CsvType::Int64),
        skip("b"),
        ("rating".to_string(), CsvType::Float64),
        skip("c"),
        ("time".to_string(), CsvType::Int64),
    ];
    let options = CsvOptions {
        header: false,
        delimiter: b':',
        schema: Some(schema),
        partitions: Some(4),
    };
    let ratings = cx
        .read_csv(path, options)?
        .select(&["user", "item", "rating"]);
    let als = Als {
        columns: RatingColumns {
            user: "user".into(),
            item: "item".into(),
            rating: "rating".into(),
        },
        ..Als::default()
    };
    let model = als.fit(&ratings)?;
    println!(
        "{} users, {} items, training rmse {:.4}",
        model.user_factors.len(),
        model.item_factors.len(),
        model.rmse
    );
    Ok(())
}
