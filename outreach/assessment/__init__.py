"""Assessment (目标责任考核): the versioned scorecard, rankings among siblings, monthly targets."""
