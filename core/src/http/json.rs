//! A minimal JSON writer for request bodies: compact output (`{"a":1}`), RFC 8259 escaping,
//! finite numbers only. Writing straight into the caller's buffer keeps the request path free of
//! intermediate `Value`s.

use crate::error::UsageError;

/// Append `s` as a JSON string literal.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F | 0x7F => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Append a finite number in its shortest round-trip form, never with an exponent.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64, what: &'static str) -> Result<(), UsageError> {
    if !v.is_finite() {
        return Err(UsageError::NotFinite { what });
    }
    let v = if v == 0.0 { 0.0 } else { v };
    if v.fract() == 0.0 && v.abs() < 1e15 {
        out.extend_from_slice(format!("{}", v as i64).as_bytes());
    } else {
        out.extend_from_slice(format!("{v}").as_bytes());
    }
    Ok(())
}

/// An object being written; keys are written in call order.
pub(crate) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    fn key(&mut self, k: &str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        write_str(self.out, k);
        self.out.push(b':');
    }

    pub(crate) fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        write_str(self.out, v);
        self
    }

    pub(crate) fn int(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        self.out.extend_from_slice(v.to_string().as_bytes());
        self
    }

    pub(crate) fn num(&mut self, k: &'static str, v: f64) -> Result<&mut Self, UsageError> {
        self.key(k);
        write_f64(self.out, v, k)?;
        Ok(self)
    }

    pub(crate) fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    /// A nested object written by `f`.
    pub(crate) fn obj<E>(
        &mut self,
        k: &str,
        f: impl FnOnce(&mut Obj<'_>) -> Result<(), E>,
    ) -> Result<&mut Self, E> {
        self.key(k);
        let mut inner = Obj::new(self.out);
        f(&mut inner)?;
        inner.end();
        Ok(self)
    }

    /// A raw JSON fragment (already valid JSON).
    pub(crate) fn raw(&mut self, k: &str, json: &[u8]) -> &mut Self {
        self.key(k);
        self.out.extend_from_slice(json);
        self
    }

    pub(crate) fn end(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_numbers() {
        let mut v = Vec::new();
        let mut o = Obj::new(&mut v);
        o.str("a\"b", "x\n\u{1}\\é").int("n", -200);
        o.num("f", 0.1).unwrap();
        o.num("z", -0.0).unwrap();
        o.num("big", 1e20).unwrap();
        o.bool("t", true);
        o.obj::<()>("o", |i| {
            i.str("k", "v");
            Ok(())
        })
        .unwrap();
        o.end();
        let s = String::from_utf8(v).unwrap();
        assert_eq!(
            s,
            r#"{"a\"b":"x\n\u0001\\é","n":-200,"f":0.1,"z":0,"big":100000000000000000000,"t":true,"o":{"k":"v"}}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(parsed["a\"b"], "x\n\u{1}\\é");
        let mut v = Vec::new();
        assert!(Obj::new(&mut v).num("x", f64::NAN).is_err());
    }
}
