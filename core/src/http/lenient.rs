//! Field types that never fail a whole reply: a wrong JSON type becomes `Invalid`, a missing key
//! `Missing`, and the rest of the object still parses.

// `i64::MAX` reads better than `Self::MAX` in the impls on primitive types.
#![allow(clippy::use_self)]

use std::borrow::Cow;
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
    Str(Cow<'a, str>),
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

/// Conversion from a classified JSON value borrowed from the input for `'de`.
pub(crate) trait FromScalar<'de>: Sized {
    fn from_scalar(s: Scalar<'de>) -> Option<Self>;
}

impl FromScalar<'_> for f64 {
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

impl FromScalar<'_> for i64 {
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

impl FromScalar<'_> for bool {
    fn from_scalar(s: Scalar<'_>) -> Option<Self> {
        match s {
            Scalar::Bool(b) => Some(b),
            Scalar::I64(v) => Some(v != 0),
            Scalar::U64(v) => Some(v != 0),
            Scalar::Str(t) => {
                let t = t.trim();
                let any = |words: [&str; 4]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
                if any(["true", "1", "open", "yes"]) {
                    Some(true)
                } else if any(["false", "0", "close", "no"]) {
                    Some(false)
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// Text borrowed from the input when it has no escapes (no allocation); numbers as text.
impl<'de: 'a, 'a> FromScalar<'de> for Cow<'a, str> {
    fn from_scalar(s: Scalar<'de>) -> Option<Self> {
        match s {
            Scalar::Str(t) => Some(t),
            other => String::from_scalar(other).map(Cow::Owned),
        }
    }
}

impl FromScalar<'_> for String {
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

impl FromScalar<'_> for Pid {
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

impl<'de, T: FromScalar<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(ScalarVisitor)? {
            Scalar::Null => Self::Null,
            s => T::from_scalar(s).map_or(Self::Invalid, Self::Value),
        })
    }
}

/// Elements of a [`NumSeq`] that are kept (the rest are only counted).
pub(crate) const NUM_SEQ_HEAD: usize = 64;

/// Elements of a [`NumSeq`] kept inline; more (up to [`NUM_SEQ_HEAD`]) spill to the heap.
const NUM_SEQ_INLINE: usize = 8;

/// An array of lenient numbers read without a heap buffer for the usual few elements: the
/// first [`NUM_SEQ_HEAD`] elements (`None` where an element is not a usable number; past
/// eight they spill to a vector), the element count, and the first three usable numbers.
/// `null` is `Null`; any other non-array is `Invalid`. Kept small: the wire struct holding
/// three of these is moved several times during deserialisation.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct NumSeq {
    /// `Value(())` when the value was an array.
    pub(crate) state: Lenient<()>,
    /// Elements in the array.
    pub(crate) len: usize,
    head: [Option<f64>; NUM_SEQ_INLINE],
    spill: Vec<Option<f64>>,
    valid: usize,
    first_valid: [f64; 3],
}

impl NumSeq {
    /// Element `i` as a usable number (`None` past the kept head or the end).
    pub(crate) fn get(&self, i: usize) -> Option<f64> {
        match i.checked_sub(NUM_SEQ_INLINE) {
            None => self.head[i],
            Some(j) => self.spill.get(j).copied().flatten(),
        }
    }

    fn push(&mut self, v: Option<f64>) {
        if let Some(slot) = self.head.get_mut(self.len) {
            *slot = v;
        } else if self.len < NUM_SEQ_HEAD {
            self.spill.push(v);
        }
        if let Some(x) = v {
            if let Some(slot) = self.first_valid.get_mut(self.valid) {
                *slot = x;
            }
            self.valid += 1;
        }
        self.len += 1;
    }

    /// The first three usable numbers, when the array has at least three.
    pub(crate) fn first_three(&self) -> Option<[f64; 3]> {
        (self.valid >= 3).then_some(self.first_valid)
    }
}

impl<'de> Deserialize<'de> for NumSeq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = NumSeq::default();
        let state = d.deserialize_any(NumSeqVisitor(&mut out))?;
        out.state = state;
        Ok(out)
    }
}

struct NumSeqVisitor<'s>(&'s mut NumSeq);

