#!/usr/bin/env python3
"""Drive an independent client, flashforge-python-api (pinned in run.sh), against
`flashforge sim` and check what it reads back.

Input: the simulator's `--json` output (one object per printer: model, name,
serial, address, tcp, http, udp). For every printer, discovery and every
operation the client offers for that model run through the client's *public*
API, and the values it reports are compared with what the simulator announced
or was told to do (name, serial, model, temperatures set, file uploaded, job
state after start/pause/resume/cancel, ...). "No exception" is never a pass.

Results: `pass`, `fail: why`, `expected-fail: reason` (a bug of the Python
client itself, listed in EXPECTED_FAIL with its source line), `n/a: why` (the
client does not offer the operation for that model, by design) and
`now-passes` (an expected failure that passed: the list is stale, which counts
as a failure so that the list stays honest).

Exit status: 0 when there is no `fail` and no `now-passes`, 1 otherwise.

Usage:
  matrix.py --sim-json FILE --check-code CODE [--broadcast]
  matrix.py --sim-json FILE --wait-ready COUNT  # poll until the simulator is up
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

# Per-operation bound. The client's own TCP timeout is 5 s and it retries, so a
# dead channel would otherwise cost tens of seconds per operation.
OP_TIMEOUT = float(os.environ.get("FF_PYCLIENT_OP_TIMEOUT", "12"))

# The simulator's model names (its --json "model") -> the farm's model keys.
SIM_MODELS = {
    "Adventurer3": "a3",
    "Adventurer4": "a4",
    "Adventurer5M": "5m",
    "Adventurer5MPro": "5m-pro",
    "AD5X": "ad5x",
    "Creator5": "c5",
    "Creator5Pro": "c5-pro",
}

# The client's PrinterModel values discovery must report, per farm model key.
DISCOVERY_MODELS = {
    "a3": "Adventurer3",
    "a4": "Adventurer4",
    "5m": "Adventurer5M",
    "5m-pro": "Adventurer5MPro",
    "ad5x": "AD5X",
    "c5": "Creator5",
    "c5-pro": "Creator5Pro",
}

HTTP_MODELS = ("5m", "5m-pro", "ad5x", "c5", "c5-pro")
CREATOR5 = ("c5", "c5-pro")

# Failures of flashforge-python-api 1.6.0 itself, with the reason and where in
# its source (site-packages/flashforge/...) the fault is. Keyed by
# (model, operation). Nothing here may be a simulator bug: those fail the run.
_C5_INIT_CONTROL = (
    "client.py FlashForgeClient.init_control() calls self.tcp_client.init_control() "
    "(M601 login on TCP 8899) unconditionally after /product, even when http_only is set "
    "for a Creator 5; the Creator 5 has no TCP service, so it always returns False"
)
_C5_TEMPS = (
    "client.py FlashForgeClient.get_temperatures() returns self.tcp_client.get_temp_info() "
    "(~M105 on TCP 8899) with no http_only check; the Creator 5 has no TCP service, so it "
    "is always None (temperatures are only readable via get_printer_status())"
)
EXPECTED_FAIL: dict[tuple[str, str], str] = {
    ("c5", "init_control"): _C5_INIT_CONTROL,
    ("c5-pro", "init_control"): _C5_INIT_CONTROL,
    ("c5", "get_temperatures"): _C5_TEMPS,
    ("c5-pro", "get_temperatures"): _C5_TEMPS,
}
if sys.version_info < (3, 13):
    # CPython < 3.13: asyncio's _SelectorDatagramTransport.sendto() returns without
    # sending when the data is empty, and the client's probe is empty.
    for _model in DISCOVERY_MODELS:
        EXPECTED_FAIL[(_model, "discover (broadcast+multicast)")] = EXPECTED_FAIL[
            (_model, "FlashForgePrinterDiscovery")
        ] = (
            "discovery/discovery.py _send_discovery_packets() sends packet = b\"\" through an "
            "asyncio datagram transport, whose sendto() silently drops empty data before "
            f"Python 3.13 (this is {sys.version.split()[0]}): no probe leaves the host, so "
            "PrinterDiscovery.discover() finds nothing; run.sh prefers Python >= 3.13"
        )


class Check(Exception):
    """An assertion about a value the client reported."""


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Check(what)


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Runner:
    def __init__(self, model: str) -> None:
        self.model = model
        self.rows: list[dict[str, str]] = []

    async def op(self, name: str, fn: Callable[[], Awaitable[Any]], na: str | None = None) -> bool:
        """Run one operation; record its result. True when it passed."""
        if na is not None:
            self._record(name, "n/a", na)
            return False
        expected = EXPECTED_FAIL.get((self.model, name))
        started = time.monotonic()
        error: str | None = None
        try:
            await asyncio.wait_for(fn(), timeout=OP_TIMEOUT)
        except Check as e:
            error = str(e)
        except TimeoutError:
            error = f"no result within {OP_TIMEOUT:.0f} s"
        except Exception as e:  # noqa: BLE001 - every exception is a result here
            error = f"{type(e).__name__}: {e}"
        ms = int((time.monotonic() - started) * 1000)
        if error is None:
            if expected:
                self._record(name, "now-passes", f"listed as expected-fail: {expected}", ms)
            else:
                self._record(name, "pass", "", ms)
            return True
        if expected:
            self._record(name, "expected-fail", f"{expected} (observed: {error})", ms)
        else:
            self._record(name, "fail", error, ms)
        return False

    def _record(self, name: str, result: str, detail: str, ms: int = 0) -> None:
        row = {"model": self.model, "operation": name, "result": result, "detail": detail}
        row["ms"] = str(ms)
        self.rows.append(row)
        print(f"  {self.model:7} {name:28} {result}{': ' + detail if detail else ''}", flush=True)


def make_gcode(directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    lines = [";FLAVOR:Marlin", ";TIME:60", "G28", "M104 S200", "M140 S60"]
    lines += [f"G1 X{10 + i % 50} Y{10 + i % 40} Z0.2 E{i * 0.05:.2f} F1500" for i in range(400)]
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    return path


def unicast_discovery(address: str, port: int) -> bytes:
    """Send the client's own probe (an empty datagram, discovery.py
    _send_discovery_packets) by unicast and return the reply from that address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        s.sendto(b"", (address, port))
        while True:
            data, source = s.recvfrom(4096)
            if source[0] == address:
                return data


