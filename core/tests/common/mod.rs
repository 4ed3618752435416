//! Helpers shared by the manifest-driven tests.
#![allow(dead_code)]

use serde_json::Value;

/// Lower-case hex of bytes.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compare an expected value with a produced one: numbers with a relative tolerance of 1e-9
/// (fixtures README), objects by the expected keys only, arrays element by element.
pub(crate) fn approx(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            let tol = 1e-9 * x.abs().max(y.abs()).max(1e-300);
            if (x - y).abs() <= tol {
                Ok(())
            } else {
                Err(format!("{path}: expected {x}, got {y}"))
            }
        }
        (Value::Object(e), Value::Object(g)) => {
            if e.len() != g.len() && path.ends_with("extra") {
                return Err(format!("{path}: expected {a}, got {b}"));
            }
            for (k, v) in e {
                let got = g.get(k).ok_or_else(|| format!("{path}.{k}: missing"))?;
                approx(v, got, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(g)) => {
            if e.len() != g.len() {
                return Err(format!(
                    "{path}: expected {} items, got {}",
                    e.len(),
                    g.len()
                ));
            }
            for (i, (x, y)) in e.iter().zip(g).enumerate() {
                approx(x, y, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: expected {a}, got {b}")),
    }
}
