//! The suite itself: `suite!` (every model, every operation, the faults), `smoke!` (what a
//! thin runtime crate contributes, a few of the suite's tests) and `big_upload!`.

/// Every operation on each of the seven models, and the fault suite, for one adapter.
///
/// `$ff` is the adapter crate, `$run` a function that turns what a `Printer` method returns
/// into its `Result` (identity for blocking, `block_on` for async adapters). The distinct
/// client implementations run it: `flashforge-blocking` and `flashforge-async` (through
/// `flashforge-tokio`).
#[macro_export]
macro_rules! suite {
    ($ff:ident, $run:path) => {
        $crate::__conformance_tests!(
            $ff,
            $run,
            conformance_suite,
            [
                adventurer_3_shape_b,
                adventurer_3_shape_a,
                adventurer_4,
                adventurer_5m,
                adventurer_5m_pro,
                ad5x,
                creator_5,
                creator_5_pro,
                wrong_check_code_is_unauthorized,
                unreachable_printer_is_a_typed_error,
                check_code_never_in_debug,
                discover_finds_every_model_by_unicast,
                discover_lists_only_answers_to_its_probes,
                an_upload_never_delays_pause,
                connection_events_reach_the_callback,
                tcp_faults,
                a_query_lost_with_its_connection_is_asked_once_more,
                a_login_that_never_completes_times_out,
                idle_connection_dropped_by_the_printer_recovers,
                http_command_after_the_printer_closed_its_idle_connection,
                tcp_job_actions_that_could_not_act_are_busy,
                http_faults,
                second_client_is_refused_the_control_lock,
                close_after_operation_releases_the_session_between_operations,
                upload_from_a_file,
                a_stalled_http_upload_is_a_stall_error,
                a_stalled_legacy_upload_is_a_stall_error,
                a_success_before_the_body_is_a_protocol_error,
                only_regular_files_are_uploaded,
            ]
        );
    };
}

/// The smoke set for a thin runtime crate: a second `Runtime` of `flashforge-async`
/// (`flashforge-async-io`) or a crate over one (`flashforge-smol`, `flashforge-async-std`).
/// The client above the runtime is the one [`suite!`] already covers through
/// `flashforge-tokio`, so this runs only what the runtime itself contributes, each a test of
/// the suite: its TCP sockets (connect, status and every operation on an Adventurer 5M over
/// HTTP and TCP and on a TCP-only Adventurer 4, uploads from a reader byte-exact at the
/// printer; a connect to a closed port), its file reads (`upload_file` of 1 MiB, both upload
/// routes), its timer (a login the printer never answers ends `TimedOut`), a reconnect and
/// re-login after the printer drops the connection, and its UDP socket (discovery by unicast
/// to the simulator on 127.0.0.1). Arguments as for [`suite!`].
#[macro_export]
macro_rules! smoke {
    ($ff:ident, $run:path) => {
        $crate::__conformance_tests!(
            $ff,
            $run,
            conformance_smoke,
            [
                adventurer_5m,
                adventurer_4,
                upload_from_a_file,
                unreachable_printer_is_a_typed_error,
                a_login_that_never_completes_times_out,
                connection_events_reach_the_callback,
                discover_finds_every_model_by_unicast,
            ]
        );
    };
}

