"""Run stm32loader (PyPI 0.7.1) unmodified on a pyserial URL (``rfc2217://HOST:PORT``).

stm32loader opens its port with ``serial.Serial(port=...)``, which takes device paths only;
this launcher makes that call ``serial.serial_for_url`` instead, the documented way to open
the same port by URL, and then runs stm32loader's own ``main`` with the given arguments.
Everything else - erase, write, verify, and the RTS/DTR toggling for BOOT0 and reset - is
stm32loader's code.
"""
import sys

import serial

serial.Serial = lambda port=None, **settings: serial.serial_for_url(port, **settings)

from stm32loader.main import main  # noqa: E402  (after the port factory is set)

if __name__ == "__main__":
    main(*sys.argv[1:])
