"""The plugin system: hook specifications, the registry, and building components by name."""
