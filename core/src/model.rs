//! Which printer this is, and what it can do: the model table.
//!
//! Everything the crate knows about a model is one row of [`MODELS`]: its product ids
//! (discovery and `/detail.pid`), names and aliases, channels, [`Capabilities`], the `/control`
//! commands its firmware implements, its colour [`Palette`] and its print-start [`JobFormat`].
//! Discovery, the HTTP requests, the client, the simulator and the CLI read the table; adding a
//! model is adding a row (and a [`Model`] variant).
//!
//! Identification follows protocol/README.md "How a client tells the models apart": discovery
//! product id, then `/detail.pid`, then `/detail.model`, then name heuristics, and `~M115`'s
//! `Machine Type:` for the TCP-only families. [`Capabilities`] follows models.md §6.
//!
//! This module is the ground floor of the crate: it imports nothing from it.

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

/// A model's family: the firmware lineage that decides reply shapes and quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// Adventurer 3: TCP only, its own reply shapes (tcp.md §3 Shape B).
    Adventurer3,
    /// Adventurer 4: TCP only.
    Adventurer4,
    /// Adventurer 5M, 5M Pro, AD5X: HTTP and TCP.
    Adventurer5,
    /// Creator 5 series: HTTP only.
    Creator5,
    /// Not recognised.
    Unknown,
}

/// The layout of a model's discovery reply (discovery.md §3, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscoveryLayout {
    /// The 140-byte reply of the Adventurer 3 and 4 (name first, then product id).
    Legacy,
    /// The 276-byte reply of the 5M and Creator families (product id first).
    Modern,
}

/// Names by which a model calls itself (`~M115` `Machine Type:`, `/detail.model`, a legacy
/// discovery name), matched case-insensitively as substrings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamePattern {
    /// Upper-case substrings, any of which names the family.
    pub any: &'static [&'static str],
    /// `Some(true)`: only with `PRO` in the name; `Some(false)`: only without; `None`: either.
    pub pro: Option<bool>,
}

impl NamePattern {
    /// Whether `upper` (an upper-cased name) matches.
    pub fn matches(&self, upper: &str) -> bool {
        self.any.iter().any(|k| upper.contains(k))
            && self.pro.map_or(true, |pro| upper.contains("PRO") == pro)
    }
}

/// A printer's colour palette (the 24 colours its material slots take; http.md §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Palette {
    /// AD5X (IFS).
    Ad5x,
    /// Creator 5 series.
    Creator5,
}

/// The body layout of a print start (`/printGcode`) or upload (http.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFormat {
    /// 5M before firmware 3.1.3: file name and leveling only.
    Legacy,
    /// 5M ≥ 3.1.3 (and the generic call): adds flow calibration, `useMatlStation:false`,
    /// `gcodeToolCnt:0`, empty mappings.
    Generic,
    /// AD5X: adds first-layer inspection and time-lapse; mappings for multi-colour.
    Ad5x,
    /// Creator 5 series: time-lapse, mappings only for multi-tool prints.
    Creator5,
}

/// How a model's [`JobFormat`] is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFormats {
    /// Always this format.
    Fixed(JobFormat),
    /// `since` from firmware `min` on (compared with [`firmware_at_least`]), `before` earlier.
    SinceFirmware {
        /// The first firmware with `since`.
        min: (u32, u32, u32),
        /// The format of older firmware.
        before: JobFormat,
        /// The format from `min` on.
        since: JobFormat,
    },
}

impl JobFormats {
    /// The format for `firmware`.
    pub fn for_firmware(self, firmware: &str) -> JobFormat {
        match self {
            Self::Fixed(f) => f,
            Self::SinceFirmware { min, before, since } => {
                if firmware_at_least(firmware, min) {
                    since
                } else {
                    before
                }
            }
        }
    }
}

