//! Which printer this is, and what it can do.
//!
//! Identification follows protocol/README.md "How a client tells the models apart": discovery
//! product id, then `/detail.pid`, then `/detail.model`, then name heuristics, and `~M115`'s
//! `Machine Type:` for the TCP-only families. [`Capabilities`] follows models.md §6.

use std::fmt;

/// A FlashForge printer model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Model {
    /// Adventurer 3 family (TCP only, 140-byte discovery reply).
    Adventurer3,
    /// Adventurer 4 Lite or Pro (TCP only); see [`crate::gcode::A4Variant`].
    Adventurer4,
    /// Adventurer 5M (pid 35).
    Adventurer5M,
    /// Adventurer 5M Pro (pid 36).
    Adventurer5MPro,
    /// AD5X with the IFS material station (pid 38).
    AD5X,
    /// Creator 5 (pid 40, HTTP only).
    Creator5,
    /// Creator 5 Pro (pid 41, HTTP only).
    Creator5Pro,
    /// Not recognised.
    #[default]
    Unknown,
}

impl Model {
    /// Every known model, oldest first.
    pub const ALL: [Self; 7] = [
        Self::Adventurer3,
        Self::Adventurer4,
        Self::Adventurer5M,
        Self::Adventurer5MPro,
        Self::AD5X,
        Self::Creator5,
        Self::Creator5Pro,
    ];

    /// The model of a `/detail.pid` or discovery product id (35/36/38/40/41, 0x08/0x16/0x1E).
    pub fn from_pid(pid: i64) -> Self {
        match pid {
            0x08 => Self::Adventurer3,
            0x16 | 0x1E => Self::Adventurer4,
            35 => Self::Adventurer5M,
            36 => Self::Adventurer5MPro,
            38 => Self::AD5X,
            40 => Self::Creator5,
            41 => Self::Creator5Pro,
            _ => Self::Unknown,
        }
    }

    /// The model of a `pid` sent as a JSON string: base 16 as docs claims (`"0026"`), else base 10.
    pub fn from_pid_str(pid: &str) -> (Option<i64>, Self) {
        let t = pid.trim();
        let t = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        if let Ok(v) = i64::from_str_radix(t, 16) {
            let m = Self::from_pid(v);
            if m.is_http() {
                return (Some(v), m);
            }
        }
        match t.parse::<i64>() {
            Ok(v) => (Some(v), Self::from_pid(v).http_only_filter()),
            Err(_) => (None, Self::Unknown),
        }
    }

    fn http_only_filter(self) -> Self {
        if self.is_http() {
            self
        } else {
            Self::Unknown
        }
    }

    /// The `/detail.pid` of an HTTP model.
    pub fn pid(self) -> Option<u16> {
        Some(match self {
            Self::Adventurer5M => 35,
            Self::Adventurer5MPro => 36,
            Self::AD5X => 38,
            Self::Creator5 => 40,
            Self::Creator5Pro => 41,
            _ => return None,
        })
    }

    /// The factory name of a `/detail.model` string (`Creator 5`, `Creator 5 Pro`, ...).
    pub fn from_model_name(name: &str) -> Self {
        let n = name.trim();
        if n.is_empty() {
            return Self::Unknown;
        }
        let lower = n.to_ascii_lowercase();
        if lower.contains("creator 5") || lower.contains("creator5") {
            return if lower.contains("pro") {
                Self::Creator5Pro
            } else {
                Self::Creator5
            };
        }
        if lower.contains("ad5x") {
            return Self::AD5X;
        }
        if lower.contains("5m") {
            return if lower.contains("pro") {
                Self::Adventurer5MPro
            } else {
                Self::Adventurer5M
            };
        }
        Self::Unknown
    }

