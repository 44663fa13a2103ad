"""A local Jushuitan look-alike: signed envelope, tokens, quotas, faults, a seeded business.

Start it in-process with :func:`connectors.simulator.server.start_simulator`, or as
``python -m connectors.simulator``; drive it with
:class:`connectors.simulator.control.SimulatorControl` or
``python -m connectors.simulator.cli``. The data flow inside: ``catalog`` (SKUs, shops,
warehouses, stock) -> ``engine`` (orders, shipments, after-sales, receipts; history and
live ``traffic``) -> ``store``/``tables`` (latest rows, ts indexes) -> ``gateway``
(envelope, quotas, ``faults``) -> ``server`` (HTTP + ``control_routes``).
"""

from connectors.simulator.control import SimulatorControl
from connectors.simulator.engine import TrafficSettings
from connectors.simulator.gateway import SimulatorConfig
from connectors.simulator.server import RunningSimulator, start_simulator

__all__ = [
    "RunningSimulator",
    "SimulatorConfig",
    "SimulatorControl",
    "TrafficSettings",
    "start_simulator",
]