async def poll(fn: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], seconds: float = 4.0):
    """Ask until ok(value) or the time is up; return the last value."""
    deadline = time.monotonic() + seconds
    value = await fn()
    while not ok(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        value = await fn()
    return value


def check_discovered(p: Any, sim: dict[str, Any], model: str) -> None:
    check(p.name == sim["name"], f"name {p.name!r}, the farm set {sim['name']!r}")
    check(
        p.model.value == DISCOVERY_MODELS[model],
        f"model {p.model.value!r}, expected {DISCOVERY_MODELS[model]!r}",
    )
    check(p.command_port == 8899, f"command port {p.command_port}, expected 8899")
    if model in HTTP_MODELS:
        check(p.protocol_format.value == "modern", f"protocol {p.protocol_format.value}")
        check(
            p.serial_number == sim["serial"],
            f"serial {p.serial_number!r}, the farm set {sim['serial']!r}",
        )
        check(p.event_port == 8898, f"event (HTTP) port {p.event_port}, expected 8898")
    else:
        check(p.protocol_format.value == "legacy", f"protocol {p.protocol_format.value}")
    check(p.status is not None and p.status.name == "READY", f"status {p.status}")


# --------------------------------------------------------------------------- #
# Discovery
# --------------------------------------------------------------------------- #


async def run_discovery(printers: list[dict[str, Any]], broadcast: bool) -> list[Runner]:
    from flashforge import DiscoveryOptions, PrinterDiscovery

    runners = {p["key"]: Runner(p["key"]) for p in printers}
    found: dict[str, Any] = {}
    legacy_found: dict[str, Any] = {}
    error = legacy_error = None
    if broadcast:
        # The client's real discovery: multicast 225.0.0.9:8899/19000 and
        # broadcast 255.255.255.255:8899/19000/48899, never unicast. Inside the
        # run's network namespace all of it goes to lo.
        options = DiscoveryOptions(timeout=3000, idle_timeout=1500, max_retries=1)
        started = time.monotonic()
        try:
            found_list = await asyncio.wait_for(PrinterDiscovery().discover(options), 15)
            error = None
        except Exception as e:  # noqa: BLE001
            found_list, error = [], f"{type(e).__name__}: {e}"
        print(f"  discovery: {len(found_list)} replies in {time.monotonic() - started:.1f} s")
        for d in found_list:
            found[d.ip_address] = d
        # The backward-compatible wrapper (what ff-5mp-hass calls).
        from flashforge import FlashForgePrinterDiscovery

        try:
            legacy = await asyncio.wait_for(
                FlashForgePrinterDiscovery().discover_printers_async(3000, 1500, 1), 15)
            legacy_error = None
        except Exception as e:  # noqa: BLE001
            legacy, legacy_error = [], f"{type(e).__name__}: {e}"
        legacy_found.update({d.ip_address: d for d in legacy})
    for p in printers:
        r = runners[p["key"]]

        async def broadcast_op(p: dict[str, Any] = p) -> None:
            check(error is None, f"discover() raised {error}")
            d = found.get(p["address"])
            check(d is not None, f"no reply from {p['address']} among {sorted(found)}")
            check_discovered(d, p, p["key"])

        async def unicast_op(p: dict[str, Any] = p) -> None:
            from flashforge import PrinterDiscovery

            host, port = p["udp"].rsplit(":", 1)
            data = await asyncio.to_thread(unicast_discovery, host, int(port))
            d = PrinterDiscovery().parse_discovery_response(data, host)
            check(d is not None, f"client could not parse the {len(data)}-byte reply")
            check_discovered(d, p, p["key"])

        async def legacy_op(p: dict[str, Any] = p) -> None:
            check(legacy_error is None, f"discover_printers_async() raised {legacy_error}")
            d = legacy_found.get(p["address"])
            check(d is not None, f"no reply from {p['address']} among {sorted(legacy_found)}")
            check(d.name == p["name"], f"name {d.name!r}")
            if p["key"] in HTTP_MODELS:
                check(d.serial_number == p["serial"], f"serial {d.serial_number!r}")

        await r.op(
            "discover (broadcast+multicast)",
            broadcast_op,
            na=None if broadcast else "not asked for (--broadcast: a farm on its own addresses)",
        )
        await r.op(
            "FlashForgePrinterDiscovery",
            legacy_op,
            na=None if broadcast else "needs the broadcast discovery (see above)",
        )
        if p.get("udp"):
            await r.op("discover (unicast, parsed)", unicast_op)
    return list(runners.values())


# --------------------------------------------------------------------------- #
# HTTP printers: Adventurer 5M / 5M Pro / AD5X / Creator 5 / Creator 5 Pro
# --------------------------------------------------------------------------- #


async def run_http(sim: dict[str, Any], check_code: str, r: Runner, work: str) -> None:
    from flashforge import FlashForgeClient, MachineState

    model = r.model
    c5 = model in CREATOR5
    client = FlashForgeClient(sim["address"], sim["serial"], check_code)
    upload_name = f"pyclient-{model}.gcode"
    upload_path = make_gcode(work, upload_name)
    seen: dict[str, Any] = {}

    async def status():
        info = await client.get_printer_status()
        check(info is not None, "get_printer_status() returned None")
        return info

    async def initialize():
        check(await client.initialize(), "initialize() returned False")
        check(client.printer_name == sim["name"], f"name {client.printer_name!r}")
        flags = {
            "is_pro": model == "5m-pro",
            "is_ad5x": model == "ad5x",
            "is_creator5": c5,
            "is_creator5_pro": model == "c5-pro",
            "http_only": c5,
        }
        for flag, want in flags.items():
            got = getattr(client, flag)
            check(got == want, f"{flag} is {got}, expected {want}")
        check(bool(client.firmware_version), "empty firmware version")

    async def init_control():
        check(await client.init_control(), "init_control() returned False")

    async def product():
        check(await client.send_product_command(), "send_product_command() returned False")
        check(client.led_control, "product reports no LED control")
        check(client.filtration_control == (model == "5m-pro"),
              f"filtration_control {client.filtration_control}")

    async def get_status():
        info = await status()
        seen["chamber"] = info.has_chamber_sensor
        check(info.machine_state == MachineState.READY, f"state {info.machine_state}")
        check(info.name == sim["name"], f"name {info.name!r}")
        check(info.ip_address == sim["address"], f"ip_address {info.ip_address!r}")
        for t in ("extruder", "print_bed"):
            v = getattr(info, t)
            check(is_num(v.current) and is_num(v.set), f"{t} {v!r} not numeric")
        check(5 <= info.print_bed.current <= 60, f"bed {info.print_bed.current} not ambient")
        check(info.nozzle_count == (4 if c5 else 1), f"nozzle_count {info.nozzle_count}")
        check(len(info.tool_temps) == info.nozzle_count, f"tool_temps {info.tool_temps}")
        check(info.has_matl_station == (model in ("ad5x", "c5", "c5-pro")),
              f"has_matl_station {info.has_matl_station}")

    async def get_temperatures():
        t = await client.get_temperatures()
        check(t is not None, "get_temperatures() returned None")
        e, b = t.get_extruder_temp(), t.get_bed_temp()
        check(e is not None and b is not None, "missing extruder or bed")
        check(is_num(e.get_current()) and 5 <= b.get_current() <= 60,
              f"extruder {e.get_full()} bed {b.get_full()}")

    async def tcp_info():
        info = await client.tcp_client.get_printer_info()
        check(info is not None, "tcp_client.get_printer_info() returned None")
        check(info.serial_number == sim["serial"], f"SN {info.serial_number!r}")
        check(info.name == sim["name"], f"name {info.name!r}")

    async def set_temps():
        check(await client.temp_control.set_bed_temp(55), "set_bed_temp(55) False")
        check(await client.temp_control.set_extruder_temp(190), "set_extruder_temp(190) False")
        info = await poll(status, lambda i: i.print_bed.set == 55 and i.extruder.set == 190)
        check(info.print_bed.set == 55, f"bed target {info.print_bed.set}, expected 55")
        check(info.extruder.set == 190, f"extruder target {info.extruder.set}, expected 190")

    async def cancel_temps():
        check(await client.temp_control.cancel_bed_temp(), "cancel_bed_temp() False")
        check(await client.temp_control.cancel_extruder_temp(), "cancel_extruder_temp() False")
        info = await poll(status, lambda i: i.print_bed.set == 0 and i.extruder.set == 0)
        check(info.print_bed.set == 0 and info.extruder.set == 0,
              f"targets bed {info.print_bed.set} extruder {info.extruder.set}, expected 0")

    async def chamber_temp():
        check(await client.temp_control.set_chamber_temp(40), "set_chamber_temp(40) False")
        info = await poll(status, lambda i: i.chamber.set == 40)
        check(info.chamber.set == 40, f"chamber target {info.chamber.set}")
        check(await client.temp_control.cancel_chamber_temp(), "cancel_chamber_temp() False")

    async def led():
        check(await client.control.set_led_off(), "set_led_off() False")
        info = await poll(status, lambda i: not i.lights_on)
        check(not info.lights_on, "lights still on after set_led_off()")
        check(await client.control.set_led_on(), "set_led_on() False")
        info = await poll(status, lambda i: i.lights_on)
        check(info.lights_on, "lights off after set_led_on()")

    async def led_tcp():
        check(await client.tcp_client.led_off(), "tcp led_off() False")
        check(await client.tcp_client.led_on(), "tcp led_on() False")

    async def filtration():
        check(await client.control.set_external_filtration_on(), "external on False")
        info = await poll(status, lambda i: i.external_fan_on)
        check(info.external_fan_on and not info.internal_fan_on, "external filtration not on")
        check(await client.control.set_internal_filtration_on(), "internal on False")
        info = await poll(status, lambda i: i.internal_fan_on)
        check(info.internal_fan_on and not info.external_fan_on, "internal filtration not on")
        check(await client.control.set_filtration_off(), "filtration off False")
        info = await poll(status, lambda i: not i.internal_fan_on and not i.external_fan_on)
        check(not info.internal_fan_on and not info.external_fan_on, "filtration still on")

    async def camera():
        # Off, then on again: the stream probe later in the matrix needs it on. Read back
        # through the printer's status (the stream URL is empty while the camera is off).
        check(await client.control.turn_camera_off(), "turn_camera_off() False")
        info = await poll(status, lambda i: not getattr(i, "camera_stream_url", ""))
        check(not getattr(info, "camera_stream_url", ""), "stream still advertised when off")
        check(await client.control.turn_camera_on(), "turn_camera_on() False")
        info = await poll(status, lambda i: bool(getattr(i, "camera_stream_url", "")))
        check(bool(getattr(info, "camera_stream_url", "")), "no stream advertised when on")

    async def file_list():
        files = await client.files.get_file_list()
        check(isinstance(files, list) and len(files) > 0, f"file list {files!r}")
        return files

    async def recent_files():
        entries = await client.files.get_recent_file_list()
        names = [e.gcode_file_name for e in entries]
        check(len(names) > 0, "recent file list empty")
        if model == "ad5x":
            check(all(e.gcode_tool_cnt is not None for e in entries),
                  "AD5X entries carry no gcodeListDetail tool data")

    async def thumbnail():
        files = await client.files.get_file_list()
        check(len(files) > 0, "no file to ask a thumbnail of")
        png = await client.files.get_gcode_thumbnail(files[0])
        check(png is not None, f"no thumbnail for {files[0]!r}")
        check(png[:8] == b"\x89PNG\r\n\x1a\n", f"thumbnail is not a PNG: {png[:8]!r}")

    async def upload():
        check(await client.job_control.upload_file(upload_path, False, False),
              "upload_file() returned False")
        names = await client.files.get_file_list()
        check(upload_name in names, f"{upload_name!r} not in file list {names!r}")

    async def start():
        check(await client.job_control.print_local_file(upload_name, False),
              "print_local_file() returned False")
        # Heating first; the farm runs with --speed so that takes about a second.
        info = await poll(status, lambda i: i.machine_state == MachineState.PRINTING, 10)
        check(info.machine_state == MachineState.PRINTING, f"state {info.machine_state}")
        check(info.print_file_name == upload_name, f"printing {info.print_file_name!r}")

    async def speed():
        check(await client.control.set_speed_override(150), "set_speed_override(150) False")
        info = await poll(status, lambda i: i.print_speed_adjust == 150)
        check(info.print_speed_adjust == 150, f"speed adjust {info.print_speed_adjust}")

    async def z_offset():
        check(await client.control.set_z_axis_override(0.05), "set_z_axis_override False")
        info = await poll(status, lambda i: abs(i.z_axis_compensation - 0.05) < 1e-6)
        check(abs(info.z_axis_compensation - 0.05) < 1e-6,
              f"z compensation {info.z_axis_compensation}")

    async def fans():
        check(await client.control.set_cooling_fan_speed(80), "set_cooling_fan_speed False")
        check(await client.control.set_chamber_fan_speed(80), "set_chamber_fan_speed False")

    async def pause():
        check(await client.pause_print(), "pause_print() returned False")
        info = await poll(status, lambda i: i.machine_state == MachineState.PAUSED)
        check(info.machine_state == MachineState.PAUSED, f"state {info.machine_state}")

    async def resume():
        check(await client.resume_print(), "resume_print() returned False")
        info = await poll(status, lambda i: i.machine_state == MachineState.PRINTING)
        check(info.machine_state == MachineState.PRINTING, f"state {info.machine_state}")

    async def cancel():
        check(await client.job_control.cancel_print_job(), "cancel_print_job() False")
        idle = (MachineState.CANCELLED, MachineState.READY, MachineState.COMPLETED)
        info = await poll(status, lambda i: i.machine_state in idle)
        check(info.machine_state in idle, f"state {info.machine_state}")

    async def clear_platform():
        check(await client.job_control.clear_platform(), "clear_platform() returned False")
        info = await poll(status, lambda i: i.machine_state == MachineState.READY)
        check(info.machine_state == MachineState.READY, f"state {info.machine_state}")

    async def home():
        check(await client.control.home_axes(), "home_axes() returned False")

    async def move():
        check(await client.tcp_client.move(20, 30, 10, 3000), "move() returned False")
        loc = await client.tcp_client.get_location_info()
        check(loc is not None, "get_location_info() returned None")
        check(float(loc.x) == 20 and float(loc.y) == 30 and float(loc.z) == 10,
              f"position X{loc.x} Y{loc.y} Z{loc.z}, expected X20 Y30 Z10")

    async def endstops():
        es = await client.tcp_client.get_endstop_status()
        check(es is not None, "get_endstop_status() returned None")
        check(es.machine_status.name == "READY", f"machine status {es.machine_status}")

    async def tcp_print_status():
        ps = await client.tcp_client.get_print_status()
        check(ps is not None, "get_print_status() returned None")

    async def runout():
        check(await client.control.turn_runout_sensor_off(), "runout off False")
        check(await client.control.turn_runout_sensor_on(), "runout on False")

    async def slot():
        check(await client.control.configure_slot(1, "PETG", "#FF0000"), "configure_slot False")
        info = await poll(status, lambda i: _slot(i, 1) is not None and _slot(i, 1).material_name == "PETG")
        s = _slot(info, 1)
        check(s is not None and s.material_name == "PETG", f"slot 1 {s!r}")

    async def tool_temps():
        check(await client.temp_control.set_tool_temp(2, 205), "set_tool_temp(2, 205) False")
        info = await poll(status, lambda i: len(i.tool_temps) == 4 and i.tool_temps[2].set == 205)
        check(info.tool_temps[2].set == 205, f"T2 target {info.tool_temps[2].set}")
        check(info.tool_temps[0].set == 0, f"T0 target {info.tool_temps[0].set} changed")
        check(await client.temp_control.cancel_tool_temp(2), "cancel_tool_temp(2) False")
        info = await poll(status, lambda i: i.tool_temps[2].set == 0)
        check(info.tool_temps[2].set == 0, f"T2 target {info.tool_temps[2].set} after cancel")

    async def rapid_home():
        check(await client.control.home_axes_rapid(), "home_axes_rapid() returned False")

    async def camera_stream():
        url = await client.detect_camera_stream(2000)
        check(url == client.camera_stream_url, f"probe found {url!r}, /detail says "
              f"{client.camera_stream_url!r}")

    def mapping():
        from flashforge import AD5XMaterialMapping

        return [AD5XMaterialMapping(tool_id=0, slot_id=1, material_name="PLA",
                                    tool_material_color="#FFFFFF",
                                    slot_material_color="#FFFFFF")]

    special_name = f"pyclient-{model}-special.gcode"
    special_path = make_gcode(work, special_name)

    async def upload_special():
        if model == "ad5x":
            from flashforge import AD5XUploadParams

            ok = await client.job_control.upload_file_ad5x(AD5XUploadParams(
                file_path=special_path, start_print=False, leveling_before_print=False,
                flow_calibration=False, first_layer_inspection=False,
                time_lapse_video=False, material_mappings=mapping()))
        else:
            from flashforge.models import Creator5UploadParams

            ok = await client.job_control.upload_file_creator5(Creator5UploadParams(
                file_path=special_path, start_print=False, leveling_before_print=False,
                time_lapse_video=False, use_matl_station=False, gcode_tool_cnt=1))
        check(ok, "upload returned False")
        names = await client.files.get_file_list()
        check(special_name in names, f"{special_name!r} not in file list {names!r}")

    async def job_cycle(start: Callable[[], Awaitable[bool]]) -> None:
        check(await start(), "the start call returned False")
        info = await poll(status, lambda i: i.machine_state == MachineState.PRINTING, 10)
        check(info.machine_state == MachineState.PRINTING, f"state {info.machine_state}")
        check(info.print_file_name == special_name, f"printing {info.print_file_name!r}")
        check(await client.job_control.cancel_print_job(), "cancel_print_job() False")
        await poll(status, lambda i: i.machine_state == MachineState.CANCELLED)
        check(await client.job_control.clear_platform(), "clear_platform() False")
        info = await poll(status, lambda i: i.machine_state == MachineState.READY)
        check(info.machine_state == MachineState.READY, f"state {info.machine_state}")

    async def ad5x_multi():
        from flashforge import AD5XLocalJobParams

        await job_cycle(lambda: client.job_control.start_ad5x_multi_color_job(
            AD5XLocalJobParams(file_name=special_name, leveling_before_print=False,
                               material_mappings=mapping())))

    async def ad5x_single():
        from flashforge import AD5XSingleColorJobParams

        await job_cycle(lambda: client.job_control.start_ad5x_single_color_job(
            AD5XSingleColorJobParams(file_name=special_name, leveling_before_print=False)))

    async def c5_job():
        from flashforge.models import Creator5JobParams

        await job_cycle(lambda: client.job_control.start_creator5_job(
            Creator5JobParams(file_name=special_name, leveling_before_print=False,
                              material_mappings=mapping())))

    async def tcp_ready():
        check(await client.tcp_client.is_printer_ready(), "is_printer_ready() False")
        state = await client.tcp_client.check_machine_state()
        check(state == "ready", f"check_machine_state() {state!r}")

    async def job_views():
        check(await client.info.is_printing(), "info.is_printing() False")
        check(await client.info.get_machine_state() == MachineState.PRINTING, "get_machine_state")
        if not c5:
            name = await client.tcp_client.get_current_print_file()
            check(name is not None and upload_name in name, f"TCP current file {name!r}")
            state = await client.tcp_client.check_machine_state()
            check(state == "printing", f"check_machine_state() {state!r}")
            layer_pct, sd_pct, layer = await client.tcp_client.get_print_progress()
            check(0 <= sd_pct <= 100 and layer >= 0, f"progress {layer_pct} {sd_pct} {layer}")

    now_name = f"pyclient-{model}-now.gcode"
    now_path = make_gcode(work, now_name)

    async def upload_print_now():
        check(await client.job_control.upload_file(now_path, True, False),
              "upload_file(start_print=True) returned False")
        info = await poll(status, lambda i: i.machine_state == MachineState.PRINTING, 10)
        check(info.machine_state == MachineState.PRINTING, f"state {info.machine_state}")
        check(info.print_file_name == now_name, f"printing {info.print_file_name!r}")
        check(await client.job_control.cancel_print_job(), "cancel_print_job() False")
        await poll(status, lambda i: i.machine_state == MachineState.CANCELLED)
        check(await client.job_control.clear_platform(), "clear_platform() False")
        info = await poll(status, lambda i: i.machine_state == MachineState.READY)
        check(info.machine_state == MachineState.READY, f"state {info.machine_state}")

    tcp_na = "the client offers this only over TCP 8899 and (by design) not for an HTTP-only Creator 5" if c5 else None
    no_tcp = "the Creator 5 has no TCP service" if c5 else None
    try:
        if not await r.op("initialize", initialize):
            return
        await r.op("init_control", init_control)
        await r.op("product (send_product_command)", product)
        await r.op("get_printer_status", get_status)
        await r.op("get_temperatures", get_temperatures)
        await r.op("tcp get_printer_info", tcp_info, na=no_tcp)
        await r.op("set bed+extruder temp", set_temps)
        await r.op("cancel bed+extruder temp", cancel_temps)
        await r.op("chamber temp", chamber_temp,
                   na="client: Creator 5 only (set_chamber_temp)" if not c5
                   else None if seen.get("chamber", True)
                   else "this printer reports no chamber sensor (/detail chamberTemp -108)")
        await r.op("set/cancel tool temp (T2)", tool_temps,
                   na=None if c5 else "client: Creator 5 tool changer only")
        await r.op("LED off/on (HTTP)", led)
        await r.op("LED off/on (TCP)", led_tcp, na=no_tcp)
        await r.op("filtration", filtration,
                   na=None if model == "5m-pro" else "no filtration on this model")
        await r.op("camera on/off", camera,
                   na=None if model == "5m-pro" else "client: is_pro (5M Pro) only")
        await r.op("configure_slot", slot,
                   na=None if model in ("ad5x", "c5", "c5-pro") else "no material station")
        await r.op("get_file_list", file_list)
        await r.op("get_recent_file_list", recent_files)
        await r.op("get_gcode_thumbnail", thumbnail)
        await r.op("home_axes", home, na=tcp_na)
        await r.op("home_axes_rapid", rapid_home, na=tcp_na)
        await r.op("move + get_location_info", move, na=no_tcp)
        await r.op("get_endstop_status", endstops, na=no_tcp)
        await r.op("is_printer_ready + check_machine_state", tcp_ready, na=no_tcp)
        await r.op("runout sensor off/on", runout, na=tcp_na or (
            None if model == "5m-pro" else "client: 5M Pro only (ff_client.py _is_5m_pro)"))
        await r.op("upload_file", upload)
        started = await r.op("print_local_file (start)", start)
        job = None if started else "needs a running job (start failed)"
        await r.op("tcp get_print_status", tcp_print_status, na=no_tcp)
        await r.op("job views (is_printing, progress)", job_views, na=job)
        await r.op("set_speed_override", speed, na=job)
        await r.op("set_z_axis_override", z_offset, na=job)
        await r.op("cooling/chamber fan speed", fans, na=job)
        await r.op("pause", pause, na=job)
        await r.op("resume", resume, na=job)
        await r.op("cancel", cancel, na=job)
        await r.op("clear_platform", clear_platform)
        ms = model in ("ad5x", "c5", "c5-pro")
        await r.op("upload (AD5X / Creator 5 params)", upload_special,
                   na=None if ms else "client: AD5X / Creator 5 only")
        await r.op("start_ad5x_multi_color_job", ad5x_multi,
                   na=None if model == "ad5x" else "client: AD5X only")
        await r.op("start_ad5x_single_color_job", ad5x_single,
                   na=None if model == "ad5x" else "client: AD5X only")
        await r.op("start_creator5_job", c5_job, na=None if c5 else "client: Creator 5 only")
        await r.op("upload_file (printNow)", upload_print_now)
        await r.op("detect_camera_stream", camera_stream,
                   na=None if client.camera_stream_url else "/detail reports no camera stream")
    finally:
        await asyncio.wait_for(client.dispose(), 10)


def _slot(info: Any, slot_id: int) -> Any:
    station = getattr(info, "matl_station_info", None)
    for s in getattr(station, "slot_infos", None) or []:
        if getattr(s, "slot_id", None) == slot_id:
            return s
    return None


# --------------------------------------------------------------------------- #
# Legacy TCP printers: Adventurer 3 / Adventurer 4
# --------------------------------------------------------------------------- #


async def run_legacy(sim: dict[str, Any], r: Runner, work: str) -> None:
    from flashforge import FlashForgeA3Client, FlashForgeA4Client

    a3 = r.model == "a3"
    client = (FlashForgeA3Client if a3 else FlashForgeA4Client)(sim["address"])
    upload_name = f"pyclient-{r.model}.gcode"
    upload_path = make_gcode(work, upload_name)

    async def names() -> list[str]:
        return [f.name for f in await client.list_files()]

    async def init_control():
        check(await client.init_control(), "init_control() returned False")

    async def info():
        i = await client.get_printer_info()
        check(i is not None, "get_printer_info() returned None")
        name = i.machine_name
        serial = i.serial_number
        check(name == sim["name"], f"name {name!r}, the farm set {sim['name']!r}")
        check(serial == sim["serial"], f"serial {serial!r}, the farm set {sim['serial']!r}")

    async def temps():
        t = await client.get_temp_info()
        check(t is not None, "get_temp_info() returned None")
        e, b = t.get_extruder_temp(), t.get_bed_temp()
        check(e is not None and b is not None, "missing extruder or bed")
        check(5 <= b.get_current() <= 60 and 5 <= e.get_current() <= 60,
              f"extruder {e.get_full()} bed {b.get_full()} not ambient")

    async def set_temps():
        check(await client.set_extruder_temp(180), "set_extruder_temp(180) False")
        check(await client.set_bed_temp(50), "set_bed_temp(50) False")
        t = await poll(client.get_temp_info,
                       lambda t: t and t.get_extruder_temp().get_set() == 180
                       and t.get_bed_temp().get_set() == 50)
        check(t.get_extruder_temp().get_set() == 180, f"extruder {t.get_extruder_temp().get_full()}")
        check(t.get_bed_temp().get_set() == 50, f"bed {t.get_bed_temp().get_full()}")
        check(await client.cancel_extruder_temp(), "cancel_extruder_temp() False")
        check(await client.cancel_bed_temp(), "cancel_bed_temp() False")
        t = await poll(client.get_temp_info,
                       lambda t: t and t.get_extruder_temp().get_set() == 0
                       and t.get_bed_temp().get_set() == 0)
        check(t.get_extruder_temp().get_set() == 0 and t.get_bed_temp().get_set() == 0,
              f"after cancel: extruder {t.get_extruder_temp().get_full()} "
              f"bed {t.get_bed_temp().get_full()}")

    async def endstops():
        es = await client.get_endstop_status()
        check(es is not None, "get_endstop_status() returned None")
        check(es.machine_status.name == "READY", f"machine status {es.machine_status}")

    async def led():
        if a3:
            check(await client.led_control("r0 g0 b0 F0"), "led_control(off) False")
            check(await client.led_control("r255 g255 b255 F0"), "led_control(on) False")
        else:
            check(await client.led_off(), "led_off() False")
            check(await client.led_on(), "led_on() False")
        es = await client.get_endstop_status()
        check(es is not None and es.led_enabled, f"LED not on after turning it on: {es}")

    async def file_list():
        n = await names()
        check(len(n) > 0, "file list empty")

    async def thumbnail():
        n = await names()
        check(len(n) > 0, "no file to ask a thumbnail of")
        t = await client.get_thumbnail(n[0])
        check(t is not None, f"no thumbnail for {n[0]!r}")
        data = t.data if a3 else t.get_image_bytes()
        check(data is not None and data[:8] == b"\x89PNG\r\n\x1a\n",
              f"thumbnail is not a PNG: {data[:8] if data else data!r}")

    async def home():
        check(await (client.home() if a3 else client.home_axes()), "home returned False")

    async def move():
        check(await client.move(20, 30, 10, 3000), "move() returned False")
        loc = await (client.get_position() if a3 else client.get_location_info())
        check(loc is not None, "position returned None")
        check(float(loc.x) == 20 and float(loc.y) == 30 and float(loc.z) == 10,
              f"position X{loc.x} Y{loc.y} Z{loc.z}, expected X20 Y30 Z10")

    async def upload():
        check(await client.upload_file(upload_path), "upload_file() returned False")
        n = await names()
        check(upload_name in n, f"{upload_name!r} not in file list {n!r}")

    async def machine_status() -> str:
        es = await client.get_endstop_status()
        return es.machine_status.name if es else "None"

    async def start():
        ok = await (client.gcode().start_job(upload_name) if a3 else client.start_job(upload_name))
        check(ok, "start_job() returned False")
        st = await poll(machine_status, lambda s: s == "BUILDING_FROM_SD", 10)
        check(st == "BUILDING_FROM_SD", f"machine status {st}")
        es = await client.get_endstop_status()
        check(es.current_file and upload_name in es.current_file, f"current file {es.current_file!r}")

    async def print_status():
        ps = await client.get_print_status()
        check(ps is not None, "get_print_status() returned None")
        check(ps.sd_total and int(ps.sd_total) > 0, f"SD progress {ps.sd_current}/{ps.sd_total}")

    async def pause():
        check(await (client.pause_print() if a3 else client.pause_job()), "pause returned False")
        st = await poll(machine_status, lambda s: s == "PAUSED")
        check(st == "PAUSED", f"machine status {st}")

    async def resume():
        ok = await (client.start_print() if a3 else client.resume_job())
        check(ok, "resume returned False")
        st = await poll(machine_status, lambda s: s == "BUILDING_FROM_SD")
        check(st == "BUILDING_FROM_SD", f"machine status {st}")

    async def stop():
        check(await (client.stop_print() if a3 else client.stop_job()), "stop returned False")
        st = await poll(machine_status, lambda s: s in ("READY", "BUILDING_COMPLETED"))
        check(st in ("READY", "BUILDING_COMPLETED"), f"machine status {st}")

    async def rename():
        check(await client.set_printer_name("PyClient A3"), "set_printer_name() False")
        i = await client.get_printer_info()
        check(i is not None and i.machine_name == "PyClient A3", f"name {i and i.machine_name!r}")
        check(await client.set_printer_name(sim["name"]), "renaming back False")

    async def rapid_home():
        check(await client.rapid_home(), "rapid_home() returned False")

    async def xyze():
        loc = await client.get_position_xyze()
        check(loc is not None and loc.x != "", f"get_position_xyze() {loc}")

    async def motors():
        check(await client.disable_motors(), "disable_motors() False")
        check(await client.enable_motors(), "enable_motors() False")

    try:
        if not await r.op("init_control", init_control):
            return
        await r.op("get_printer_info", info)
        await r.op("get_temp_info", temps)
        await r.op("set/cancel temps", set_temps,
                   na="client: FlashForgeA3Client has no temperature setters" if a3 else None)
        await r.op("get_endstop_status", endstops)
        await r.op("LED off/on", led)
        await r.op("list_files", file_list)
        await r.op("get_thumbnail", thumbnail)
        await r.op("home", home)
        await r.op("rapid_home", rapid_home, na="client: no rapid home on the A3" if a3 else None)
        await r.op("move + position", move)
        await r.op("get_position_xyze (M663)", xyze, na=None if a3 else "client: A3 only")
        await r.op("upload_file (M28/M29)", upload)
        started = await r.op("start job", start)
        job = None if started else "needs a running job (start failed)"
        await r.op("get_print_status", print_status, na=job)
        await r.op("pause", pause, na=job)
        await r.op("resume", resume, na=job)
        await r.op("stop", stop, na=job)
        if a3:
            await r.op("set_printer_name", rename)
            await r.op("disable/enable motors", motors)
    finally:
        await asyncio.wait_for(client.dispose(), 10)


# --------------------------------------------------------------------------- #


async def run_all(printers: list[dict[str, Any]], check_code: str, broadcast: bool) -> list[dict]:
    rows: list[dict] = []
    for r in await run_discovery(printers, broadcast):
        rows += r.rows
    with tempfile.TemporaryDirectory(prefix="ff-pyclient-") as work:
        for p in printers:
            r = Runner(p["key"])
            print(f"== {p['key']} ({p['name']}, {p['serial']}) at {p['address']}", flush=True)
            if p["key"] in HTTP_MODELS:
                await run_http(p, check_code, r, work)
            else:
                await run_legacy(p, r, work)
            rows += r.rows
    return rows


def report(rows: list[dict]) -> int:
    width = max([len(r["operation"]) for r in rows] + [9])
    print()
    print(f"{'model':7} | {'operation':{width}} | result")
    print(f"{'-' * 7}-+-{'-' * width}-+-{'-' * 40}")
    for r in rows:
        result = r["result"] + (f": {r['detail']}" if r["detail"] else "")
        print(f"{r['model']:7} | {r['operation']:{width}} | {result}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["result"]] = counts.get(r["result"], 0) + 1
    bad = [r for r in rows if r["result"] in ("fail", "now-passes")]
    summary = {
        "client": "flashforge-python-api",
        "counts": counts,
        "failures": [{k: r[k] for k in ("model", "operation", "result", "detail")} for r in bad],
        "ok": not bad,
    }
    print()
    print("SUMMARY " + json.dumps(summary, sort_keys=True))
    return 0 if not bad else 1


def load_sim_json(path: str) -> list[dict[str, Any]]:
    printers = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            obj = json.loads(line)
            if "model" not in obj or "serial" not in obj:
                continue
            key = SIM_MODELS.get(obj["model"])
            if key is None:
                raise SystemExit(f"unknown simulator model {obj['model']!r}")
            obj["key"] = key
            obj["address"] = obj.get("address") or (obj.get("tcp") or obj["http"]).rsplit(":", 1)[0]
            printers.append(obj)
    return printers


def wait_ready(path: str, count: int, seconds: float) -> int:
    """Wait until the simulator announced `count` printers and each accepts
    connections on its TCP and HTTP ports. Polls; no fixed sleep."""
    deadline = time.monotonic() + seconds
    waiting: list[str] = []
    while time.monotonic() < deadline:
        try:
            printers = load_sim_json(path)
        except (OSError, ValueError):
            printers = []
        if len(printers) >= count:
            waiting = []
            for p in printers:
                for endpoint in (p.get("tcp"), p.get("http")):
                    if not endpoint:
                        continue
                    host, port = endpoint.rsplit(":", 1)
                    try:
                        socket.create_connection((host, int(port)), timeout=0.5).close()
                    except OSError:
                        waiting.append(endpoint)
            if not waiting:
                return 0
        time.sleep(0.1)
    print(f"simulator not ready after {seconds:.0f} s (announced {len(printers)} of {count} "
          f"printers; not accepting: {waiting})", file=sys.stderr)
    return 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sim-json", help="the simulator's --json output")
    ap.add_argument("--check-code", default="12345678")
    ap.add_argument("--broadcast", action="store_true",
                    help="run the client's broadcast/multicast discovery (needs a farm on own addresses)")
    ap.add_argument("--wait-ready", type=int, metavar="COUNT",
                    help="wait until --sim-json lists COUNT printers whose ports accept, then exit")
    args = ap.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("FF_PYCLIENT_DEBUG") else logging.CRITICAL,
        format="    [client log] %(levelname)s %(name)s: %(message)s",
    )
    if not args.sim_json:
        ap.error("--sim-json is required")
    if args.wait_ready:
        return wait_ready(args.sim_json, args.wait_ready, 20.0)
    printers = load_sim_json(args.sim_json)
    if not printers:
        raise SystemExit(f"no printers in {args.sim_json}")
    rows = asyncio.run(run_all(printers, args.check_code, args.broadcast))
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