/// The suite's test bodies, written once, and a `#[test]` in module `$name` for each listed
/// one (`suite!` lists all of them, `smoke!` a few).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($ff:ident, $run:path, $name:ident, [$($test:ident),* $(,)?]) => {
        mod $name {
            $(
                #[test]
                fn $test() {
                    bodies::$test();
                }
            )*

            // `smoke!` calls only some of the bodies.
            #[allow(dead_code)]
            mod bodies {
                use std::time::{Duration, Instant};

                use $crate::flashforge_sim::{
                    A3Shape, HttpFault, PrinterSpec, SimHandle, Status as SimStatus, TcpFault,
                };
                use $crate::{has, Feature, Pattern};
                use $ff::{Axis, Error, Heater, JobOptions, Model, Printer, Rgb, UploadOptions};

                fn open(h: &SimHandle, model: Model) -> Printer {
                    let b = Printer::builder().options($crate::options());
                    if has(model, Feature::Http) {
                        $run(b.connect($crate::endpoint(h), $crate::credentials(h)))
                            .unwrap_or_else(|e| panic!("connect {model}: {e}"))
                    } else {
                        $run(b.connect_legacy($crate::endpoint(h)))
                            .unwrap_or_else(|e| panic!("connect {model}: {e}"))
                            .into_inner()
                    }
                }

                /// `Ok` when the model has the feature, the typed `Unsupported` error otherwise.
                fn expect<T: std::fmt::Debug>(
                    r: Result<T, Error>,
                    supported: bool,
                    what: &str,
                    model: Model,
                ) -> Option<T> {
                    match r {
                        Ok(v) if supported => Some(v),
                        Err(e) if !supported => {
                            assert!(
                                matches!(e, Error::Unsupported { .. }),
                                "{model} {what}: want Unsupported, got {e:?}"
                            );
                            None
                        }
                        other => panic!("{model} {what}: supported={supported}, got {other:?}"),
                    }
                }

                /// Whether the printer logged `needle`, waiting up to 5 s for it: a fire-and-forget
                /// command (A3 motion) returns once written, before the printer has read it.
                fn journal_has(h: &SimHandle, needle: &str) -> bool {
                    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
                    loop {
                        if h.lock().journal.iter().any(|l| l.contains(needle)) {
                            return true;
                        }
                        if std::time::Instant::now() >= until {
                            return false;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }

                fn exercise(model: Model) {
                    exercise_with(model, |_| {});
                }

                /// Every operation on a simulated `model` whose spec `f` adjusts.
                fn exercise_with(model: Model, f: impl FnOnce(&mut PrinterSpec)) {
                    let server = $crate::sim_with(model, f);
                    let h = server.printer();
                    let p = open(h, model);
                    assert_eq!(p.model(), model);

                    // Reads.
                    let st = $run(p.status()).expect("status");
                    assert_eq!(st.model, model);
                    assert_eq!(
                        st.state,
                        $crate::flashforge_proto::http::MachineState::Ready,
                        "{model}"
                    );
                    let tools = if has(model, Feature::FourTools) { 4 } else { 1 };
                    assert!(st.temperatures.tools.len() >= tools, "{model}: {st:?}");
                    assert!(st.temperatures.bed.is_some(), "{model}");
                    let info = $run(p.info()).expect("info");
                    assert_eq!(info.model, model);
                    assert!(!info.firmware.is_empty());
                    if has(model, Feature::Http) {
                        assert_eq!(info.firmware, h.lock().spec.firmware);
                    }
                    let temps = $run(p.temperatures()).expect("temperatures");
                    assert!(!temps.tools.is_empty());

                    // Heaters.
                    $run(p.set_temperature(Heater::Tool(0), 200)).expect("nozzle");
                    assert_eq!(h.lock().nozzles[0].target, 200.0, "{model}");
                    if has(model, Feature::FourTools) {
                        $run(p.set_temperature(Heater::Tool(3), 190)).expect("tool 3");
                        assert_eq!(h.lock().nozzles[3].target, 190.0);
                    } else {
                        // `~M104` has no tool selector (tcp.md): a second tool is unsupported.
                        expect(
                            $run(p.set_temperature(Heater::Tool(1), 190)),
                            false,
                            "tool 1",
                            model,
                        );
                    }
                    $run(p.set_temperature(Heater::Bed, 55)).expect("bed");
                    assert_eq!(h.lock().bed.target, 55.0, "{model}");
                    let chamber = has(model, Feature::ChamberHeater);
                    if expect(
                        $run(p.set_temperature(Heater::Chamber, 40)),
                        chamber,
                        "chamber",
                        model,
                    )
                    .is_some()
                    {
                        assert_eq!(h.lock().chamber.as_ref().map(|c| c.target), Some(40.0));
                    }
                    $run(p.temperatures_off()).expect("temperatures off");
                    assert_eq!(h.lock().nozzles[0].target, 0.0, "{model}");
                    assert_eq!(h.lock().bed.target, 0.0, "{model}");

                    // LED, fans, camera.
                    $run(p.led(true)).expect("led on");
                    assert!(h.lock().led, "{model}");
                    $run(p.led(false)).expect("led off");
                    assert!(!h.lock().led, "{model}");
                    // The Creator 5 Pro acknowledges without actuating (models.md note 5), so
                    // the client reports it unsupported rather than a success.
                    let filtration = has(model, Feature::Filtration) && model != Model::Creator5Pro;
                    if expect($run(p.filtration(true)), filtration, "filtration", model).is_some() {
                        let s = h.lock();
                        assert!(s.internal_fan && s.external_fan, "{model}");
                    }
                    let cam = has(model, Feature::Camera);
                    if expect($run(p.camera(true)), cam, "camera", model).is_some() {
                        assert!(h.lock().camera_on);
                    }
                    let url_ok = has(model, Feature::CameraUrl);
                    if let Some(url) = expect($run(p.camera_url()), url_ok, "camera url", model) {
                        assert!(url.starts_with("http://"), "{url}");
                    }
                    // Percent in; 50 % is duty 128 of 255 on the wire. The A3's fan is on/off only.
                    if model == Model::Adventurer3 {
                        assert!($run(p.fan(50)).unwrap_err().is_unsupported());
                        $run(p.fan(100)).expect("fan on");
                    } else {
                        $run(p.fan(50)).expect("fan");
                    }
                    if has(model, Feature::Http) {
                        assert_eq!(h.lock().cooling_fan, 128);
                        let st = $run(p.status()).expect("status");
                        assert_eq!(st.cooling_fan_percent, Some(50), "{model}");
                    } else {
                        assert!(journal_has(h, "M106"));
                    }
                    assert!(
                        matches!($run(p.fan(101)), Err(Error::Usage(_))),
                        "{model}: over 100 %"
                    );
                    if expect(
                        $run(p.speed(120)),
                        has(model, Feature::Http),
                        "speed",
                        model,
                    )
                    .is_some()
                    {
                        assert_eq!(h.lock().speed_adjust, 120);
                    }

                    // Motion.
                    let motion = has(model, Feature::Motion);
                    if expect($run(p.home()), motion, "home", model).is_some() {
                        assert!(journal_has(h, "G28") || journal_has(h, "POST /control"));
                    }
                    expect($run(p.jog(Axis::Z, 5.0)), motion, "jog", model);

                    // Files.
                    let stored: Vec<String> = h.lock().files.keys().cloned().collect();
                    assert!(!stored.is_empty());
                    if let Some(files) =
                        expect($run(p.files()), has(model, Feature::Tcp), "files", model)
                    {
                        for s in &stored {
                            assert!(files.contains(s), "{model}: {s} not in {files:?}");
                        }
                    }
                    if let Some(recent) = expect(
                        $run(p.recent_files()),
                        has(model, Feature::Http),
                        "recent",
                        model,
                    ) {
                        assert!(!recent.is_empty(), "{model}");
                    }
                    let thumb = $run(p.thumbnail(&stored[0])).expect("thumbnail");
                    assert!(thumb.image.starts_with($crate::PNG), "{model}");
                    if let Some(lines) = expect(
                        $run(p.gcode("~M115")),
                        has(model, Feature::Tcp),
                        "gcode",
                        model,
                    ) {
                        assert!(!lines.is_empty(), "{model}");
                    }
                    if expect(
                        $run(p.configure_slot(1, "PETG", Rgb([255, 255, 255]))),
                        has(model, Feature::Station),
                        "slot",
                        model,
                    )
                    .is_some()
                    {
                        let s = h.lock();
                        assert_eq!(s.station.as_ref().unwrap().slots[0].material, "PETG");
                    }

                    // Upload with progress, then the job controls.
                    let size = 100_003u64;
                    let mut seen = Vec::new();
                    $run(p.upload(
                        "conformance.gcode",
                        size,
                        Pattern::new(size),
                        UploadOptions::default(),
                        |pr: $ff::UploadProgress| seen.push(pr.sent),
                    ))
                    .expect("upload");
                    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
                    assert_eq!(seen.last(), Some(&size));
                    assert_eq!(
                        $crate::stored_sha256(h, "conformance.gcode"),
                        Some(Pattern::sha256_hex(size)),
                        "{model}: byte-exact on the printer"
                    );
                    $run(p.start("conformance.gcode", JobOptions::default())).expect("start");
                    assert!(matches!(
                        h.lock().status,
                        SimStatus::Heating | SimStatus::Printing
                    ));
                    $run(p.pause()).expect("pause");
                    assert_eq!(h.lock().status, SimStatus::Paused, "{model}");
                    assert_eq!(
                        $run(p.status()).expect("status").state,
                        $crate::flashforge_proto::http::MachineState::Paused,
                        "{model}"
                    );
                    $run(p.resume()).expect("resume");
                    assert!(matches!(
                        h.lock().status,
                        SimStatus::Heating | SimStatus::Printing
                    ));
                    $run(p.cancel()).expect("cancel");
                    assert_eq!(h.lock().status, SimStatus::Cancelled, "{model}");
                    if expect(
                        $run(p.clear_platform()),
                        has(model, Feature::Http),
                        "clear",
                        model,
                    )
                    .is_some()
                    {
                        assert_eq!(h.lock().status, SimStatus::Ready);
                    }

                    // Upload and print in one call.
                    $run(p.upload(
                        "conformance2.gcode",
                        4096,
                        Pattern::new(4096),
                        UploadOptions::default().start(true),
                        |_| {},
                    ))
                    .expect("upload and print");
                    assert_eq!(
                        h.lock().job.as_ref().map(|j| j.file.clone()).as_deref(),
                        Some("conformance2.gcode")
                    );
                    $run(p.cancel()).expect("cancel");

                    // Close releases the TCP control lock.
                    $run(p.close());
                    if has(model, Feature::Tcp) {
                        let t0 = Instant::now();
                        while h.lock().controller().is_some() && t0.elapsed() < Duration::from_secs(3) {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        assert_eq!(h.lock().controller(), None, "{model}: lock released");
                    }
                    drop(p);
                    server.shutdown();
                }

                /// The Adventurer 3 in its default reply shape: Shape B, as the emulator's captures.
                pub(super) fn adventurer_3_shape_b() {
                    exercise_with(Model::Adventurer3, |s| s.a3_shape = A3Shape::ShapeB);
                }
                /// The Adventurer 3 in the earlier Shape A forms (`CMD … Received.` echoes, `ok`s).
                pub(super) fn adventurer_3_shape_a() {
                    exercise_with(Model::Adventurer3, |s| s.a3_shape = A3Shape::ShapeA);
                }
                pub(super) fn adventurer_4() {
                    exercise(Model::Adventurer4);
                }
                pub(super) fn adventurer_5m() {
                    exercise(Model::Adventurer5M);
                }
                pub(super) fn adventurer_5m_pro() {
                    exercise(Model::Adventurer5MPro);
                }
                pub(super) fn ad5x() {
                    exercise(Model::AD5X);
                }
                pub(super) fn creator_5() {
                    exercise(Model::Creator5);
                }
                pub(super) fn creator_5_pro() {
                    exercise(Model::Creator5Pro);
                }

                pub(super) fn wrong_check_code_is_unauthorized() {
                    let server = $crate::sim(Model::Adventurer5M);
                    let h = server.printer();
                    let r = $run(
                        Printer::builder()
                            .options($crate::options())
                            .connect($crate::endpoint(h), $crate::wrong_credentials(h)),
                    );
                    let e = r.expect_err("wrong check code");
                    assert_eq!(e, Error::Unauthorized);
                    assert!(!format!("{e} {e:?}").contains(&h.check_code()));
                }

                pub(super) fn unreachable_printer_is_a_typed_error() {
                    // A port nothing listens on (bound, then closed).
                    let port = std::net::TcpListener::bind("127.0.0.1:0")
                        .unwrap()
                        .local_addr()
                        .unwrap()
                        .port();
                    let ep = $ff::Endpoint::new(std::net::Ipv4Addr::LOCALHOST).with_ports(port, port);
                    let t0 = Instant::now();
                    let e = $run(
                        Printer::builder()
                            .options($crate::options())
                            .connect_legacy(ep),
                    )
                    .expect_err("nothing listens");
                    assert!(matches!(e, Error::Unreachable(_)), "{e:?}");
                    assert!(t0.elapsed() < $crate::FAULT_DEADLINE);
                }

                pub(super) fn check_code_never_in_debug() {
                    let server = $crate::sim(Model::AD5X);
                    let h = server.printer();
                    let p = open(h, Model::AD5X);
                    assert!(!format!("{p:?}").contains(&h.check_code()));
                }

                pub(super) fn discover_finds_every_model_by_unicast() {
                    let specs: Vec<_> = Model::ALL
                        .iter()
                        .map(|&m| $crate::flashforge_sim::PrinterSpec::new(m))
                        .collect();
                    let server = $crate::flashforge_sim::SimServer::start(
                        specs,
                        &$crate::flashforge_sim::ServerConfig::default(),
                    )
                    .unwrap();
                    let targets = server.printers().iter().map(|h| h.udp);
                    let opts = $ff::DiscoverOptions::unicast(targets).timeout(Duration::from_secs(3));
                    let found = $run($ff::discover(&opts)).expect("discover");
                    assert_eq!(found.len(), 7, "{found:?}");
                    for h in server.printers() {
                        let want = $crate::endpoint(h);
                        assert!(
                            found.iter().any(|f| $ff::Endpoint::from(f) == want),
                            "{want} not in {found:?}"
                        );
                    }
                    // A discovered printer connects with what discovery reported.
                    let h5 = &server.printers()[2];
                    let f = found
                        .iter()
                        .find(|f| $ff::Endpoint::from(*f) == $crate::endpoint(h5))
                        .unwrap();
                    let p = $run(
                        Printer::builder()
                            .options($crate::options())
                            .connect(f, $crate::credentials(h5)),
                    )
                    .expect("connect discovered");
                    assert_eq!(p.model(), Model::Adventurer5M);
                }

                /// Issue 14 point 6: a forged reply from another port and a reply naming port 0
                /// are not listed, and the search keeps to its total time.
                pub(super) fn discover_lists_only_answers_to_its_probes() {
                    let r = $crate::ForgingResponder::start();
                    let opts = $ff::DiscoverOptions::unicast([r.target()])
                        .timeout(Duration::from_secs(1));
                    #[allow(clippy::disallowed_methods)] // wall-clock check of the deadline
                    let t0 = Instant::now();
                    let found = $run($ff::discover(&opts)).expect("discover");
                    let took = t0.elapsed();
                    let names: Vec<_> = found.iter().map(|p| p.reply.name.as_str()).collect();
                    assert_eq!(names, ["Real"], "{found:?}");
                    // At most the total; the slack is for a loaded machine.
                    assert!(took < Duration::from_millis(2500), "{took:?}");
                }

                pub(super) fn an_upload_never_delays_pause() {
                    let server = $crate::sim(Model::Adventurer5M);
                    let h = server.printer();
                    let p = open(h, Model::Adventurer5M);
                    let stored = h.lock().files.keys().next().unwrap().clone();
                    $run(p.start(&stored, JobOptions::default())).expect("start");
                    let p = &p;
                    std::thread::scope(|scope| {
                        // 16 MiB read 256 KiB per 50 ms: the upload runs for 3.2 s at least,
                        // however loaded the machine (the reader sleeps between chunks).
                        let size = 16u64 << 20;
                        let up = scope.spawn(move || {
                            $run(p.upload(
                                "slow.gcode",
                                size,
                                Pattern::throttled(size, Duration::from_millis(50)),
                                UploadOptions::default(),
                                |_| {},
                            ))
                        });
                        std::thread::sleep(Duration::from_millis(300));
                        let t0 = Instant::now();
                        $run(p.pause()).expect("pause during the upload");
                        let took = t0.elapsed();
                        assert_eq!(h.lock().status, SimStatus::Paused);
                        if up.is_finished() {
                            panic!(
                                "the upload should still be running: {:?} (pause took {took:?})",
                                up.join().unwrap()
                            );
                        }
                        // The upload was still running when pause returned (checked above): the
                        // pause did not queue behind it. The bound is loose for loaded machines.
                        assert!(took < Duration::from_millis(2000), "pause took {took:?}");
                        up.join().unwrap().expect("upload completes");
                    });
                    assert_eq!(
                        $crate::stored_sha256(h, "slow.gcode"),
                        Some(Pattern::sha256_hex(16 << 20))
                    );
                }

                /// `upload_file`: the adapter's own file reads (a runtime's `Runtime::open` and
                /// its file type), 1 MiB byte-exact at the printer over HTTP multipart (5M)
                /// and `~M28` on TCP (Adventurer 4).
                pub(super) fn upload_from_a_file() {
                    let size = 1u64 << 20;
                    let dir = $crate::ScratchDir::new("upload_from_a_file");
                    let path = dir.file("from_disk.gcode", Pattern::new(size));
                    for model in [Model::Adventurer5M, Model::Adventurer4] {
                        let server = $crate::sim(model);
                        let h = server.printer();
                        let p = open(h, model);
                        let mut sent = Vec::new();
                        $run(p.upload_file(
                            &path,
                            UploadOptions::default(),
                            |pr: $ff::UploadProgress| sent.push(pr.sent),
                        ))
                        .unwrap_or_else(|e| panic!("{model}: upload_file: {e}"));
                        assert!(sent.windows(2).all(|w| w[0] < w[1]), "{model}: {sent:?}");
                        assert_eq!(sent.last(), Some(&size), "{model}");
                        assert_eq!(
                            $crate::stored_sha256(h, "from_disk.gcode"),
                            Some(Pattern::sha256_hex(size)),
                            "{model}: byte-exact on the printer"
                        );
                        $run(p.close());
                    }
                }

                pub(super) fn connection_events_reach_the_callback() {
                    use std::sync::{Arc, Mutex};
                    let server = $crate::sim(Model::Adventurer5M);
                    let h = server.printer();
                    let seen = Arc::new(Mutex::new(Vec::new()));
                    let log = Arc::clone(&seen);
                    let p = $run(
                        Printer::builder()
                            .options($crate::options())
                            .on_connection_event(move |e| log.lock().unwrap().push(e.clone()))
                            .connect($crate::endpoint(h), $crate::credentials(h)),
                    )
                    .expect("connect");
                    $run(p.gcode("~M115")).expect("tcp");
                    h.drop_connections();
                    // Idle long enough that the client probes the connection before writing.
                    std::thread::sleep(Duration::from_millis(700));
                    $run(p.gcode("~M115")).expect("after reconnect");
                    $run(p.close());
                    let seen = seen.lock().unwrap();
                    use $crate::flashforge_proto::client::ConnectionEvent as E;
                    use $crate::flashforge_proto::ConnectionState as S;
                    assert!(seen.contains(&E::HttpConnected), "{seen:?}");
                    let readies = seen.iter().filter(|e| **e == E::Tcp(S::Ready)).count();
                    assert_eq!(readies, 2, "login, then re-login after the drop: {seen:?}");
                    assert!(seen.contains(&E::Tcp(S::Closed)), "{seen:?}");
                }

                // ---- faults ------------------------------------------------------------------

                /// A faulty call ends with an error or a correct result within the deadline, and
                /// the next call succeeds (after reconnect and re-login when needed).
                fn after_fault<T: std::fmt::Debug>(
                    what: &str,
                    t0: Instant,
                    r: Result<T, Error>,
                    ok_allowed: bool,
                ) {
                    let took = t0.elapsed();
                    assert!(took < $crate::FAULT_DEADLINE, "{what}: took {took:?}");
                    match &r {
                        Ok(_) => assert!(ok_allowed, "{what}: want an error, got {r:?}"),
                        Err(e) => assert!(
                            !matches!(e, Error::Unsupported { .. } | Error::Usage(_)),
                            "{what}: {e:?}"
                        ),
                    }
                }

                pub(super) fn tcp_faults() {
                    let server = $crate::sim(Model::Adventurer4);
                    let h = server.printer();
                    let p = open(h, Model::Adventurer4);
                    let good = $run(p.info()).expect("info");
                    let cases: Vec<(TcpFault, bool)> = vec![
                        // A query lost with its connection is asked again once, so these
                        // two may succeed (a_query_lost_with_its_connection_is_asked_once_more).
                        (TcpFault::CloseMidReply, true),
                        (TcpFault::Close, true),
                        (TcpFault::Stall, false),
                        (TcpFault::Drip(Duration::from_millis(1)), true),
                        (TcpFault::Garbage, true),
                        (TcpFault::Oversize, true),
                        (TcpFault::Unsolicited, true),
                        (TcpFault::ExtraOk, true),
                    ];
                    for (fault, ok_allowed) in cases {
                        let what = format!("{fault:?}");
                        h.faults.push_tcp(fault);
                        let t0 = Instant::now();
                        let r = $run(p.info());
                        after_fault(&what, t0, r.clone(), ok_allowed);
                        if let Ok(info) = &r {
                            assert_eq!(info.model, good.model, "{what}");
                        }
                        // Recovery: the next commands succeed and are correct.
                        let again = $run(p.info()).unwrap_or_else(|e| panic!("after {what}: {e}"));
                        assert_eq!(again, good, "after {what}");
                        let st = $run(p.status()).unwrap_or_else(|e| panic!("after {what}: {e}"));
                        assert_eq!(st.model, Model::Adventurer4);
                    }
                    h.faults.clear();
                }

                pub(super) fn a_query_lost_with_its_connection_is_asked_once_more() {
                    let server = $crate::sim(Model::Adventurer4);
                    let h = server.printer();
                    let p = open(h, Model::Adventurer4);
                    let good = $run(p.info()).expect("info");
                    for fault in [TcpFault::Close, TcpFault::CloseMidReply] {
                        // The printer drops the connection with ~M115 in flight: the query is
                        // sent again after the new login, and its answer is whole.
                        h.faults.push_tcp(fault);
                        let t0 = Instant::now();
                        let info = $run(p.info()).unwrap_or_else(|e| panic!("{fault:?}: {e}"));
                        assert!(t0.elapsed() < $crate::FAULT_DEADLINE, "{fault:?}");
                        assert_eq!(info, good, "{fault:?}");
                    }
                    // A command that changes the printer is never sent again on its own: the
                    // LED command whose connection dropped fails, and reached the printer once.
                    let before = h
                        .lock()
                        .journal
                        .iter()
                        .filter(|l| l.contains("M146"))
                        .count();
                    h.faults.push_tcp(TcpFault::Close);
                    let r = $run(p.led(true));
                    assert!(r.is_err(), "a dropped LED command must fail, got {r:?}");
                    let st = $run(p.status()).expect("status after the drop");
                    assert_eq!(st.model, Model::Adventurer4);
                    let after = h
                        .lock()
                        .journal
                        .iter()
                        .filter(|l| l.contains("M146"))
                        .count();
                    assert_eq!(after - before, 1, "the LED command was sent again");
                    h.faults.clear();
                }

                pub(super) fn a_login_that_never_completes_times_out() {
                    // The printer accepts the connection but never answers: the call must end
                    // (reply deadline 1.5 s; a queued call gives up after three of them).
                    let server = $crate::sim(Model::Adventurer4);
                    let h = server.printer();
                    h.faults.sticky_tcp(TcpFault::Stall);
                    let t0 = Instant::now();
                    let e = $run(
                        Printer::builder()
                            .options($crate::options())
                            .connect_legacy($crate::endpoint(h)),
                    )
                    .expect_err("never logged in");
                    assert_eq!(e, Error::TimedOut);
                    // Three reply deadlines of 1.5 s plus generous slack for a loaded machine.
                    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
                    h.faults.clear();
                    let p = open(h, Model::Adventurer4);
                    $run(p.status()).expect("after the printer recovers");
                }

                pub(super) fn idle_connection_dropped_by_the_printer_recovers() {
                    let server = $crate::sim_with(Model::Adventurer5M, |s| {
                        s.idle_drop = Duration::from_millis(300);
                    });
                    let h = server.printer();
                    let p = open(h, Model::Adventurer5M);
                    $run(p.gcode("~M115")).expect("first");
                    std::thread::sleep(Duration::from_millis(900));
                    let lines = $run(p.gcode("~M115")).expect("after idle drop");
                    assert!(!lines.is_empty());
                }

                /// A printer that closes a kept-alive connection after answering (its idle
                /// timeout): the next command goes on a fresh connection. A command is never sent
                /// twice, so the client must see the close before writing it.
                pub(super) fn http_command_after_the_printer_closed_its_idle_connection() {
                    let server = $crate::sim(Model::Adventurer5MPro);
                    let h = server.printer();
                    let p = open(h, Model::Adventurer5MPro);
                    $run(p.led(true)).expect("first");
                    for round in 0..3 {
                        h.faults.push_http(HttpFault::CloseAfter);
                        $run(p.led(round % 2 == 0)).expect("answered, then closed");
                        // Until the simulator has shut that connection down (on loopback the
                        // FIN is in the client's socket when shutdown returns).
                        let t0 = Instant::now();
                        while h.faults.closed_after() <= round {
                            assert!(t0.elapsed() < Duration::from_secs(30), "never closed");
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        $run(p.led(true)).unwrap_or_else(|e| {
                            panic!("round {round}: a command after the printer closed: {e}")
                        });
                    }
                }

                /// The Adventurer 3 acknowledges a start while it prints and a pause with no job,
                /// and does nothing: the client reads the state first and says `Busy`, and an
                /// upload that would start a print is refused before any byte is sent.
                pub(super) fn tcp_job_actions_that_could_not_act_are_busy() {
                    for model in [Model::Adventurer3, Model::Adventurer4] {
                        let server = $crate::sim(model);
                        let h = server.printer();
                        let p = open(h, model);
                        let busy = |r: Result<(), Error>, what: &str| {
                            assert!(matches!(r, Err(Error::Busy(_))), "{model} {what}: {r:?}");
                        };
                        $run(p.upload("a.gcode", 4096, Pattern::new(4096), UploadOptions::default(), |_| {}))
                            .expect("upload");
                        busy($run(p.pause()), "pause when idle");
                        busy($run(p.resume()), "resume when idle");
                        $run(p.start("a.gcode", JobOptions::default())).expect("start");
                        h.set_state($crate::flashforge_sim::StateChange::Printing {
                            file: "a.gcode".into(),
                            progress: 0.3,
                        })
                        .unwrap();
                        busy($run(p.start("a.gcode", JobOptions::default())), "start while printing");
                        busy(
                            $run(p.upload(
                                "b.gcode",
                                4096,
                                Pattern::new(4096),
                                UploadOptions::default().start(true),
                                |_| {},
                            )),
                            "upload and print while printing",
                        );
                        assert!(h.lock().file("b.gcode").is_none(), "{model}: nothing sent");
                        busy($run(p.resume()), "resume while printing");
                        $run(p.pause()).expect("pause while printing");
                        busy($run(p.pause()), "pause when paused");
                        busy($run(p.start("a.gcode", JobOptions::default())), "start when paused");
                        $run(p.resume()).expect("resume when paused");
                        $run(p.cancel()).expect("cancel");
                        drop(p);
                        server.shutdown();
                    }
                }

                pub(super) fn http_faults() {
                    let server = $crate::sim(Model::Adventurer5MPro);
                    let h = server.printer();
                    let p = open(h, Model::Adventurer5MPro);
                    let cases: Vec<(HttpFault, bool)> = vec![
                        (HttpFault::Status(500), false),
                        (HttpFault::TruncatedBody, false),
                        (HttpFault::NonJson, false),
                        (HttpFault::WrongTypes, true),
                        (HttpFault::Stall, false),
                        // A closed kept-alive connection is retried once on a fresh one.
                        (HttpFault::Close, true),
                        (HttpFault::Drip(Duration::from_millis(1)), true),
                    ];
                    for (fault, ok_allowed) in cases {
                        let what = format!("{fault:?}");
                        h.faults.push_http(fault);
                        let t0 = Instant::now();
                        let r = $run(p.status());
                        after_fault(&what, t0, r, ok_allowed);
                        let st = $run(p.status()).unwrap_or_else(|e| panic!("after {what}: {e}"));
                        assert_eq!(st.model, Model::Adventurer5MPro, "after {what}");
                        $run(p.led(true)).unwrap_or_else(|e| panic!("led after {what}: {e}"));
                    }
                }

                /// The stall timeout of the stall tests, and the slack they allow on top
                /// (filling the socket buffers, a loaded machine).
                const STALL: Duration = Duration::from_secs(1);
                const STALL_SLACK: Duration = Duration::from_secs(10);
                /// Large enough to fill every buffer between the client and the simulator.
                const STALL_FILE: u64 = 32 << 20;

                fn stalled_upload(model: Model, fault: impl FnOnce(&SimHandle)) {
                    let server = $crate::sim_with(model, |s| s.keep_file_bytes = 0);
                    let h = server.printer();
                    let options = $crate::options().stall_timeout(STALL);
                    let b = Printer::builder().options(options);
                    let p = if has(model, Feature::Http) {
                        $run(b.connect($crate::endpoint(h), $crate::credentials(h)))
                            .expect("connect")
                    } else {
                        $run(b.connect_legacy($crate::endpoint(h)))
                            .expect("connect")
                            .into_inner()
                    };
                    fault(h);
                    let mut sent = 0;
                    let t0 = Instant::now();
                    let r = $run(p.upload(
                        "stalled.gcode",
                        STALL_FILE,
                        Pattern::new(STALL_FILE),
                        UploadOptions::default(),
                        |pr: $ff::UploadProgress| sent = pr.sent,
                    ));
                    let took = t0.elapsed();
                    eprintln!(
                        "{model}: stalled upload ended {r:?} after {took:?} ({sent} bytes sent, stall timeout {STALL:?})"
                    );
                    assert_eq!(r, Err(Error::Stalled), "{model}");
                    assert!(took < STALL + STALL_SLACK, "{model}: took {took:?}");
                    assert!(sent < STALL_FILE, "{model}: {sent}");
                    assert!(
                        !h.lock().files.contains_key("stalled.gcode"),
                        "{model}: a stalled upload is not stored"
                    );
                    // The printer reads again; the stalled connection it held is gone.
                    h.faults.clear();
                    let end = Instant::now() + Duration::from_secs(30);
                    while h.lock().controller().is_some() && Instant::now() < end {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let st = $run(p.status())
                        .unwrap_or_else(|e| panic!("{model}: status after the stall: {e}"));
                    assert_eq!(st.model, model);
                    // And an upload after it goes through.
                    $run(p.upload(
                        "after.gcode",
                        4096,
                        Pattern::new(4096),
                        UploadOptions::default(),
                        |_| {},
                    ))
                    .unwrap_or_else(|e| panic!("{model}: upload after the stall: {e}"));
                    $run(p.close());
                }

                pub(super) fn a_stalled_http_upload_is_a_stall_error() {
                    // The printer stops reading the multipart body after 1 MiB.
                    stalled_upload(Model::Adventurer5M, |h| {
                        h.faults.push_http(HttpFault::StallUpload(1 << 20))
                    });
                }

                pub(super) fn a_stalled_legacy_upload_is_a_stall_error() {
                    // The printer stops reading the `~M28` file bytes after 1 MiB.
                    stalled_upload(Model::Adventurer4, |h| {
                        h.faults.push_tcp(TcpFault::StallUpload(1 << 20))
                    });
                }

                pub(super) fn a_success_before_the_body_is_a_protocol_error() {
                    use $crate::flashforge_proto::client::ProtocolCause;
                    use $crate::flashforge_proto::http::HttpError;
                    let server = $crate::sim(Model::Adventurer5M);
                    let h = server.printer();
                    let p = open(h, Model::Adventurer5M);
                    h.faults.push_http(HttpFault::EarlySuccess);
                    let size = 1u64 << 20;
                    let r = $run(p.upload(
                        "early.gcode",
                        size,
                        Pattern::new(size),
                        UploadOptions::default(),
                        |_| {},
                    ));
                    match &r {
                        Err(Error::Protocol(ProtocolCause::Http(HttpError::EarlySuccess {
                            total,
                            ..
                        }))) => assert_eq!(*total, size),
                        other => panic!("want the early-success protocol error, got {other:?}"),
                    }
                    assert!(!h.lock().files.contains_key("early.gcode"));
                    let st = $run(p.status()).expect("status after the early answer");
                    assert_eq!(st.model, Model::Adventurer5M);
                }

                pub(super) fn only_regular_files_are_uploaded() {
                    use $crate::flashforge_proto::UsageError;
                    let dir = $crate::ScratchDir::new("only_regular_files");
                    let sub = dir.file("real.gcode", Pattern::new(16));
                    let folder = sub.with_file_name("folder.gcode");
                    std::fs::create_dir(&folder).expect("a directory");
                    let fifo = sub.with_file_name("pipe.gcode");
                    let made = std::process::Command::new("mkfifo")
                        .arg(&fifo)
                        .status()
                        .is_ok_and(|s| s.success());
                    if made {
                        // A regression would block in open(): a writer unblocks it after 30 s,
                        // so the test fails instead of hanging.
                        let f = fifo.clone();
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(30));
                            let _ = std::fs::OpenOptions::new().write(true).open(f);
                        });
                    } else {
                        eprintln!("mkfifo unavailable: the FIFO case is skipped");
                    }
                    let uploads = |h: &SimHandle| {
                        h.lock()
                            .journal
                            .iter()
                            .filter(|l| l.contains("/uploadGcode") || l.contains("M28"))
                            .count()
                    };
                    for model in [Model::Adventurer5M, Model::Adventurer4] {
                        let server = $crate::sim(model);
                        let h = server.printer();
                        let p = open(h, model);
                        let mut paths = vec![(folder.clone(), "directory")];
                        if made {
                            paths.push((fifo.clone(), "FIFO"));
                        }
                        for (path, kind) in paths {
                            let t0 = Instant::now();
                            let r = $run(p.upload_file(&path, UploadOptions::default(), |_| {}));
                            match &r {
                                Err(Error::Usage(UsageError::NotRegularFile { kind: k, .. })) => {
                                    assert_eq!(*k, kind, "{model}")
                                }
                                other => panic!("{model}: {kind}: want a usage error, got {other:?}"),
                            }
                            assert!(t0.elapsed() < Duration::from_secs(10), "{model}: {kind}");
                            assert_eq!(uploads(h), 0, "{model}: {kind}: nothing was sent");
                        }
                        // A regular file still goes.
                        $run(p.upload_file(&sub, UploadOptions::default(), |_| {}))
                            .unwrap_or_else(|e| panic!("{model}: regular file: {e}"));
                        assert_eq!(uploads(h), 1, "{model}");
                        $run(p.close());
                    }
                }

                pub(super) fn second_client_is_refused_the_control_lock() {
                    let server = $crate::sim(Model::Adventurer4);
                    let h = server.printer();
                    let first = open(h, Model::Adventurer4);
                    let t0 = Instant::now();
                    let e = $run(
                        Printer::builder()
                            .options($crate::options())
                            .connect_legacy($crate::endpoint(h)),
                    )
                    .expect_err("lock held");
                    assert!(matches!(e, Error::ControlHeld | Error::Session(_)), "{e:?}");
                    assert!(t0.elapsed() < Duration::from_secs(10));
                    $run(first.close());
                    drop(first);
                    let second = open(h, Model::Adventurer4);
                    $run(second.status()).expect("second client after release");
                }

                pub(super) fn close_after_operation_releases_the_session_between_operations() {
                    use std::sync::{Arc, Mutex};
                    use $crate::flashforge_proto::client::{ConnectionEvent as E, TcpPolicy};
                    use $crate::flashforge_proto::ConnectionState as S;
                    let server = $crate::sim(Model::Adventurer5M);
                    let h = server.printer();
                    let seen = Arc::new(Mutex::new(Vec::new()));
                    let log = Arc::clone(&seen);
                    let p = $run(
                        Printer::builder()
                            .options($crate::options().tcp_policy(TcpPolicy::CloseAfterOperation))
                            .on_connection_event(move |e| log.lock().unwrap().push(e.clone()))
                            .connect($crate::endpoint(h), $crate::credentials(h)),
                    )
                    .expect("connect");
                    // Status is HTTP only: no TCP session at all.
                    $run(p.status()).expect("status");
                    assert!(!seen.lock().unwrap().iter().any(|e| matches!(e, E::Tcp(_))));
                    $run(p.gcode("~M115")).expect("a TCP operation");
                    assert_eq!(
                        seen.lock().unwrap().last(),
                        Some(&E::Tcp(S::Closed)),
                        "closed after the operation"
                    );
                    // The control lock is free: another client logs in, then leaves.
                    let other = open(h, Model::Adventurer5M);
                    $run(other.gcode("~M115")).expect("the other client");
                    $run(other.close());
                    drop(other);
                    // The next operation opens and logs in again.
                    $run(p.gcode("~M115")).expect("a second TCP operation");
                    let seen = seen.lock().unwrap();
                    let readies = seen.iter().filter(|e| **e == E::Tcp(S::Ready)).count();
                    assert_eq!(readies, 2, "one login per operation: {seen:?}");
                }
            }
        }
    };
}

