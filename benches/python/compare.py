#!/usr/bin/env python3
"""Side by side with the Python reference client (flashforge-python-api, pinned in
compare.sh): the same reply bytes through both clients' parsers, then round trips of both
clients against the same simulated printer on 127.0.0.1. Run through compare.sh.

Parsers: for every input file (written by our `py_compare inputs`), both sides' values are
compared first; an input the Python client cannot parse, or whose values differ, is reported
and not timed. Timing is timeit's method on both sides: a loop count that takes >= 0.2 s,
then 7 repeats, median per call (warm; Python's timeit switches the GC off while timing).
The Python side runs what the client runs on received bytes: the decode its receive loop
does (utf-8, else latin-1, for text commands; latin-1 for ~M662), then the parser.

Round trips: one process per client, batches interleaved (Python, ours, Python, ours, ...),
the same number of calls each; wall time per call (median, p99 over all timed calls) and
the process's CPU time per call (Python: time.process_time; ours: /proc/self/task/*/schedstat,
both all threads, both excluding the simulator, which is a third process).

Usage:
  compare.py --inputs DIR --rust-parse FILE --rust-bin BIN --sim-json FILE --check-code C
             [--calls N] [--rounds R] [--out results.json] [--readme README.md]
  compare.py --render results.json --readme README.md   # only rewrite the README section
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import timeit
from typing import Any, Callable

import flashforge
from flashforge.api.controls.info import MachineInfoParser
from flashforge.client import FiveMClientConnectionOptions, FlashForgeClient
from flashforge.models.responses import DetailResponse
from flashforge.tcp.ff_client import FlashForgeClient as TcpClient
from flashforge.tcp.parsers import EndstopStatus, LocationInfo, PrinterInfo, PrintStatus, TempInfo
from flashforge.tcp.parsers.thumbnail_info import ThumbnailInfo
from flashforge.tcp.tcp_client import FlashForgeTcpClient, FlashForgeTcpClientOptions

# The client logs every reconnect at INFO/WARNING; keep the output to the results.
logging.disable(logging.WARNING)

REPEATS = 7

# ---------------------------------------------------------------------------------------
# The Python client's parse path for each input, and its values in our JSON shape.


def decode_text(b: bytes) -> str:
    """What FlashForgeTcpClient._receive_multi_line_replay_async does with a text reply."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin1")


_file_list_parser = FlashForgeTcpClient("127.0.0.1")  # never connects; only the parser is used


def py_m105(b: bytes) -> Any:
    return TempInfo().from_replay(decode_text(b))


def py_m27(b: bytes) -> Any:
    return PrintStatus().from_replay(decode_text(b))


def py_m119(b: bytes) -> Any:
    return EndstopStatus().from_replay(decode_text(b))


def py_m115(b: bytes) -> Any:
    return PrinterInfo().from_replay(decode_text(b))


def py_m114(b: bytes) -> Any:
    return LocationInfo().from_replay(decode_text(b))


def py_m661(b: bytes) -> Any:
    return _file_list_parser._parse_file_list_response(decode_text(b))


def py_m662(b: bytes) -> Any:
    # ~M662 is the client's one binary command: latin-1, then ThumbnailInfo.
    return ThumbnailInfo().from_replay(b.decode("latin1"), "a.gcode")


def py_detail(b: bytes) -> Any:
    # Info.get(): json_from_response (json.loads of the body), DetailResponse(**data)
    # (pydantic), MachineInfoParser.from_detail -> FFMachineInfo.
    resp = DetailResponse(**json.loads(b))
    return MachineInfoParser.from_detail(resp.detail)


def tv(t: Any) -> list[Any]:
    return [t.get_current(), t.get_set()] if t is not None else None


def pv_m105(r: TempInfo) -> dict:
    return {"tools": [tv(r.get_extruder_temp())], "bed": tv(r.get_bed_temp())}


def pv_m27(r: PrintStatus) -> dict:
    num = lambda s: int(s) if s else None  # noqa: E731
    return {
        "sd_current": num(r.sd_current),
        "sd_total": num(r.sd_total),
        "layer_current": num(r.layer_current),
        "layer_total": num(r.layer_total),
    }


