//! [`printer_ops!`](crate::printer_ops): the operation methods of every adapter's `Printer`.

/// The operation methods of every adapter's `Printer`, written once: each is [`Plan`]-driven
/// through the adapter's own `run(&self, Op)` (blocking or `async`); `info` also reads the
/// adapter's `credentials: Option<Credentials>` field for the serial number, and the getters
/// read its `target: Target` and `endpoint: Endpoint` fields. Adapters invoke
/// it inside `impl Printer { ... }` as `printer_ops!(async, .await)` or `printer_ops!(,)`.
#[doc(hidden)]
#[macro_export]
macro_rules! printer_ops {
    ($($kw:ident)?, $($aw:tt)*) => {
        /// The model.
        pub fn model(&self) -> $crate::Model {
            self.target.model
        }
        /// What the printer can do (after overrides).
        pub fn capabilities(&self) -> $crate::Capabilities {
            self.target.capabilities
        }
        /// Where it listens.
        pub fn endpoint(&self) -> $crate::client::Endpoint {
            self.endpoint
        }
        /// Model, capabilities, firmware.
        pub fn target(&self) -> &$crate::driver::Target {
            &self.target
        }
        /// One status snapshot: state, progress, temperatures per tool, bed, chamber, fans,
        /// speed, ETA, layers, current file, material station.
        pub $($kw)? fn status(&self) -> Result<$crate::client::Status> {
            self.run($crate::driver::Op::Status)$($aw)*?.status()
        }
        /// Identity and firmware (`/detail` or `~M115`; the serial number of an HTTP printer
        /// is the one it accepted with the check code).
        pub $($kw)? fn info(&self) -> Result<$crate::client::Info> {
            let info = self.run($crate::driver::Op::Info)$($aw)*?.info()?;
            Ok(info.with_known_serial(self.credentials.as_ref().map(|c| c.serial())))
        }
        /// Temperatures of every heater.
        pub $($kw)? fn temperatures(&self) -> Result<$crate::client::Temps> {
            self.run($crate::driver::Op::Temperatures)$($aw)*?.temperatures()
        }
        /// Set a heater's target in °C (per tool on a Creator 5), at most the model's bound
        /// for the heater (`flashforge_proto::model::Limits`), else
        /// `UsageError::NotInRange`, nothing sent.
        pub $($kw)? fn set_temperature(&self, heater: $crate::client::Heater, celsius: u16) -> Result<()> {
            self.run($crate::driver::Op::SetTemperature(heater, Some(celsius)))$($aw)*?.done()
        }
        /// Turn one heater off.
        pub $($kw)? fn heater_off(&self, heater: $crate::client::Heater) -> Result<()> {
            self.run($crate::driver::Op::SetTemperature(heater, None))$($aw)*?.done()
        }
        /// Turn every heater off.
        pub $($kw)? fn temperatures_off(&self) -> Result<()> {
            self.run($crate::driver::Op::TemperaturesOff)$($aw)*?.done()
        }
        /// LED on or off.
        pub $($kw)? fn led(&self, on: bool) -> Result<()> {
            self.run($crate::driver::Op::Led(on))$($aw)*?.done()
        }
        /// Filtration fans on (internal and external) or off (5M Pro; the Creator 5 Pro only
        /// with `Overrides::filtration` on, as its firmware acknowledges without actuating).
        pub $($kw)? fn filtration(&self, on: bool) -> Result<()> {
            self.run($crate::driver::Op::Filtration(on))$($aw)*?.done()
        }
        /// Camera stream on or off.
        pub $($kw)? fn camera(&self, on: bool) -> Result<()> {
            self.run($crate::driver::Op::Camera(on))$($aw)*?.done()
        }
        /// The MJPEG stream URL.
        pub $($kw)? fn camera_url(&self) -> Result<String> {
            self.run($crate::driver::Op::CameraUrl)$($aw)*?.url()
        }
        /// Home all axes.
        pub $($kw)? fn home(&self) -> Result<()> {
            self.run($crate::driver::Op::Home)$($aw)*?.done()
        }
        /// Jog one axis by `mm` (relative; at most the build volume along the axis either
        /// way, else `UsageError::NotInRange`, nothing sent).
        pub $($kw)? fn jog(&self, axis: $crate::http::Axis, mm: f64) -> Result<()> {
            self.run($crate::driver::Op::Jog(axis, mm))$($aw)*?.done()
        }
        /// Part-cooling fan speed in percent, 0–100 (0 = off; more is
        /// `UsageError::NotInRange`, nothing sent).
        pub $($kw)? fn fan(&self, percent: u8) -> Result<()> {
            self.run($crate::driver::Op::Fan(percent))$($aw)*?.done()
        }
        /// Print speed override in percent (HTTP printers), within the model's firmware
        /// clamp (`flashforge_proto::model::Limits::speed`).
        pub $($kw)? fn speed(&self, percent: u16) -> Result<()> {
            self.run($crate::driver::Op::Speed(percent))$($aw)*?.done()
        }
        /// Pause the job. The state is read first: no job printing is
        /// [`ClientError::Busy`](flashforge_proto::client::ClientError::Busy), before anything
        /// is sent (the Adventurer 3 and 4 acknowledge such a pause and do nothing; the HTTP
        /// models refuse it with a bare error code).
        pub $($kw)? fn pause(&self) -> Result<()> {
            self.status()$($aw)*?.check($crate::client::JobCheck::Pause)?;
            self.run($crate::driver::Op::Pause)$($aw)*?.done()
        }
        /// Resume the job. The state is read first, as for `pause`: no job paused is `Busy`.
        pub $($kw)? fn resume(&self) -> Result<()> {
            self.status()$($aw)*?.check($crate::client::JobCheck::Resume)?;
            self.run($crate::driver::Op::Resume)$($aw)*?.done()
        }
        /// Cancel the job. The state is read first, as for `pause`: no job to cancel (idle,
        /// completed, cancelled) is `Busy`.
        pub $($kw)? fn cancel(&self) -> Result<()> {
            self.status()$($aw)*?.check($crate::client::JobCheck::Cancel)?;
            self.run($crate::driver::Op::Cancel)$($aw)*?.done()
        }
        /// Acknowledge a finished or cancelled job so the printer accepts the next one.
        pub $($kw)? fn clear_platform(&self) -> Result<()> {
            self.run($crate::driver::Op::ClearPlatform)$($aw)*?.done()
        }
        /// Print a file stored on the printer. The state is read first (the Adventurer 3
        /// acknowledges a start while it prints, and ignores it): a job running or paused is
        /// `Busy`.
        pub $($kw)? fn start(&self, name: &str, options: $crate::http::JobOptions) -> Result<()> {
            self.status()$($aw)*?.check($crate::client::JobCheck::Start)?;
            let op = $crate::driver::Op::StartFile { name: name.to_owned(), options };
            self.run(op)$($aw)*?.done()
        }
        /// Every stored file (TCP `~M661`).
        pub $($kw)? fn files(&self) -> Result<Vec<String>> {
            self.run($crate::driver::Op::Files)$($aw)*?.files()
        }
        /// The recent files with metadata (HTTP `/gcodeList`).
        pub $($kw)? fn recent_files(&self) -> Result<Vec<$crate::http::GcodeFile>> {
            self.run($crate::driver::Op::RecentFiles)$($aw)*?.recent_files()
        }
        /// A stored file's thumbnail (PNG bytes in `image`).
        pub $($kw)? fn thumbnail(&self, name: &str) -> Result<$crate::gcode::Thumbnail> {
            self.run($crate::driver::Op::Thumbnail(name.to_owned()))$($aw)*?.thumbnail()
        }
        /// Send one raw G-code line over TCP; the reply lines.
        pub $($kw)? fn gcode(&self, line: &str) -> Result<Vec<String>> {
            self.run($crate::driver::Op::Gcode(line.to_owned()))$($aw)*?.lines()
        }
        /// Set a material-station slot's material and colour (snapped to the palette).
        pub $($kw)? fn configure_slot(&self, slot: u8, material: &str, color: $crate::http::Rgb) -> Result<()> {
            let op = $crate::driver::Op::ConfigureSlot { slot, material: material.to_owned(), color };
            self.run(op)$($aw)*?.done()
        }
    };
}