/// A 1 GiB upload through the adapter: byte-exact, monotonic progress, and a peak RSS that
/// does not grow with the file (a 64 MiB upload first, then 1 GiB; the peak must not move by
/// more than a few MiB).
#[macro_export]
macro_rules! big_upload {
    ($ff:ident, $run:path) => {
        #[test]
        fn one_gib_upload_with_flat_memory() {
            use $crate::{Feature, Pattern};
            use $ff::{Model, Printer, UploadOptions};
            let server = $crate::sim_with(Model::Adventurer5M, |s| s.keep_file_bytes = 0);
            let h = server.printer();
            let p = $run(
                Printer::builder()
                    .options($crate::options())
                    .connect($crate::endpoint(h), $crate::credentials(h)),
            )
            .expect("connect");
            let mut upload = |name: &str, size: u64| {
                let mut last = 0u64;
                let mut calls = 0u64;
                $run(p.upload(
                    name,
                    size,
                    Pattern::new(size),
                    UploadOptions::default(),
                    |pr| {
                        assert!(pr.sent > last, "progress is monotonic");
                        assert_eq!(pr.total, size);
                        last = pr.sent;
                        calls += 1;
                    },
                ))
                .expect("upload");
                assert_eq!(last, size);
                assert!(calls > 1);
                assert_eq!(
                    $crate::stored_sha256(h, name),
                    Some(Pattern::sha256_hex(size)),
                    "byte-exact"
                );
            };
            let _ = Feature::Http;
            upload("warmup.gcode", 64 << 20);
            let before = $crate::peak_rss_kib();
            let t0 = std::time::Instant::now();
            upload("big.gcode", 1 << 30);
            let took = t0.elapsed();
            let after = $crate::peak_rss_kib();
            if let (Some(b), Some(a)) = (before, after) {
                eprintln!(
                    "1 GiB upload: {:.2} s, peak RSS {} KiB -> {} KiB",
                    took.as_secs_f64(),
                    b,
                    a
                );
                assert!(
                    a.saturating_sub(b) < 16 * 1024,
                    "peak RSS grew {} KiB",
                    a - b
                );
            }
        }
    };
}
