"""Model-based tests: the campaign, its oracles, coverage, replay and planted bugs."""