impl<'de> Visitor<'de> for NumSeqVisitor<'_> {
    type Value = Lenient<()>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while let Some(v) = seq.next_element::<Lenient<f64>>()? {
            self.0.push(v.get());
        }
        Ok(Lenient::Value(()))
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

/// An array of objects converted one by one as they are read (`T::Wire` to `T`), skipping
/// non-object elements: no intermediate vector of wire objects. Empty when the value is absent
/// or not an array (what [`ObjSeq::into_objects`]`().unwrap_or_default()` gives).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObjList<T>(pub(crate) Vec<T>);

impl<T> Default for ObjList<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

/// The wire form an [`ObjList`] element is read as.
pub(crate) trait FromWire<'de>: Sized {
    type Wire: Deserialize<'de>;
    fn from_wire(w: Self::Wire) -> Self;
}

impl<'de, T: FromWire<'de>> Deserialize<'de> for ObjList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: FromWire<'de>> Visitor<'de> for V<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<LenientObj<T::Wire>>()? {
                    if let LenientObj::Value(w) = v {
                        out.push(T::from_wire(w));
                    }
                }
                Ok(out)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ScalarVisitor.visit_map(map).map(|_| Vec::new())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
        }
        d.deserialize_any(V(PhantomData)).map(ObjList)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn seq(json: &str) -> NumSeq {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct W {
            v: NumSeq,
        }
        serde_json::from_str::<W>(json).unwrap().v
    }

    #[test]
    fn num_seq_keeps_the_head_counts_the_rest_and_finds_three_numbers() {
        let s = seq(r#"{"v":[1,"2.5",null,[3],"x",4]}"#);
        assert_eq!(s.state, Lenient::Value(()));
        assert_eq!(s.len, 6);
        let got: Vec<_> = (0..7).map(|i| s.get(i)).collect();
        assert_eq!(
            got,
            [Some(1.0), Some(2.5), None, None, None, Some(4.0), None]
        );
        assert_eq!(s.first_three(), Some([1.0, 2.5, 4.0]));
        assert_eq!(seq(r#"{"v":[1,2]}"#).first_three(), None);
        // Past the kept head: counted, and still a source of the first three numbers.
        let long = format!(r#"{{"v":[{}1,2,3]}}"#, r#""x","#.repeat(100));
        let s = seq(&long);
        assert_eq!((s.len, s.get(99), s.get(100)), (103, None, None));
        assert_eq!(s.first_three(), Some([1.0, 2.0, 3.0]));
        let many = format!(
            r#"{{"v":[{}]}}"#,
            (0..70).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        );
        let s = seq(&many);
        assert_eq!(
            (s.len, s.get(7), s.get(8), s.get(63), s.get(64)),
            (70, Some(7.0), Some(8.0), Some(63.0), None)
        );
        assert_eq!(s.first_three(), Some([0.0, 1.0, 2.0]));
        assert_eq!(seq(r#"{"v":null}"#).state, Lenient::Null);
        assert_eq!(seq(r#"{"v":{"a":1}}"#).state, Lenient::Invalid);
        assert_eq!(seq(r#"{"v":"1,2,3"}"#).state, Lenient::Invalid);
        assert_eq!(seq("{}").state, Lenient::Missing);
    }

    #[test]
    fn text_is_borrowed_unless_escaped() {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct W<'a> {
            #[serde(borrow)]
            s: Lenient<Cow<'a, str>>,
        }
        let w: W<'_> = serde_json::from_str(r#"{"s":"open"}"#).unwrap();
        assert!(matches!(w.s, Lenient::Value(Cow::Borrowed("open"))));
        let w: W<'_> = serde_json::from_str(r#"{"s":"a\"b"}"#).unwrap();
        assert_eq!(w.s, Lenient::Value(Cow::Owned("a\"b".to_owned())));
        let w: W<'_> = serde_json::from_str(r#"{"s":12}"#).unwrap();
        assert_eq!(w.s, Lenient::Value(Cow::Owned("12".to_owned())));
        let w: W<'_> = serde_json::from_str(r#"{"s":[1]}"#).unwrap();
        assert_eq!(w.s, Lenient::Invalid);
    }
}
