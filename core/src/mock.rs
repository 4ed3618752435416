//! An in-memory printer for tests of code built on [`crate::Session`] (feature `mock`).
//!
//! It decodes command lines with [`Command::decode`] and answers in the modern shape
//! (`CMD Mxxx Received.` … `ok`, CRLF) or the Adventurer 3 shapes. The full simulator of every
//! model lives in `flashforge-sim`; this one is small, synchronous and has no clock.

use std::collections::{BTreeMap, VecDeque};

use crate::config::Dialect;
use crate::gcode::{Command, Led};
use crate::printer::{encode_file_list, encode_thumbnail, PNG_SIGNATURE};

/// How the mock answers `~M601 S1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStyle {
    /// `CMD M601 Received.\r\nControl Success V2.1.\r\nok\r\n` (firmware, per the wiki).
    Firmware,
    /// `CMD M601 Received.\nok\nControl Success V2.1.\nok\n` (the emulator: two `ok`s).
    Emulator,
}

/// A tiny printer model.
#[derive(Debug)]
pub struct Printer {
    dialect: Dialect,
    /// Login reply shape.
    pub login_style: LoginStyle,
    /// Deny this many more logins with `Control failed.` (another client holds control).
    pub deny_logins: u32,
    /// When false, commands are recorded but never answered (a stalled printer).
    pub responsive: bool,
    /// Nozzle current/target and bed current/target, °C.
    pub temps: [f64; 4],
    logged_in: bool,
    line: Vec<u8>,
    upload: Option<(String, u64, Vec<u8>)>,
    files: BTreeMap<String, Vec<u8>>,
    received: Vec<Command>,
    out: VecDeque<Vec<u8>>,
}

impl Printer {
    /// A printer speaking `dialect`, logged out, with two stored files.
    pub fn new(dialect: Dialect) -> Self {
        let mut files = BTreeMap::new();
        files.insert("cube.gcode".to_owned(), b"G28\n".to_vec());
        files.insert("Part 1.3mf".to_owned(), b"G1 X1\n".to_vec());
        Self {
            dialect,
            login_style: LoginStyle::Emulator,
            deny_logins: 0,
            responsive: true,
            temps: [25.0, 0.0, 24.5, 0.0],
            logged_in: false,
            line: Vec::new(),
            upload: None,
            files,
            received: Vec::new(),
            out: VecDeque::new(),
        }
    }

    /// Forget the connection (socket closed): control and partial input are dropped.
    pub fn disconnect(&mut self) {
        self.logged_in = false;
        self.line.clear();
        self.upload = None;
        self.out.clear();
    }

    /// Whether the current connection holds control.
    pub fn logged_in(&self) -> bool {
        self.logged_in
    }

    /// Every command received, in order.
    pub fn received(&self) -> &[Command] {
        &self.received
    }

    /// A stored file's bytes.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    /// Queue arbitrary bytes to the client (unsolicited lines, garbage).
    pub fn inject(&mut self, bytes: &[u8]) {
        self.out.push_back(bytes.to_vec());
    }

