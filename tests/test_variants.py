"""Bootloader design variants (images/bootloader/README.md "Variants") and the diagnosis
under all of them (``diagnose --bootloader-variants``, emulator/analysis/variants.py).

The matrix is pinned for the thread's two jumps and the two clean ones.  What each
design does comes from the models: no variant reads residual state, the switches only
change how the bootloader itself is written.
"""
from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from emulator.analysis.diagnose import diagnose, jump_run, reference_run
from emulator.analysis.flows import dfu_flow
from emulator.analysis.items import residual_items
from emulator.analysis.replay import restore_items, run_forked
from emulator.analysis.snapshot import take_snapshot
from emulator.analysis.variants import (FIRST_WAVE, VARIANTS_DIR, VariantError, VariantMatrix, _summary,
                                        available_variants, design_of, diagnose_variants, parse_symptom,
                                        select_variants, snapshot_for)
from emulator.analysis.variants_report import symptom_lines, to_html, to_json, verdict_lines
from emulator.cli import main
from emulator.elfcompare import compare, essence
from emulator.image import load_elf
from tests.conftest import elf

TRIGGER = "usb-control:0x40,0x42"
THREAD_SYMPTOM = "enumerate=ok,upload=ok,erase=failed"
SWITCHES = {
    "vectors": {"alias", "vtor", "remap"}, "usb": {"polled", "irq"},
    "timebase": {"systick-irq", "countflag", "none"}, "primask": {"cpsie", "as-found"},
    "flash": {"keys-blind", "checked"}, "clock": {"reset", "48mhz-set"}, "timeouts": {"tight", "loose"},
    "ram": {"bottom", "top"},
}


def designs() -> dict[str, dict[str, str]]:
    return {name: dict(kv.split("=") for kv in design_of(load_elf(path)).split())
            for name, path in select_variants("all")}


def test_at_least_six_variants_cover_every_alternative_of_every_switch():
    d = designs()
    assert len(d) >= 6
    for switch, alternatives in SWITCHES.items():
        assert {v[switch] for v in d.values()} == alternatives, switch


def test_the_default_image_is_the_default_variant_most_consistent_with_the_public_facts():
    assert essence(Path(elf("bootloader"))) == essence(VARIANTS_DIR / "default.elf")
    d = designs()["default"]
    assert d["vectors"] == "vtor" and d["ram"] == "bottom"
    bl = load_elf(elf("bootloader"))
    assert bl.symbols["_estack"] == 0x2000_2300                  # RAM 0x20000000-0x200022FF (FACTS §7)


def test_images_check_compares_the_variant_subfolder(tmp_path):
    committed, rebuilt = tmp_path / "a", tmp_path / "b"
    for root in (committed, rebuilt):
        (root / "bootloaders").mkdir(parents=True)
        (root / "hello.elf").write_bytes(Path(elf("hello")).read_bytes())
    (committed / "bootloaders" / "classic.elf").write_bytes((VARIANTS_DIR / "classic.elf").read_bytes())
    assert any("image sets differ" in p for p in compare(committed, rebuilt))
    (rebuilt / "bootloaders" / "classic.elf").write_bytes((VARIANTS_DIR / "default.elf").read_bytes())
    problems = compare(committed, rebuilt)
    assert problems and all(p.startswith("bootloaders/classic.elf: ") for p in problems)
    assert "bootloaders/classic.elf: loadable segments differ from a rebuild of the sources" in problems


def test_select_and_symptom_refuse_unknown_names_in_one_line():
    assert [n for n, _ in select_variants("all")][:2] == ["default", "classic"]
    assert [n for n, _ in select_variants("classic,default")] == ["classic", "default"]
    with pytest.raises(VariantError, match="no variant named nosuch"):
        select_variants("classic,nosuch")
    assert parse_symptom(THREAD_SYMPTOM) == {"enumerate": "ok", "upload flash": "ok",
                                             "upload option bytes": "ok", "erase": "failed"}
    assert parse_symptom("upload-option-bytes=failed") == {"upload option bytes": "failed"}
    for bad in ("erase=broken", "flash=ok", "erase", ""):
        with pytest.raises(VariantError):
            parse_symptom(bad)


