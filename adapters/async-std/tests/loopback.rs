//! The smoke set on async-std's executor: this crate re-exports the async-io driver, so it
//! needs only to show that driver working under `async_std::task::block_on` (issue 13,
//! point 5).
#![allow(deprecated)]

flashforge_conformance::smoke!(flashforge_async_std, async_std::task::block_on);

/// The crate re-exports the whole prelude (its own copy of the list once lacked these).
#[test]
fn the_prelude_is_reexported_whole() {
    use flashforge_async_std::{
        Capabilities, GcodeFile, MaterialMapping, Model, Overrides, Thumbnail, Toggle,
    };
    let caps: Capabilities = Model::AD5X.capabilities();
    assert!(caps.material_station);
    assert_eq!(Overrides::default(), Overrides::default());
    let _: Option<(Toggle, GcodeFile, MaterialMapping, Thumbnail)> = None;
}
