//! proptest strategies for commands (feature `proptest`), for reuse in other crates' tests.

use proptest::prelude::*;

use crate::gcode::{Axes, Command, Led, RawLine};

/// A file or printer name that encodes: printable, no line breaks, no leading/trailing space.
pub fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_\\[][A-Za-z0-9 _().+,\\[\\]-]{0,38}[A-Za-z0-9_.)]"
}

fn temp() -> impl Strategy<Value = f64> {
    prop_oneof![(0u16..=300).prop_map(f64::from), 0.0f64..300.0]
}

fn bed_temp() -> impl Strategy<Value = f64> {
    prop_oneof![(0u16..=120).prop_map(f64::from), 0.0f64..120.0]
}

fn coord() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-500i32..=500).prop_map(f64::from),
        -500.0f64..500.0,
        Just(0.00001)
    ]
}

fn axes() -> impl Strategy<Value = Axes> {
    (
        proptest::option::of(coord()),
        proptest::option::of(coord()),
        proptest::option::of(coord()),
        proptest::option::of(coord()),
    )
        .prop_map(|(x, y, z, e)| Axes { x, y, z, e })
}

/// Any valid [`Command`].
pub fn command() -> impl Strategy<Value = Command> {
    let simple = prop_oneof![
        Just(Command::Login),
        Just(Command::Logout),
        Just(Command::MachineInfo),
        Just(Command::Temperatures),
        Just(Command::EndstopStatus),
        Just(Command::PrintStatus),
        Just(Command::Position),
        Just(Command::PositionWithExtruder),
        Just(Command::ListFiles),
        Just(Command::Resume),
        Just(Command::Pause),
        Just(Command::Stop),
        Just(Command::FanOff),
        Just(Command::InternalLedOn),
        Just(Command::InternalLedOff),
        Just(Command::Home),
        Just(Command::AbsolutePositioning),
        Just(Command::RelativePositioning),
        Just(Command::EnableSteppers),
        Just(Command::DisableSteppers),
        Just(Command::CancelHeatWait),
        Just(Command::EmergencyStop),
        Just(Command::HardwareId),
        Just(Command::RunoutSensorOn),
        Just(Command::RunoutSensorOff),
        Just(Command::UploadEnd),
    ];
    let with_params = prop_oneof![
        name().prop_map(|n| Command::Thumbnail {
            path: format!("/data/{n}")
        }),
        name().prop_map(|n| Command::SelectFile {
            path: format!("0:/user/{n}")
        }),
        name().prop_map(|name| Command::Rename { name }),
        (temp(), proptest::option::of(0u8..4))
            .prop_map(|(celsius, tool)| Command::SetNozzleTemp { celsius, tool }),
        bed_temp().prop_map(|celsius| Command::SetBedTemp { celsius }),
        temp().prop_map(|celsius| Command::WaitNozzleTemp { celsius }),
        bed_temp().prop_map(|celsius| Command::WaitBedTemp { celsius }),
        proptest::option::of(any::<u8>()).prop_map(|speed| Command::FanOn { speed }),
        (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(r, g, b)| Command::Led(Led::Rgb {
            r,
            g,
            b
        })),
        any::<bool>().prop_map(|on| Command::Led(Led::Accessory(on))),
        (axes(), proptest::option::of(1.0f64..20_000.0))
            .prop_filter("a move needs an axis", |(a, _)| a
                .x
                .or(a.y)
                .or(a.z)
                .or(a.e)
                .is_some())
            .prop_map(|(axes, feed)| Command::Move { axes, feed }),
        axes().prop_map(Command::SetPosition),
        (any::<u64>(), name()).prop_map(|(size, name)| Command::UploadBegin { size, name }),
        "M8[0-9]{2}( [A-Z][0-9]{1,4}){0,3}"
            .prop_map(|l| Command::Raw(RawLine::new(l).expect("valid raw line"))),
    ];
    prop_oneof![simple, with_params]
}
