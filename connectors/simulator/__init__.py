"""A local Jushuitan look-alike: signed envelope, tokens, quotas, seeded ERP data.

Start it in-process with :func:`connectors.simulator.server.start_simulator`, or as
``python -m connectors.simulator``; drive it with
:class:`connectors.simulator.control.SimulatorControl`.
"""

from connectors.simulator.control import SimulatorControl
from connectors.simulator.gateway import SimulatorConfig
from connectors.simulator.server import RunningSimulator, start_simulator

__all__ = ["RunningSimulator", "SimulatorConfig", "SimulatorControl", "start_simulator"]
