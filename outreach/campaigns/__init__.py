"""Publicity campaigns (反诈宣传"十进"): events held in ten kinds of places, counted in the scorecard."""
