//! Parameters addressed by Spark's names: a [`ParamMap`] of JSON values, the one language of
//! pipeline specs, parameter grids and saved stages. Numbers are JSON numbers; where a number
//! may be infinite or NaN (`Bucketizer` splits, `Imputer`'s `missingValue`) the strings
//! `"Infinity"`, `"-Infinity"` and `"NaN"` stand for them, as in Spark's own JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::MlError;

/// Explicitly set parameters of one stage, by Spark's name (defaults are not stored: a stage
/// applies its own, Spark's, when a name is absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParamMap(pub BTreeMap<String, Value>);

/// A number as JSON: a number when finite, else `"Infinity"`, `"-Infinity"` or `"NaN"`.
pub fn number_value(x: f64) -> Value {
    if x.is_nan() {
        Value::from("NaN")
    } else if x == f64::INFINITY {
        Value::from("Infinity")
    } else if x == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// Reads a JSON number (or one of the strings of [`number_value`]).
pub fn value_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" | "+Infinity" | "Inf" => Some(f64::INFINITY),
            "-Infinity" | "-Inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

impl ParamMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The map from a JSON object (anything else is an error naming `what`).
    pub fn from_json(value: &Value, what: &str) -> Result<Self, MlError> {
        match value {
            Value::Object(fields) => Ok(Self(
                fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            )),
            Value::Null => Ok(Self::new()),
            other => Err(MlError::Input(format!(
                "{what}: params must be a JSON object, not {other}"
            ))),
        }
    }

    /// Sets `name` to `value` (builder style).
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.0.insert(name.to_string(), value.into());
        self
    }

    /// Sets `name` to `value`.
    pub fn set(&mut self, name: &str, value: Value) {
        self.0.insert(name.to_string(), value);
    }

    /// The raw value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// Refuses names the stage does not have (a typo in a spec is an error, not a default).
    pub fn check_known(&self, class: &str, known: &[&str]) -> Result<(), MlError> {
        for name in self.0.keys() {
            if !known.contains(&name.as_str()) {
                return Err(MlError::Input(format!(
                    "{class} has no parameter {name:?} (it has {})",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn bad(&self, name: &str, expected: &str) -> MlError {
        MlError::Input(format!(
            "parameter {name}: {} is not {expected}",
            self.0
                .get(name)
                .map_or("null".to_string(), Value::to_string)
        ))
    }

    /// A number (`default` when unset).
    pub fn f64_or(&self, name: &str, default: f64) -> Result<f64, MlError> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => value_number(v).ok_or_else(|| self.bad(name, "a number")),
        }
    }

    /// A non-negative integer (`default` when unset).
    pub fn usize_or(&self, name: &str, default: usize) -> Result<usize, MlError> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => match v.as_f64() {
                Some(x) if x >= 0.0 && x.fract() == 0.0 && x < 1e15 => Ok(x as usize),
                _ => Err(self.bad(name, "a non-negative integer")),
            },
        }
    }

    /// An integer seed (`default` when unset; negative seeds are taken as their bits, as a
    /// JVM long would be).
    pub fn seed_or(&self, name: &str, default: u64) -> Result<u64, MlError> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_i64().map(|x| x as u64))
                .ok_or_else(|| self.bad(name, "an integer")),
        }
    }

    /// A boolean (`default` when unset).
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, MlError> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.bad(name, "true or false")),
        }
    }

    /// A string (`default` when unset).
    pub fn str_or(&self, name: &str, default: &str) -> Result<String, MlError> {
        match self.0.get(name) {
            None => Ok(default.to_string()),
            Some(v) => v
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| self.bad(name, "a string")),
        }
    }

    /// One of `choices` (`default` when unset).
    pub fn choice_or(
        &self,
        name: &str,
        default: &str,
        choices: &[&str],
    ) -> Result<String, MlError> {
        let value = self.str_or(name, default)?;
        if choices.contains(&value.as_str()) {
            Ok(value)
        } else {
            Err(MlError::Input(format!(
                "parameter {name}: {value:?} is not one of {}",
                choices.join(", ")
            )))
        }
    }

    /// An optional string.
    pub fn opt_str(&self, name: &str) -> Result<Option<String>, MlError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => Ok(Some(
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.bad(name, "a string"))?,
            )),
        }
    }

    /// An optional list of strings.
    pub fn opt_strings(&self, name: &str) -> Result<Option<Vec<String>>, MlError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.bad(name, "a list of strings")),
            Some(_) => Err(self.bad(name, "a list of strings")),
        }
    }

    /// An optional list of numbers (with `"Infinity"`, `"-Infinity"`, `"NaN"`).
    pub fn opt_f64s(&self, name: &str) -> Result<Option<Vec<f64>>, MlError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(value_number)
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.bad(name, "a list of numbers")),
            Some(_) => Err(self.bad(name, "a list of numbers")),
        }
    }

    /// Spark's single/multi-column convention: `inputCol`+`outputCol` or
    /// `inputCols`+`outputCols` (exactly one of the two, same lengths). `default_output`
    /// names the output of a single input column when `outputCol` is unset.
    pub fn in_out_cols(
        &self,
        class: &str,
        default_output: Option<&dyn Fn(&str) -> String>,
    ) -> Result<Vec<(String, String)>, MlError> {
        let single = self.opt_str("inputCol")?;
        let multi = self.opt_strings("inputCols")?;
        match (single, multi) {
            (Some(_), Some(_)) => Err(MlError::Input(format!(
                "{class}: set inputCol or inputCols, not both"
            ))),
            (Some(input), None) => {
                if self.get("outputCols").is_some() {
                    return Err(MlError::Input(format!(
                        "{class}: inputCol goes with outputCol, not outputCols"
                    )));
                }
                let output = match (self.opt_str("outputCol")?, default_output) {
                    (Some(o), _) => o,
                    (None, Some(f)) => f(&input),
                    (None, None) => {
                        return Err(MlError::Input(format!("{class}: outputCol is not set")))
                    }
                };
                Ok(vec![(input, output)])
            }
            (None, Some(inputs)) => {
                let outputs = self.opt_strings("outputCols")?.ok_or_else(|| {
                    MlError::Input(format!("{class}: inputCols needs outputCols"))
                })?;
                if outputs.len() != inputs.len() || inputs.is_empty() {
                    return Err(MlError::Input(format!(
                        "{class}: {} inputCols and {} outputCols (they must pair up)",
                        inputs.len(),
                        outputs.len()
                    )));
                }
                Ok(inputs.into_iter().zip(outputs).collect())
            }
            (None, None) => Err(MlError::Input(format!(
                "{class}: neither inputCol nor inputCols is set"
            ))),
        }
    }
}

