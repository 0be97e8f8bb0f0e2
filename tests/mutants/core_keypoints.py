"""Mutants of companion/core/keypoints.py: coordinate order, temperature, the error's norm."""

TARGET = "companion/core/keypoints.py"
TESTS = ["tests/test_soft_argmax.py"]
MUTANTS = [
    (
        "pixel grid in (y, x) order instead of (x, y)",
        "    return torch.stack((grid_x, grid_y), dim=-1).reshape(height * width, 2)",
        "    return torch.stack((grid_y, grid_x), dim=-1).reshape(height * width, 2)",
    ),
    (
        "beta divides instead of multiplying (temperature, not inverse temperature)",
        "    logits = beta * heatmaps.reshape(b, k, height * width)",
        "    logits = heatmaps.reshape(b, k, height * width) / beta",
    ),
    (
        "keypoint error is a squared distance",
        "    return (pred - target).norm(dim=-1).mean()",
        "    return (pred - target).pow(2).sum(dim=-1).mean()",
    ),
    (
        "argmax2d takes the minimum",
        ".argmax(dim=-1)  # (B, K, H*W) -> (B, K)",
        ".argmin(dim=-1)  # (B, K, H*W) -> (B, K)",
    ),
]
