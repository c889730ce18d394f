//! Seeded row sampling: each (tree, row) gets its bootstrap count from a hash of the seed, the
//! tree and the row's key, never from a generator's state, so a partition computed again after
//! a worker is lost samples exactly the same rows.

use serde::{Deserialize, Serialize};

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in `[0, 1)` from a seed and two keys.
pub fn unit(seed: u64, a: u64, b: u64) -> f64 {
    let z = mix(seed
        ^ mix(a.wrapping_add(0x9E37_79B9_7F4A_7C15))
        ^ mix(b.wrapping_mul(0xD1B5_4A32_D192_ED03)));
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The key of row `row` of a partition whose content hashes to `salt`.
pub fn row_key(salt: u64, row: u64) -> u64 {
    mix(salt ^ mix(row.wrapping_add(1)))
}

/// How each tree samples the rows (Spark's `BaggedPoint`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bagging {
    /// `subsamplingRate`.
    pub rate: f64,
    /// Poisson counts (bootstrap, with replacement) instead of Bernoulli 0/1.
    pub with_replacement: bool,
    /// Seed.
    pub seed: u64,
}

impl Bagging {
    /// Every row once (no sampling).
    pub fn none() -> Self {
        Self {
            rate: 1.0,
            with_replacement: false,
            seed: 0,
        }
    }

    /// The multiplicity of the row with `key` in tree `tree`.
    #[inline]
    pub fn count(&self, tree: u64, key: u64) -> u32 {
        if !self.with_replacement && self.rate >= 1.0 {
            return 1;
        }
        let u = unit(self.seed, tree, key);
        if self.with_replacement {
            poisson(self.rate, u)
        } else {
            u32::from(u < self.rate)
        }
    }
}

/// [`Bagging::count`] with the Poisson CDF computed once (the per-pass hot path).
pub struct Sampler {
    bagging: Bagging,
    cdf: Vec<f64>,
}

impl Sampler {
    /// The sampler of `bagging`.
    pub fn new(bagging: Bagging) -> Self {
        let mut cdf = Vec::new();
        if bagging.with_replacement {
            let mean = bagging.rate;
            let mut p = (-mean).exp();
            let mut c = p;
            cdf.push(c);
            let mut k = 0u32;
            while k < 1000 && p != 0.0 && c < 1.0 {
                k += 1;
                p *= mean / f64::from(k);
                c += p;
                cdf.push(c);
            }
        }
        Self { bagging, cdf }
    }

    /// The multiplicity of the row with `key` in tree `tree` (equal to [`Bagging::count`]).
    #[inline]
    pub fn count(&self, tree: u64, key: u64) -> u32 {
        if !self.bagging.with_replacement {
            return self.bagging.count(tree, key);
        }
        let u = unit(self.bagging.seed, tree, key);
        self.cdf.partition_point(|c| *c <= u) as u32
    }
}

/// The Poisson(`mean`) quantile of `u` (inverse CDF; at most 1000).
pub fn poisson(mean: f64, u: f64) -> u32 {
    let mut p = (-mean).exp();
    let mut cdf = p;
    let mut k = 0u32;
    while u >= cdf && k < 1000 {
        k += 1;
        p *= mean / f64::from(k);
        cdf += p;
        if p == 0.0 {
            break;
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_counts_have_the_rate_as_mean() {
        let bag = Bagging {
            rate: 0.8,
            with_replacement: true,
            seed: 7,
        };
        let n = 20_000u64;
        let total: u64 = (0..n)
            .map(|k| u64::from(bag.count(3, row_key(11, k))))
            .sum();
        let mean = total as f64 / n as f64;
        assert!((mean - 0.8).abs() < 0.03, "mean {mean}");
        let again: u64 = (0..n)
            .map(|k| u64::from(bag.count(3, row_key(11, k))))
            .sum();
        assert_eq!(total, again, "the same (tree, row) gets the same count");
        let sampler = Sampler::new(bag);
        for k in 0..n {
            assert_eq!(
                sampler.count(3, row_key(11, k)),
                bag.count(3, row_key(11, k))
            );
        }
        let other: u64 = (0..n)
            .map(|k| u64::from(bag.count(4, row_key(11, k))))
            .sum();
        assert_ne!(total, other, "another tree draws another sample");
    }

    #[test]
    fn bernoulli_keeps_the_rate() {
        let bag = Bagging {
            rate: 0.3,
            with_replacement: false,
            seed: 1,
        };
        let kept = (0..10_000u64)
            .filter(|k| bag.count(0, row_key(5, *k)) == 1)
            .count();
        assert!((2800..3200).contains(&kept), "{kept}");
        assert_eq!(Bagging::none().count(9, 9), 1);
    }
}