    /// Bytes for the client.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// Bytes from the client.
    pub fn handle_bytes(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if let Some((_, size, data)) = self.upload.as_mut() {
                let take = (*size as usize - data.len()).min(bytes.len());
                data.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if data.len() as u64 == *size {
                    if let Some((name, _, data)) = self.upload.take() {
                        self.files.insert(name, data);
                    }
                }
                continue;
            }
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.line.extend_from_slice(&bytes[..i]);
                    bytes = &bytes[i + 1..];
                    let line =
                        String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                    self.on_line(&line);
                }
                None => {
                    self.line.extend_from_slice(bytes);
                    bytes = &[];
                }
            }
        }
    }

    fn on_line(&mut self, line: &str) {
        let Some(cmd) = Command::decode(line) else {
            return;
        };
        self.received.push(cmd.clone());
        if !self.responsive {
            return;
        }
        let code = cmd.code();
        let a3 = self.dialect == Dialect::Adventurer3;
        match &cmd {
            Command::Login => {
                if self.deny_logins > 0 {
                    self.deny_logins -= 1;
                    return self.send(b"Control failed.\r\nok\r\n");
                }
                self.logged_in = true;
                let reply: &[u8] = match self.login_style {
                    LoginStyle::Firmware => {
                        b"CMD M601 Received.\r\nControl Success V2.1.\r\nok\r\n"
                    }
                    LoginStyle::Emulator => b"CMD M601 Received.\nok\nControl Success V2.1.\nok\n",
                };
                return self.send(reply);
            }
            Command::Logout => {
                self.logged_in = false;
                return self.send(b"CMD M602 Received.\r\nControl Release.\r\nok\r\n");
            }
            _ if !self.logged_in => return self.send(b"Control failed.\r\nok\r\n"),
            _ => {}
        }
        // Motion commands get no reply at all on the A3: the same rule the client profile uses.
        if a3 && cmd.profile(&crate::Config::adventurer3()).no_reply {
            return;
        }
        let mut reply = format!("CMD {code} Received.\r\n").into_bytes();
        let body: Vec<u8> = match &cmd {
            Command::Temperatures => {
                let [t, tt, b, bt] = self.temps;
                let line = format!("T0:{t}/{tt} B:{b}/{bt} @:0 B@:0\r\n");
                if a3 {
                    format!("ok {line}").into_bytes()
                } else {
                    line.into_bytes()
                }
            }
            Command::PrintStatus => b"SD printing byte 0/100\r\nLayer: 0/0\r\n".to_vec(),
            Command::MachineInfo => b"Machine Type: Flashforge Adventurer 5M Pro\r\nMachine Name: Mock\r\nFirmware: V3.2.0\r\nSN: SNMOCK0001\r\nX: 220 Y: 220 Z: 220\r\nTool Count: 1\r\nMac Address:00:11:22:33:44:55\r\n".to_vec(),
            Command::Position => b"X:1.5 Y:2 Z:0.3 A:0 B:0\r\n".to_vec(),
            Command::EndstopStatus => b"Endstop X-max:0 Y-max:0 Z-min:1\r\nMachineStatus: READY\r\nMoveMode: READY\r\nStatus S:0 L:0 J:0 F:0\r\nLED: 1\r\nCurrentFile: \r\n".to_vec(),
            Command::SetNozzleTemp { celsius, .. } => {
                self.temps[1] = *celsius;
                Vec::new()
            }
            Command::SetBedTemp { celsius } => {
                self.temps[3] = *celsius;
                Vec::new()
            }
            Command::ListFiles => {
                reply.extend_from_slice(b"ok\r\n");
                let paths: Vec<String> = self.files.keys().map(|n| format!("/data/{n}")).collect();
                let mut list = Vec::new();
                encode_file_list(paths.iter().map(String::as_str), &mut list);
                self.send(&reply);
                return self.send(&list);
            }
            Command::Thumbnail { path } => {
                let name = path.trim_start_matches("/data/");
                if !self.files.contains_key(name) {
                    return self.send(b"Error: File not found\r\nok\r\n");
                }
                reply.extend_from_slice(b"ok\r\n");
                let png = tiny_png();
                encode_thumbnail(&png, &mut reply);
                return self.send(&reply);
            }
            Command::UploadBegin { size, name } => {
                self.upload = Some((name.clone(), *size, Vec::new()));
                if *size == 0 {
                    self.files.insert(name.clone(), Vec::new());
                    self.upload = None;
                }
                Vec::new()
            }
            Command::Led(Led::Accessory(_)) if a3 => {
                return self.send(format!("ack: \"{}\"\r\n", line.trim_start_matches('~')).as_bytes());
            }
            _ => Vec::new(),
        };
        reply.extend_from_slice(&body);
        if !(a3 && matches!(cmd, Command::Temperatures)) {
            reply.extend_from_slice(b"ok\r\n");
        }
        self.send(&reply);
    }

    fn send(&mut self, bytes: &[u8]) {
        self.out.push_back(bytes.to_vec());
    }
}

/// A valid 1×1 PNG.
pub fn tiny_png() -> Vec<u8> {
    let mut png = PNG_SIGNATURE.to_vec();
    let chunk = |png: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&[0, 0, 0, 0]);
    };
    chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
    chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1]);
    chunk(&mut png, b"IEND", &[]);
    png
}
