//! Families and links of generalized linear regression, as Spark defines them
//! (`GeneralizedLinearRegression.Family`, `.Link`): variance functions, deviances, starting
//! means, the range each family projects its mean into, and the link, its inverse and its
//! derivative.

use serde::{Deserialize, Serialize};

use crate::special::{normal_cdf, normal_pdf, normal_quantile};

/// Spark's `epsilon` (mean projection of binomial and Tweedie families).
const EPSILON: f64 = 1e-16;
/// Spark's `Tweedie.delta` (starting mean and deviance of zero counts).
const DELTA: f64 = 0.1;

/// A distribution family (Spark's `family`; Tweedie with `variancePower` 0, 1, 2 is Gaussian,
/// Poisson, Gamma, as Spark resolves it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GlmFamily {
    /// Normal errors, constant variance.
    Gaussian,
    /// Proportions in [0, 1] (weights are trials).
    Binomial,
    /// Counts, variance μ.
    Poisson,
    /// Positive values, variance μ².
    Gamma,
    /// Variance μ^p.
    Tweedie(f64),
}

/// A link function (Spark's `link`, or `linkPower` for Tweedie).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    /// η = μ.
    Identity,
    /// η = log(μ / (1 - μ)).
    Logit,
    /// η = log μ.
    Log,
    /// η = 1 / μ.
    Inverse,
    /// η = Φ⁻¹(μ).
    Probit,
    /// η = log(-log(1 - μ)).
    Cloglog,
    /// η = √μ.
    Sqrt,
    /// η = μ^p (log μ for p = 0).
    Power(f64),
}

impl GlmFamily {
    /// The family Spark uses for a `family` name and `variancePower`.
    pub fn from_params(name: &str, variance_power: f64) -> Option<Self> {
        Some(match name {
            "gaussian" => Self::Gaussian,
            "binomial" => Self::Binomial,
            "poisson" => Self::Poisson,
            "gamma" => Self::Gamma,
            "tweedie" if variance_power == 0.0 => Self::Gaussian,
            "tweedie" if variance_power == 1.0 => Self::Poisson,
            "tweedie" if variance_power == 2.0 => Self::Gamma,
            "tweedie" => Self::Tweedie(variance_power),
            _ => return None,
        })
    }

    /// The default (canonical, for Tweedie `Power(1 - p)`) link.
    pub fn default_link(self) -> Link {
        match self {
            Self::Gaussian => Link::Identity,
            Self::Binomial => Link::Logit,
            Self::Poisson => Link::Log,
            Self::Gamma => Link::Inverse,
            Self::Tweedie(p) => Link::Power(1.0 - p),
        }
    }

    /// Whether Spark supports `link` with this family (any power link for Tweedie).
    pub fn supports(self, link: Link) -> bool {
        use Link::*;
        match self {
            Self::Gaussian => matches!(link, Identity | Log | Inverse),
            Self::Binomial => matches!(link, Logit | Probit | Cloglog),
            Self::Poisson => matches!(link, Log | Identity | Sqrt),
            Self::Gamma => matches!(link, Inverse | Identity | Log),
            Self::Tweedie(_) => matches!(link, Power(_)),
        }
    }

    /// The variance power (0 Gaussian, 1 Poisson, 2 Gamma).
    fn power(self) -> f64 {
        match self {
            Self::Gaussian => 0.0,
            Self::Poisson => 1.0,
            Self::Gamma => 2.0,
            Self::Tweedie(p) => p,
            Self::Binomial => f64::NAN,
        }
    }

    /// Spark's starting mean for label `y` and weight `w`; `Err` when `y` is out of range.
    pub fn initialize(self, y: f64, w: f64) -> Result<f64, String> {
        match self {
            Self::Gaussian => Ok(y),
            Self::Binomial => {
                let mu = (w * y + 0.5) / (w + 1.0);
                if mu > 0.0 && mu < 1.0 {
                    Ok(mu)
                } else {
                    Err(format!("binomial labels must be in [0, 1], found {y}"))
                }
            }
            Self::Poisson if y < 0.0 => {
                Err(format!("poisson labels must be non-negative, found {y}"))
            }
            Self::Poisson => Ok(y.max(DELTA)),
            Self::Gamma if y <= 0.0 => Err(format!("gamma labels must be positive, found {y}")),
            Self::Gamma => Ok(y),
            Self::Tweedie(p) => {
                if (1.0..2.0).contains(&p) && y < 0.0 {
                    Err(format!(
                        "tweedie({p}) labels must be non-negative, found {y}"
                    ))
                } else if p >= 2.0 && y <= 0.0 {
                    Err(format!("tweedie({p}) labels must be positive, found {y}"))
                } else if y == 0.0 {
                    Ok(DELTA)
                } else {
                    Ok(y)
                }
            }
        }
    }

    /// The variance function V(μ).
    pub fn variance(self, mu: f64) -> f64 {
        match self {
            Self::Gaussian => 1.0,
            Self::Binomial => mu * (1.0 - mu),
            Self::Poisson => mu,
            Self::Gamma => mu * mu,
            Self::Tweedie(p) => mu.powf(p),
        }
    }