def test_a_variant_continues_the_snapshot_from_its_own_vector_pair():
    app, first, other = load_elf(elf("jump_forum_v1")), load_elf(VARIANTS_DIR / "classic.elf"), \
        load_elf(VARIANTS_DIR / "default.elf")
    run = jump_run(app, first, {}, TRIGGER)
    snap = take_snapshot(run.m, "jump", with_memories=True)
    assert snap.core["msp"] == first.symbols["_estack"] == 0x2000_6000      # loaded by the application
    moved = snapshot_for(snap, first, other)
    assert moved.core["msp"] == 0x2000_2300 and moved.core["pc"] == other.address_of("Reset_Handler")
    assert "system memory" not in moved.memories and "system memory" in snap.memories
    assert snap.core["pc"] == first.address_of("Reset_Handler")              # the original is untouched


def flow_after_jump(app: str, variant: str):
    app_image, bl = load_elf(elf(app)), load_elf(VARIANTS_DIR / f"{variant}.elf")
    run = jump_run(app_image, bl, {}, TRIGGER)
    return run_forked([lambda: dfu_flow().run(run.m)])[0]


def test_a_bootloader_that_clears_flash_errors_first_erases_after_a_stale_error_one_that_does_not_fails():
    assert flow_after_jump("jump_stale_flash_error", "remap_checked").step_ok("erase")
    assert not flow_after_jump("jump_stale_flash_error", "classic").step_ok("erase")


def test_every_variant_serves_dfu_after_a_boot0_entry():
    app = load_elf(elf("hello"))
    for name, path in select_variants("all"):
        m = reference_run(app, load_elf(path), {})
        assert run_forked([lambda: dfu_flow().run(m)])[0].all_ok, name


# -- the matrix for the four jumps the acceptance names --------------------------------------------
def matrix(app: str, symptom: str | None = None):
    return diagnose_variants(load_elf(elf(app)), select_variants("all"), dfu_flow(), trigger=TRIGGER,
                             symptom=parse_symptom(symptom) if symptom else None)


@pytest.fixture(scope="module")
def forum_v1():
    return matrix("jump_forum_v1", THREAD_SYMPTOM)


@pytest.fixture(scope="module")
def forum_v2():
    return matrix("jump_forum_v2")


@pytest.mark.parametrize("app", ["jump_reset_first", "jump_cleaned"])
def test_the_clean_jumps_work_under_every_design(app):
    m = matrix(app)
    assert len(m.variants) == len(available_variants())
    assert not m.failing and m.combined == [] and m.exit_status == 0
    assert all(v.boot0.all_ok and v.jump.all_ok for v in m.variants)
    assert verdict_lines(m)[0] == f"The erase works after the jump under all {len(m.variants)} designs."


def test_forum_v1_matrix_blocking_sets_per_design(forum_v1):
    by = {v.name: v for v in forum_v1.variants}
    assert all(v.boot0.all_ok for v in forum_v1.variants)
    assert by["classic"].blocking == ["VTOR", "MEM_MODE"]          # the answer of the former reference
    assert by["default"].blocking == ["RCC.CR"]                     # 48 MHz left: the tight erase wait expires
    assert by["vtor_primask"].failing_step == "enumerate" and "PRIMASK" in by["vtor_primask"].blocking
    assert {n for n, v in by.items() if not v.failed} == {"hal_like", "no_timebase", "remap_checked"}
    assert all(v.fix_verified for v in forum_v1.failing)
    assert all(set(v.titles) == set(v.blocking) and all(v.titles.values()) for v in forum_v1.variants)


@pytest.mark.parametrize("which", ["forum_v1", "forum_v2"])
def test_the_combined_fix_for_the_forum_jumps_passes_under_every_design(which, request):
    m = request.getfixturevalue(which)
    assert m.failing and m.exit_status == 1
    assert set(m.combined) == {k for v in m.failing for k in v.blocking}
    assert m.combined_passes_all and all(v.combined.all_ok for v in m.variants)


def test_the_thread_symptom_keeps_the_designs_that_reproduce_it(forum_v1):
    consistent = {v.name for v in forum_v1.variants if v.consistent}
    assert consistent == {"default", "classic"}
    for v in forum_v1.variants:                                     # consistent = the observed statuses
        steps = {s.name: s.status for s in v.jump.steps}
        assert (v.name in consistent) == (steps["enumerate"] == steps["upload flash"] == "ok"
                                          and steps["erase"] == "failed")
    text = symptom_lines(forum_v1)
    assert "Consistent with what you observed: default, classic." in text
    assert any(line.startswith("Restoring {MEM_MODE, RCC.CR, VTOR} before the jump passes under every one")
               for line in text)
    j = to_json(forum_v1)
    assert j["schema"] == "c071emu.variants/1" and j["symptom"]["consistent"] == ["default", "classic"]
    assert [r["variant"] for r in j["matrix"]] == available_variants()
    assert "<table>" in to_html(forum_v1) and "classic" in to_html(forum_v1)


