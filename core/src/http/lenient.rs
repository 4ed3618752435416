//! Field types that never fail a whole reply: a wrong JSON type becomes `Invalid`, a missing key
//! `Missing`, and the rest of the object still parses.

// `i64::MAX` reads better than `Self::MAX` in the impls on primitive types.
#![allow(clippy::use_self)]

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One JSON value, classified without allocation except for strings with escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(std::borrow::Cow<'a, str>),
    /// An array or object where a scalar was expected (already skipped).
    Compound,
}

/// A field of a lenient wire struct.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Lenient<T> {
    /// The key was absent.
    #[default]
    Missing,
    /// The key was `null`.
    Null,
    /// A usable value.
    Value(T),
    /// The value had a type that cannot mean `T`.
    Invalid,
}

impl<T> Lenient<T> {
    pub(crate) fn get(self) -> Option<T> {
        match self {
            Self::Value(v) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn as_ref(&self) -> Option<&T> {
        match self {
            Self::Value(v) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid)
    }

    pub(crate) fn is_present(&self) -> bool {
        !matches!(self, Self::Missing)
    }
}

/// Conversion from a classified JSON value.
pub(crate) trait FromScalar: Sized {
    fn from_scalar(s: Scalar<'_>) -> Option<Self>;
}

impl FromScalar for f64 {
    fn from_scalar(s: Scalar<'_>) -> Option<Self> {
        match s {
            Scalar::I64(v) => Some(v as f64),
            Scalar::U64(v) => Some(v as f64),
            Scalar::F64(v) if v.is_finite() => Some(v),
            Scalar::Str(t) => t.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
            _ => None,
        }
    }
}

impl FromScalar for i64 {
    fn from_scalar(s: Scalar<'_>) -> Option<Self> {
        match s {
            Scalar::I64(v) => Some(v),
            Scalar::U64(v) => Some(i64::try_from(v).unwrap_or(i64::MAX)),
            // 12.0 for an int field: take it; 12.5 is not an int but still a number, round it.
            Scalar::F64(v) if v.is_finite() => {
                Some(v.round().clamp(i64::MIN as f64, i64::MAX as f64) as i64)
            }
            Scalar::Str(t) => t.trim().parse::<i64>().ok(),
            Scalar::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }
}

impl FromScalar for bool {
    fn from_scalar(s: Scalar<'_>) -> Option<Self> {
        match s {
            Scalar::Bool(b) => Some(b),
            Scalar::I64(v) => Some(v != 0),
            Scalar::U64(v) => Some(v != 0),
            Scalar::Str(t) => match t.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "open" | "yes" => Some(true),
                "false" | "0" | "close" | "no" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

impl FromScalar for String {
    fn from_scalar(s: Scalar<'_>) -> Option<Self> {
        match s {
            Scalar::Str(t) => Some(t.into_owned()),
            Scalar::I64(v) => Some(v.to_string()),
            Scalar::U64(v) => Some(v.to_string()),
            Scalar::F64(v) => Some(v.to_string()),
            _ => None,
        }
    }
}

/// A `pid`: a JSON number as-is, a string base 16 then base 10.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pid(pub(crate) i64);

impl FromScalar for Pid {
    fn from_scalar(s: Scalar<'_>) -> Option<Self> {
        match s {
            Scalar::Str(t) => crate::model::Model::from_pid_str(&t).0.map(Pid),
            other => i64::from_scalar(other).map(Pid),
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(v.to_owned().into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(v.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Compound)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Compound)
    }
}

impl<'de, T: FromScalar> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(ScalarVisitor)? {
            Scalar::Null => Self::Null,
            s => T::from_scalar(s).map_or(Self::Invalid, Self::Value),
        })
    }
}

/// An array whose elements are each lenient; anything else is `Invalid`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct LenientSeq<T>(pub(crate) Lenient<Vec<Lenient<T>>>);

impl<'de, T: FromScalar> Deserialize<'de> for LenientSeq<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: FromScalar> Visitor<'de> for V<T> {
            type Value = Lenient<Vec<Lenient<T>>>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(64));
                while let Some(v) = seq.next_element::<Lenient<T>>()? {
                    out.push(v);
                }
                Ok(Lenient::Value(out))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Lenient::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ScalarVisitor.visit_map(map).map(|_| Lenient::Invalid)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient::Invalid)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient::Invalid)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient::Invalid)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient::Invalid)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient::Invalid)
            }
        }
        d.deserialize_any(V(PhantomData)).map(LenientSeq)
    }
}

/// A nested object parsed with `T`'s own (lenient) `Deserialize`; a non-object is `Invalid`,
/// and a JSON string is kept as text (the emulator's `"detail": "<reason>"`).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum LenientObj<T> {
    #[default]
    Missing,
    Null,
    Value(T),
    Text(String),
    Invalid,
}

impl<T> LenientObj<T> {
    pub(crate) fn get(self) -> Option<T> {
        match self {
            Self::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LenientObj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = LenientObj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(LenientObj::Value)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                ScalarVisitor.visit_seq(seq).map(|_| LenientObj::Invalid)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(LenientObj::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(LenientObj::Invalid)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(LenientObj::Invalid)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(LenientObj::Invalid)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(LenientObj::Invalid)
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LenientObj::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An array of objects, each parsed leniently; non-object elements are skipped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObjSeq<T>(pub(crate) Lenient<Vec<LenientObj<T>>>);

impl<T> Default for ObjSeq<T> {
    fn default() -> Self {
        Self(Lenient::Missing)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjSeq<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Lenient<Vec<LenientObj<T>>>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(64));
                while let Some(v) = seq.next_element::<LenientObj<T>>()? {
                    out.push(v);
                }
                Ok(Lenient::Value(out))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Lenient::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ScalarVisitor.visit_map(map).map(|_| Lenient::Invalid)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient::Invalid)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Lenient::Invalid)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Lenient::Invalid)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lenient::Invalid)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient::Invalid)
            }
        }
        d.deserialize_any(V(PhantomData)).map(ObjSeq)
    }
}

impl<T> ObjSeq<T> {
    /// The objects, skipping non-object elements; `None` when the key was absent or not an array.
    pub(crate) fn into_objects(self) -> Option<Vec<T>> {
        self.0
            .get()
            .map(|v| v.into_iter().filter_map(LenientObj::get).collect())
    }
}
