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

# Each step's output is shown and kept in build/demo/; the last screen is the summary: one
# line per step, taken from what that step printed (a diagnosis's verdict, a run's end).
DEMO := build/demo
TRIGGER := --trigger usb-control:0x40,0x42

demo: install
	@mkdir -p $(DEMO)
	@echo "== 1. the seed question: why does erase fail after the forum's jump to the bootloader?"
	@echo "   (the HTML report goes to $(CURDIR)/build/jump_forum_v1.html)"
	-@$(BIN)/c071emu diagnose images/elf/jump_forum_v1.elf $(TRIGGER) --html build/jump_forum_v1.html | tee $(DEMO)/1.txt
	@echo "== 1b. the same jump under every plausible ROM design, and which ones match what the thread's author saw"
	-@$(BIN)/c071emu diagnose images/elf/jump_forum_v1.elf $(TRIGGER) --bootloader-variants all \
		--symptom enumerate=ok,upload=ok,erase=failed | tee $(DEMO)/1b.txt
	@echo "== 2. the same diagnosis on the reset-first pattern (exit status 0: nothing blocks the erase)"
	@$(BIN)/c071emu diagnose images/elf/jump_reset_first.elf $(TRIGGER) | tee $(DEMO)/2.txt
	@echo "== the ways an application can be made to jump (--trigger; also in scenario and sweep files)"
	@$(BIN)/c071emu diagnose --help | sed -n '/^triggers/,$$p'
	@echo "== 3. an application that jumps on a command on its USB CDC serial port (exit status 1: the erase fails)"
	-@$(BIN)/c071emu diagnose images/elf/trigger_cdc.elf --trigger 'cdc:DFU\n' | tee $(DEMO)/3.txt
	@echo "== 4. an application that never enters the bootloader: where it was, what it presented (exit status 3)"
	-@$(BIN)/c071emu diagnose images/elf/hello.elf | tee $(DEMO)/4.txt
	@echo "== 5. boot from main flash, interrupts by priority, PRIMASK and cpsie i"
	@$(BIN)/c071emu run images/elf/priority.elf | tee $(DEMO)/5.txt
	@echo "== 6. BOOT0 pin high with nBOOT_SEL=0: boot from system memory"
	@$(BIN)/c071emu run images/elf/hello.elf --bootloader images/elf/boot_probe_sysmem.elf --boot-pin 1 \
		--option-bytes nBOOT_SEL=0 | tee $(DEMO)/6.txt
	@echo "== 7. an erased vector: HardFault, then a fault inside HardFault: lockup (exit status 3 expected)"
	-@$(BIN)/c071emu run images/elf/double_fault.elf | tee $(DEMO)/7.txt
	@echo "== 8. the independent watchdog resets the chip"
	@$(BIN)/c071emu run images/elf/iwdg.elf | tee $(DEMO)/8.txt
	@echo "== 9. speed"
	@$(BIN)/c071emu bench | tee $(DEMO)/9.txt
	@echo
	@echo "== what the demo showed"
	@echo "1. jump_forum_v1:    $$(head -1 $(DEMO)/1.txt)"
	@echo "   blocking:          $$(grep -m2 '^  \* ' $(DEMO)/1.txt | cut -d: -f1 | tr -d ' *' | paste -sd, -)"
	@echo "   report:            $$(grep -m1 '^HTML report: ' $(DEMO)/1.txt | cut -d' ' -f3-)"
	@echo "1b. ROM designs:      $$(grep -m1 '^The jump fails under' $(DEMO)/1b.txt)"
	@echo "                      $$(grep -m1 '^Consistent with what you observed' $(DEMO)/1b.txt)"
	@echo "                      $$(grep -m1 '^The combined fix (' $(DEMO)/1b.txt | sed 's/ (verified.*//')"
	@echo "2. jump_reset_first:  $$(head -1 $(DEMO)/2.txt)"
	@echo "3. trigger_cdc:       $$(head -1 $(DEMO)/3.txt)"
	@echo "4. hello (no jump):   $$(head -1 $(DEMO)/4.txt)"
	@echo "5. priority:          $$(grep -m1 '^-- run ended' $(DEMO)/5.txt)"
	@echo "6. BOOT0 entry:       $$(grep -m1 '^-- run ended' $(DEMO)/6.txt)"
	@echo "7. double fault:      $$(grep -m1 '^-- run ended' $(DEMO)/7.txt)"
	@echo "8. watchdog:          $$(grep -m1 '^reset by\|^-- run ended' $(DEMO)/8.txt)"
	@echo "9. speed:             $$(grep -m1 'real-time factor' $(DEMO)/9.txt | sed 's/^ *//')"
	@echo "The answer to the seed question: $$(head -1 $(DEMO)/1.txt)"

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
