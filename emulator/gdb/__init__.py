"""A GDB remote stub for the machine (``c071emu run IMAGE --gdb PORT``)."""
