"""minibot.sim: a loopback Binance Spot public-market-data simulator (REST + WebSocket, synthetic or
replayed data, fault scenarios). Entry points: `minibot.sim.runner` and `nore sim`; see docs/simulator.md."""