    /// Unit deviance of `(y, μ)` times the weight.
    pub fn deviance(self, y: f64, mu: f64, w: f64) -> f64 {
        let ylogy = |y: f64, mu: f64| if y == 0.0 { 0.0 } else { y * (y / mu).ln() };
        match self {
            Self::Gaussian => w * (y - mu) * (y - mu),
            Self::Binomial => 2.0 * w * (ylogy(y, mu) + ylogy(1.0 - y, 1.0 - mu)),
            Self::Poisson => 2.0 * w * (ylogy(y, mu) - (y - mu)),
            Self::Gamma => -2.0 * w * ((y / mu).ln() - (y - mu) / mu),
            Self::Tweedie(p) => {
                let yp = |y: f64, mu: f64, q: f64| {
                    if q == 0.0 {
                        (y / mu).ln()
                    } else {
                        (y.powf(q) - mu.powf(q)) / q
                    }
                };
                let y1 = if (1.0..2.0).contains(&p) {
                    y.max(DELTA)
                } else {
                    y
                };
                2.0 * w * (y * yp(y1, mu, 1.0 - p) - yp(y, mu, 2.0 - p))
            }
        }
    }

    /// Trims a mean into the family's range (Spark's `project`).
    pub fn project(self, mu: f64) -> f64 {
        match self {
            Self::Binomial => mu.clamp(EPSILON, 1.0 - EPSILON),
            Self::Gaussian => {
                if mu == f64::NEG_INFINITY {
                    f64::MIN
                } else if mu == f64::INFINITY {
                    f64::MAX
                } else {
                    mu
                }
            }
            _ if self.power() >= 0.0 => {
                if mu < EPSILON {
                    EPSILON
                } else if mu.is_infinite() {
                    f64::MAX
                } else {
                    mu
                }
            }
            _ => mu,
        }
    }

    /// Whether Spark fixes the dispersion at 1 (binomial and Poisson by name).
    pub fn fixed_dispersion(self, name: &str) -> bool {
        name == "binomial" || name == "poisson"
    }
}

impl Link {
    /// The link Spark uses for a `link` name (`None`: not a link name).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "identity" => Self::Identity,
            "logit" => Self::Logit,
            "log" => Self::Log,
            "inverse" => Self::Inverse,
            "probit" => Self::Probit,
            "cloglog" => Self::Cloglog,
            "sqrt" => Self::Sqrt,
            _ => return None,
        })
    }

    /// η = g(μ).
    pub fn link(self, mu: f64) -> f64 {
        match self {
            Self::Identity => mu,
            Self::Logit => (mu / (1.0 - mu)).ln(),
            Self::Log => mu.ln(),
            Self::Inverse => 1.0 / mu,
            Self::Probit => normal_quantile(mu),
            Self::Cloglog => (-(1.0 - mu).ln()).ln(),
            Self::Sqrt => mu.sqrt(),
            Self::Power(0.0) => mu.ln(),
            Self::Power(p) => mu.powf(p),
        }
    }

    /// g'(μ).
    pub fn deriv(self, mu: f64) -> f64 {
        match self {
            Self::Identity => 1.0,
            Self::Logit => 1.0 / (mu * (1.0 - mu)),
            Self::Log => 1.0 / mu,
            Self::Inverse => -1.0 / (mu * mu),
            Self::Probit => 1.0 / normal_pdf(normal_quantile(mu)),
            Self::Cloglog => 1.0 / ((mu - 1.0) * (1.0 - mu).ln()),
            Self::Sqrt => 1.0 / (2.0 * mu.sqrt()),
            Self::Power(0.0) => 1.0 / mu,
            Self::Power(p) => p * mu.powf(p - 1.0),
        }
    }

    /// μ = g⁻¹(η).
    pub fn unlink(self, eta: f64) -> f64 {
        match self {
            Self::Identity => eta,
            Self::Logit => 1.0 / (1.0 + (-eta).exp()),
            Self::Log => eta.exp(),
            Self::Inverse => 1.0 / eta,
            Self::Probit => normal_cdf(eta),
            Self::Cloglog => 1.0 - (-eta.exp()).exp(),
            Self::Sqrt => eta * eta,
            Self::Power(0.0) => eta.exp(),
            Self::Power(p) => eta.powf(1.0 / p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_invert_and_differentiate() {
        let links = [
            Link::Identity,
            Link::Logit,
            Link::Log,
            Link::Inverse,
            Link::Probit,
            Link::Cloglog,
            Link::Sqrt,
            Link::Power(0.0),
            Link::Power(-0.5),
            Link::Power(1.5),
        ];
        for link in links {
            for mu in [0.05, 0.3, 0.7, 0.95] {
                let eta = link.link(mu);
                assert!((link.unlink(eta) - mu).abs() < 1e-10, "{link:?} at {mu}");
                let h = 1e-6;
                let numeric = (link.link(mu + h) - link.link(mu - h)) / (2.0 * h);
                assert!(
                    (numeric - link.deriv(mu)).abs() < 1e-5 * numeric.abs().max(1.0),
                    "{link:?}' at {mu}: {numeric} vs {}",
                    link.deriv(mu)
                );
            }
        }
    }

    #[test]
    fn deviances_vanish_at_the_label_and_tweedie_matches_its_special_cases() {
        for family in [
            GlmFamily::Gaussian,
            GlmFamily::Poisson,
            GlmFamily::Gamma,
            GlmFamily::Tweedie(1.5),
        ] {
            assert!(family.deviance(2.5, 2.5, 1.0).abs() < 1e-12, "{family:?}");
            assert!(family.deviance(2.5, 1.5, 1.0) > 0.0, "{family:?}");
        }
        for (p, family) in [(1.0, GlmFamily::Poisson), (2.0, GlmFamily::Gamma)] {
            let near = GlmFamily::Tweedie(p + 1e-9).deviance(3.0, 2.0, 2.0);
            assert!((near - family.deviance(3.0, 2.0, 2.0)).abs() < 1e-6, "{p}");
        }
        assert_eq!(
            GlmFamily::from_params("tweedie", 1.0),
            Some(GlmFamily::Poisson)
        );
    }
}
