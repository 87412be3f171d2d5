"""Jump diagnosis: snapshots at the jump, the diff against a clean bootloader entry,
counterfactual replays that find the residual state that blocks flash operations,
the mechanism, the fix, and the reports."""