    /// The fallback for firmware without `pid`: the user-editable name, plus whether a material
    /// station is reported (README step 4). Never `Unknown` for an HTTP printer.
    pub fn from_name_heuristic(name: &str, has_material_station: bool) -> Self {
        if name.contains("Creator 5") {
            return if name.contains("Pro") {
                Self::Creator5Pro
            } else {
                Self::Creator5
            };
        }
        if name.trim() == "AD5X" || name.contains("AD5X") || has_material_station {
            return Self::AD5X;
        }
        if name.contains("Pro") {
            Self::Adventurer5MPro
        } else {
            Self::Adventurer5M
        }
    }

    /// The model a person names: `a3`, `adventurer-3`, `5m-pro`, `AD5X`, `c5pro`, … (case,
    /// spaces, `-` and `_` ignored). `None` for anything else.
    ///
    /// ```
    /// use flashforge_proto::Model;
    /// assert_eq!(Model::from_alias("Adventurer 3"), Some(Model::Adventurer3));
    /// assert_eq!(Model::from_alias("5m-pro"), Some(Model::Adventurer5MPro));
    /// assert_eq!(Model::from_alias("a9"), None);
    /// ```
    pub fn from_alias(name: &str) -> Option<Self> {
        let k: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        Some(match k.as_str() {
            "a3" | "adventurer3" | "adventureriii" | "ad3" => Self::Adventurer3,
            "a4" | "adventurer4" | "ad4" => Self::Adventurer4,
            "5m" | "adventurer5m" | "ad5m" | "a5m" => Self::Adventurer5M,
            "5mpro" | "adventurer5mpro" | "ad5mpro" | "a5mpro" => Self::Adventurer5MPro,
            "ad5x" | "adventurer5x" | "a5x" => Self::AD5X,
            "c5" | "creator5" => Self::Creator5,
            "c5pro" | "creator5pro" => Self::Creator5Pro,
            _ => return None,
        })
    }

    /// Whether the model speaks only TCP (Adventurer 3 and 4).
    pub fn is_tcp_only(self) -> bool {
        matches!(self, Self::Adventurer3 | Self::Adventurer4)
    }

    /// The model of an `~M115` `Machine Type:` line (TCP printers).
    pub fn from_machine_type(machine_type: &str) -> Self {
        let u = machine_type.to_ascii_uppercase();
        if u.contains("ADVENTURER III") || u.contains("ADVENTURER 3") || u.contains("ADVENTURER3") {
            Self::Adventurer3
        } else if u.contains("ADVENTURER 4") || u.contains("ADVENTURER4") {
            Self::Adventurer4
        } else if u.contains("AD5X") {
            Self::AD5X
        } else if u.contains("5M") {
            if u.contains("PRO") {
                Self::Adventurer5MPro
            } else {
                Self::Adventurer5M
            }
        } else if u.contains("CREATOR 5") {
            if u.contains("PRO") {
                Self::Creator5Pro
            } else {
                Self::Creator5
            }
        } else {
            Self::Unknown
        }
    }