/// One row of the model table: everything the crate knows about a model before it reads
/// anything from the printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelSpec {
    /// The model.
    pub model: Model,
    /// Its family.
    pub family: Family,
    /// Display name (`Adventurer 5M Pro`).
    pub name: &'static str,
    /// The identifier of the fixture manifests (`Adventurer5MPro`).
    pub ident: &'static str,
    /// The snake-case key of reports and fixture files (`adventurer5m_pro`).
    pub key: &'static str,
    /// What a person may type for it: lower-case letters and digits only (`5mpro`, `c5`).
    pub aliases: &'static [&'static str],
    /// The layout of its discovery reply.
    pub discovery: DiscoveryLayout,
    /// Product ids in discovery replies and `/detail.pid` (the first is the default).
    pub product_ids: &'static [u16],
    /// The UDP ports it answers discovery probes on, unicast or broadcast (discovery.md §2:
    /// the emulator's legacy mode binds 8899, its modern mode 48899 and 19000; the Adventurer 4
    /// answers on all three).
    pub discovery_ports: &'static [u16],
    /// The ports of [`discovery_ports`](Self::discovery_ports) where it is a member of the
    /// multicast group `225.0.0.9` (8899 for the Adventurer 3, 19000 for the modern family
    /// and the Adventurer 4).
    pub multicast_ports: &'static [u16],
    /// How it names itself in `~M115`, `/detail.model` and legacy discovery replies.
    pub names: NamePattern,
    /// What it can do (models.md §6), before `/product` or `/detail` refine it.
    pub capabilities: Capabilities,
    /// The `/control` commands its firmware implements beyond [`CONTROLS_COMMON`], which
    /// every HTTP model has (http.md §5.1). The printer acknowledges unknown commands with
    /// success, so this list is the only protection against a silently ignored command.
    pub controls: &'static [&'static str],
    /// The palette its material slots snap colours to.
    pub palette: Option<Palette>,
    /// Its print-start body layout.
    pub job_format: JobFormats,
    /// The ranges of its settings (temperatures, speed, jog distances), checked before
    /// anything is sent.
    pub limits: Limits,
}

/// The ranges a model's settings are checked against before anything is sent: one place for
/// every per-model bound (issue 14 point 5). Each bound names its source.
///
/// Temperatures are bounds of what is sent, not the hardware's rating: the firmware applies
/// its own clamp below them. Where protocol/http.md and protocol/models.md give a number it is
/// used; where they give none (the nozzle and bed of the TCP and 5M families) the bound is a
/// conservative sanity limit (see `NOZZLE_MAX_5M`), so a typo (`2100`) never heats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Highest nozzle (tool) target, °C; the lowest is 0 (off).
    pub nozzle_max: u16,
    /// Highest bed target, °C.
    pub bed_max: u16,
    /// Highest chamber target, °C (only where [`Capabilities::chamber_heater`]).
    pub chamber_max: u16,
    /// The print-speed override range in percent (`printerCtl_cmd.speed`, http.md §5.2).
    pub speed: (u16, u16),
    /// The build volume X × Y × Z in mm (models.md §6): a jog moves at most this far along
    /// its axis, either way.
    pub build_volume: (u16, u16, u16),
}

impl Limits {
    /// The longest jog along `axis` (0 = X, 1 = Y, 2 = Z), in mm.
    pub fn jog_max(&self, axis: usize) -> u16 {
        let (x, y, z) = self.build_volume;
        [x, y, z].get(axis).copied().unwrap_or(0)
    }
}

/// Nozzle and bed bounds of the TCP and 5M families. The protocol documents give no number for
/// them (tcp.md §4: `~M104`/`~M140` take any `S`), so 300 °C nozzle and 120 °C bed are
/// conservative sanity bounds chosen for issue 14 (not a documented hardware rating): high
/// enough for every filament these printers are sold for, low enough that a typo never heats.
const NOZZLE_MAX_5M: u16 = 300;
/// See [`NOZZLE_MAX_5M`].
const BED_MAX_5M: u16 = 120;

