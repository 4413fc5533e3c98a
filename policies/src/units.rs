//! Human-friendly units used in policies: byte sizes (`512MiB`), durations
//! (`10m`, humantime) and limits that may be `unlimited`.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::fmt;
use std::time::Duration;

/// Why a size or a duration does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    /// Not a number (with a unit).
    #[error("invalid size {0:?}: expected e.g. 512MiB")]
    Size(String),
    /// A unit that is not one of ours.
    #[error("invalid size unit {unit:?} in {text:?} (use B, KiB, MiB, GiB, TiB, K, M, G, T)")]
    SizeUnit {
        /// The unit.
        unit: String,
        /// The whole size.
        text: String,
    },
    /// More bytes than fit in 64 bits.
    #[error("size {0:?} overflows")]
    SizeOverflow(String),
    /// Not a humantime duration.
    #[error("invalid duration {text:?}: {error} (use e.g. 20s, 5m, 1h30m)")]
    Duration {
        /// The text.
        text: String,
        /// Why.
        error: humantime::DurationError,
    },
}

/// A number of bytes, written as an integer or with a unit (`K`, `KiB`, `M`, `MiB`, `G`, `GiB`, `T`, `TiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parse `"512MiB"`, `"2G"`, `"1048576"`.
    pub fn parse(s: &str) -> Result<Self, UnitError> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num.parse().map_err(|_| UnitError::Size(s.to_string()))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "K" | "KB" | "k" | "kB" => 1000,
            "KiB" => 1 << 10,
            "M" | "MB" => 1000 * 1000,
            "MiB" => 1 << 20,
            "G" | "GB" => 1000 * 1000 * 1000,
            "GiB" => 1 << 30,
            "T" | "TB" => 1000u64.pow(4),
            "TiB" => 1 << 40,
            other => {
                return Err(UnitError::SizeUnit { unit: other.to_string(), text: s.to_string() });
            }
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(|| UnitError::SizeOverflow(s.to_string()))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, m) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b >= m && b.is_multiple_of(m) {
                return write!(f, "{}{}", b / m, unit);
            }
        }
        write!(f, "{b}")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 512MiB or a number of bytes")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v).map(ByteSize).map_err(|_| E::custom("size must not be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "bytes, as an integer or with a unit: 512MiB, 2GiB, 1G",
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]+ *(B|K|KB|kB|k|KiB|M|MB|MiB|G|GB|GiB|T|TB|TiB)?$"}
            ]
        })
    }
}

/// A wall-clock or CPU duration written as a humantime string (`20s`, `5m`, `1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parse a humantime string.
    pub fn parse(s: &str) -> Result<Self, UnitError> {
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|error| UnitError::Duration { text: s.to_string(), error })
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HumanDuration::parse(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a humantime duration: 20s, 5m, 1h30m",
            "type": "string"
        })
    }
}

/// A limit that is either a value or the explicit word `unlimited`.
///
/// Omitting a limit keeps the restrictive default; only `unlimited` removes it,
/// so an opt-out is always written down in the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit<T> {
    /// Explicitly unlimited.
    Unlimited,
    /// Bounded by this value.
    Max(T),
}

impl<T: Copy> Limit<T> {
    /// The bound, if any.
    pub fn get(&self) -> Option<T> {
        match self {
            Limit::Unlimited => None,
            Limit::Max(v) => Some(*v),
        }
    }
}

impl<T: Serialize> Serialize for Limit<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Limit::Unlimited => s.serialize_str("unlimited"),
            Limit::Max(v) => v.serialize(s),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Limit<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Strings go through T's own parser unless they are the word `unlimited`.
        let raw = serde_json::Value::deserialize(d)?;
        if raw.as_str() == Some("unlimited") {
            return Ok(Limit::Unlimited);
        }
        T::deserialize(raw).map(Limit::Max).map_err(de::Error::custom)
    }
}

impl<T: JsonSchema> JsonSchema for Limit<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Limit_{}", T::schema_name()).into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let inner = g.subschema_for::<T>();
        schemars::json_schema!({
            "anyOf": [inner, {"const": "unlimited"}]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(ByteSize::parse("512MiB").unwrap().0, 512 << 20);
        assert_eq!(ByteSize::parse("2G").unwrap().0, 2_000_000_000);
        assert_eq!(ByteSize::parse("1024").unwrap().0, 1024);
        assert!(ByteSize::parse("12 parsecs").is_err());
        assert!(ByteSize::parse("99999999999999TiB").is_err());
        assert_eq!(ByteSize(3 << 30).to_string(), "3GiB");
    }

    #[test]
    fn durations_parse_humantime() {
        assert_eq!(HumanDuration::parse("1h30m").unwrap().0, Duration::from_secs(5400));
        assert!(HumanDuration::parse("soon").is_err());
    }
}
