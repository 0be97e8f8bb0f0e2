"""Mutants of companion/core/datasets/hands.py: the hand renderer's camera, order and cues."""

TARGET = "companion/core/datasets/hands.py"
TESTS = ["tests/test_keypoint_regression.py"]
MUTANTS = [
    (
        "principal point at W/2 (pixel-corner convention)",
        "[[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]]",
        "[[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]]",
    ),
    (
        "strokes drawn with x and y swapped",
        "        dx, dy = px - ax, py - ay  # (N, H, W) each",
        "        dx, dy = py - ax, px - ay  # (N, H, W) each",
    ),
    (
        "fingers listed tip to palm (RHD order)",
        "    return torch.cat((wrist, fingers.reshape(n, 20, 3)), dim=1)",
        "    return torch.cat((wrist, fingers.flip(2).reshape(n, 20, 3)), dim=1)",
    ),
    (
        "shading leaks absolute depth",
        "    images = _draw(joints2d, unit[..., 2] - unit[:, :1, 2], (height, width), g)",
        "    images = _draw(joints2d, joints3d[..., 2] - 0.5, (height, width), g)",
    ),
    (
        "size scales the hand but not its distance",
        "    joints3d = scale[:, None, None] * unit  # (N, 21, 3): size and distance scaled together",
        "    joints3d = unit + (scale[:, None, None] - 1) * (unit - offset[:, None, :])  # (N, 21, 3)",
    ),
    (
        "generator not seeded",
        "    g = torch.Generator().manual_seed(seed)\n\n    def uniform",
        "    g = torch.Generator()\n    g.seed()\n\n    def uniform",
    ),
]