/// The speed clamp of the 5M and 5M Pro firmware: `M220` is clamped to 50–150 % (http.md §5.2,
/// models.md "Speed override"; 5M firmware 3.2.7).
const SPEED_5M: (u16, u16) = (50, 150);
/// The AD5X firmware's clamp, 50–500 % (http.md §5.2; AD5X firmware 1.1.7 / 1.2.1). The
/// Creator 5 series' clamp is not documented: it gets this, the widest documented range, so
/// no value its firmware may take is refused.
const SPEED_WIDE: (u16, u16) = (50, 500);

/// The TCP-only models (Adventurer 3, 4): no speed override over HTTP (the range is unused).
const fn legacy_limits(build_volume: (u16, u16, u16)) -> Limits {
    Limits {
        nozzle_max: NOZZLE_MAX_5M,
        bed_max: BED_MAX_5M,
        chamber_max: 0,
        speed: SPEED_5M,
        build_volume,
    }
}

/// The 5M family: 220³ mm (models.md §6).
const FIVE_M_LIMITS: Limits = Limits {
    nozzle_max: NOZZLE_MAX_5M,
    bed_max: BED_MAX_5M,
    chamber_max: 0,
    speed: SPEED_5M,
    build_volume: (220, 220, 220),
};

/// The Creator 5 series: tools 0–350 °C and bed 0–130 °C as the emulator clamps them (http.md
/// §5.3, the only numbers the references give), chamber at most 80 °C (http.md §5.3, models.md
/// §6: docs; unverified on hardware), 256³ mm (models.md §6).
const CREATOR5_LIMITS: Limits = Limits {
    nozzle_max: 350,
    bed_max: 130,
    chamber_max: 80,
    speed: SPEED_WIDE,
    build_volume: (256, 256, 256),
};

/// The `/control` commands every HTTP model implements (http.md §5.1).
pub const CONTROLS_COMMON: [&str; 9] = [
    "lightControl_cmd",
    "jobCtl_cmd",
    "printerCtl_cmd",
    "temperatureCtl_cmd",
    "stateCtrl_cmd",
    "reName_cmd",
    "delayClose_cmd",
    "calibration_cmd",
    "userProfile_cmd",
];

const NONE: Capabilities = Capabilities {
    tcp: false,
    http: false,
    led: false,
    filtration: false,
    camera: false,
    camera_toggle: false,
    chamber_sensor: false,
    chamber_heater: false,
    per_nozzle_temps: false,
    material_station: false,
    slot_load_unload: false,
    door_sensor: false,
    tvoc: false,
    lidar: false,
    http_motion: false,
    tcp_motion: false,
    full_file_list: false,
    runout_sensor_toggle: false,
};

/// What every model with the TCP channel has.
const TCP: Capabilities = Capabilities {
    tcp: true,
    led: true,
    tcp_motion: true,
    full_file_list: true,
    ..NONE
};

/// The 5M family (HTTP and TCP).
const ADVENTURER5: Capabilities = Capabilities {
    http: true,
    chamber_sensor: true,
    ..TCP
};

/// The Creator 5 family (HTTP only).
const CREATOR5: Capabilities = Capabilities {
    http: true,
    led: true,
    camera: true,
    camera_toggle: true,
    per_nozzle_temps: true,
    material_station: true,
    lidar: true,
    ..NONE
};

const A5M_CONTROLS: &[&str] = &[
    "deviceUnregister_cmd",
    "deviceUpdateDetail_cmd",
    "newLocalJob_cmd",
];
const A5M_PRO_CONTROLS: &[&str] = &[
    "circulateCtl_cmd",
    "streamCtrl_cmd",
    "deviceUnregister_cmd",
    "deviceUpdateDetail_cmd",
    "newLocalJob_cmd",
];
const AD5X_CONTROLS: &[&str] = &[
    "deviceUnregister_cmd",
    "deviceUpdateDetail_cmd",
    "msConfig_cmd",
    "ipdMsConfig_cmd",
    "ms_cmd",
    "ipdMs_cmd",
    "moveCtrl_cmd",
    "extrudeCtrl_cmd",
    "homingCtrl_cmd",
    "errorCodeCtrl_cmd",
];
const C5_CONTROLS: &[&str] = &["streamCtrl_cmd", "msConfig_cmd"];
const C5_PRO_CONTROLS: &[&str] = &["circulateCtl_cmd", "streamCtrl_cmd", "msConfig_cmd"];

