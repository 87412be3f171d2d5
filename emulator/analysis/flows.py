"""Host flows the diagnosis drives against the bootloader, step by step.

A flow is what a programming tool does: enumerate, upload flash, upload the option
bytes, erase, write, verify, leave.  Each step records whether it worked, what
happened and when (simulated time), so the reference run and the jump run can be
compared step by step.  A step that fails stops the flow; the rest are "not run".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Protocol

from peripherals import c071

from ..core.cpu import remove_translations
# The host stacks are imported with this module, not when a flow runs: each forked replay
# would otherwise import them again.
from ..host.an3155 import An3155Client
from ..host.dfuse import DfuSession
from ..host.serial_port import SerialPort
from ..image import Image, load_elf
from ..machine import Machine

STEPS = ("enumerate", "upload flash", "upload option bytes", "erase", "write", "verify", "leave")
OPERATION_STEP = {"erase": "erase", "write": "write"}


@dataclass
class StepResult:
    name: str
    status: str              # "ok" | "failed" | "not run"
    detail: str = ""
    start: float = 0.0
    end: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class FlowOutcome:
    steps: list[StepResult]
    events: list[dict] = field(default_factory=list)
    unmodelled: list[str] = field(default_factory=list)      # accesses to what no model implements

    def step(self, name: str) -> Optional[StepResult]:
        return next((s for s in self.steps if s.name == name), None)

    def step_ok(self, operation: str) -> bool:
        s = self.step(OPERATION_STEP.get(operation, operation))
        return s is not None and s.ok

    @property
    def all_ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def first_failure(self) -> Optional[StepResult]:
        return next((s for s in self.steps if s.status == "failed"), None)


class HostFlow(Protocol):
    name: str
    def run(self, m: Machine) -> FlowOutcome: ...


def payload_of(image: Image, size: int = 0) -> tuple[int, bytes]:
    """The main-flash bytes of an image, from its lowest flash address (gaps 0xFF), padded to
    ``size`` bytes with a fixed pattern so that a programming pass has that much to write."""
    segs = [s for s in image.segments if c071.FLASH_BASE <= s.address < c071.FLASH_BASE + c071.FLASH_SIZE]
    start = min(s.address for s in segs)
    end = max(s.address + len(s.data) for s in segs)
    blob = bytearray(b"\xff" * (end - start))
    for s in segs:
        blob[s.address - start:s.address - start + len(s.data)] = s.data
    blob += bytes((i * 7 + 3) & 0xFF for i in range(len(blob), max(size, len(blob))))
    blob += b"\xff" * (-len(blob) % 8)          # flash programs double words (RM0490 §4.3.7)
    return start, bytes(blob)


class StepRunner:
    """Runs named steps in order; the first failure marks the rest 'not run', and so does
    ``stop_after`` once that step has run (a replay that only has to decide one step)."""

    def __init__(self, m: Machine, max_time: Optional[float] = None, stop_after: Optional[str] = None) -> None:
        self.m = m
        self.results: list[StepResult] = []
        self.failed = False
        self.max_time = max_time
        self.stop_after = stop_after
        self.started = m.seconds()

    def step(self, name: str, action: Callable[[], str]) -> None:
        if self.failed or self.stop_after in (r.name for r in self.results):
            self.results.append(StepResult(name, "not run"))
            return
        start = self.m.seconds()
        if self.max_time is not None and start - self.started > self.max_time:
            self.failed = True
            self.results.append(StepResult(name, "failed", f"the host flow's time limit (--max-time "
                                           f"{self.max_time:g} s) passed before this step", start, start))
            return
        try:
            detail = action() or ""
            self.results.append(StepResult(name, "ok", detail, start, self.m.seconds()))
        except Exception as exc:                  # a host-side error is the step's outcome
            self.failed = True
            self.results.append(StepResult(name, "failed", f"{type(exc).__name__}: {exc}", start, self.m.seconds()))


DEFAULT_PAYLOAD = Path(__file__).resolve().parents[2] / "images" / "elf" / "hello.elf"


class DfuFlow:
    """What dfu-util (or pydfu) and STM32CubeProgrammer do to program an application:
    enumerate, upload the first flash page and the option bytes, erase the pages the new
    image needs (page by page), write it, verify it, leave DFU - and check that the new
    application starts: the leave step passes when the PC reaches the target of the
    payload's reset vector (the word after its initial stack pointer, at its lowest
    flash address: the vector table, PM0223 §2.4.4)."""

    name = "dfu"
    FLASH_UPLOAD = 2048
    OPTION_UPLOAD = 128
    PAYLOAD_BYTES = 8 * 1024          # the bundled payload, padded: 4 pages to erase and write
    START_S = 0.05                    # how long the new application has to reach its reset handler

    def __init__(self, payload: Image | None = None, style: str = "dfu-util") -> None:
        self.payload = payload or load_elf(DEFAULT_PAYLOAD)
        self.padded_size = self.PAYLOAD_BYTES if payload is None else 0
        self.style = style
        self.max_time: Optional[float] = None        # simulated seconds for the whole flow (--max-time)
        self.stop_after: Optional[str] = None        # run the steps up to this one only (None: all)

    def run(self, m: Machine) -> FlowOutcome:
        session = DfuSession(m, style=self.style, host=getattr(m, "usb_host", None),
                             step_timeout_s=min(10.0, self.max_time or 10.0))
        address, data = payload_of(self.payload, self.padded_size)
        first = address - (address - c071.FLASH_BASE) % c071.FLASH_PAGE_SIZE
        pages = list(range(first, address + len(data), c071.FLASH_PAGE_SIZE))
        r = StepRunner(m, self.max_time, self.stop_after)
        r.step("enumerate", lambda: (session.enumerate(), session.steps[-1].detail)[1])
        r.step("upload flash", lambda: f"{len(session.upload(c071.FLASH_BASE, self.FLASH_UPLOAD))} B read")
        r.step("upload option bytes",
               lambda: f"OPTR 0x{int.from_bytes(session.upload(c071.OPTION_BYTES_BASE, self.OPTION_UPLOAD)[:4], 'little'):08X}")
        r.step("erase", lambda: (session.erase_pages(pages), f"{len(pages)} page(s) from 0x{first:08X}")[1])
        r.step("write", lambda: (session.download(address, data, erase=False), f"{len(data)} B at 0x{address:08X}")[1])
        r.step("verify", lambda: (session.verify(address, data), f"{len(data)} B match")[1])
        r.step("leave", lambda: self._leave(m, session, address))
        return FlowOutcome(r.results)

    def _leave(self, m: Machine, session, address: int) -> str:
        started = StartWatch(m, self._reset_handler())
        status = session.leave(address)
        return f"{status.describe()}; {started.wait(self.START_S)}"

    def _reset_handler(self) -> int:
        _, data = payload_of(self.payload)
        return int.from_bytes(data[4:8], "little") & ~1


class StartWatch:
    """Notes when the PC first reaches one address (the new application's reset handler),
    whoever runs the machine meanwhile (a host flow does).  A code hook bounded to that one
    instruction, as the stops of the run loop are."""

    def __init__(self, m: Machine, address: int) -> None:
        from unicorn import UC_HOOK_CODE
        self.m, self.address = m, address
        self.reached_at: Optional[float] = None
        uc = m.cpu.uc
        self._hook = uc.hook_add(UC_HOOK_CODE, self._reached, None, address, address)
        remove_translations(uc, address, address + 2)

    def _reached(self, uc, address, size, user_data) -> None:
        if self.reached_at is None:
            self.reached_at = self.m.clock.seconds(self.m.loop.instruction_cycle())
            self.m.loop.end_slice()

    def wait(self, limit_s: float) -> str:
        """Run until reached (or ``limit_s`` passes); the step's detail, or RuntimeError."""
        m = self.m
        deadline = m.seconds() + limit_s
        try:
            while self.reached_at is None and m.seconds() < deadline:
                end = m.run(max_seconds=min(1e-3, deadline - m.seconds()))
                if end.reason.value in ("lockup", "exit"):
                    break
        finally:
            m.cpu.uc.hook_del(self._hook)
        if self.reached_at is None:
            where = m.describe(m.cpu.pc())
            raise RuntimeError(f"the new application did not start: its reset handler 0x{self.address:08X} was "
                               f"not reached within {limit_s * 1e3:g} ms (PC 0x{m.cpu.pc():08X}"
                               f"{' in ' + where if where else ''})")
        return f"new application's reset handler 0x{self.address:08X} reached at {self.reached_at * 1e3:.3f} ms"


def dfu_flow(style: str = "dfu-util") -> DfuFlow:
    return DfuFlow(style=style)


class UsartFlow(DfuFlow):
    """The same steps over USART1 with the AN3155 protocol, as stm32flash does them: sync
    (0x7F) and Get ID, read memory, extended erase of the touched pages, write memory in
    256-byte frames, read back, Go."""

    name = "usart"
    CONNECT_DELAY_S = 0.01

    def __init__(self, payload: Image | None = None, usart: str = "USART1", baud: int = 115200) -> None:
        super().__init__(payload)
        self.usart, self.baud = usart, baud

    def run(self, m: Machine) -> FlowOutcome:
        client = An3155Client(SerialPort(m, self.usart, baud=self.baud, parity="E"))
        address, data = payload_of(self.payload, self.padded_size)
        first_page = (address - c071.FLASH_BASE) // c071.FLASH_PAGE_SIZE
        pages = list(range(first_page, (address + len(data) - c071.FLASH_BASE - 1) // c071.FLASH_PAGE_SIZE + 1))
        r = StepRunner(m, self.max_time, self.stop_after)
        m.run(max_seconds=self.CONNECT_DELAY_S)        # a tool opens the port after the device has started
        r.step("enumerate", lambda: f"sync {client.sync()}, Get ID 0x{client.get_id():03X}")
        r.step("upload flash", lambda: f"{len(client.read_memory(c071.FLASH_BASE, self.FLASH_UPLOAD))} B read")
        r.step("upload option bytes",
               lambda: f"OPTR 0x{int.from_bytes(client.read_memory(c071.OPTION_BYTES_BASE, 4), 'little'):08X}")
        r.step("erase", lambda: (client.extended_erase(pages), f"pages {pages[0]}..{pages[-1]}")[1])
        r.step("write", lambda: (client.write_memory(address, data), f"{len(data)} B at 0x{address:08X}")[1])
        r.step("verify", lambda: self._verify(client, address, data))
        r.step("leave", lambda: self._go(m, client, address))
        return FlowOutcome(r.results)

    @staticmethod
    def _verify(client, address: int, data: bytes) -> str:
        if client.read_memory(address, len(data)) != data:
            raise RuntimeError(f"read back of 0x{address:08X}+{len(data)} differs from what was written")
        return f"{len(data)} B match"

    def _go(self, m: Machine, client, address: int) -> str:
        started = StartWatch(m, self._reset_handler())
        client.go(address)
        return f"Go 0x{address:08X}; {started.wait(self.START_S)}"


def usart_flow() -> UsartFlow:
    return UsartFlow()


def flow_for(host: str, payload: Image | None = None) -> DfuFlow | UsartFlow:
    """The host flow named on a command line or in a scenario: "dfu" or "usart", programming
    ``payload`` (default: the bundled image)."""
    return DfuFlow(payload) if host == "dfu" else UsartFlow(payload)
