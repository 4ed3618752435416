//! The printer side of the codecs, for simulators and tests (feature `printer`).
//!
//! A client never needs these: they build what a printer sends, the binary `~M661` file list
//! and `~M662` thumbnail, the discovery reply datagram ([`DiscoveryReply::modern`],
//! [`DiscoveryReply::legacy`], [`DiscoveryReply::encode`]) and the base64 of `/gcodeThumb`, with
//! the layout constants they follow. `flashforge-sim` and `mock::Printer` are built on them, so
//! the simulator can never drift from what the parsers read.
//!
//! ```
//! use flashforge_proto::gcode::{BinaryLimits, FileList};
//! use flashforge_proto::printer::encode_file_list;
//! use flashforge_proto::Parsed;
//!
//! let mut reply = b"CMD M661 Received.\r\nok\r\n".to_vec();
//! encode_file_list(["/data/a.gcode", "/data/b.3mf"].into_iter(), &mut reply);
//! let Parsed::Complete(list) = FileList::parse(&reply, &BinaryLimits::default()).unwrap() else {
//!     panic!("incomplete")
//! };
//! assert_eq!(list.names().collect::<Vec<_>>(), ["a.gcode", "b.3mf"]);
//! ```
//!
//! [`DiscoveryReply::modern`]: crate::discovery::DiscoveryReply::modern
//! [`DiscoveryReply::legacy`]: crate::discovery::DiscoveryReply::legacy
//! [`DiscoveryReply::encode`]: crate::discovery::DiscoveryReply::encode

pub use crate::discovery::reply::{
    FLASHFORGE_VENDOR_ID, LEGACY_LEN, MODERN_LEN, MODERN_PRODUCT_TYPE,
};
pub use crate::gcode::binary::{
    encode_file_list, encode_thumbnail, ENTRY_TAG, LIST_TAG, PNG_SIGNATURE, THUMB_TAG,
};
#[cfg(feature = "http")]
pub use crate::http::base64::{decode as base64_decode, encode as base64_encode};