def pv_m119(r: EndstopStatus) -> dict:
    e = r.endstop
    return {
        "endstops": {"X-max": e.x_max, "Y-max": e.y_max, "Z-min": e.z_min},
        "machine_status": r.machine_status.value,
        "move_mode": r.move_mode.value,
        "status": [r.status.s, r.status.l, r.status.j, r.status.f] if r.status else None,
        "led": r.led_enabled,
        "current_file": r.current_file,
    }


def pv_m115(r: PrinterInfo) -> dict:
    return {
        "machine_type": r.type_name,
        "machine_name": r.name,
        "firmware": r.firmware_version,
        "serial": r.serial_number,
        "tool_count": int(r.tool_count) if r.tool_count else None,
        "mac": r.mac_address,
        "dimensions": r.dimensions,
    }


def pv_m114(r: LocationInfo) -> dict:
    return {"x": float(r.x), "y": float(r.y), "z": float(r.z)}


def pv_m661(r: list[str]) -> dict:
    return {"names": r}


def pv_m662(r: ThumbnailInfo) -> dict:
    img = r.get_image_bytes()
    return {"image_len": len(img), "head": img[:16].hex(), "tail": img[-16:].hex()}


def pv_detail(r: Any) -> dict:
    t = lambda x: [x.current, x.set]  # noqa: E731
    return {
        "name": r.name,
        "firmware": r.firmware_version,
        "status": r.status,
        "extruder": t(r.extruder),
        "bed": t(r.print_bed),
        # No chamber: None in ours, 0/0 with has_chamber_sensor False in FFMachineInfo.
        "chamber": t(r.chamber) if r.chamber is not None and r.has_chamber_sensor else None,
        "tools": [t(x) for x in r.tool_temps],
        "progress": r.print_progress,
        "layer": r.current_print_layer,
        "total_layers": r.total_print_layers,
        "file": r.print_file_name,
        "ip": r.ip_address,
        "mac": r.mac_address,
    }


# name: (what, Python parse call (as a text), parse fn, values fn, trunc temps)
INPUTS: dict[str, tuple[str, str, Callable, Callable]] = {
    "m105.txt": ("`~M105` temperatures", "TempInfo().from_replay", py_m105, pv_m105),
    "m27.txt": ("`~M27` print status", "PrintStatus().from_replay", py_m27, pv_m27),
    "m119.txt": ("`~M119` endstops/status", "EndstopStatus().from_replay", py_m119, pv_m119),
    "m115.txt": ("`~M115` printer info, real A3C Pro", "PrinterInfo().from_replay", py_m115, pv_m115),
    "m114.txt": ("`~M114` position", "LocationInfo().from_replay", py_m114, pv_m114),
    "m661_1000.bin": ("`~M661` list of 1,000 files", "_parse_file_list_response", py_m661, pv_m661),
    "m662_60k.bin": ("`~M662` 60 KiB thumbnail", "ThumbnailInfo().from_replay", py_m662, pv_m662),
    "detail_ad5x.json": ("`/detail` body, real AD5X", "json + DetailResponse + from_detail", py_detail, pv_detail),
    "detail_c5_pro.json": ("`/detail` body, real Creator 5 Pro", "json + DetailResponse + from_detail", py_detail, pv_detail),
    "detail_5m_pro_printing.json": ("`/detail` body, 5M Pro printing", "json + DetailResponse + from_detail", py_detail, pv_detail),
}


def same(ours: Any, py: Any, name: str, path: str, diffs: list[str]) -> None:
    """Compare our value with the Python client's, with its documented conventions: TCP
    temperatures are whole degrees (it truncates), and an absent reading or target is 0.0
    in its model where ours says None."""
    tcp_temp = name == "m105.txt"
    if isinstance(ours, dict) and isinstance(py, dict):
        for k in ours.keys() | py.keys():
            same(ours.get(k), py.get(k), name, f"{path}.{k}", diffs)
        return
    if isinstance(ours, list) and isinstance(py, list):
        if len(ours) != len(py):
            diffs.append(f"{path}: {len(ours)} items (ours) vs {len(py)} (Python)")
            return
        for i, (a, b) in enumerate(zip(ours, py)):
            same(a, b, name, f"{path}[{i}]", diffs)
        return
    if ours is None and py in (0, 0.0) and name.startswith("detail"):
        return  # absent reading/target: None in ours, 0.0 in FFMachineInfo
    if ours is None and py == 0 and tcp_temp:
        return  # no target: None in ours, 0 in TempData.get_set()
    if isinstance(ours, float) and isinstance(py, (int, float)) and not isinstance(py, bool):
        if tcp_temp:
            ours = math.trunc(ours)
        if abs(ours - py) > 1e-9:
            diffs.append(f"{path}: {ours!r} (ours) vs {py!r} (Python)")
        return
    if ours != py:
        diffs.append(f"{path}: {ours!r} (ours) vs {py!r} (Python)")


