//! The control API (see CONTROL.md).