def test_cli_prints_matrix_consistent_designs_and_verdict(capsys):
    status = main(["diagnose", str(elf("jump_forum_v1")), "--trigger", TRIGGER, "--bootloader-variants",
                   "default,classic", "--symptom", THREAD_SYMPTOM])
    out = capsys.readouterr().out
    assert status == 1
    assert "The jump fails under 2 of 2 designs" in out
    assert "Consistent with what you observed: default, classic." in out
    assert "The combined fix" in out and "your symptom" in out and "blocking set" in out
    assert "│ classic " in out and "{VTOR, MEM_MODE}" in out


def test_cli_variant_options_refused_in_one_line(capsys):
    assert main(["diagnose", str(elf("jump_forum_v1")), "--bootloader-variants", "nosuch"]) == 2
    assert main(["diagnose", str(elf("jump_forum_v1")), "--symptom", "erase=failed"]) == 2
    assert main(["diagnose", str(elf("jump_forum_v1")), "--bootloader-variants", "all", "--symptom", "erase=maybe",
                 "--json"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 3 and "Traceback" not in err
    assert json.loads(out)["status"] == "bad-input"


# -- the parallel path against a plain one -------------------------------------------------------------
def reference_matrix(app_name: str, symptom: str):
    """The all-designs diagnosis without workers, token pool or shared replays: one design
    after the other (the first wave's sets as the later ones' priors), and the combined fix
    replayed on a fresh machine per design (a BOOT0 run, the jump from the snapshot, the
    residual items named restored, the whole flow)."""
    app, variants = load_elf(elf(app_name)), select_variants("all")
    images = [(n, p, load_elf(p)) for n, p in variants]
    first = images[0][2]
    run = jump_run(app, first, {}, TRIGGER)
    snap = take_snapshot(run.m, "software jump", with_memories=True)
    flow, wanted = dfu_flow(), parse_symptom(symptom)
    outcomes, priors = [], []
    for index, (name, path, bl) in enumerate(images):
        if index == FIRST_WAVE:
            found = sorted({tuple(o.blocking) for o in outcomes if o.blocking}, key=lambda k: (len(k), k))
            priors = [list(k) for k in found] + \
                ([sorted({k for o in outcomes for k in o.blocking})] if len(found) > 1 else [])
        d = diagnose(app, bl, flow, snapshot=snapshot_for(snap, first, bl), priors=priors)
        outcomes.append(replace(_summary(name, path, d), design=design_of(bl)))
    for o in outcomes:
        o.consistent = all(o.jump.step(s) is not None and o.jump.step(s).status == st for s, st in wanted.items())
    combined = sorted({k for o in outcomes for k in o.blocking})
    consistent_fix = sorted({k for o in outcomes if o.consistent for k in o.blocking})

    def fresh_replay(bl, keys):
        ref_m = reference_run(app, bl, {})
        reference = take_snapshot(ref_m, "BOOT0 entry")
        again = jump_run(app, bl, {}, None, snapshot=snapshot_for(snap, first, bl))
        items = [i for i in residual_items(reference, take_snapshot(again.m, "software jump")) if i.key in keys]
        restore_items(again.m, reference, items)
        return flow.run(again.m)

    for (name, path, bl), o in zip(images, outcomes):
        for which, keys in (("combined", combined), ("consistent_fix", consistent_fix)):
            if not keys or (which == "consistent_fix" and (not o.consistent or keys == combined)):
                continue
            setattr(o, which, o.fix if sorted(o.blocking) == keys else run_forked([lambda: fresh_replay(bl, keys)])[0])
    return VariantMatrix(str(app.path), "erase", TRIGGER, list(run.bench.actions), run.status, run.detail, outcomes,
                         combined=combined, symptom=wanted, consistent_fix=consistent_fix)


def test_the_parallel_diagnosis_of_all_designs_equals_the_plain_one_design_after_the_other(forum_v1):
    plain = reference_matrix("jump_forum_v1", THREAD_SYMPTOM)
    assert [v.name for v in plain.variants] == [v.name for v in forum_v1.variants]
    for mine, theirs in zip(forum_v1.variants, plain.variants):
        assert asdict(mine) == asdict(theirs), mine.name
    assert asdict(forum_v1) == asdict(plain)
