"""Things outside the chip that talk to it on the machine's clock: the simulated USB host
and the pyusb backend built on it (DESIGN: emulator/host/)."""
