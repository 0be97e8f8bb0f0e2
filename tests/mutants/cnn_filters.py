"""Hand-written mutants of companion/cnn_filters.py: each is a bug a reader could plausibly make."""

TARGET = "companion/cnn_filters.py"
TESTS = ["tests/test_cnn_filters.py"]
MUTANTS = [
    (
        "the filter gradient is a cross-correlation, not a convolution (filter flipped)",
        "return corr[:, :, :kh, :kw].transpose(0, 1)",
        "return corr[:, :, :kh, :kw].transpose(0, 1).flip(-2, -1)",
    ),
    (
        "a strided layer's gradient needs dilation, not stride",
        "padding=(ph, pw), dilation=(sh, sw))",
        "padding=(ph, pw), stride=(sh, sw))",
    ),
    (
        "the layer's padding enters the gradient",
        "padding=(ph, pw), dilation=(sh, sw))",
        "padding=0, dilation=(sh, sw))",
    ),
    (
        "PyTorch's bound uses the gain of a=√5, not ReLU's √2",
        "gain = math.sqrt(2.0 / (1.0 + PYTORCH_DEFAULT_A**2))",
        "gain = math.sqrt(2.0)",
    ),
    (
        "Keras's fans count the receptive field",
        "return math.sqrt(6.0 / (fan_in + fan_out))",
        "return math.sqrt(6.0 / (in_channels + out_channels))",
    ),
    (
        "the Sobel d/dx is positive on the right",
        "diff = np.convolve(inner, [1.0, 0.0, -1.0])[::-1]",
        "diff = np.convolve(inner, [1.0, 0.0, -1.0])",
    ),
    (
        "the edge score uses the whole steerable bank, not the horizontal Sobel alone",
        "projection = (flat @ bank.T).norm(dim=1)",
        "projection = (flat @ bank.T)[:, 0].abs()",
    ),
    (
        "the edge score is scale-invariant (divided by the filter's norm)",
        "return torch.where(norms > 0, projection / norms.clamp_min(1e-30), torch.zeros_like(norms))",
        "return projection",
    ),
    (
        "matching uses the signed cosine: a sign flip is not forgiven",
        "cosine = (fa @ fb.T).cpu()",
        "cosine = (fa @ fb.T).abs().cpu()",
    ),
    (
        "matching is scale-invariant (cosine, not dot product)",
        "fa = F.normalize(a.flatten(1).double(), dim=1)",
        "fa = a.flatten(1).double()",
    ),
    (
        "index[i] is the filter of b matched to a[i], not the inverse permutation",
        "index = torch.as_tensor(cols[np.argsort(rows)], dtype=torch.int64)",
        "index = torch.as_tensor(np.argsort(cols), dtype=torch.int64)",
    ),
    (
        "permuting a conv's filters must permute the next conv's input channels",
        "new_next.weight.copy_(next_layer.weight[:, idx])",
        "new_next.weight.copy_(next_layer.weight)",
    ),
    (
        "the bias moves with its filter",
        "new_conv.bias.copy_(conv.bias[idx])",
        "new_conv.bias.copy_(conv.bias)",
    ),
    (
        "after a channel-major flatten, a Linear's columns move in per-channel blocks",
        "new_next.weight.copy_(blocks[:, idx].reshape(out, -1))",
        "new_next.weight.copy_(blocks[:, idx].transpose(1, 2).reshape(out, -1))",
    ),
    (
        "permute_channels returns new modules and leaves its inputs untouched",
        "new_conv, new_next = copy.deepcopy(conv), copy.deepcopy(next_layer)",
        "new_conv, new_next = conv, next_layer",
    ),
    (
        "the batched loss is the sum of the seeds' losses (each seed gets its own gradient)",
        "loss = per_seed.sum()",
        "loss = per_seed.mean()",
    ),
    (
        "the configured weight decay reaches the optimiser",
        "params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay",
        "params, lr=config.lr, momentum=config.momentum",
    ),
    (
        "the initial filters are a copy taken before training",
        "init_filters = params[0].clone()",
        "init_filters = params[0]",
    ),
    (
        "ablating a filter removes its share of the logits",
        "ablated = logits[:, :, None] - parts",
        "ablated = logits[:, :, None] + parts",
    ),
    (
        "'among the first k' counts k filters, not k + 1",
        "return seen[:, [k - 1 for k in ks]].mean(dim=0)",
        "return seen[:, [min(k, flags.shape[1] - 1) for k in ks]].mean(dim=0)",
    ),
]