const FIVE_M_JOBS: JobFormats = JobFormats::SinceFirmware {
    min: (3, 1, 3),
    before: JobFormat::Legacy,
    since: JobFormat::Generic,
};

/// The model table: one row per known model, oldest first.
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        model: Model::Adventurer3,
        family: Family::Adventurer3,
        name: "Adventurer 3",
        ident: "Adventurer3",
        key: "adventurer3",
        aliases: &["a3", "adventurer3", "adventureriii", "ad3"],
        discovery: DiscoveryLayout::Legacy,
        product_ids: &[0x08],
        discovery_ports: &[8899],
        multicast_ports: &[8899],
        names: NamePattern {
            any: &["ADVENTURER III", "ADVENTURER 3", "ADVENTURER3", "AD3"],
            pro: None,
        },
        capabilities: TCP,
        controls: &[],
        palette: None,
        job_format: FIVE_M_JOBS,
        limits: legacy_limits((150, 150, 150)),
    },
    ModelSpec {
        model: Model::Adventurer4,
        family: Family::Adventurer4,
        name: "Adventurer 4",
        ident: "Adventurer4",
        key: "adventurer4",
        aliases: &["a4", "adventurer4", "ad4"],
        discovery: DiscoveryLayout::Legacy,
        // Pro, Lite.
        product_ids: &[0x1E, 0x16],
        discovery_ports: &[8899, 19000, 48899],
        multicast_ports: &[8899, 19000],
        names: NamePattern {
            any: &["ADVENTURER 4", "ADVENTURER4", "AD4"],
            pro: None,
        },
        capabilities: TCP,
        controls: &[],
        palette: None,
        job_format: FIVE_M_JOBS,
        // models.md §6: 220 × 200 × 250 (the clients' default; `~M115` reports it).
        limits: legacy_limits((220, 200, 250)),
    },
    ModelSpec {
        model: Model::Adventurer5M,
        family: Family::Adventurer5,
        name: "Adventurer 5M",
        ident: "Adventurer5M",
        key: "adventurer5m",
        aliases: &["5m", "adventurer5m", "ad5m", "a5m"],
        discovery: DiscoveryLayout::Modern,
        product_ids: &[35],
        discovery_ports: &[48899, 19000],
        multicast_ports: &[19000],
        names: NamePattern {
            any: &["5M"],
            pro: Some(false),
        },
        capabilities: ADVENTURER5,
        controls: A5M_CONTROLS,
        palette: None,
        job_format: FIVE_M_JOBS,
        limits: FIVE_M_LIMITS,
    },
    ModelSpec {
        model: Model::Adventurer5MPro,
        family: Family::Adventurer5,
        name: "Adventurer 5M Pro",
        ident: "Adventurer5MPro",
        key: "adventurer5m_pro",
        aliases: &["5mpro", "adventurer5mpro", "ad5mpro", "a5mpro"],
        discovery: DiscoveryLayout::Modern,
        product_ids: &[36],
        discovery_ports: &[48899, 19000],
        multicast_ports: &[19000],
        names: NamePattern {
            any: &["5M"],
            pro: Some(true),
        },
        capabilities: Capabilities {
            filtration: true,
            camera: true,
            camera_toggle: true,
            tvoc: true,
            runout_sensor_toggle: true,
            ..ADVENTURER5
        },
        controls: A5M_PRO_CONTROLS,
        palette: None,
        job_format: FIVE_M_JOBS,
        limits: FIVE_M_LIMITS,
    },
    ModelSpec {
        model: Model::AD5X,
        family: Family::Adventurer5,
        name: "AD5X",
        ident: "AD5X",
        key: "ad5x",
        aliases: &["ad5x", "adventurer5x", "a5x"],
        discovery: DiscoveryLayout::Modern,
        product_ids: &[38],
        discovery_ports: &[48899, 19000],
        multicast_ports: &[19000],
        names: NamePattern {
            any: &["AD5X"],
            pro: None,
        },
        capabilities: Capabilities {
            material_station: true,
            slot_load_unload: true,
            http_motion: true,
            ..ADVENTURER5
        },
        controls: AD5X_CONTROLS,
        palette: Some(Palette::Ad5x),
        job_format: JobFormats::Fixed(JobFormat::Ad5x),
        limits: Limits {
            speed: SPEED_WIDE,
            ..FIVE_M_LIMITS
        },
    },
    ModelSpec {
        model: Model::Creator5,
        family: Family::Creator5,
        name: "Creator 5",
        ident: "Creator5",
        key: "creator5",
        aliases: &["c5", "creator5"],
        discovery: DiscoveryLayout::Modern,
        product_ids: &[40],
        discovery_ports: &[48899, 19000],
        multicast_ports: &[19000],
        names: NamePattern {
            any: &["CREATOR 5", "CREATOR5"],
            pro: Some(false),
        },
        capabilities: CREATOR5,
        controls: C5_CONTROLS,
        palette: Some(Palette::Creator5),
        job_format: JobFormats::Fixed(JobFormat::Creator5),
        limits: CREATOR5_LIMITS,
    },
    ModelSpec {
        model: Model::Creator5Pro,
        family: Family::Creator5,
        name: "Creator 5 Pro",
        ident: "Creator5Pro",
        key: "creator5_pro",
        aliases: &["c5pro", "creator5pro"],
        discovery: DiscoveryLayout::Modern,
        product_ids: &[41],
        discovery_ports: &[48899, 19000],
        multicast_ports: &[19000],
        names: NamePattern {
            any: &["CREATOR 5", "CREATOR5"],
            pro: Some(true),
        },
        capabilities: Capabilities {
            filtration: true,
            chamber_sensor: true,
            chamber_heater: true,
            door_sensor: true,
            tvoc: true,
            ..CREATOR5
        },
        controls: C5_PRO_CONTROLS,
        palette: Some(Palette::Creator5),
        job_format: JobFormats::Fixed(JobFormat::Creator5),
        limits: CREATOR5_LIMITS,
    },
];

