"""Mutants of companion/core/heatmaps.py: the Gaussian's width and axes."""

TARGET = "companion/core/heatmaps.py"
TESTS = ["tests/test_heatmaps.py"]
MUTANTS = [
    (
        "sigma enters without the factor 2",
        "    gy = torch.exp(-dy2 / (2 * sigma**2))  # (B, K, H)",
        "    gy = torch.exp(-dy2 / (sigma**2))  # (B, K, H)",
    ),
    (
        "rows and columns swapped",
        "    return gy.unsqueeze(-1) * gx.unsqueeze(-2)",
        "    return gx.unsqueeze(-1) * gy.unsqueeze(-2)",
    ),
]
