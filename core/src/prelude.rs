//! The types a user of any adapter names, re-exported by every adapter crate
//! (`flashforge_blocking`, `flashforge_tokio`, `flashforge_smol`, ...) so that none keeps its own
//! copy of the list.
//!
//! ```
//! use flashforge_proto::prelude::*;
//!
//! let options = ClientOptions::default().model(Some(Model::Adventurer5M));
//! assert_eq!(options.model, Some(Model::Adventurer5M));
//! ```

pub use crate::client::{
    ClientError, ClientOptions, ConnectionEvent, DiscoverOptions, Endpoint, FailureKind, Heater,
    Info, IoCause, Overrides, ProtocolCause, Status, TcpPolicy, Temps, Toggle, UploadOptions,
    UploadProgress,
};
pub use crate::discovery::{DiscoveredPrinter, DiscoveryResult, DiscoveryStats};
pub use crate::gcode::Thumbnail;
pub use crate::http::{
    Axis, Credentials, GcodeFile, JobOptions, MachineState, MaterialMapping, Rgb,
};
pub use crate::{Capabilities, ConnectionState, Model};