    /// Display name (`Adventurer 5M Pro`, `AD5X`, `Creator 5`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Adventurer3 => "Adventurer 3",
            Self::Adventurer4 => "Adventurer 4",
            Self::Adventurer5M => "Adventurer 5M",
            Self::Adventurer5MPro => "Adventurer 5M Pro",
            Self::AD5X => "AD5X",
            Self::Creator5 => "Creator 5",
            Self::Creator5Pro => "Creator 5 Pro",
            Self::Unknown => "Unknown",
        }
    }

    /// The identifier used in the fixture manifests (`Adventurer5MPro`, `AD5X`, ...).
    pub fn ident(self) -> &'static str {
        match self {
            Self::Adventurer3 => "Adventurer3",
            Self::Adventurer4 => "Adventurer4",
            Self::Adventurer5M => "Adventurer5M",
            Self::Adventurer5MPro => "Adventurer5MPro",
            Self::AD5X => "AD5X",
            Self::Creator5 => "Creator5",
            Self::Creator5Pro => "Creator5Pro",
            Self::Unknown => "Unknown",
        }
    }

    /// Speaks the HTTP API on port 8898.
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Self::Adventurer5M
                | Self::Adventurer5MPro
                | Self::AD5X
                | Self::Creator5
                | Self::Creator5Pro
        )
    }

    /// Has the G-code channel on TCP port 8899 (everything but the Creator 5 series).
    pub fn has_tcp(self) -> bool {
        !self.is_creator5()
    }

    /// Creator 5 or Creator 5 Pro.
    pub fn is_creator5(self) -> bool {
        matches!(self, Self::Creator5 | Self::Creator5Pro)
    }

    /// The feature set this model has before any `/detail` or `/product` reading (models.md §6).
    pub fn capabilities(self) -> Capabilities {
        use Model::*;
        let m = self;
        Capabilities {
            tcp: m != Unknown && m.has_tcp(),
            http: m.is_http(),
            led: m != Unknown,
            filtration: matches!(m, Adventurer5MPro | Creator5Pro),
            camera: matches!(m, Adventurer5MPro | Creator5 | Creator5Pro),
            camera_toggle: matches!(m, Adventurer5MPro | Creator5 | Creator5Pro),
            chamber_sensor: matches!(m, Adventurer5M | Adventurer5MPro | AD5X | Creator5Pro),
            chamber_heater: m == Creator5Pro,
            per_nozzle_temps: m.is_creator5(),
            material_station: matches!(m, AD5X | Creator5 | Creator5Pro),
            slot_load_unload: m == AD5X,
            door_sensor: m == Creator5Pro,
            tvoc: matches!(m, Adventurer5MPro | Creator5Pro),
            lidar: m.is_creator5(),
            http_motion: m == AD5X,
            tcp_motion: m != Unknown && m.has_tcp(),
            full_file_list: m != Unknown && m.has_tcp(),
            runout_sensor_toggle: m == Adventurer5MPro,
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a printer can do, as models.md §6 derives it.
///
/// Start from [`Model::capabilities`], then refine with what the printer reports:
/// [`Capabilities::with_product`] (the `/product` flags) and
/// [`Capabilities::with_detail`] (`camera`, `cameraStreamUrl`, `chamberTemp`, station block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Capabilities {
    /// G-code channel on TCP 8899.
    pub tcp: bool,
    /// HTTP API on 8898.
    pub http: bool,
    /// LED control (HTTP `lightControl_cmd` or TCP `M146`).
    pub led: bool,
    /// Filtration fans (`circulateCtl_cmd`).
    pub filtration: bool,
    /// A camera stream exists.
    pub camera: bool,
    /// The stream can be switched with `streamCtrl_cmd`.
    pub camera_toggle: bool,
    /// A chamber temperature reading exists.
    pub chamber_sensor: bool,
    /// Chamber heater control.
    pub chamber_heater: bool,
    /// Per-tool temperatures (`nozzleTemps[4]`, `temperatureCtl_cmd.nozzles`).
    pub per_nozzle_temps: bool,
    /// A material station (AD5X IFS or the Creator 5's four tool heads).
    pub material_station: bool,
    /// Slot load/unload over the API (`ms_cmd`).
    pub slot_load_unload: bool,
    /// A real door sensor.
    pub door_sensor: bool,
    /// An air-quality (TVOC) reading.
    pub tvoc: bool,
    /// First-layer scanner.
    pub lidar: bool,
    /// Home/jog/extrude over HTTP (`homingCtrl_cmd`, `moveCtrl_cmd`, `extrudeCtrl_cmd`).
    pub http_motion: bool,
    /// Home/jog over TCP G-code.
    pub tcp_motion: bool,
    /// The full file list over TCP `~M661`.
    pub full_file_list: bool,
    /// Filament runout sensor toggle (`~M405`/`~M406`).
    pub runout_sensor_toggle: bool,
}

impl Capabilities {
    #[cfg(feature = "http")]
    /// Refine with the `/product` flags: LED from `lightCtrlState`, filtration from both fan
    /// flags (always on for the Creator 5 Pro, whose flags misreport), chamber heater only where
    /// the model has one.
    pub fn with_product(mut self, model: Model, flags: &crate::http::ProductFlags) -> Self {
        if self.http {
            self.led = flags.light.unwrap_or(0) != 0;
        }
        self.filtration = model == Model::Creator5Pro
            || (flags.internal_fan.unwrap_or(0) != 0 && flags.external_fan.unwrap_or(0) != 0);
        self
    }

    #[cfg(feature = "http")]
    /// Refine with a parsed `/detail`.
    pub fn with_detail(mut self, info: &crate::http::MachineInfo) -> Self {
        self.camera = info.has_camera() || (self.camera && info.model != Model::Adventurer5M);
        self.chamber_sensor = info.has_chamber_sensor();
        self.chamber_heater = match info.model {
            Model::Creator5Pro => true,
            Model::Creator5 => info.has_chamber_sensor(),
            _ => false,
        };
        self.per_nozzle_temps = self.per_nozzle_temps || info.nozzle_temps_reported;
        self.material_station = info.has_matl_station();
        self.lidar = info.has_lidar() || (self.lidar && info.lidar.is_none());
        if info.model == Model::AD5X {
            self.http_motion = info.can_move_axes() || info.move_ctrl.is_none();
        }
        self
    }
}

/// Compare dotted firmware versions numerically on the part before the first `-`
/// (`"V3.1.5-1.0"` ≥ `"3.1.3"`). Missing or non-numeric components count as 0.
pub fn firmware_at_least(version: &str, min: (u32, u32, u32)) -> bool {
    let short = version.split('-').next().unwrap_or("").trim();
    let short = short.trim_start_matches(['v', 'V']);
    let mut parts = short.split('.').map(|p| {
        let digits: &str = &p[..p.bytes().take_while(u8::is_ascii_digit).count()];
        digits.parse::<u32>().unwrap_or(0)
    });
    let v = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    v >= min
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids() {
        assert_eq!(Model::from_pid(38), Model::AD5X);
        assert_eq!(Model::from_pid_str("0026"), (Some(0x26), Model::AD5X));
        assert_eq!(
            Model::from_pid_str("0x29"),
            (Some(0x29), Model::Creator5Pro)
        );
        // "36" is 0x36 = 54 in base 16 (unknown), so base 10 decides.
        assert_eq!(
            Model::from_pid_str("36"),
            (Some(36), Model::Adventurer5MPro)
        );
        assert_eq!(Model::from_pid_str("zz").1, Model::Unknown);
    }

    #[test]
    fn names() {
        assert_eq!(
            Model::from_name_heuristic("My Creator 5 Pro", false),
            Model::Creator5Pro
        );
        assert_eq!(
            Model::from_name_heuristic("Shop Pro", false),
            Model::Adventurer5MPro
        );
        assert_eq!(Model::from_name_heuristic("Bob", true), Model::AD5X);
        assert_eq!(
            Model::from_name_heuristic("Bob", false),
            Model::Adventurer5M
        );
        assert_eq!(
            Model::from_machine_type("FlashForge Adventurer III Pro"),
            Model::Adventurer3
        );
        assert_eq!(
            Model::from_machine_type("Flashforge Adventurer 5M Pro"),
            Model::Adventurer5MPro
        );
    }

    #[test]
    fn firmware() {
        assert!(firmware_at_least("3.1.3", (3, 1, 3)));
        assert!(firmware_at_least("V3.2.0", (3, 1, 3)));
        assert!(!firmware_at_least("3.1.2-1.0", (3, 1, 3)));
        assert!(!firmware_at_least("1.9.2", (3, 1, 3)));
        assert!(!firmware_at_least("", (3, 1, 3)));
    }
}
