"""A local Jushuitan look-alike: signed envelope, tokens, quotas, faults, a seeded business.

Start it in-process with :func:`erp_simulator.server.start_simulator`, or as
``python -m erp_simulator``; drive it with
:class:`erp_simulator.control.SimulatorControl` or
``python -m erp_simulator.cli``. The data flow inside: ``catalog`` (SKUs, shops,
warehouses, stock) -> ``engine`` (orders, shipments, after-sales, receipts; history and
live ``traffic``) -> ``store``/``tables`` (latest rows, ts indexes) -> ``gateway``
(envelope, quotas, ``faults``) -> ``server`` (HTTP + ``control_routes``).
"""

from erp_simulator.control import SimulatorControl
from erp_simulator.engine import TrafficSettings
from erp_simulator.gateway import SimulatorConfig
from erp_simulator.server import RunningSimulator, start_simulator

__all__ = [
    "RunningSimulator",
    "SimulatorConfig",
    "SimulatorControl",
    "TrafficSettings",
    "start_simulator",
]
