//! Reply parsing and framing throughput, and a full in-memory session round trip.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flashforge_benches::{m661, m662, M105, M114, M115, M119, M27};
use flashforge_proto::gcode::{
    self, BinaryLimits, EndstopStatus, FrameStatus, Position, PrintStatus, PrinterInfo,
    ReplyFramer, ReplyKind, Temperatures,
};
use flashforge_proto::{Command, Config, Dialect, Event, Session};

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(M105.len() as u64));
    g.bench_function("M105", |b| b.iter(|| Temperatures::parse(black_box(M105))));
    g.throughput(Throughput::Bytes(M27.len() as u64));
    g.bench_function("M27", |b| b.iter(|| PrintStatus::parse(black_box(M27))));
    g.throughput(Throughput::Bytes(M114.len() as u64));
    g.bench_function("M114", |b| b.iter(|| Position::parse(black_box(M114))));
    g.throughput(Throughput::Bytes(M119.len() as u64));
    g.bench_function("M119", |b| b.iter(|| EndstopStatus::parse(black_box(M119))));
    g.throughput(Throughput::Bytes(M115.len() as u64));
    g.bench_function("M115", |b| b.iter(|| PrinterInfo::parse(black_box(M115))));
    let limits = BinaryLimits::default();
    let list = m661(1000);
    g.throughput(Throughput::Bytes(list.len() as u64));
    g.bench_function("M661 1000 files", |b| {
        b.iter(|| gcode::parse_reply(ReplyKind::FileList, black_box(&list), &limits))
    });
    let thumb = m662(60 * 1024);
    g.throughput(Throughput::Bytes(thumb.len() as u64));
    g.bench_function("M662 60 KiB", |b| {
        b.iter(|| gcode::parse_reply(ReplyKind::Thumbnail, black_box(&thumb), &limits))
    });
    g.finish();
}

/// Framing as the session does it: bytes arrive, the framer finds the end, the reply parses.
fn frame_and_parse(c: &mut Criterion) {
    let config = Config::default();
    let limits = BinaryLimits::default();
    let mut g = c.benchmark_group("frame+parse");
    let cases: [(&str, Command, Vec<u8>); 4] = [
        ("M105", Command::Temperatures, M105.to_vec()),
        ("M27", Command::PrintStatus, M27.to_vec()),
        ("M661 1000 files", Command::ListFiles, m661(1000)),
        (
            "M662 60 KiB",
            Command::thumbnail("a.gcode", Dialect::Modern),
            m662(60 * 1024),
        ),
    ];
    for (name, cmd, bytes) in &cases {
        let profile = cmd.profile(&config);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut f = ReplyFramer::new(profile, &config, false);
                if f.push(black_box(bytes)).ok() != Some(FrameStatus::Complete) {
                    f.finish();
                }
                gcode::parse_reply(profile.kind, f.reply(), &limits)
            })
        });
    }
    g.finish();
}

