"""Mutants of companion/deconv.py: the matrix, its transpose, Fourier and pseudo-inverses."""

TARGET = "companion/deconv.py"
TESTS = ["tests/test_deconv.py"]
MUTANTS = [
    (
        "conv2d_matrix ignores the padding offset",
        "rows, cols = rows - padding, cols - padding  # padded frame -> input frame",
        "rows, cols = rows, cols  # padded frame -> input frame",
    ),
    (
        "scatter_transpose keeps the top-left of the padded frame",
        "return canvas[padding : padding + h, padding : padding + w]",
        "return canvas[:h, :w]",
    ),
    (
        "circular convolution flips the kernel (signal processing's convolution)",
        "rows = (kh // 2 - torch.arange(kh, device=dev)) % h  # (kh,)",
        "rows = (torch.arange(kh, device=dev) - kh // 2) % h  # (kh,)",
    ),
    (
        "Tikhonov inverse without the complex conjugate",
        "x_hat = y_hat * spectrum.conj() / (spectrum.abs() ** 2 + eps)",
        "x_hat = y_hat * spectrum / (spectrum.abs() ** 2 + eps)",
    ),
    (
        "exact inverse tests for zeros with no tolerance",
        "tol = config.zero_rtol_ulps * torch.finfo(y.dtype).eps * magnitude.max()",
        "tol = 0.0",
    ),
    (
        "pseudo-inverse replaced by the transpose",
        "x = torch.linalg.pinv(matrix) @ y.reshape(-1)",
        "x = matrix.T @ y.reshape(-1)",
    ),
    (
        "overlap count ignores the stride",
        "torch.ones(1, 1, kernel_size, kernel_size), stride=stride)",
        "torch.ones(1, 1, kernel_size, kernel_size), stride=1)",
    ),
    (
        "resize-conv pads with zeros instead of replicating the border",
        'mode="replicate")',
        'mode="constant")',
    ),
    (
        "checkerboard contrast averages the wrong axes",
        "means = phases.mean(dim=(0, 2))",
        "means = phases.mean(dim=(1, 3))",
    ),
    (
        "relative error divides by the estimate's norm",
        "norm = torch.linalg.vector_norm(target)",
        "norm = torch.linalg.vector_norm(estimate)",
    ),
    (
        "the config's zero tolerance is ignored (the default hard-coded)",
        "tol = config.zero_rtol_ulps * torch.finfo(y.dtype).eps * magnitude.max()",
        "tol = 100.0 * torch.finfo(y.dtype).eps * magnitude.max()",
    ),
]