/// Serde for a double that may be infinite or NaN (`#[serde(with = "...")]`): written as
/// [`number_value`] writes it, so saved stages keep `-Infinity` splits (JSON has no
/// infinities).
pub mod lenient_f64 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `x`.
    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        super::number_value(*x).serialize(s)
    }

    /// Reads a number or one of the strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        super::value_number(&v)
            .ok_or_else(|| serde::de::Error::custom(format!("{v} is not a number")))
    }
}

/// Serde for lists of doubles that may be infinite or NaN.
pub mod lenient_f64_vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `xs`.
    pub fn serialize<S: Serializer>(xs: &[f64], s: S) -> Result<S::Ok, S::Error> {
        xs.iter()
            .map(|x| super::number_value(*x))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    /// Reads numbers or the strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v = Vec::<serde_json::Value>::deserialize(d)?;
        v.iter()
            .map(|x| {
                super::value_number(x)
                    .ok_or_else(|| serde::de::Error::custom(format!("{x} is not a number")))
            })
            .collect()
    }
}

/// Serde for lists of lists of doubles that may be infinite or NaN.
pub mod lenient_f64_vecs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `xs`.
    pub fn serialize<S: Serializer>(xs: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        xs.iter()
            .map(|row| {
                row.iter()
                    .map(|x| super::number_value(*x))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .serialize(s)
    }

    /// Reads numbers or the strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        let v = Vec::<Vec<serde_json::Value>>::deserialize(d)?;
        v.iter()
            .map(|row| {
                row.iter()
                    .map(|x| {
                        super::value_number(x)
                            .ok_or_else(|| serde::de::Error::custom(format!("{x} is not a number")))
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_infinities_and_typed_errors() {
        let p = ParamMap::from_json(
            &serde_json::json!({"splits": ["-Infinity", 0, 1.5, "Infinity"], "k": 3, "x": "a"}),
            "test",
        )
        .unwrap();
        assert_eq!(
            p.opt_f64s("splits").unwrap().unwrap(),
            vec![f64::NEG_INFINITY, 0.0, 1.5, f64::INFINITY]
        );
        assert_eq!(p.usize_or("k", 0).unwrap(), 3);
        assert!(p
            .usize_or("x", 0)
            .unwrap_err()
            .to_string()
            .contains("parameter x"));
        assert!(p.check_known("T", &["splits", "k"]).is_err());
        assert_eq!(
            value_number(&number_value(f64::NEG_INFINITY)),
            Some(f64::NEG_INFINITY)
        );
        assert!(value_number(&number_value(f64::NAN)).unwrap().is_nan());
    }

    #[test]
    fn single_and_multi_columns() {
        let p = ParamMap::new().with("inputCol", "a").with("outputCol", "b");
        assert_eq!(
            p.in_out_cols("T", None).unwrap(),
            vec![("a".into(), "b".into())]
        );
        let p = ParamMap::new()
            .with("inputCols", vec!["a", "c"])
            .with("outputCols", vec!["b"]);
        assert!(p.in_out_cols("T", None).is_err());
        let p = ParamMap::new()
            .with("inputCol", "a")
            .with("inputCols", vec!["a"]);
        assert!(p.in_out_cols("T", None).is_err());
    }
}