def time_python(fn: Callable, b: bytes) -> dict:
    t = timeit.Timer(lambda: fn(b))
    number, _ = t.autorange()
    per = [x / number * 1e9 for x in t.repeat(repeat=REPEATS, number=number)]
    return {
        "number": number,
        "ns_median": statistics.median(per),
        "ns_min": min(per),
        "ns_repeats": [round(x, 1) for x in per],
    }


def parsers(inputs_dir: str, rust: dict) -> list[dict]:
    rows = []
    for name, (what, call, fn, values) in INPUTS.items():
        with open(os.path.join(inputs_dir, name), "rb") as f:
            b = f.read()
        ours = rust.get(name, {})
        row: dict[str, Any] = {"input": name, "what": what, "bytes": len(b), "python_call": call}
        row["ours"] = {k: v for k, v in ours.items() if k != "values"}
        if "error" in ours:
            row["status"] = f"our parser failed: {ours['error']}"
            rows.append(row)
            continue
        try:
            r = fn(b)
        except Exception as e:  # noqa: BLE001 - a parser failure is a result
            r = None
            row["python_error"] = f"{type(e).__name__}: {e}"
        if r is None or r == []:
            row["status"] = "Python client cannot parse it (returned " + (
                row.get("python_error") or repr(r)) + "); not timed"
            rows.append(row)
            print(f"compare: {name}: {row['status']}", file=sys.stderr)
            continue
        diffs: list[str] = []
        same(ours["values"], values(r), name, "", diffs)
        row["checked"] = sorted(ours["values"].keys())
        if diffs:
            row["status"] = "values differ; not timed"
            row["diffs"] = diffs
            print(f"compare: {name}: values differ: {diffs[:5]}", file=sys.stderr)
            rows.append(row)
            continue
        row["status"] = "same values"
        row["python"] = time_python(fn, b)
        row["ratio"] = row["python"]["ns_median"] / ours["ns_median"]
        print(f"compare: parsed {name}", file=sys.stderr)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------
# Round trips.


class Ours:
    """Our client (`py_compare serve`), one JSON line per command."""

    def __init__(self, rust_bin: str, sim: dict, check_code: str) -> None:
        self.p = subprocess.Popen(
            [rust_bin, "serve", "--tcp", sim["tcp"], "--http", sim["http"], "--serial",
             sim["serial"], "--check-code", check_code],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = json.loads(self.p.stdout.readline())
        assert ready.get("ready"), ready

    def cmd(self, line: str) -> dict:
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        r = json.loads(self.p.stdout.readline())
        if r.get("error"):
            raise RuntimeError(f"ours: {line}: {r['error']}")
        return r

    def close(self) -> None:
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=5)
        except Exception:  # noqa: BLE001
            self.p.kill()


async def py_batch(n: int, call: Callable) -> dict:
    lat = []
    last = None
    cpu0 = time.process_time_ns()
    for _ in range(n):
        t = time.perf_counter_ns()
        last = await call()
        lat.append(time.perf_counter_ns() - t)
        if last is None:
            raise RuntimeError("Python client returned None")
    return {"lat_ns": lat, "cpu_ns": time.process_time_ns() - cpu0, "calls": n, "last": last}


def summarize(batches: list[dict]) -> dict:
    lat = sorted(x for b in batches for x in b["lat_ns"])
    calls = sum(b["calls"] for b in batches)
    return {
        "calls": calls,
        "median_us": statistics.median(lat) / 1e3,
        "p99_us": lat[min(len(lat) - 1, math.ceil(len(lat) * 0.99) - 1)] / 1e3,
        "cpu_us_per_call": sum(b["cpu_ns"] for b in batches) / calls / 1e3,
        "round_medians_us": [round(statistics.median(b["lat_ns"]) / 1e3, 1) for b in batches],
    }