/// One `~M105` exchange through `Session` (encode, frame, parse, events), no sockets.
fn session_round_trip(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut s = Session::new(Config::default(), t0);
    while s.poll_event().is_some() {}
    s.handle_connected(t0);
    while s.poll_transmit().is_some() {}
    s.handle_bytes(b"CMD M601 Received.\r\nControl Success V2.1.\r\nok\r\n", t0);
    while s.poll_event().is_some() {}
    let reply = b"CMD M105 Received.\r\nT0:210/210 B:60/60 @:127 B@:127\r\nok\r\n";
    c.bench_function("session M105 round trip", |b| {
        b.iter(|| {
            let _ = s.submit(Command::Temperatures, t0);
            let tx = s.poll_transmit();
            s.handle_bytes(black_box(reply), t0);
            let mut got = None;
            while let Some(e) = s.poll_event() {
                if let Event::Reply { result, .. } = e {
                    got = Some(result);
                }
            }
            (tx, got)
        })
    });
    let data = vec![0u8; 64 * 1024];
    let mut g = c.benchmark_group("upload");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("legacy upload chunk 64 KiB", |b| {
        b.iter_batched(
            || {
                let mut s = Session::new(Config::default(), t0);
                s.handle_connected(t0);
                s.handle_bytes(b"CMD M601 Received.\r\nok\r\n", t0);
                s.start_upload("a.gcode", 1 << 40, t0).unwrap();
                s.handle_bytes(b"CMD M28 Received.\r\nok\r\n", t0);
                while s.poll_transmit().is_some() {}
                s
            },
            |mut s| {
                for _ in 0..16 {
                    s.upload_chunk(&data, t0).unwrap();
                    black_box(s.poll_transmit());
                }
                s
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn http(c: &mut Criterion) {
    use flashforge_benches::{http_response, DETAIL_5M_PRO_PRINTING, DETAIL_AD5X, DETAIL_C5_PRO};
    use flashforge_proto::http::{
        self, Credentials, HttpExchange, JobFormat, JobOptions, ResponseEvent, ResponseParser,
        Upload, UploadSpec,
    };
    use flashforge_proto::HttpConfig;

    let mut g = c.benchmark_group("http");
    for (name, body) in [
        ("detail AD5X real", DETAIL_AD5X),
        ("detail C5 Pro real", DETAIL_C5_PRO),
        ("detail 5M Pro printing", DETAIL_5M_PRO_PRINTING),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("{name}: body"), |b| {
            b.iter(|| http::parse_detail(black_box(body)).unwrap())
        });
        let wire = http_response(body);
        let cfg = HttpConfig::default();
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.bench_function(format!("{name}: response"), |b| {
            b.iter(|| {
                let mut p: ResponseParser = ResponseParser::new(&cfg);
                let pr = p.feed(black_box(&wire)).unwrap();
                let Some(ResponseEvent::Complete(r)) = pr.event else {
                    panic!()
                };
                http::parse_detail(&r.body).unwrap()
            })
        });
    }
    let creds = Credentials::new("SN0001", "12345678").unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode /detail request", |b| {
        let mut out = Vec::with_capacity(256);
        b.iter(|| {
            out.clear();
            http::Request::Detail
                .encode("192.168.1.20:8898", &creds, &mut out)
                .unwrap();
        })
    });

    // Upload framing: 64 MiB of G-code-like bytes in 64 KiB chunks through the exchange (the
    // boundary scan of every byte included), compared with a plain memcpy of the same bytes.
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 64 * 1024 * 1024;
    let chunk: Vec<u8> = b"G1 X10.5 Y20.25 E0.0123 F1800\n"
        .iter()
        .copied()
        .cycle()
        .take(CHUNK)
        .collect();
    let cfg = HttpConfig::default();
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(20);
    g.bench_function("upload framing 64 MiB", |b| {
        b.iter(|| {
            let spec = UploadSpec {
                file_name: "big.gcode".into(),
                file_size: TOTAL as u64,
                print_now: false,
                format: JobFormat::Generic,
                options: JobOptions::default(),
                expect_continue: false,
                boundary_seed: 99,
            };
            let up = Upload::new(&spec, "127.0.0.1:8898", &creds).unwrap();
            let mut ex = HttpExchange::upload(up, &cfg, Instant::now());
            let mut framing = 0;
            for _ in 0..TOTAL / CHUNK {
                if let Some(bytes) = ex.poll_transmit() {
                    framing += bytes.len();
                }
                ex.upload_chunk(black_box(&chunk), Instant::now()).unwrap();
            }
            framing + ex.poll_transmit().map_or(0, |b| b.len())
        })
    });
    let mut sink = vec![0u8; CHUNK];
    g.bench_function("memcpy 64 MiB (reference)", |b| {
        b.iter(|| {
            for _ in 0..TOTAL / CHUNK {
                sink.copy_from_slice(black_box(&chunk));
                black_box(&sink);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, parse, frame_and_parse, session_round_trip, http);
criterion_main!(benches);
