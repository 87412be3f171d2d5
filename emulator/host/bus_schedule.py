"""Transfers from several pipes sharing the simulated bus, as a host controller's schedule
runs them: in order per pipe (endpoint and direction; ep0 is one pipe both ways), pipes
taking turns, one transaction on the wire at a time.

``UsbHost.run`` drives one flow until it ends; a host facing a client that keeps
several transfers in flight at once (the USB/IP server: a bulk IN left pending while
ep0 is used) needs this instead, so that an endpoint NAKing for seconds does not hold
up the others.  Each transaction reaches the device model at the end of its time on
the wire (``wire_time``, the same accounting as ``UsbHost``); an IN reaches it at the end of
its token and holds the bus for the answer (``answer_time``).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .usb_host import (IN_TOKEN_S, Flow, In, Out, Reset, Setup, UsbError, UsbHost, UsbProtocolError, Wait,
                       answer_time, wire_time)


@dataclass(eq=False)
class Transfer:
    """One URB as a host flow on one pipe; ``on_done(result, error)`` is called when it ends."""
    seqnum: int
    pipe: tuple[int, int]                # (endpoint number, direction); ep0 is (0, 0) both ways
    flow: Flow
    on_done: Callable[[Any, Optional[UsbError]], None]
    request: Any = None                  # the bus request the flow waits on
    ready_at: float = 0.0                # for a Wait request: when it is over (simulated seconds)


class TransferSchedule:
    """Transfers on the simulated bus: in order per pipe, pipes taking turns, one transaction at a time.

    Each transaction reaches the device at the end of its time on the wire (the same
    accounting as ``UsbHost``), through the device model's transaction verbs."""

    def __init__(self, machine, host: UsbHost) -> None:
        self.m = machine
        self.host = host
        self.pipes: dict[tuple[int, int], deque[Transfer]] = {}
        self._on_wire: Optional[Transfer] = None
        self._wire_event = None
        self._wake_event = None
        self._last_pipe: tuple[int, int] = (-1, -1)

    def submit(self, transfer: Transfer) -> None:
        queue = self.pipes.setdefault(transfer.pipe, deque())
        queue.append(transfer)
        if len(queue) == 1:
            self._advance(transfer, None)
        self._dispatch()

    def cancel(self, seqnum: int) -> bool:
        """Withdraw a queued or running transfer; False if there is none with that seqnum."""
        for queue in self.pipes.values():
            for transfer in queue:
                if transfer.seqnum == seqnum:
                    was_head = transfer is queue[0]
                    queue.remove(transfer)
                    self._drop(transfer)
                    if was_head and queue:
                        self._advance(queue[0], None)
                    self._dispatch()
                    return True
        return False

    def cancel_all(self) -> list[Transfer]:
        dropped = [t for queue in self.pipes.values() for t in queue]
        self.pipes.clear()
        for transfer in dropped:
            self._drop(transfer)
        if self._wake_event is not None:
            self._wake_event.cancel()
            self._wake_event = None
        return dropped

    def _drop(self, transfer: Transfer) -> None:
        if transfer is self._on_wire:
            self._wire_event.cancel()
            self._on_wire = None
        transfer.flow.close()

    # -- driving the flows ------------------------------------------------------------------------
    def _advance(self, transfer: Transfer, value: Any) -> None:
        try:
            request = transfer.flow.send(value)
        except StopIteration as stop:
            self._finish(transfer, stop.value, None)
            return
        except UsbError as error:
            self._finish(transfer, None, error)
            return
        if isinstance(request, Reset) or not isinstance(request, (Setup, Out, In, Wait)):
            transfer.flow.close()
            self._finish(transfer, None, UsbProtocolError(f"USB/IP transfer flow yielded {request!r}"))
            return
        transfer.request = request
        if isinstance(request, Wait):
            transfer.ready_at = self.host.now() + request.seconds

    def _finish(self, transfer: Transfer, result: Any, error: Optional[UsbError]) -> None:
        queue = self.pipes[transfer.pipe]
        queue.popleft()
        transfer.on_done(result, error)
        if queue:
            self._advance(queue[0], None)

    def _in_turn(self) -> list[Transfer]:
        """Pipe heads, starting with the pipe after the one served last (round robin)."""
        keys = sorted(k for k, q in self.pipes.items() if q)
        later = [k for k in keys if k > self._last_pipe]
        return [self.pipes[k][0] for k in later + [k for k in keys if k <= self._last_pipe]]

    def _dispatch(self) -> None:
        while self._on_wire is None:
            heads = self._in_turn()
            if not heads:
                return
            now = self.host.now()
            ready = [t for t in heads if not isinstance(t.request, Wait) or t.ready_at <= now + 1e-9]
            if not ready:
                self._wake_at(min(t.ready_at for t in heads))
                return
            transfer = ready[0]
            if isinstance(transfer.request, Wait):
                self._advance(transfer, None)         # its wait is over: let the flow continue
                continue
            request = transfer.request
            self._on_wire = transfer
            duration = IN_TOKEN_S if isinstance(request, In) else wire_time(len(request.data))
            self._wire_event = self.m.host_after(duration, self._transaction_done, "USB/IP transaction")

    def _wake_at(self, when: float) -> None:
        if self._wake_event is not None:
            self._wake_event.cancel()
        self._wake_event = self.m.host_after(max(when - self.host.now(), 0.0), self._wake, "USB/IP transfer wait")

    def _wake(self) -> None:
        self._wake_event = None
        self._dispatch()

    def _transaction_done(self) -> None:
        transfer, self._on_wire = self._on_wire, None
        self._last_pipe = transfer.pipe
        request, device = transfer.request, self.host.device
        if isinstance(request, Setup):
            result: Any = device.setup(request.endpoint, request.data, address=request.address)
        elif isinstance(request, Out):
            result = device.out(request.endpoint, request.data, toggle=request.pid, address=request.address)
        else:
            result = device.in_(request.endpoint, address=request.address)
            # the data packet and the host's handshake keep the bus busy before the next transaction
            self._on_wire = transfer
            self._wire_event = self.m.host_after(answer_time(result[0], len(result[1])),
                                                 lambda: self._in_done(transfer, result), "USB/IP IN data")
            return
        self._advance(transfer, result)
        self._dispatch()

    def _in_done(self, transfer: Transfer, result: Any) -> None:
        self._on_wire = None
        self._advance(transfer, result)
        self._dispatch()
