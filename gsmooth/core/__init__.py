"""The engine's core: the Noise and Transform contracts, the Smoother, seeding, statistics, radii, certificates."""
