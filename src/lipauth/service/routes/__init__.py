"""One module per resource: system (page, health, config, metrics), challenges, users, analysis (liveness, sync)."""
