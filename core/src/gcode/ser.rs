//! JSON shapes of the typed replies (feature `serde`), with the field names of the fixtures
//! README.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use super::{CommandAck, EndstopStatus, Position, PrintStatus, Reply, Temperatures, Thumbnail};

impl Serialize for Temperatures {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Temperatures", 3)?;
        st.serialize_field("tools", self.tools())?;
        st.serialize_field("bed", &self.bed)?;
        st.serialize_field("chamber", &self.chamber)?;
        st.end()
    }
}

struct Pairs<'a, K, V>(&'a [(K, V)]);

impl<K: Serialize, V: Serialize> Serialize for Pairs<'_, K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for EndstopStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("EndstopStatus", 13)?;
        st.serialize_field("endstops", &Pairs(&self.endstops))?;
        st.serialize_field(
            "machine_status",
            &self.machine_status.as_ref().map(|m| m.name()),
        )?;
        st.serialize_field("machine_status_raw", &self.machine_status_raw)?;
        st.serialize_field("move_mode", &self.move_mode.as_ref().map(|m| m.name()))?;
        st.serialize_field("move_mode_raw", &self.move_mode_raw)?;
        st.serialize_field("status_flags", &self.status_flags)?;
        st.serialize_field("led_on", &self.led_on)?;
        st.serialize_field("filament_status", &self.filament_status)?;
        st.serialize_field("current_file", &self.current_file)?;
        st.serialize_field("is_printing", &self.is_printing())?;
        st.serialize_field("is_complete", &self.is_complete())?;
        st.serialize_field("is_paused", &self.is_paused())?;
        st.serialize_field("is_ready", &self.is_ready())?;
        st.end()
    }
}

impl Serialize for PrintStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("PrintStatus", 7)?;
        st.serialize_field("sd_current", &self.sd_current)?;
        st.serialize_field("sd_total", &self.sd_total)?;
        st.serialize_field("layer_current", &self.layer_current)?;
        st.serialize_field("layer_total", &self.layer_total)?;
        st.serialize_field("percent", &self.percent())?;
        st.serialize_field("sd_percent", &self.sd_percent())?;
        st.serialize_field("is_complete", &self.is_complete())?;
        st.end()
    }
}

struct Extra<'a>(&'a Position);

impl Serialize for Extra<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.0.extra() {
            let mut b = [0; 4];
            m.serialize_entry(k.encode_utf8(&mut b), &v)?;
        }
        m.end()
    }
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Position", 5)?;
        st.serialize_field("x", &self.x)?;
        st.serialize_field("y", &self.y)?;
        st.serialize_field("z", &self.z)?;
        st.serialize_field("extra", &Extra(self))?;
        #[derive(Serialize)]
        struct Text<'a> {
            x: &'a str,
            y: &'a str,
            z: &'a str,
        }
        st.serialize_field("text", &self.text().map(|[x, y, z]| Text { x, y, z }))?;
        st.end()
    }
}

impl Serialize for CommandAck {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("CommandAck", 4)?;
        st.serialize_field("success", &true)?;
        st.serialize_field("opened_path", &self.opened_path)?;
        st.serialize_field("size", &self.size)?;
        st.serialize_field("position", &self.position)?;
        st.end()
    }
}

impl Serialize for Thumbnail {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Thumbnail", 7)?;
        st.serialize_field("format", &self.format)?;
        st.serialize_field("image_offset", &self.image_offset)?;
        st.serialize_field("image_length", &self.image.len())?;
        st.serialize_field("width", &self.width)?;
        st.serialize_field("height", &self.height)?;
        let tag = self
            .tag
            .map(|t| t.iter().map(|b| format!("{b:02x}")).collect::<String>());
        st.serialize_field("tag", &tag)?;
        st.serialize_field("declared_length", &self.declared_length)?;
        st.end()
    }
}

impl Serialize for super::FileListView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let mut st = s.serialize_struct("FileList", 5)?;
        st.serialize_field("count", &l.paths.len())?;
        st.serialize_field("paths", &l.paths)?;
        st.serialize_field("names", &l.names().collect::<Vec<_>>())?;
        st.serialize_field("payload_offset", &l.payload_offset)?;
        st.serialize_field("payload_only", &(l.payload_offset == Some(0)))?;
        st.end()
    }
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Login(v) => v.serialize(s),
            Self::Ack(v) => v.serialize(s),
            Self::PrinterInfo(v) => v.serialize(s),
            Self::Temperatures(v) => v.serialize(s),
            Self::EndstopStatus(v) => v.serialize(s),
            Self::PrintStatus(v) => v.serialize(s),
            Self::Position(v) => v.serialize(s),
            Self::FileList(v) => super::FileListView(v).serialize(s),
            Self::Thumbnail(v) => v.serialize(s),
            Self::UploadBoundary(v) => v.serialize(s),
            Self::RawText(v) => v.serialize(s),
        }
    }
}
