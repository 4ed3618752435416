//! Helpers shared by the manifest-driven tests.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The entries of `tests/data/<dir>/manifest.json` with each file's bytes; checks the entry
/// count and every file's SHA-256 against the manifest.
pub(crate) fn manifest(dir: &str) -> Vec<(Value, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let list = manifest["fixtures"].as_array().unwrap();
    assert_eq!(list.len() as u64, manifest["count"].as_u64().unwrap());
    list.iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap();
            let bytes = std::fs::read(dir.join(file)).unwrap();
            assert_eq!(
                hex(&Sha256::digest(&bytes)),
                f["sha256"].as_str().unwrap(),
                "{file}: fixture bytes changed"
            );
            (f.clone(), bytes)
        })
        .collect()
}

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