/// An unrecognised model: the widest bounds of any row, so nothing a known model takes is
/// refused (its firmware decides), and jogs of at most 300 mm.
const UNKNOWN_LIMITS: Limits = Limits {
    chamber_max: 80,
    build_volume: (300, 300, 300),
    ..CREATOR5_LIMITS
};

/// The row of [`Model::Unknown`]: no capabilities, no channel known, every `/control`
/// command allowed (the printer decides).
pub const UNKNOWN: ModelSpec = ModelSpec {
    model: Model::Unknown,
    family: Family::Unknown,
    name: "Unknown",
    ident: "Unknown",
    key: "unknown",
    aliases: &[],
    discovery: DiscoveryLayout::Modern,
    product_ids: &[],
    discovery_ports: &[],
    multicast_ports: &[],
    names: NamePattern {
        any: &[],
        pro: None,
    },
    capabilities: NONE,
    controls: &[],
    palette: None,
    job_format: FIVE_M_JOBS,
    limits: UNKNOWN_LIMITS,
};

impl Model {
    /// Every known model, oldest first (the models of [`MODELS`]).
    pub const ALL: [Self; MODELS.len()] = {
        let mut all = [Self::Unknown; MODELS.len()];
        let mut i = 0;
        while i < MODELS.len() {
            all[i] = MODELS[i].model;
            i += 1;
        }
        all
    };

    /// The ranges of this model's settings ([`ModelSpec::limits`]).
    pub fn limits(self) -> Limits {
        self.spec().limits
    }