def temps_of(status: Any) -> list[float]:
    return [status.extruder.current, status.print_bed.current]


async def round_trips(rust_bin: str, sim: dict, code: str, calls: int, rounds: int,
                      rss: dict) -> list[dict]:
    host, tcp_port = sim["tcp"].rsplit(":", 1)
    http_port = int(sim["http"].rsplit(":", 1)[1])
    assert host == "127.0.0.1", host
    per_round = max(1, calls // rounds)
    warm = max(5, per_round // 10)
    ours = Ours(rust_bin, sim, code)
    rows = []
    client = FlashForgeClient(host, sim["serial"], code,
                              FiveMClientConnectionOptions(http_port=http_port, tcp_port=int(tcp_port)))
    try:
        # HTTP /detail status.
        py_b, our_b = [], []
        await py_batch(warm, client.get_printer_status)
        ours.cmd(f"http {warm}")
        for _ in range(rounds):
            py_b.append(await py_batch(per_round, client.get_printer_status))
            our_b.append(ours.cmd(f"http {per_round}"))
        p_last, o_last = py_b[-1]["last"], our_b[-1]["last"]
        check = {
            "python": {"state": p_last.status, "temps": temps_of(p_last)},
            "ours": {"state": o_last["state"], "temps": [o_last["temps"]["extruder"][0],
                                                         o_last["temps"]["bed"][0]]},
        }
        rows.append(row("HTTP `/detail` status", "client.get_printer_status()",
                        "Printer::status()", py_b, our_b, check))

        # HTTP thumbnail of a built-in file.
        name = (await client.files.get_recent_file_list())[0].gcode_file_name
        thumb = lambda: client.files.get_gcode_thumbnail(name)  # noqa: E731
        py_b, our_b = [], []
        await py_batch(warm, thumb)
        ours.cmd(f"thumb {warm} {name}")
        for _ in range(rounds):
            py_b.append(await py_batch(per_round, thumb))
            our_b.append(ours.cmd(f"thumb {per_round} {name}"))
        check = {"python": {"image_len": len(py_b[-1]["last"])}, "ours": our_b[-1]["last"]}
        rows.append(row(f"HTTP `/gcodeThumb` ({name})", "client.files.get_gcode_thumbnail()",
                        "Printer::thumbnail()", py_b, our_b, check))

        # TCP: the printer has one control lock, so each side logs in for its own batch.
        async def tcp_rows(label: str, py_call: str, our_call: str, our_cmd: str,
                           make: Callable, n_round: int, n_warm: int, n_rounds: int) -> None:
            py_b, our_b = [], []
            for _ in range(n_rounds):
                t = TcpClient(host, FlashForgeTcpClientOptions(port=int(tcp_port)))
                if not await t.init_control():
                    raise RuntimeError("Python client: TCP login failed")
                call = make(t)
                await py_batch(n_warm, call)
                py_b.append(await py_batch(n_round, call))
                await t.dispose()
                ours.cmd("tcp-open")
                ours.cmd(f"{our_cmd} {n_warm}")
                our_b.append(ours.cmd(f"{our_cmd} {n_round}"))
                ours.cmd("tcp-close")
            rows.append(row(label, py_call, our_call, py_b, our_b, tcp_check(py_b, our_b, our_cmd)))

        await tcp_rows("TCP `~M105` temperatures", "tcp_client.get_temp_info()",
                       "LegacyPrinter::temperatures()", "m105",
                       lambda t: t.get_temp_info, per_round, warm, rounds)

        def status3(t: TcpClient) -> Callable:
            async def call() -> Any:
                e = await t.get_endstop_status()
                m = await t.get_temp_info()
                p = await t.get_print_status()
                return (e, m, p) if e and m and p else None
            return call

        await tcp_rows("TCP status (`~M119` + `~M105` + `~M27`)",
                       "get_endstop_status() + get_temp_info() + get_print_status()",
                       "LegacyPrinter::status()", "tcp-status", status3,
                       max(1, per_round // 3), warm, rounds)
        # The file list: the Python client waits 1.2 s after the reply for more bytes, so
        # only a few calls.
        await tcp_rows("TCP `~M661` file list", "tcp_client.get_file_list_async()",
                       "LegacyPrinter::files()", "files",
                       lambda t: t.get_file_list_async, 2, 1, 2)
        # Peak RSS of each client process after the same round trips (Python's process also
        # timed the parsers above, ours did not: the parser inputs are < 0.2 MB).
        rss["python_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss["ours_kib"] = ours.cmd("rss")["vm_hwm_kib"]
    finally:
        await client.dispose()
        ours.close()
    return rows


def tcp_check(py_b: list[dict], our_b: list[dict], kind: str) -> dict:
    p, o = py_b[-1]["last"], our_b[-1]["last"]
    if kind == "files":
        return {"python": {"files": p}, "ours": {"files": o}}
    if kind == "tcp-status":
        e, m, _ = p
        return {"python": {"state": e.machine_status.value,
                           "temps": [m.get_extruder_temp().get_current(), m.get_bed_temp().get_current()]},
                "ours": {"state": o["state"], "temps": [o["temps"]["extruder"][0], o["temps"]["bed"][0]]}}
    return {"python": {"temps": [p.get_extruder_temp().get_current(), p.get_bed_temp().get_current()]},
            "ours": {"temps": [o["extruder"][0], o["bed"][0]]}}


def row(what: str, py_call: str, our_call: str, py_b: list[dict], our_b: list[dict],
        check: dict) -> dict:
    for b in py_b:
        b.pop("last", None)
    for b in our_b:
        b.pop("last", None)
    p, o = summarize(py_b), summarize(our_b)
    print(f"compare: round trip {what}: Python {p['median_us']:.1f} us, ours {o['median_us']:.1f} us",
          file=sys.stderr)
    return {"what": what, "python_call": py_call, "our_call": our_call, "python": p, "ours": o,
            "ratio_median": p["median_us"] / o["median_us"],
            "ratio_cpu": p["cpu_us_per_call"] / o["cpu_us_per_call"], "values": check}


# ---------------------------------------------------------------------------------------
# Output.


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def fmt_us(us: float) -> str:
    return f"{us / 1e3:,.1f} ms" if us >= 1_000 else f"{us:.1f} µs"


def fmt_ratio(r: float) -> str:
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×" if r < 10 else f"{r:.0f}×"


def markdown(res: dict) -> str:
    m = res["machine"]
    out = [
        f"Generated by `benches/python/compare.sh` on {res['date']} ({m['cpus']} CPUs, "
        f"{m['cpu_model']}, {m['kernel']}; Python {m['python']}, "
        f"flashforge-python-api {m['client']}). Every ratio below is Python ÷ ours from "
        f"that one run; the script took {res['seconds']:.0f} s.",
        "",
        "Parsers: the same bytes through both clients (the files `py_compare inputs` writes); "
        "both sides' extracted values are compared before anything is timed. timeit's method "
        "on both sides (loop count ≥ 0.2 s, median of 7 repeats, warm; ours first, then Python's; "
        "timeit turns Python's GC off while timing); Python's time includes the decode its "
        "receive loop does (UTF-8, else Latin-1) before calling the parser.",
        "",
        "| Input | Python call | Python | ours | Python ÷ ours |",
        "|---|---|---|---|---|",
    ]
    notes = []
    for r in res["parsers"]:
        if "ratio" in r:
            out.append(f"| {r['what']} ({r['bytes']:,} B) | `{r['python_call']}` | "
                       f"{fmt_ns(r['python']['ns_median'])} | {fmt_ns(r['ours']['ns_median'])} | "
                       f"**{fmt_ratio(r['ratio'])}** |")
        else:
            ours = fmt_ns(r["ours"]["ns_median"]) if "ns_median" in r.get("ours", {}) else "—"
            out.append(f"| {r['what']} ({r['bytes']:,} B) | `{r['python_call']}` | — | {ours} | "
                       f"not timed: {r['status']} |")
            notes.extend(r.get("diffs", []))
    if notes:
        out += ["", "Values that differ: " + "; ".join(notes[:10])]
    out += ["", "Values compared per input are the ones the Python client extracts (its "
            "`~M105` reports one extruder and the bed in whole degrees; ours keeps every tool "
            "and the fractions, compared truncated); where it has no value, its 0.0 is taken "
            "to match our None (no target, no chamber)."]
    out += [
        "",
        f"Round trips against one `flashforge sim` Adventurer 5M on 127.0.0.1, batches "
        f"interleaved (Python, ours, Python, ours, …; {res['rounds']} rounds), the same calls "
        "on both sides; CPU is each client process's own (all threads; the simulator is a "
        "separate process). TCP batches log in and out per batch (the printer has one control "
        "lock); the Python client's keep-alive `~M27` (every 5 s) runs as it always does.",
        "",
        "| Round trip | calls each | Python median / p99 | ours median / p99 | median ratio | "
        "Python CPU / call | ours CPU / call | CPU ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["round_trips"]:
        p, o = r["python"], r["ours"]
        out.append(
            f"| {r['what']} | {p['calls']:,} | {fmt_us(p['median_us'])} / {fmt_us(p['p99_us'])} | "
            f"{fmt_us(o['median_us'])} / {fmt_us(o['p99_us'])} | **{fmt_ratio(r['ratio_median'])}** | "
            f"{fmt_us(p['cpu_us_per_call'])} | {fmt_us(o['cpu_us_per_call'])} | "
            f"**{fmt_ratio(r['ratio_cpu'])}** |")
    same_rt = [r["what"] for r in res["round_trips"] if r["values"]["python"] == r["values"]["ours"]]
    if len(same_rt) == len(res["round_trips"]):
        out += ["", "Both clients read the same values back in every row (state, temperatures, "
                "thumbnail size, file names; `values` in results.json). The file list row is "
                "a few calls only: the Python client waits 1.2 s after every `~M661` reply for "
                "more bytes (its settle window); ours completes at the last byte of the list."]
    if res.get("rss"):
        r = res["rss"]
        out += ["", f"Peak resident memory of the client process after these round trips: "
                f"Python {r['python_kib'] / 1024:.1f} MiB, ours {r['ours_kib'] / 1024:.1f} MiB "
                f"(**{r['python_kib'] / r['ours_kib']:.1f}×**; `ru_maxrss` and `VmHWM`)."]
    if res.get("cannot"):
        out += ["", "What the Python client could not do: " + "; ".join(res["cannot"])]
    out += ["", "```sh", "benches/python/compare.sh            # prints the tables, writes "
            "benches/python/results.json", "benches/python/compare.sh --markdown # and rewrites "
            "this section", "```"]
    return "\n".join(out)


BEGIN = "<!-- python-compare:begin (generated by benches/python/compare.sh --markdown) -->"
END = "<!-- python-compare:end -->"


def rewrite_readme(path: str, section: str) -> None:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"compare: {path} has no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(head + BEGIN + "\n" + section + "\n" + END + tail)


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(), "client": flashforge.__version__}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs")
    ap.add_argument("--rust-parse")
    ap.add_argument("--rust-bin")
    ap.add_argument("--sim-json")
    ap.add_argument("--check-code")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--out")
    ap.add_argument("--readme")
    ap.add_argument("--render")
    ap.add_argument("--started", type=float, default=time.time())
    a = ap.parse_args()
    if a.render:
        with open(a.render) as f:
            res = json.load(f)
        rewrite_readme(a.readme, markdown(res))
        return

    with open(a.rust_parse) as f:
        rust = json.load(f)
    with open(a.sim_json) as f:
        sim = json.loads(f.readline())
    res: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "calls": a.calls, "rounds": a.rounds,
    }
    res["parsers"] = parsers(a.inputs, rust)
    res["rss"] = {}
    res["round_trips"] = asyncio.run(
        round_trips(a.rust_bin, sim, a.check_code, a.calls, a.rounds, res["rss"]))
    res["cannot"] = [f"{r['input']}: {r['status']}" for r in res["parsers"] if "ratio" not in r]
    for r in res["round_trips"]:
        if r["values"]["python"] != r["values"]["ours"]:
            res["cannot"].append(f"{r['what']}: values differ {r['values']}")
    res["seconds"] = time.time() - a.started
    md = markdown(res)
    print(md)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
    if a.readme:
        rewrite_readme(a.readme, md)


if __name__ == "__main__":
    main()
