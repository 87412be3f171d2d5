"""The trigger applications (images/apps/trigger_*.c, images/apps/README.md): each reaches
the system bootloader through its own trigger, driven here with the existing host-side
tools (simulated USB host, USART host port, Machine.drive_pin), and calls the forum's v1
jump function (symbol ``jump_to_bootloader``).  "Reaches" = the first instruction fetched
from system memory (``run_to_bootloader_entry``, as the diagnosis detects the jump)."""
from __future__ import annotations

import pytest

from emulator.analysis.snapshot import SYSTEM_MEMORY, run_to_bootloader_entry
from emulator.core.runloop import EndReason
from emulator.host.serial_port import SerialPort
from peripherals import c071
from tests.conftest import boot

TRIGGER_APPS = ["trigger_usart", "trigger_button", "trigger_button_exti", "trigger_timer", "trigger_never"]


def app(name: str):
    """The bundled bootloader in system memory and the trigger application in flash, booted from flash."""
    return boot("bootloader", name)


def entered_bootloader(m, end) -> bool:
    return end.reason is EndReason.STOP_AT and SYSTEM_MEMORY[0] <= m.cpu.pc() <= SYSTEM_MEMORY[1]


def settle(m, seconds: float = 0.02) -> None:
    """Let the application finish its start-up before the trigger is driven."""
    end = m.run(max_seconds=seconds)
    assert end.reason is EndReason.TIME_LIMIT, end


@pytest.mark.parametrize("name", TRIGGER_APPS)
def test_every_trigger_app_exports_the_forum_jump_and_stays_in_flash_without_its_trigger(name):
    m = app(name)
    jump = m.symbol("jump_to_bootloader")
    assert c071.FLASH_BASE <= jump < c071.FLASH_BASE + c071.FLASH_SIZE
    if name == "trigger_timer":
        return                                          # its trigger is time itself
    end = run_to_bootloader_entry(m, max_seconds=0.2)
    assert end.reason is EndReason.TIME_LIMIT and not entered_bootloader(m, end)


def test_timer_app_jumps_by_itself_50_ms_after_boot():
    m = app("trigger_timer")
    end = run_to_bootloader_entry(m)
    assert entered_bootloader(m, end)
    assert 0.050 <= m.seconds() < 0.053                 # HAL_Delay(50): 50 full ticks, plus the partial one
    assert "trigger_timer: jumping in 50 ms" in m.guest_output


def test_never_app_sleeps_in_wfi_with_the_tick_running_and_never_jumps():
    m = app("trigger_never")
    end = run_to_bootloader_entry(m, max_seconds=0.3)
    assert not entered_bootloader(m, end)
    assert 295 <= m.read32(m.symbol("hal_ticks")) <= 300         # 1 kHz SysTick kept running
    assert (m.describe(m.cpu.pc()) or "").startswith("main")


def test_button_app_jumps_after_pc13_is_held_low_for_the_debounce_time():
    m = app("trigger_button")
    settle(m)
    m.drive_pin("PC13", 0)
    pressed_at = m.seconds()
    end = run_to_bootloader_entry(m)
    assert entered_bootloader(m, end)
    assert 0.019 <= m.seconds() - pressed_at <= 0.022             # 20 ms debounce on the 1 ms tick
    assert "B1 pressed, jumping" in m.guest_output


def test_button_app_ignores_a_press_shorter_than_the_debounce():
    m = app("trigger_button")
    settle(m)
    m.drive_pin("PC13", 0)
    settle(m, 0.005)
    m.drive_pin("PC13", None)                           # released: the pull-up brings it back high
    end = run_to_bootloader_entry(m, max_seconds=0.1)
    assert not entered_bootloader(m, end)


EXTI_UNMODELLED = any(block.name == "EXTI" for block in c071.UNMODELLED_BLOCKS)


@pytest.mark.skipif(EXTI_UNMODELLED, reason="EXTI is still in peripherals.c071.UNMODELLED_BLOCKS: the falling "
                                            "edge on PC13 cannot raise EXTI4_15 until the EXTI model is merged")
def test_button_exti_app_jumps_on_the_falling_edge_of_pc13():
    m = app("trigger_button_exti")
    settle(m)
    m.drive_pin("PC13", 0)
    pressed_at = m.seconds()
    end = run_to_bootloader_entry(m)
    assert entered_bootloader(m, end)
    assert 0.019 <= m.seconds() - pressed_at <= 0.022
    assert "B1 pressed, jumping" in m.guest_output


def usart2_host(m, baud: int = 115200) -> SerialPort:
    return SerialPort(m, "USART2", baud=baud, parity="N")


def test_usart_app_jumps_on_the_dfu_line_at_115200_8n1():
    m = app("trigger_usart")
    settle(m)
    port = usart2_host(m)
    port.send(b"DFU\n")
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert entered_bootloader(m, end)
    assert "DFU received, jumping" in m.guest_output
    assert m.read32(m.symbol("usart_errors")) == 0


@pytest.mark.parametrize("text", [b"DFX\n", b"DFU", b"XDFU\n", b"DFUU\n"])
def test_usart_app_does_not_jump_on_other_text(text):
    m = app("trigger_usart")
    settle(m)
    usart2_host(m).send(text)
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert not entered_bootloader(m, end)


def test_usart_app_at_the_wrong_baud_rate_sees_framing_errors_and_does_not_jump():
    m = app("trigger_usart")
    settle(m)
    usart2_host(m, baud=57600).send(b"DFU\n")
    end = run_to_bootloader_entry(m, max_seconds=0.05)
    assert not entered_bootloader(m, end)
    assert m.read32(m.symbol("usart_errors")) > 0
