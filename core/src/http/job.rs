//! What a print start carries: [`JobOptions`], material mappings, the model's [`JobFormat`],
//! and the file name rules of `/printGcode` and `/uploadGcode` (http.md §8, §9).

use super::color::Rgb;
use super::json::Obj;
use crate::error::UsageError;
use crate::model::{JobFormat, Model};

/// Longest material or printer name accepted (the firmware shows short labels).
pub const MAX_NAME_LEN: usize = 64;

pub(super) fn check_text(what: &'static str, s: &str, allow_empty: bool) -> Result<(), UsageError> {
    if s.is_empty() && !allow_empty {
        return Err(UsageError::Empty { what });
    }
    if s.len() > MAX_NAME_LEN {
        return Err(UsageError::OutOfRange { what });
    }
    if s.chars().any(char::is_control) {
        return Err(UsageError::LineInjection { what });
    }
    Ok(())
}

/// Longest file name accepted (bytes).
pub const MAX_FILE_NAME: usize = 255;

/// A file name that can go into a multipart `filename="…"` and JSON: non-empty, at most 255
/// bytes, no control characters, no `"` or `\`, no path separator.
pub fn check_file_name(name: &str) -> Result<(), UsageError> {
    const WHAT: &str = "file name";
    if name.is_empty() {
        return Err(UsageError::Empty { what: WHAT });
    }
    if name.len() > MAX_FILE_NAME {
        return Err(UsageError::OutOfRange { what: WHAT });
    }
    if name.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(UsageError::LineInjection { what: WHAT });
    }
    // `.` and `..` name directories; bidirectional overrides and isolates make a name read
    // differently than it is (`gcode.exe` shown as `exe.gcode`).
    if name == "."
        || name == ".."
        || name.chars().any(|c| {
            c.is_control()
                || matches!(c, '"' | '\\' | '/')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
    {
        return Err(UsageError::BadFileName);
    }
    Ok(())
}

/// A material mapping: G-code tool → station slot (http.md §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaterialMapping {
    /// 0-based tool index, 0–3.
    pub tool_id: u8,
    /// 1-based slot, 1–4.
    pub slot_id: u8,
    /// Material name, non-empty.
    pub material_name: String,
    /// Colour declared in the G-code.
    pub tool_color: Rgb,
    /// Colour of the filament in the slot.
    pub slot_color: Rgb,
}

/// A name for a file about to be uploaded: [`check_file_name`], and no white space at either
/// end (a printer that trims the names it lists, the Adventurer 3's `~M661`, would show another
/// name than the file has, and printing the shown one fails).
pub fn check_upload_name(name: &str) -> Result<(), UsageError> {
    check_file_name(name)?;
    if name.trim() != name {
        return Err(UsageError::FileNameSpaces);
    }
    Ok(())
}

/// Check a list of mappings: at most 4, tool 0–3, slot 1–4, no duplicate tool or slot, names
/// non-empty.
pub fn check_mappings(m: &[MaterialMapping]) -> Result<(), UsageError> {
    if m.len() > 4 {
        return Err(UsageError::OutOfRange {
            what: "number of material mappings",
        });
    }
    for (i, a) in m.iter().enumerate() {
        if a.tool_id > 3 {
            return Err(UsageError::OutOfRange { what: "tool id" });
        }
        if !(1..=4).contains(&a.slot_id) {
            return Err(UsageError::OutOfRange { what: "slot id" });
        }
        check_text("material name", &a.material_name, false)?;
        for b in &m[..i] {
            if a.tool_id == b.tool_id {
                return Err(UsageError::Duplicate { what: "tool id" });
            }
            if a.slot_id == b.slot_id {
                return Err(UsageError::Duplicate { what: "slot id" });
            }
        }
    }
    Ok(())
}

/// The compact JSON array of mappings, as ts sends it.
pub(crate) fn mappings_json(m: &[MaterialMapping]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + m.len() * 120);
    out.push(b'[');
    for (i, a) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut o = Obj::new(&mut out);
        o.int("toolId", i64::from(a.tool_id))
            .int("slotId", i64::from(a.slot_id))
            .str("materialName", &a.material_name)
            .str("toolMaterialColor", &a.tool_color.to_string())
            .str("slotMaterialColor", &a.slot_color.to_string());
        o.end();
    }
    out.push(b']');
    out
}

impl JobFormat {
    /// The format for a model and firmware: AD5X and Creator 5 by model, the 5M by comparing
    /// `firmwareVersion` with 3.1.3 (a Creator 5's `1.9.2` would compare as old, hence the
    /// model first).
    pub fn for_printer(model: Model, firmware: &str) -> Self {
        model.job_format(firmware)
    }

    /// Whether the body can carry material mappings (AD5X, Creator 5).
    pub fn carries_mappings(self) -> bool {
        matches!(self, Self::Ad5x | Self::Creator5)
    }
}

/// Options of a print start (`/printGcode`) or an upload (`/uploadGcode`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobOptions {
    /// Level the bed first (`levelingBeforePrint`).
    pub leveling: bool,
    /// `flowCalibration`.
    pub flow_calibration: bool,
    /// `timeLapseVideo` (AD5X, Creator 5).
    pub time_lapse: bool,
    /// `firstLayerInspection` (AD5X).
    pub first_layer_inspection: bool,
    /// Material mappings (AD5X multi-colour, Creator 5 multi-tool); empty = single material.
    pub mappings: Vec<MaterialMapping>,
}

impl JobOptions {
    pub(crate) fn check(&self, format: JobFormat) -> Result<(), UsageError> {
        check_mappings(&self.mappings)?;
        if !self.mappings.is_empty() && !format.carries_mappings() {
            // The high-level client reports this as `ClientError::Unsupported` before any
            // request is built; here it is a request the format cannot express.
            return Err(UsageError::OutOfRange {
                what: "material mapping count for this job format",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_that_mislead_are_refused() {
        for bad in [
            ".",
            "..",
            "a\u{202E}edoc.gcode",
            "x\u{2066}y.gcode",
            "a/b",
            "a\\b",
            "q\"",
            "",
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
        for ok in [
            "...gcode",
            ".hidden.gcode",
            "Benchy 0.2mm (PLA).3mf",
            "über.gcode",
        ] {
            assert!(check_file_name(ok).is_ok(), "{ok:?}");
            assert!(check_upload_name(ok).is_ok(), "{ok:?}");
        }
        // Names to upload: no white space at either end (a file that exists can still be
        // named as it is).
        for spaced in [
            " a.gcode",
            "a.gcode ",
            " ",
            "\u{3000}a.gcode",
            "a.gcode\u{a0}",
        ] {
            assert!(check_upload_name(spaced).is_err(), "{spaced:?}");
        }
        assert!(check_file_name(" a.gcode").is_ok());
    }
}