    /// This model's row of the model table ([`UNKNOWN`] for [`Model::Unknown`]).
    pub fn spec(self) -> &'static ModelSpec {
        MODELS.iter().find(|s| s.model == self).unwrap_or(&UNKNOWN)
    }

    /// The model with this product id (discovery or `/detail.pid`: 35/36/38/40/41,
    /// 0x08/0x16/0x1E).
    pub fn from_pid(pid: i64) -> Self {
        MODELS
            .iter()
            .find(|s| s.product_ids.iter().any(|&p| i64::from(p) == pid))
            .map_or(Self::Unknown, |s| s.model)
    }

    /// The model of a discovery reply's product id, for a reply of `layout`.
    pub fn from_discovery_id(layout: DiscoveryLayout, product_id: u16) -> Self {
        MODELS
            .iter()
            .find(|s| s.discovery == layout && s.product_ids.contains(&product_id))
            .map_or(Self::Unknown, |s| s.model)
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
        let s = self.spec();
        s.capabilities
            .http
            .then(|| s.product_ids.first().copied())
            .flatten()
    }

    /// The first row whose names match `name`, among the rows `keep` accepts.
    fn by_name(name: &str, keep: impl Fn(&ModelSpec) -> bool) -> Self {
        let upper = name.trim().to_ascii_uppercase();
        if upper.is_empty() {
            return Self::Unknown;
        }
        MODELS
            .iter()
            .filter(|s| keep(s))
            .find(|s| s.names.matches(&upper))
            .map_or(Self::Unknown, |s| s.model)
    }

    /// The factory name of a `/detail.model` string (`Creator 5`, `Creator 5 Pro`, ...): HTTP
    /// models only.
    pub fn from_model_name(name: &str) -> Self {
        Self::by_name(name, |s| s.capabilities.http)
    }

    /// The model of an `~M115` `Machine Type:` line (TCP printers).
    pub fn from_machine_type(machine_type: &str) -> Self {
        Self::by_name(machine_type, |_| true)
    }

    /// The model a legacy (140-byte) discovery reply's name says, if any.
    pub fn from_legacy_name(name: &str) -> Self {
        Self::by_name(name, |s| s.discovery == DiscoveryLayout::Legacy)
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
        MODELS
            .iter()
            .find(|s| s.aliases.contains(&k.as_str()))
            .map(|s| s.model)
    }

    /// Its family.
    pub fn family(self) -> Family {
        self.spec().family
    }

    /// Whether the model speaks only TCP (Adventurer 3 and 4).
    pub fn is_tcp_only(self) -> bool {
        let c = self.spec().capabilities;
        c.tcp && !c.http
    }

    /// Display name (`Adventurer 5M Pro`, `AD5X`, `Creator 5`, ...).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The identifier used in the fixture manifests (`Adventurer5MPro`, `AD5X`, ...).
    pub fn ident(self) -> &'static str {
        self.spec().ident
    }

    /// Speaks the HTTP API on port 8898.
    pub fn is_http(self) -> bool {
        self.spec().capabilities.http
    }

    /// Has the G-code channel on TCP port 8899 (everything but the Creator 5 series).
    /// `true` for [`Model::Unknown`]: a printer not yet identified may have it.
    pub fn has_tcp(self) -> bool {
        self == Self::Unknown || self.spec().capabilities.tcp
    }

    /// Creator 5 or Creator 5 Pro.
    pub fn is_creator5(self) -> bool {
        self.family() == Family::Creator5
    }

    /// The feature set this model has before any `/detail` or `/product` reading (models.md §6).
    pub fn capabilities(self) -> Capabilities {
        self.spec().capabilities
    }

    /// Whether its firmware implements the `/control` command `cmd` (http.md §5.1;
    /// [`Model::Unknown`] allows every command).
    pub fn allows_control(self, cmd: &str) -> bool {
        let s = self.spec();
        self == Self::Unknown
            || (s.capabilities.http
                && (CONTROLS_COMMON.contains(&cmd) || s.controls.contains(&cmd)))
    }

    /// The palette its material slots snap colours to (the AD5X's where the table names none).
    pub fn palette(self) -> Palette {
        self.spec().palette.unwrap_or(Palette::Ad5x)
    }

    /// The print-start body layout for this model at `firmware`: AD5X and Creator 5 by model,
    /// the 5M by comparing `firmwareVersion` with 3.1.3 (a Creator 5's `1.9.2` would compare
    /// as old, hence the model first).
    pub fn job_format(self, firmware: &str) -> JobFormat {
        self.spec().job_format.for_firmware(firmware)
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
    fn the_table_is_consistent() {
        let mut ids = std::collections::BTreeSet::new();
        let mut aliases = std::collections::BTreeSet::new();
        for s in MODELS {
            assert_eq!(s.model.spec(), s, "{}", s.name);
            assert_eq!(Model::from_alias(s.name), Some(s.model), "{}", s.name);
            // It answers discovery somewhere, and only joins the group on a port it answers on.
            assert!(!s.discovery_ports.is_empty(), "{}", s.name);
            for p in s.multicast_ports {
                assert!(s.discovery_ports.contains(p), "{}: {p}", s.name);
            }
            assert_eq!(Model::from_alias(s.key), Some(s.model), "{}", s.key);
            assert_eq!(Model::from_machine_type(s.name), s.model, "{}", s.name);
            assert_eq!(
                Model::from_machine_type(&format!("Flashforge {}", s.name)),
                s.model
            );
            for id in s.product_ids {
                assert!(ids.insert(*id), "{} repeats product id {id}", s.name);
                assert_eq!(Model::from_pid(i64::from(*id)), s.model);
                assert_eq!(Model::from_discovery_id(s.discovery, *id), s.model);
            }
            for a in s.aliases {
                assert!(aliases.insert(*a), "{} repeats alias {a}", s.name);
                assert!(a
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            }
            let c = s.capabilities;
            assert!(c.tcp || c.http, "{} has no channel", s.name);
            assert_eq!(s.model.is_tcp_only(), c.tcp && !c.http);
            assert_eq!(
                s.discovery == DiscoveryLayout::Legacy,
                s.model.is_tcp_only()
            );
            assert_eq!(s.model.pid().is_some(), c.http);
            assert_eq!(c.tcp_motion, c.tcp);
            assert!(c.led);
            assert!(c.http || s.controls.is_empty());
            for cmd in s.controls {
                assert!(cmd.ends_with("_cmd"), "{cmd}");
                assert!(!CONTROLS_COMMON.contains(cmd), "{cmd} is common");
                assert!(s.model.allows_control(cmd));
            }
            assert_eq!(s.palette.is_some(), c.material_station, "{}", s.name);
        }
        assert_eq!(Model::ALL.len(), MODELS.len());
        assert_eq!(Model::Unknown.spec(), &UNKNOWN);
        assert!(Model::Unknown.allows_control("anything_cmd"));
        assert!(!Model::Adventurer4.allows_control("lightControl_cmd"));
        assert!(Model::Creator5.allows_control("lightControl_cmd"));
        assert!(!Model::Creator5.allows_control("circulateCtl_cmd"));
        assert!(Model::Creator5Pro.allows_control("circulateCtl_cmd"));
    }

    #[test]
    fn job_formats() {
        assert_eq!(Model::Adventurer5M.job_format("3.1.2"), JobFormat::Legacy);
        assert_eq!(Model::Adventurer5M.job_format("3.1.3"), JobFormat::Generic);
        assert_eq!(Model::AD5X.job_format("1.0.0"), JobFormat::Ad5x);
        assert_eq!(Model::Creator5.job_format("1.9.2"), JobFormat::Creator5);
        assert_eq!(Model::Creator5Pro.palette(), Palette::Creator5);
        assert_eq!(Model::AD5X.palette(), Palette::Ad5x);
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
