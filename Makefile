# Two entry points: `make demo` (install, run the bundled images) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test fuzz install images images-check bench clean

$(BIN)/c071emu: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/c071emu

demo: install
	@mkdir -p build
	@echo "== the seed question: why does erase fail after the forum's jump to the bootloader?"
	-$(BIN)/c071emu diagnose images/elf/jump_forum_v1.elf --trigger usb-control:0x40,0x42 --html build/jump_forum_v1.html
	@echo "== the same diagnosis on the reset-first pattern (exit status 0: nothing blocks the erase)"
	$(BIN)/c071emu diagnose images/elf/jump_reset_first.elf --trigger usb-control:0x40,0x42
	@echo "== an application that jumps on a command on its USB CDC serial port (exit status 1: the erase fails)"
	-$(BIN)/c071emu diagnose images/elf/trigger_cdc.elf --trigger 'cdc:DFU\n'
	@echo "== an application that never enters the bootloader: where it was, what it presented (exit status 3)"
	-$(BIN)/c071emu diagnose images/elf/hello.elf
	@echo "== boot from main flash, interrupts by priority, PRIMASK and cpsie i"
	$(BIN)/c071emu run images/elf/priority.elf
	@echo "== BOOT0 pin high with nBOOT_SEL=0: boot from system memory"
	$(BIN)/c071emu run images/elf/hello.elf --bootloader images/elf/boot_probe_sysmem.elf --boot-pin 1 --option-bytes nBOOT_SEL=0
	@echo "== an erased vector: HardFault, then a fault inside HardFault: lockup (exit status 3 expected)"
	-$(BIN)/c071emu run images/elf/double_fault.elf
	@echo "== the independent watchdog resets the chip"
	$(BIN)/c071emu run images/elf/iwdg.elf
	@echo "== speed"
	$(BIN)/c071emu bench

test: install
	$(BIN)/python -m pytest -q

# The property-based fuzz targets of tests/fuzz with thousands of cases each (make test runs
# a few dozen); prints cases, tracebacks, hangs and unauthorised flash changes per target.
fuzz: install
	C071_FUZZ=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz

images:
	$(MAKE) -C images

# Rebuild the firmware into a scratch directory and compare with the committed ELF files
images-check: install
	rm -rf build/images-check && $(MAKE) -C images OUT=$(CURDIR)/build/images-check
	$(BIN)/python -m emulator.elfcompare images/elf build/images-check

bench: install
	$(BIN)/c071emu bench

clean:
	rm -rf $(VENV) build
